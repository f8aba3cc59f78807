// Command-line options shared by every API subcommand (baseline, gold-sweep, weak-sweep, ...),
// bound to llm::ClientOptions:
//   --base-url URL            --api-key-file PATH       --max-concurrency N   --rpm N
//   --max-cost USD            --key-check stop|warn|off --key-recheck-every N  --dry-run
//   --cache-dir DIR           --no-cache                --refresh             --ledger PATH
//   --max-attempts N          --request-timeout S       --no-adaptive-concurrency
//   --count-upstream-cost     --no-progress
#pragma once

#include "cli.h"
#include "w2s/llm.h"

namespace w2s::cli {

void add_client_options(po::options_description& options);
// Builds llm::ClientOptions from a parsed variables_map (options added by add_client_options).
// Throws w2s::Error on invalid values (e.g. --key-check maybe, --max-concurrency 0).
llm::ClientOptions client_options_from(const po::variables_map& vm);

}  // namespace w2s::cli
