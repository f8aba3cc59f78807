// The client's command-line options, shared by every API subcommand.
#include "client_options.h"

namespace w2s::cli {

using llm::ClientOptions;
using llm::KeyCheck;

void add_client_options(po::options_description& options) {
  const ClientOptions d;
  po::options_description g("API client (OpenRouter or any OpenAI-compatible endpoint)");
  g.add_options()
      ("base-url", po::value<std::string>()->default_value(d.base_url),
       "endpoint base URL (e.g. http://127.0.0.1:8080/v1 for llama.cpp)")
      ("api-key-file", po::value<std::string>(),
       "file holding the API key (default: $OPENROUTER_API_KEY)")
      ("max-concurrency", po::value<int>()->default_value(d.max_concurrency),
       "requests in flight at most")
      ("rpm", po::value<double>()->default_value(0), "requests per minute at most (0: no limit)")
      ("no-adaptive-concurrency", po::bool_switch(), "keep the concurrency fixed on 429")
      ("max-cost", po::value<double>(), "hard budget in USD for this run (in-flight requests "
                                        "count at their worst-case cost)")
      ("count-upstream-cost", po::bool_switch(),
       "bring-your-own-key: add what the upstream provider charged (usage.cost_details."
       "upstream_inference_cost) to the cost, the totals and --max-cost")
      ("key-check", po::value<std::string>()->default_value("stop"),
       "GET /key before sending: stop|warn|off when the key's remaining limit is below the estimate")
      ("key-recheck-every", po::value<int>()->default_value(d.key_recheck_every),
       "GET /key again every N billed requests of a batch (0: only before the batch)")
      ("dry-run", po::bool_switch(), "estimate tokens and cost from /models pricing; send nothing")
      ("cache-dir", po::value<std::string>()->default_value(d.cache_dir.string()),
       "response cache (llm-cache.sqlite) and default ledger directory")
      ("no-cache", po::bool_switch(), "neither read nor write the response cache")
      ("refresh", po::bool_switch(), "ignore cached responses and overwrite them")
      ("ledger", po::value<std::string>(), "cost ledger JSONL (default: <cache-dir>/ledger.jsonl)")
      ("max-attempts", po::value<int>()->default_value(d.max_attempts),
       "attempts per request, the first included")
      ("request-timeout", po::value<double>()->default_value(d.request_timeout_s),
       "seconds per attempt")
      ("no-progress", po::bool_switch(), "no progress line on stderr");
  options.add(g);
}

ClientOptions client_options_from(const po::variables_map& vm) {
  ClientOptions o;
  auto has = [&](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
  auto flag = [&](const char* name) { return vm.count(name) && vm[name].as<bool>(); };
  if (vm.count("base-url")) o.base_url = vm["base-url"].as<std::string>();
  if (has("api-key-file")) o.api_key_file = vm["api-key-file"].as<std::string>();
  if (vm.count("max-concurrency")) o.max_concurrency = vm["max-concurrency"].as<int>();
  if (o.max_concurrency < 1) throw Error("--max-concurrency must be at least 1");
  if (vm.count("rpm")) o.requests_per_minute = vm["rpm"].as<double>();
  if (o.requests_per_minute < 0) throw Error("--rpm must not be negative");
  o.adaptive_concurrency = !flag("no-adaptive-concurrency");
  if (vm.count("max-cost")) {
    o.max_cost_usd = vm["max-cost"].as<double>();
    if (*o.max_cost_usd < 0) throw Error("--max-cost must not be negative");
  }
  o.count_upstream_cost = flag("count-upstream-cost");
  if (vm.count("key-check")) {
    const std::string k = vm["key-check"].as<std::string>();
    if (k == "stop") o.key_check = KeyCheck::Stop;
    else if (k == "warn") o.key_check = KeyCheck::Warn;
    else if (k == "off") o.key_check = KeyCheck::Off;
    else throw Error("--key-check " + k + ": expected stop, warn or off");
  }
  if (vm.count("key-recheck-every")) o.key_recheck_every = vm["key-recheck-every"].as<int>();
  if (o.key_recheck_every < 0) throw Error("--key-recheck-every must not be negative");
  o.dry_run = flag("dry-run");
  if (vm.count("cache-dir")) o.cache_dir = vm["cache-dir"].as<std::string>();
  o.no_cache = flag("no-cache");
  o.refresh = flag("refresh");
  if (o.no_cache && o.refresh) throw Error("--no-cache and --refresh exclude each other");
  if (has("ledger")) o.ledger_path = vm["ledger"].as<std::string>();
  if (vm.count("max-attempts")) o.max_attempts = vm["max-attempts"].as<int>();
  if (o.max_attempts < 1) throw Error("--max-attempts must be at least 1");
  if (vm.count("request-timeout")) o.request_timeout_s = vm["request-timeout"].as<double>();
  if (o.request_timeout_s <= 0) throw Error("--request-timeout must be positive");
  o.progress = !flag("no-progress");
  return o;
}

}  // namespace w2s::cli
