// The training dataset registry (docs/reference-behaviour.md §15) as data: one DatasetSpec per name, each
// with its format_<dataset> function (training_registry.cpp).
// Internal to lib/data; the pipeline (training_pipeline.cpp) turns a spec into TrainingData.
#pragma once

#include <string>
#include <vector>

#include "w2s/data.h"

namespace w2s::data::detail {

struct Labeled {
  std::string txt;
  int label = 0;
};
// Formats one source row; draws from `rng` exactly as the reference formatter does.
using Formatter = Labeled (*)(const json::Value& row, PyRandom& rng);

// How a dataset's rows are laid out on disk (see docs/data.md "Training datasets").
enum class Layout {
  TrainTest,     // <folder>/<train_file> and <folder>/<test_file>, JSONL with the HF fields
  PooledSciq,    // sciq/{train,validation,test}.jsonl pooled; fixed 3000-row test pool
  BoolqDevSplit, // boolq/dev.jsonl split 50/25/25 into train/val/test
  SciqBinary,    // sciq/sciq_binary_w2s.jsonl, split by question; ~3000-row test
  Sst2Tsv,       // <folder>/train.tsv and <folder>/dev.tsv (GLUE TSV): sst2, sst2-demo
  UserJsonl,     // --dataset-file TRAIN[,TEST] with {"text", "label"}
};

struct DatasetSpec {
  std::string name;
  std::string source;      // upstream id and split map
  Layout layout = Layout::TrainTest;
  std::string folder;      // under the data directory
  std::string train_file;  // TrainTest only
  std::string test_file;
  std::string fields;      // fields the template reads
  std::string label_rule;
  Formatter format;
};

const std::vector<DatasetSpec>& dataset_specs();
const DatasetSpec& find_dataset_spec(const std::string& name);  // throws listing the known names

}  // namespace w2s::data::detail
