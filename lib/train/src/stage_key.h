// Internal: what identifies a stage in the stage cache, and the options a run records.
#pragma once

#include <string>

#include "trainer.h"
#include "w2s/results.h"

namespace w2s::train {

struct StagePlan {
  std::string name;            // floor | ceiling | w2s | s2s-1 ...
  results::Kind kind;
  std::string model;           // model spec
  std::string role;            // weak | strong | student
  double lr = 0;
  bool transfer = false;
  results::LabelSource label_source;
  std::string upstream_key;    // the stage whose predictions are this stage's labels ("" if gold)
  StageInputs inputs;
};

// The options as the run records them (config.json, the records' config).
json::Value options_json(const PipelineOptions& o);

// Everything the stage cache key hashes; the key is stage_key(material).
json::Value stage_key_material(const StagePlan& plan, const PipelineOptions& o, const json::Value& data_identity);
std::string stage_key(const json::Value& material);

// Everything the activations cache key hashes (strong model, examples, max length, layer, dtype).
json::Value activations_key_material(const StageInputs& in, const PipelineOptions& o);

}  // namespace w2s::train
