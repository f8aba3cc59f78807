// Internal (torch-facing) interface of one training stage: the model it trains, its data and
// what it returns. The loop itself is in trainer.cpp.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "w2s/model.h"
#include "w2s/model_torch.h"
#include "w2s/train.h"

namespace w2s::train {

// One example as a stage sees it: the text, the gold label and the label it trains on.
struct LabelledExample {
  std::string id;
  std::string txt;
  int gold = 0;
  double label = 0;  // gold (0/1) for floor and ceiling; a soft P(1) for w2s and s2s
};

// A classifier ready to train: base model (+ LoRA), the score head and the tokenizer.
struct Classifier {
  model::SequenceClassifier net{nullptr};
  model::Tokenizer tokenizer;
  model::Placement placement;
};

// How a model string is turned into a classifier:
//   "<dir>"                       a Hugging Face model directory (config.json, weights, tokenizer)
//   "random:k=v,..."             a randomly initialised Llama; keys: hidden, layers, heads,
//                                 kv_heads, intermediate, seed (0), tokenizer ("bytes", "words"
//                                 with vocab=N buckets, or a model directory whose tokenizer to
//                                 use; default bytes)
//   "org/name[@revision]"         a Hugging Face id: the directory from resolve_model_spec
// The classifier is built fresh (same initial weights for the same spec and
// seed) every time.
struct ClassifierOptions {
  LoraOptions lora;
  model::RunOptions run{"cpu", "float32", 0};
  std::int64_t seed = 42;  // seeds the score head's initialisation
  std::optional<std::string> models_dir;  // where Hugging Face ids live (see resolve_model_spec)
};
Classifier build_classifier(const std::string& model_spec, const ClassifierOptions& options);

// A Hugging Face id that is not a local directory becomes models_dir/org/name (data::ensure_hf_model:
// downloaded and checksummed when incomplete); other specs are returned unchanged.
std::string resolve_model_spec(const std::string& spec, const std::optional<std::string>& models_dir);

// Everything that would stop `model_spec` from loading, found without loading it: a missing
// directory, an unreadable config.json, tokenizer.json or weight file, a tokenizer directory of a
// random spec, a models folder a Hugging Face id cannot be downloaded into. Empty when none.
std::vector<std::string> model_problems(const std::string& model_spec, const std::optional<std::string>& models_dir);

// "" when files can be created in `folder` (made if missing: a probe file is written and removed),
// else what stands in the way, e.g. "results/run cannot be created: Not a directory".
std::string unwritable_folder(const std::filesystem::path& folder);

// What identifies a model for the stage cache: the spec, plus the sha256 of a directory's
// config.json, tokenizer files and every weight file (by content: the same file names and sizes
// with other values are another model). Hashes are remembered in `hash_memo` (model::file_sha256), so
// multi-GB weights are hashed once. A Hugging Face id is identified as the id plus its local
// directory's files (resolve_model_spec).
json::Value model_identity(const std::string& model_spec, const std::optional<std::string>& models_dir,
                           const std::filesystem::path& hash_memo);

struct StageInputs {
  std::string name;                      // floor | ceiling | w2s | s2s-1 ...
  std::vector<LabelledExample> train;    // trained on `label`
  std::vector<LabelledExample> val;      // model selection against `label`
  std::vector<LabelledExample> test;     // always gold
  // Extra sets to predict P(1) on with the final model (e.g. the strong half for weak labels).
  std::map<std::string, std::vector<LabelledExample>> predict;
};

struct StageSettings {
  TrainerOptions trainer;
  LossOptions loss;
  bool transfer = false;  // auxiliary loss terms on (w2s, s2s)
  double radius = 0.15;   // resolved window radius
  std::filesystem::path dir;  // log.jsonl, best weights and resume checkpoints live here
  bool progress = true;
};

struct Evaluation {
  std::vector<double> p1;  // softmax(z)[:,1]
  std::vector<double> z1;  // raw class-1 logit (the reference's AUROC score)
  double loss = 0;         // the stage's loss (incl. auxiliary terms) against the set's labels
  double ce_gold = 0;      // plain cross-entropy against gold
  double accuracy = 0;     // against the set's labels
  double auroc = 0;        // against the set's labels; NaN when they hold one class only
  double runtime_s = 0;
  std::int64_t batches = 0;
};

struct StageOutcome {
  Evaluation test;                                    // the final (best) model on test
  Evaluation val;
  std::map<std::string, std::vector<double>> predicted;  // name -> P(1), for StageInputs::predict
  std::int64_t steps = 0;
  std::int64_t best_step = -1;
  double epoch = 0;
  std::int64_t truncated = 0;                         // training texts cut to max_length
  bool resumed = false;                               // continued from a checkpoint
};

// The hidden state of each example's last real token at hidden-state index `layer` (0 = the
// embeddings; default: number of hidden states / 2, as the reference), [N, D] float32 on the CPU.
torch::Tensor last_token_activations(Classifier& classifier, const std::vector<LabelledExample>& examples,
                                     std::int64_t max_length, std::optional<std::int64_t> layer,
                                     std::int64_t batch_size);

// Learning rate before optimizer step `step` (0-based): linear warmup from 0, then cosine decay
// to 0 at total_steps (or constant) — transformers' get_{cosine,constant}_schedule_with_warmup.
double learning_rate(const TrainerOptions& options, std::int64_t step, std::int64_t total_steps);

// Optimizer steps of a stage with n_train training examples: ceil(n_epochs · n_train / batch_size).
std::int64_t optimizer_steps(const TrainerOptions& options, std::int64_t n_train);

// The step options fitted to a stage of `steps` optimizer steps. A warmup as long as the run
// would leave the learning rate (or the logconf / entropy weight) below its peak throughout, and
// an eval interval longer than the run would compare only the untrained model with the last one:
// a warmup of at least `steps` becomes steps / 10 and an eval interval above `steps` becomes
// max(1, steps / 4). `changes` says what changed ("n_warmup_steps 40 -> 1"), empty for a run long
// enough.
struct FittedSchedule {
  TrainerOptions trainer;
  LossOptions loss;
  std::vector<std::string> changes;
};
FittedSchedule fit_to_run(const TrainerOptions& trainer, const LossOptions& loss, std::int64_t steps);

// Thrown by train_stage when a training step's loss or gradient norm is NaN or infinite (a learning
// rate too high, say): the weights are no longer numbers, and every later step, evaluation and
// checkpoint would be meaningless, so the stage stops at that step. run_stage records it.
struct StageDiverged : Error {
  StageDiverged(const std::string& message, std::int64_t step, double loss, double grad_norm, double learning_rate)
      : Error(message), step(step), loss(loss), grad_norm(grad_norm), learning_rate(learning_rate) {}
  std::int64_t step;     // the optimizer step (1-based) whose loss, gradient or outputs were not finite
  double loss;           // NaN where not known
  double grad_norm;
  double learning_rate;
};

// Trains one stage; throws StageDiverged when training diverges.
StageOutcome train_stage(Classifier& classifier, const StageInputs& inputs, const StageSettings& settings);

}  // namespace w2s::train
