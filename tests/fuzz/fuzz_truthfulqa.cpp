// A TruthfulQA file given with --dataset-file, read as each variant that takes one: mc_task.json
// (mc1-full, mc1-4-local, binary-local), a JSONL of {question, choices, label} (mc1-jsonl) and the
// 2025 TruthfulQA.csv (binary-2025); every question formatted, shuffled and split.
#include "fuzz_target.h"
#include "w2s/data.h"

W2S_FUZZ_TARGET(truthfulqa) {
  const auto file = w2s::fuzz::input_file(input, "truthfulqa-input");
  for (const char* variant : {"mc1-full", "mc1-4-local", "binary-local", "mc1-jsonl", "binary-2025"}) {
    w2s::data::TruthfulQaOptions options;
    options.variant = variant;
    options.dataset_file = file.string();
    options.data_dir = file.parent_path().string();
    options.allow_download = false;
    options.test_size = 1;
    try {
      const auto tqa = w2s::data::load_truthfulqa(options);
      W2S_FUZZ_CHECK(tqa.test.size() == 1 && tqa.train.size() + 1 == tqa.all.size());
    } catch (const w2s::Error&) {
    }
  }
}
