// Tiny runs of the `w2s` binary for the run-check tests: random-initialised models, an SST-2
// subset, a few seconds each.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "assets.h"

// 32 examples per half, batch 8, one epoch: 4 optimizer steps per stage, far fewer than the
// reference's warmup (40) and eval interval (25).
inline std::vector<std::string> tiny_args(
    const std::filesystem::path& results, const std::string& run,
    const std::string& weak = "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1",
    const std::string& strong = "random:hidden=16,layers=1,heads=2,kv_heads=2,tokenizer=words,vocab=512,seed=2") {
  return {"train", "--weak-model-name", weak, "--strong-model-name", strong,
          "--dataset", "sst2", "--data-dir", (w2s::test::assets_dir() / "data").string(),
          "--n-train", "64", "--n-val", "20", "--n-test", "40", "--n-epochs", "1",
          "--minibatch-size", "8", "--batch-size", "8", "--disable-lora", "--loss", "xent",
          "--threads", "1", "--no-progress", "--results-dir", results.string(), "--run-name", run};
}

inline int run_w2s(std::vector<std::string> args, std::string* output) {
  std::string cmd = w2s::test::w2s_binary().string();
  for (const auto& a : args) cmd += " '" + a + "'";
  return w2s::test::run_command(cmd, output);
}

// `args` with options set: {flag, value} replaces the flag's value or adds it; {switch, ""} adds a switch.
inline std::vector<std::string> with(std::vector<std::string> args,
                              const std::vector<std::pair<std::string, std::string>>& options) {
  for (const auto& [flag, value] : options) {
    const auto it = std::find(args.begin(), args.end(), flag);
    if (it != args.end() && !value.empty()) {
      *(it + 1) = value;
      continue;
    }
    args.push_back(flag);
    if (!value.empty()) args.push_back(value);
  }
  return args;
}
