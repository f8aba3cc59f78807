// w2s — weak-to-strong generalization toolkit. Dispatches `w2s <command> [options]`.
//
// Built twice from these sources (apps/w2s/CMakeLists.txt): `w2s`, which does not link libtorch,
// and `w2s-torch` beside it, which does and runs every command. `w2s` hands the commands that need
// a model to `w2s-torch` (cli::run_torch_side), so --help, analyze, plot and the API experiments
// start in milliseconds instead of loading libtorch's ~290 shared libraries.
#include <cstring>
#include <iostream>

#include "cli.h"
#include "w2s/core.h"
#if W2S_TORCH_IN_PROCESS
#include "w2s/model.h"
#endif

// In `w2s` the torch commands are handed to `w2s-torch`; in `w2s-torch` they run here.
#if W2S_TORCH_IN_PROCESS
#define W2S_TORCH_COMMAND(run) run
#else
#define W2S_TORCH_COMMAND(run) run_torch_side
#endif

namespace w2s::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"data", "inspect, fetch and export datasets (TruthfulQA variants, training registry)", run_data},
      {"baseline", "zero-shot accuracy of each model on TruthfulQA or --dataset NAME (API or local)", run_baseline},
      {"gold-sweep", "each model with N gold-labelled few-shot examples (API or local)", run_gold_sweep},
      {"weak-sweep", "strong models with N weak-labelled few-shot examples (API or local)", run_weak_sweep},
#if W2S_WITH_TORCH
      {"model", "check a Hugging Face model directory: info, tokenize, greedy generate",
       W2S_TORCH_COMMAND(run_model)},
      {"train", "weak-to-strong fine-tuning: floor, ceiling, w2s and s2s stages (libtorch)",
       W2S_TORCH_COMMAND(run_train)},
      {"sweep", "a grid of train runs on a local worker/GPU pool or as Slurm job arrays",
       W2S_TORCH_COMMAND(run_sweep)},
#endif
      {"analyze", "PGR (all variants), bootstrap CIs, McNemar, kappa, response matching", run_analyze},
      {"plot", "figures (PNG + SVG via gnuplot): accuracy, PGR, response-matching grids, training", run_plot},
      {"report", "one self-contained HTML page: every table, figure, setting, cost and note of a results folder", run_report},
  };
  return table;
}

}  // namespace w2s::cli

namespace {

void print_help() {
  std::cout << "w2s " << w2s::tool_version()
            << " — weak-to-strong generalization experiments (in-context via OpenAI-compatible APIs, "
               "fine-tuning via libtorch)\n\n"
               "usage: w2s <command> [options]      (w2s <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& c : w2s::cli::commands()) {
    const std::string name = c.name;
    std::cout << "  " << name << std::string(name.size() < 14 ? 14 - name.size() : 1, ' ') << c.summary << "\n";
  }
  std::cout << "\noptions:\n  -h, --help      show this help\n  --version       print version and git commit\n";
}

}  // namespace

int main(int argc, char** argv) {
#if W2S_TORCH_IN_PROCESS
  w2s::model::configure_torch_process(argv);
#endif
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "w2s " << w2s::tool_version() << " (" << w2s::tool_git_commit() << ")\n";
    return 0;
  }
  const std::string name = argv[1];
  for (const auto& c : w2s::cli::commands()) {
    if (c.name != name) continue;
    std::string prog = "w2s " + name;
    argv[1] = prog.data();
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const w2s::cli::po::error& e) {
      w2s::log::error("w2s {}: {} (see w2s {} --help)", name, e.what(), name);
      return 2;
    } catch (const std::exception& e) {
      w2s::log::error("w2s {}: {}", name, e.what());
      return 1;
    }
  }
  w2s::log::error("w2s: unknown command '{}' (see w2s --help)", name);
  return 2;
}
