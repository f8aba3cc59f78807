// w2s train: the weak-to-strong fine-tuning pipeline (docs/training.md; the reference behaviour it
// follows: docs/reference-behaviour.md §13-§20).
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
// Losses: lib/train/src/losses.cpp. Probes: lib/train/src/probes.cpp. Metrics (AUROC, accuracy):
// lib/train/src/metrics.cpp. The training loop: lib/train/src/trainer.cpp. Stages and the cache:
// lib/train/src/pipeline.cpp.
//
// Options: each options struct below has its field list right after it (w2s/options.h): the
// flags of `w2s train`, the recorded config and the stage-cache key all come from those lists.
//
// This header does not include torch. Errors are w2s::Error with a message for the user.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"
#include "w2s/data.h"
#include "w2s/model.h"
#include "w2s/options.h"
#include "w2s/results.h"

namespace w2s::train {

// ---------------------------------------------------------------------------------------------
// Losses (docs/reference-behaviour.md §16; the registry and the formulas are in losses.cpp)
// ---------------------------------------------------------------------------------------------
enum class Loss { Xent, Kl, Logconf, Entropy, EntropyGrad, Window, OpenaiLogconf, Product };
// The loss names (xent, kl, logconf, entropy, entropy-grad, window, openai-logconf, product), from
// the loss registry.
const options::NameTable<Loss>& names_of(Loss);

struct LossOptions {
  Loss kind = Loss::Logconf;
  double logconf_weight = 0.5;               // logconf, entropy, entropy-grad, openai-logconf
  std::int64_t logconf_warmup_steps = 100;   // optimizer steps (EleutherAI losses)
  bool balance_batch = false;                // logconf, entropy, entropy-grad
  std::string radius = "0.15";               // window: a number, or "midweak"
  double openai_warmup_frac = 0.1;           // openai-logconf: fraction of all steps, linear ramp
  double product_alpha = 1.0;                // product: target ∝ p^beta · y^alpha
  double product_beta = 1.0;
};
// The losses whose auxiliary weight ramps up over logconf_warmup_steps (EleutherAI's).
inline bool uses_logconf_warmup(Loss kind) {
  return kind == Loss::Logconf || kind == Loss::Entropy || kind == Loss::EntropyGrad;
}
// The record and the key hold the loss's name and the options that loss reads.
inline const options::Fields<LossOptions>& option_fields(const LossOptions*) {
  using L = LossOptions;
  auto loss_in = [](std::vector<Loss> kinds) {
    return [kinds](const L& o) { return std::find(kinds.begin(), kinds.end(), o.kind) != kinds.end(); };
  };
  static const auto fields =
      options::Fields<L>()
          .add("name", &L::kind, "student loss")
          .flag("loss")
          .add("logconf_weight", &L::logconf_weight, "logconf / entropy auxiliary weight")
          .when(loss_in({Loss::Logconf, Loss::Entropy, Loss::EntropyGrad, Loss::OpenaiLogconf}))
          .add("logconf_warmup_steps", &L::logconf_warmup_steps, "logconf / entropy warmup (optimizer steps)")
          .when([](const L& o) { return uses_logconf_warmup(o.kind); })
          .add("balance_batch", &L::balance_batch, "logconf / entropy: balance each batch's labels")
          .when(loss_in({Loss::Logconf, Loss::Entropy, Loss::EntropyGrad}))
          .add("radius", &L::radius, "window loss radius: a number or midweak")
          .when(loss_in({Loss::Window}))
          .add("openai_warmup_frac", &L::openai_warmup_frac, "openai-logconf warmup as a fraction of the steps (linear)")
          .when(loss_in({Loss::OpenaiLogconf}))
          .add("product_alpha", &L::product_alpha, "product loss: exponent of the labels")
          .when(loss_in({Loss::Product}))
          .add("product_beta", &L::product_beta, "product loss: exponent of the predictions")
          .when(loss_in({Loss::Product}));
  return fields;
}

// Throws w2s::Error on an out-of-range value.
void validate(const LossOptions& options);

// Window radius "midweak": median |y − 0.5| over the given (soft) training labels.
double midweak_radius(const std::vector<double>& labels);

// ---------------------------------------------------------------------------------------------
// Metrics (docs/reference-behaviour.md §18)
// ---------------------------------------------------------------------------------------------
// TieAware (the default: average ranks, = scikit-learn) or Reference (EleutherAI's rank sum);
// named tie-aware / reference (results::names_of).
using AurocMode = results::AurocTies;

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
  double lr = 5e-4;                    // set per stage from PipelineOptions::weak_lr / strong_lr
  double n_epochs = 3.0;
  std::int64_t minibatch_size = 1;     // examples per forward pass
  std::int64_t batch_size = 32;        // examples per optimizer step (accumulation = batch / minibatch)
  std::string lr_schedule = "cosine";  // cosine | constant (both after a linear warmup)
  std::int64_t n_warmup_steps = 40;
  double weight_decay = 0.1;
  std::array<double, 2> adam_betas{0.9, 0.95};
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
// Recorded as "train_args"; all of it is in every stage's key.
inline const options::Fields<TrainerOptions>& option_fields(const TrainerOptions*) {
  using T = TrainerOptions;
  using options::kKey, options::kRecord;
  static const auto fields =
      options::Fields<T>()
          .add("lr", &T::lr, "learning rate of the stage", kRecord | kKey)
          .add("n_epochs", &T::n_epochs, "epochs per stage")
          .add("minibatch_size", &T::minibatch_size, "examples per forward pass")
          .add("batch_size", &T::batch_size, "examples per optimizer step (gradient accumulation)")
          .add("lr_schedule", &T::lr_schedule, "cosine or constant, after the linear warmup")
          .add("n_warmup_steps", &T::n_warmup_steps, "linear learning-rate warmup (optimizer steps)")
          .add("weight_decay", &T::weight_decay, "AdamW weight decay")
          .add("adam_betas", &T::adam_betas, "AdamW betas", kRecord | kKey)
          .add("adam_eps", &T::adam_eps, "AdamW epsilon", kRecord | kKey)
          .add("max_grad_norm", &T::max_grad_norm, "gradient clipping")
          .add("eval_every", &T::eval_every, "evaluate val and test every N optimizer steps")
          .add("save_every", &T::save_every, "resume checkpoint every N optimizer steps (0 = none)")
          .add("load_best_model_at_end", &T::load_best_model_at_end, "restore the best checkpoint by the val metric")
          .add("metric_for_best_model", &T::metric_for_best_model, "val_auroc, val_accuracy or val_loss")
          .add("seed", &T::seed, "training seed (data order, head initialisation)")
          .add("max_length", &T::max_length, "truncate inputs to this many tokens (0 = no limit)")
          .add("auroc_mode", &T::auroc_mode, "how AUROC ranks: reference = no tie averaging, on the raw class-1 logit")
          .flag("auroc");
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Probes on frozen strong-model activations (docs/reference-behaviour.md §17), for the transfer stages. The registry
// (name, predict, filter) is in probes.cpp; each probe has its own options.
// ---------------------------------------------------------------------------------------------
enum class Probe { Knn, Logreg, Topo };
const options::NameTable<Probe>& names_of(Probe);  // knn, logreg, topo

struct KnnOptions {
  std::int64_t k = 50;
  std::string metric = "euclidean";  // euclidean (the reference's computation) | cosine (its comment)
};
inline const options::Fields<KnnOptions>& option_fields(const KnnOptions*) {
  static const auto fields = options::Fields<KnnOptions>()
                                 .add("k", &KnnOptions::k, "knn: neighbours")
                                 .add("metric", &KnnOptions::metric, "knn: euclidean (the reference's computation) or cosine (its comment)")
                                 .flag("knn-metric");
  return fields;
}

struct LogregOptions {
  double l2p = 1e-3;  // the code's value; the blog states 1e-2
};
inline const options::Fields<LogregOptions>& option_fields(const LogregOptions*) {
  static const auto fields = options::Fields<LogregOptions>().add(
      "l2p", &LogregOptions::l2p, "logreg: L2 penalty on the weights (the blog states 1e-2)");
  return fields;
}

struct TopoOptions {
  std::int64_t k_cc = 50;
  std::int64_t k_zeta = 50;
  bool modified = false;  // generic disagreement filter with topolabel predictions
};
inline const options::Fields<TopoOptions>& option_fields(const TopoOptions*) {
  static const auto fields =
      options::Fields<TopoOptions>()
          .add("k_cc", &TopoOptions::k_cc, "topo: neighbours of the TopoCC graph")
          .add("k_zeta", &TopoOptions::k_zeta, "topo: neighbours of the disagreement score and topolabel")
          .add("modified", &TopoOptions::modified, "topo: generic disagreement filter with topolabel predictions");
  return fields;
}

struct ProbeOptions {
  Probe kind = Probe::Knn;
  std::optional<std::int64_t> layer;     // hidden-state index (0 = embeddings); default L_states / 2
  bool relabel = false;                  // train and val labels := probe P(1)
  bool filter = false;                   // drop the `contamination` share of train and val
  double contamination = 0.1;
  KnnOptions knn;
  LogregOptions logreg;
  TopoOptions topo;
  bool active() const { return relabel || filter; }
};
// The record and the key hold the common options and those of the selected probe.
inline const options::Fields<ProbeOptions>& option_fields(const ProbeOptions*) {
  using P = ProbeOptions;
  auto probe_is = [](Probe kind) { return [kind](const P& p) { return p.kind == kind; }; };
  static const auto fields =
      options::Fields<P>()
          .add("probe", &P::kind, "probe on strong-model activations")
          .add("layer", &P::layer, "hidden-state index of the activations (default: number of hidden states / 2)")
          .flag("probe-layer")
          .add("relabel", &P::relabel, "students: replace train and val labels by the probe's P(1)")
          .flag("probe-relabel")
          .add("filter", &P::filter, "students: drop the contamination share of train and val (not with relabel)")
          .flag("probe-filter")
          .add("contamination", &P::contamination, "probe filter: share of examples to drop")
          .merge(&P::knn, option_fields(static_cast<const KnnOptions*>(nullptr)))
          .when(probe_is(Probe::Knn))
          .merge(&P::logreg, option_fields(static_cast<const LogregOptions*>(nullptr)))
          .when(probe_is(Probe::Logreg))
          .merge(&P::topo, option_fields(static_cast<const TopoOptions*>(nullptr)))
          .when(probe_is(Probe::Topo));
  return fields;
}

// ---------------------------------------------------------------------------------------------
// LoRA (shared by the pipeline and the classifiers it builds)
// ---------------------------------------------------------------------------------------------
struct LoraOptions {
  bool disable = false;             // full fine-tuning instead
  std::int64_t rank = 8;
  double alpha = 8.0;
  // Comma-separated names of the linear layers that get adapters, or "auto": the architecture's
  // default (model::default_lora_targets; the reference's q,k,v,o,gate,up,down for Llama).
  std::string modules = "auto";
};
// In the key: "disabled", or {r, alpha} plus modules when they are not auto (keys written before
// --lora-modules existed stay valid).
inline const options::Fields<LoraOptions>& option_fields(const LoraOptions*) {
  using L = LoraOptions;
  static const auto fields =
      options::Fields<L>()
          .add("disable_lora", &L::disable, "full fine-tuning instead of LoRA", options::kFlag | options::kRecord)
          .add("lora_rank", &L::rank, "LoRA rank r")
          .key_as("r")
          .add("lora_alpha", &L::alpha, "LoRA alpha")
          .key_as("alpha")
          .add("lora_modules", &L::modules,
               "linear layers that get LoRA adapters, comma-separated, or auto (the architecture's default, "
               "listed by `w2s model info`: q,k,v,o,gate,up,down projections for Llama-family models)")
          .key_as("modules")
          .key_unless_default()
          .key_value([](const L& l, json::Value fields) { return l.disable ? json::Value("disabled") : fields; });
  return fields;
}

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

  std::filesystem::path results_dir = "./results";
  std::string run_name = "default";
  std::string shared_folder = "shared";

  double weak_lr = 5e-4;
  double strong_lr = 8e-5;
  LoraOptions lora;
  std::int64_t s2s_iters = 0;

  // An in-context weak model's labels (a `weak-labels` record of `w2s weak-sweep --dataset NAME`
  // on this run's data) as the students' weak labels, in place of the floor's predictions. The
  // floor is still trained: it is the run's fine-tuned floor, the floor of every PGR of the run
  // (docs/training.md, "Weak labels from an in-context weak model").
  std::optional<std::filesystem::path> weak_labels_from;

  // auto: CUDA (base weights bfloat16) when this libtorch sees a GPU, else CPU (float32). Records
  // and cache keys hold the resolved names, so "auto" and "float32" on a CPU share stages.
  model::RunOptions run;

  TrainerOptions trainer;              // shared by every stage; lr comes from weak_lr / strong_lr
  LossOptions loss;                    // the student's loss (aux terms are off for floor/ceiling)
  ProbeOptions probe;                  // filter / relabel the students' labels (off by default)
  bool progress = true;
};
// The recorded config (config.json) in this order. The stage-cache key holds the key fields of
// each stage's options (stage.cpp, stage_key_material): LoRA, dtype, train_args with the
// stage's lr, and for students the loss and, when it filters or relabels, the probe. Models and
// data enter the key through their identities and the examples' hashes.
inline const options::Fields<PipelineOptions>& option_fields(const PipelineOptions*) {
  using P = PipelineOptions;
  using options::kFlag, options::kRecord;
  static const auto fields =
      options::Fields<P>()
          .add("weak_model_name", &P::weak_model,
               "weak model: a Hugging Face model directory, a Hugging Face id (org/name[@revision], downloaded into "
               "the models directory when missing) or random:k=v,...",
               kFlag | kRecord)
          .add("strong_model_name", &P::strong_model, "strong model (same forms)", kFlag | kRecord)
          .merge(&P::data, option_fields(static_cast<const data::TrainingDataOptions*>(nullptr)), kFlag | kRecord)
          .add("models_dir", &P::models_dir,
               "where Hugging Face ids are looked up and downloaded to, as models-dir/org/name (default "
               "$W2S_MODELS_DIR, else ./models)",
               kFlag)
          .add("results_dir", &P::results_dir, "where results go", kFlag)
          .add("run_name", &P::run_name, "run folder name under the results folder", kFlag)
          .add("shared_folder", &P::shared_folder, "stage cache folder name under the results folder", kFlag | kRecord)
          .add("weak_lr", &P::weak_lr, "learning rate of the floor stage", kFlag | kRecord)
          .add("strong_lr", &P::strong_lr, "learning rate of the ceiling, w2s and s2s stages", kFlag | kRecord)
          .merge(&P::lora, option_fields(static_cast<const LoraOptions*>(nullptr)))
          .key_as("lora")
          .add("s2s_iters", &P::s2s_iters, "strong-to-strong rounds after the w2s student", kFlag | kRecord)
          .add("weak_labels_from", &P::weak_labels_from,
               "an in-context weak-labels record (w2s weak-sweep --dataset NAME) on this data: its labels teach the "
               "w2s student instead of the floor's predictions (the floor is still trained, as the PGR's floor)",
               kFlag | kRecord)
          .omit_unset()
          .merge(&P::run, option_fields(static_cast<const model::RunOptions*>(nullptr)))
          .group("train_args", &P::trainer, option_fields(static_cast<const TrainerOptions*>(nullptr)))
          .group("loss", &P::loss, option_fields(static_cast<const LossOptions*>(nullptr)))
          .group("probe", &P::probe, option_fields(static_cast<const ProbeOptions*>(nullptr)))
          .add("progress", &P::progress, "no progress line on stderr", kFlag)
          .flag_turns_off("no-progress");
  return fields;
}

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
  std::string label_source;            // gold | weak | student | probe (--probe-relabel)
  bool reused = false;                 // true when the stage cache already held the result
  std::string key;                     // the stage cache key
  std::filesystem::path dir;           // the stage's folder (results.json, record.json, ...)
  double test_auroc = 0, test_accuracy = 0, test_ce_gold = 0;
  std::int64_t steps = 0;
  double wall_seconds = 0;
  std::vector<std::string> warnings;   // e.g. the best checkpoint is the untrained model (step 0)
};

struct PipelineSummary {
  std::vector<StageSummary> stages;
  std::filesystem::path run_dir;       // <results>/<run_name>/<dataset>; PGR: `w2s analyze` on it
};

// Runs (or resumes, or reuses) every stage. Result records go to the run folder.
PipelineSummary run_pipeline(const PipelineOptions& options);

// The stages every student of a weak -> strong pair builds on: trained once by `w2s sweep` (or by
// the first run that needs them) and reused from the stage cache by every student after.
enum class SharedStage { Floor, Ceiling };

// Runs (or reuses) the floor or the ceiling alone: the same stage, cache key and record as
// run_pipeline's, in the run folder of options.run_name.
PipelineSummary run_shared_stage(const PipelineOptions& options, SharedStage stage);

// A fixed-width table of the stages (stage, model, labels, reused, AUROC, accuracy, steps, time).
std::string format_summary(const PipelineSummary& summary);

}  // namespace w2s::train
