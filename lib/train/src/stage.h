// Internal: one stage of the pipeline (stage.cpp) — its cache key, its inputs, its training and
// its outputs — and what identifies it in the stage cache.
#pragma once

#include <filesystem>
#include <string>

#include "trainer.h"
#include "w2s/results.h"

namespace w2s::train {

struct StagePlan {
  std::string name;            // floor | ceiling | w2s | s2s-1 ...
  results::Kind kind;
  std::string model;           // model spec
  double lr = 0;
  bool transfer = false;       // a student: auxiliary loss terms and probes apply
  results::LabelSource label_source;
  std::string upstream_key;    // the stage whose predictions are this stage's labels ("" if gold)
  StageInputs inputs;
  // Students taught by in-context labels (--weak-labels-from): their record's extra.in_context_labels
  // (extra.weak_labels_from is its path).
  json::Value in_context_labels = json::Value();
};

// What every stage of one run shares.
struct StageContext {
  const PipelineOptions& options;  // "auto" device and dtype already resolved
  const data::TrainingData& data;
  json::Value data_identity;       // name, seed, source checksums (data_identity below)
  std::filesystem::path shared_dir;  // <results>/<shared_folder>/<dataset>: the stage cache
  std::filesystem::path run_dir;     // <results>/<run_name>/<dataset>
};

// A "[w2s train] ..." line on stderr.
void say(const std::string& message);

// What identifies the data in stage keys.
json::Value data_identity(const data::TrainingData& data);

// Everything the stage cache key hashes; the key is stage_key(material).
json::Value stage_key_material(const StagePlan& plan, const PipelineOptions& o, const json::Value& data_identity);
std::string stage_key(const json::Value& material);

// Everything the activations cache key hashes (strong model, examples, max length, layer, dtype).
json::Value activations_key_material(const StageInputs& in, const PipelineOptions& o);

// Trains the stage unless its cache folder is finished; either way the run folder gets the
// stage's record, results.json and predictions.jsonl.
StageSummary run_stage(const StagePlan& plan, const StageContext& context);

// The P(1) a finished stage predicted on one of its predict sets, in example order.
std::vector<double> stage_predictions(const std::filesystem::path& stage_dir, const std::string& split,
                                      const std::vector<LabelledExample>& expected);

}  // namespace w2s::train
