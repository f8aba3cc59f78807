// w2s train: the weak-to-strong fine-tuning pipeline (spec w2s-training.md).
//
//   floor    weak model on the weak half, gold labels      ─► soft labels on the strong half and val
//   ceiling  strong model on the strong half, gold labels
//   w2s      strong model on the weak soft labels (val = weak labels, test = gold)
//   s2s-i    strong model on the previous student's soft labels (i = 1..s2s_iters)
//
// Every stage is cached under <results>/<shared_folder>/<dataset>/stages/<key>/, where the key hashes
// everything that affects the stage (models, data identity, options, upstream keys). A finished
// stage is reused; a killed stage resumes from its last checkpoint. Each stage writes one result
// record (w2s::results, kinds train-floor / train-ceiling / train-w2s / train-s2s), a results.json
// with the reference's field names, predictions.jsonl and log.jsonl.
//
// Losses: lib/train/src/losses.cpp. Metrics (AUROC, accuracy): lib/train/src/metrics.cpp.
// The training loop: lib/train/src/trainer.cpp. Stages and the cache: lib/train/src/pipeline.cpp.
//
// This header does not include torch. Errors are w2s::Error with a message for the user.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"
#include "w2s/data.h"

namespace w2s::train {

// ---------------------------------------------------------------------------------------------
// Losses (spec §6; formulas in losses.cpp)
// ---------------------------------------------------------------------------------------------
struct LossOptions {
  // xent | kl | logconf | entropy | entropy-grad | window | openai-logconf | product
  std::string name = "logconf";
  double logconf_weight = 0.5;               // logconf, entropy, entropy-grad, openai-logconf
  std::int64_t logconf_warmup_steps = 100;   // optimizer steps (EleutherAI losses)
  bool balance_batch = false;                // logconf, entropy, entropy-grad
  std::string radius = "0.15";               // window: a number, or "midweak"
  double openai_warmup_frac = 0.1;           // openai-logconf: fraction of all steps, linear ramp
  double product_alpha = 1.0;                // product: target ∝ p^beta · y^alpha
  double product_beta = 1.0;
};

// The loss names above, in that order.
const std::vector<std::string>& loss_names();

// Throws w2s::Error on an unknown name or an out-of-range value.
void validate(const LossOptions& options);

// Window radius "midweak": median |y − 0.5| over the given (soft) training labels.
double midweak_radius(const std::vector<double>& labels);

// ---------------------------------------------------------------------------------------------
// Metrics (spec §8)
// ---------------------------------------------------------------------------------------------
enum class AurocMode {
  TieAware,   // Mann–Whitney with average ranks (= scikit-learn's roc_auc_score); the default
  Reference,  // EleutherAI's rank sum without tie averaging (ties ranked in input order)
};
AurocMode parse_auroc_mode(std::string_view s);  // "tie-aware" | "reference"

// AUROC of `scores` against hard labels (label > 0.5), computed by w2s::results::auroc. Throws
// when one class is absent.
double auroc(const std::vector<double>& scores, const std::vector<double>& labels,
             AurocMode mode = AurocMode::TieAware);

// Fraction of examples where (score > 0.5) equals (label > 0.5); `scores` are P(class 1).
double accuracy(const std::vector<double>& scores, const std::vector<double>& labels);

// ---------------------------------------------------------------------------------------------
// The training loop of one stage
// ---------------------------------------------------------------------------------------------
struct TrainerOptions {
  double lr = 5e-4;
  double n_epochs = 3.0;
  std::int64_t minibatch_size = 1;     // examples per forward pass
  std::int64_t batch_size = 32;        // examples per optimizer step (accumulation = batch / minibatch)
  std::string lr_schedule = "cosine";  // cosine | constant (both after a linear warmup)
  std::int64_t n_warmup_steps = 40;
  double weight_decay = 0.1;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.95;
  double adam_eps = 1e-8;
  double max_grad_norm = 1.0;
  std::int64_t eval_every = 25;        // optimizer steps; also at the end
  std::int64_t save_every = 25;        // optimizer steps between resume checkpoints
  bool load_best_model_at_end = true;
  std::string metric_for_best_model = "val_auroc";  // val_auroc | val_accuracy | val_loss
  std::int64_t seed = 42;
  std::int64_t max_length = 512;       // tokens; longer inputs are truncated (and counted)
  AurocMode auroc_mode = AurocMode::TieAware;
};

// ---------------------------------------------------------------------------------------------
// Probes on frozen strong-model activations (spec §7), for the transfer stages
// ---------------------------------------------------------------------------------------------
struct ProbeOptions {
  std::string probe = "knn";             // knn | logreg | topo
  std::optional<std::int64_t> layer;     // hidden-state index (0 = embeddings); default L_states / 2
  bool relabel = false;                  // train and val labels := probe P(1)
  bool filter = false;                   // drop the `contamination` share of train and val
  double contamination = 0.1;
  std::int64_t knn_k = 50;
  std::string knn_metric = "euclidean";  // euclidean (the reference's computation) | cosine (its comment)
  double logreg_l2p = 1e-3;              // the code's value; the blog states 1e-2
  std::int64_t topo_k_cc = 50;
  std::int64_t topo_k_zeta = 50;
  bool topo_modified = false;            // topo: generic disagreement filter with topolabel predictions
  bool active() const { return relabel || filter; }
};

// ---------------------------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------------------------
struct PipelineOptions {
  // Models as lib/model understands them: a Hugging Face directory, or a random-init spec.
  std::string weak_model = "Qwen/Qwen1.5-0.5B";
  std::string strong_model = "meta-llama/Meta-Llama-3-8B";
  data::TrainingDataOptions data = [] {  // n_train / n_val / n_test, data seed 0
    data::TrainingDataOptions d;
    d.name = "boolq";                    // the reference's default dataset
    return d;
  }();

  // Where Hugging Face ids are looked up and downloaded to (models_dir/org/name); unset:
  // $W2S_MODELS_DIR, else ./models.
  std::optional<std::string> models_dir;

  std::filesystem::path results_folder = "./results";
  std::string run_name = "default";
  std::string shared_folder = "shared";

  TrainerOptions trainer;              // shared by every stage; lr comes from weak_lr / strong_lr
  double weak_lr = 5e-4;
  double strong_lr = 8e-5;
  bool disable_lora = false;
  std::int64_t lora_rank = 8;
  double lora_alpha = 8.0;
  // Comma-separated names of the linear layers that get adapters, or "auto": the reference's
  // q,k,v,o,gate,up,down projections for Llama-family models, c_attn,c_proj,c_fc for GPT-2.
  std::string lora_modules = "auto";

  LossOptions loss;                    // the student's loss (aux terms are off for floor/ceiling)
  ProbeOptions probe;                  // filter / relabel the students' labels (off by default)
  std::int64_t s2s_iters = 0;

  // auto: CUDA (base weights bfloat16) when this libtorch sees a GPU, else CPU (float32). Records
  // and cache keys hold the resolved names, so "auto" and "float32" on a CPU share stages.
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  std::string dtype = "auto";          // base weights: auto | float32 | bfloat16 | float16
  int threads = 0;                     // torch intra-op threads; 0 = leave the default
  bool progress = true;
};

// Throws w2s::Error on inconsistent options (batch not a multiple of minibatch, bad loss, ...).
void validate(const PipelineOptions& options);

// Named option sets; the command line overrides them.
//   "reference"  the EleutherAI/w2s defaults (the PipelineOptions defaults above)
//   "demo"       a full pipeline in about a minute on 2 CPU cores with NO download of models:
//                random-initialised weak (1 layer × 8, 256 hashed-word buckets) and strong
//                (2 layers × 64, 8192 buckets) Llamas with the built-in words tokenizer, full
//                fine-tuning, xent student, SST-2 (20000 train / 500 val / the 856 balanced dev
//                examples). Random-init models make it a pipeline demo, not a research result.
PipelineOptions preset_options(std::string_view name);
const std::vector<std::string>& preset_names();

struct StageSummary {
  std::string stage;                   // floor | ceiling | w2s | s2s-1 ...
  std::string model;
  std::string label_source;            // gold | weak | student
  bool reused = false;                 // true when the stage cache already held the result
  std::string key;                     // the stage cache key
  std::filesystem::path dir;           // the stage's folder (results.json, record.json, ...)
  double test_auroc = 0, test_accuracy = 0, test_loss = 0, test_ce_gold = 0;
  std::int64_t steps = 0;
  double wall_seconds = 0;
};

struct PipelineSummary {
  std::vector<StageSummary> stages;
  std::filesystem::path run_dir;       // <results>/<run_name>/<dataset>; PGR: `w2s analyze` on it
};

// Runs (or resumes, or reuses) every stage. Result records go to the run folder.
PipelineSummary run_pipeline(const PipelineOptions& options);

// A fixed-width table of the stages (stage, model, labels, reused, AUROC, accuracy, steps, time).
std::string format_summary(const PipelineSummary& summary);

}  // namespace w2s::train
