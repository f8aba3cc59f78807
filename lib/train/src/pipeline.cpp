// The weak-to-strong pipeline: the stages in order, the presets, option checks and the summary.
//
//   floor    weak model, weak half, gold        → P(1) on the strong half and val = weak labels
//   ceiling  strong model, strong half, gold
//   w2s      strong model, strong half, weak labels (val = weak labels; never gold)
//   s2s-i    strong model, strong half, the previous student's P(1) on the strong half and val
//
// One stage (its cache key, inputs, training and outputs) is stage.cpp.
#include <torch/torch.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <fstream>
#include <optional>

#include "stage.h"
#include "weak_labels.h"

namespace w2s::train {

namespace fs = std::filesystem;

namespace {

std::vector<LabelledExample> with_gold_labels(const std::vector<data::TextExample>& xs) {
  std::vector<LabelledExample> out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back({x.id, x.txt, x.label, static_cast<double>(x.label)});
  return out;
}

std::vector<LabelledExample> relabelled(std::vector<LabelledExample> xs, const std::vector<double>& labels) {
  if (labels.size() != xs.size()) throw Error("internal: label count does not match the examples");
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i].label = labels[i];
  return xs;
}

// A run name holds one test set: the records already in its folder must come from the same data
// (sources, seed) and the same test examples, or `w2s analyze` could not compare them. Another
// test set under the same name is refused before anything is trained or overwritten.
void refuse_another_test_set(const fs::path& run_dir, const data::TrainingData& data, const std::string& run_name) {
  if (!fs::is_directory(run_dir)) return;
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const fs::path file = entry.path() / "record.json";
    if (!fs::is_regular_file(file)) continue;
    const results::ResultRecord r = results::read_record(file);
    std::vector<std::string> differences;
    std::vector<std::string> then_sources, now_sources;
    for (const auto& s : r.dataset.sources) then_sources.push_back(s.sha256);
    for (const auto& s : data.sources) now_sources.push_back(s.sha256);
    if (then_sources != now_sources) differences.push_back("other data files");
    if (r.dataset.seed != data.seed) differences.push_back(fmt::format("data seed {}, now {}", r.dataset.seed, data.seed));
    if (r.predictions.size() != data.test.size()) {
      differences.push_back(fmt::format("{} test examples, now {}", r.predictions.size(), data.test.size()));
    } else {
      for (std::size_t i = 0; i < data.test.size(); ++i)
        if (r.predictions[i].id != data.test[i].id || r.predictions[i].gold != std::to_string(data.test[i].label)) {
          differences.push_back("other test examples");
          break;
        }
    }
    if (!differences.empty())
      throw Error(fmt::format("run '{}' already holds records of another test set ({}: {}); one run name keeps one "
                              "test set, so that its records compare. Choose another --run-name, or remove {} to "
                              "start this run afresh",
                              run_name, file.string(), fmt::join(differences, ", "), run_dir.string()));
  }
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"reference", "demo"};
  return names;
}

PipelineOptions preset_options(std::string_view name) {
  PipelineOptions o;
  if (name == "reference") return o;
  if (name != "demo") throw Error("unknown preset '" + std::string(name) + "' (expected reference or demo)");
  // Random-initialised models learn only from this run's data, so they read hashed words (a
  // bag-of-words signal they can pick up in a few hundred steps) rather than bytes. The weak
  // model is small and hashes into 256 buckets (many words collide); the strong one is larger and
  // has 8192 buckets. Full fine-tuning, a large learning rate, minibatches of 32. The data is
  // sst2-demo, the SST-2 subset built into w2s (no download). SST-2's train split is mostly short
  // phrases, its test split (GLUE dev) whole sentences; the longest has 49 words (train: 54), so
  // max_length 64 truncates nothing. The student uses xent: logconf's self-hardening
  // amplifies the errors of a model with no prior (docs/training.md, "The demo preset").
  o.weak_model = "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1";
  o.strong_model = "random:hidden=64,layers=2,heads=4,kv_heads=4,tokenizer=words,vocab=8192,seed=2";
  o.data.name = "sst2-demo";
  o.data.n_train = 20000;
  o.data.n_val = 500;
  o.data.n_test = 1000;
  o.lora.disable = true;
  o.weak_lr = 3e-3;
  o.strong_lr = 3e-3;
  o.loss.kind = Loss::Xent;
  o.trainer.n_epochs = 2;
  o.trainer.minibatch_size = 32;
  o.trainer.batch_size = 32;
  o.trainer.n_warmup_steps = 20;
  o.trainer.eval_every = 25;
  o.trainer.save_every = 25;
  o.trainer.max_length = 64;
  o.run_name = "demo";
  return o;
}

void validate(const PipelineOptions& o) {
  validate(o.loss);
  const auto& t = o.trainer;
  if (t.minibatch_size < 1 || t.batch_size < 1 || t.batch_size % t.minibatch_size != 0)
    throw Error(fmt::format("--batch-size ({}) must be a positive multiple of --minibatch-size ({})", t.batch_size,
                            t.minibatch_size));
  if (!(t.n_epochs > 0)) throw Error("--n-epochs must be positive");
  if (t.lr_schedule != "cosine" && t.lr_schedule != "constant")
    throw Error("--lr-schedule must be cosine or constant, got '" + t.lr_schedule + "'");
  if (t.metric_for_best_model != "val_auroc" && t.metric_for_best_model != "val_accuracy" &&
      t.metric_for_best_model != "val_loss")
    throw Error("--metric-for-best-model must be val_auroc, val_accuracy or val_loss");
  if (t.eval_every < 1) throw Error("--eval-every must be at least 1");
  if (t.n_warmup_steps < 0 || t.save_every < 0 || t.max_length < 0) throw Error("negative step or length option");
  if (o.s2s_iters < 0) throw Error("--s2s-iters must be >= 0");
  if (o.lora.rank < 1) throw Error("--lora-rank must be >= 1");
  if (o.lora.modules.empty() || split_list(o.lora.modules).empty())
    throw Error("--lora-modules must name at least one linear layer, or be auto");
  const auto& p = o.probe;
  if (p.filter && p.relabel)  // the reference crashes on a length mismatch (quirk #4)
    throw Error("--probe-filter and --probe-relabel cannot be combined: choose one");
  if (p.knn.metric != "euclidean" && p.knn.metric != "cosine") throw Error("--knn-metric must be euclidean or cosine");
  if (!(p.contamination >= 0 && p.contamination < 1)) throw Error("--contamination must be in [0, 1)");
  if (p.knn.k < 1 || p.topo.k_cc < 1 || p.topo.k_zeta < 1) throw Error("probe k values must be >= 1");
  if (o.loss.balance_batch && t.minibatch_size == 1)
    log::warn("--balance-batch with --minibatch-size 1 sets every label to 0.5 (reference quirk #2)");
}

std::string unwritable_folder(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return fmt::format("{} cannot be created: {}", folder.string(), ec.message());
  const fs::path probe = folder / fmt::format(".w2s-write-check-{}", ::getpid());
  const bool written = static_cast<bool>(std::ofstream(probe) << "w2s");
  fs::remove(probe, ec);
  return written ? "" : folder.string() + " is not writable";
}

namespace {

// Everything the run needs, checked before anything is downloaded or trained, so that a problem
// with the strong model or the results folder shows in seconds rather than after the floor has
// trained: both models' files, the data (read here; it is needed first anyway) and the folders
// the run writes. Every problem is reported at once. Returns the data.
data::TrainingData preflight(const PipelineOptions& o) {
  std::vector<std::string> problems;
  std::vector<std::string> models = {o.weak_model};
  if (o.strong_model != o.weak_model) models.push_back(o.strong_model);
  for (const auto& spec : models)
    for (auto& p : model_problems(spec, o.models_dir)) problems.push_back(std::move(p));
  for (const fs::path& folder : {o.results_dir / o.run_name, o.results_dir / o.shared_folder})
    if (auto p = unwritable_folder(folder); !p.empty()) problems.push_back("results: " + p);
  std::optional<data::TrainingData> data;
  try {
    data = data::load_training_data(o.data);
  } catch (const Error& e) {
    problems.push_back(std::string("data: ") + e.what());
  }
  if (!problems.empty())
    throw Error(fmt::format("cannot start the run, {} problem{}:\n  {}", problems.size(), problems.size() == 1 ? "" : "s",
                            fmt::join(problems, "\n  ")));
  return std::move(*data);
}

// What every stage of one run reads: the options with device and dtype resolved, the data, its
// halves and splits with gold labels, and the stage context (cache and run folders).
struct Run {
  PipelineOptions o;
  data::TrainingData data;
  std::vector<LabelledExample> weak_half, strong_half, val, test;
  std::optional<InContextLabels> in_context;  // --weak-labels-from
  std::optional<StageContext> ctx;
};

// Checks the options, the models and the folders, loads the data, and writes the run's
// config.json. Run holds references into itself (ctx), hence filled in place.
void start_run(const PipelineOptions& requested, Run& run) {
  validate(requested);
  PipelineOptions& o = run.o;
  o = requested;
  o.run = model::resolve_run_options(o.run);
  run.data = preflight(o);
  // Hugging Face ids are fetched when missing. Records and cache keys keep the ids; the stages
  // find the same directories.
  resolve_model_spec(o.weak_model, o.models_dir);
  resolve_model_spec(o.strong_model, o.models_dir);
  // Subnormal floats make CPU training several times slower (tiny activations late in training)
  // and change no result worth keeping.
  torch::globalContext().setFlushDenormal(true);
  const data::TrainingData& data = run.data;
  for (const auto& notice : data.notices) say("notice: " + notice);
  const data::Halves halves = data::split_weak_strong(data.train);
  run.weak_half = with_gold_labels(halves.weak);
  run.strong_half = with_gold_labels(halves.strong);
  run.val = with_gold_labels(data.val);
  run.test = with_gold_labels(data.test);
  // In-context labels are checked against these examples before anything is trained.
  if (o.weak_labels_from) {
    run.in_context = read_in_context_labels(*o.weak_labels_from, data, run.strong_half, run.val);
    say(fmt::format("weak labels: {} ({} soft, {} hard) from the in-context weak model {} in {}",
                    run.in_context->strong_half.size() + run.in_context->val.size(), run.in_context->soft,
                    run.in_context->hard, run.in_context->model, o.weak_labels_from->string()));
  }

  run.ctx.emplace(StageContext{o, data, data_identity(data), o.results_dir / o.shared_folder / data.name,
                               o.results_dir / o.run_name / data.name});
  refuse_another_test_set(run.ctx->run_dir, data, o.run_name);
  fs::create_directories(run.ctx->run_dir);
  write_file_atomic(run.ctx->run_dir / "config.json", json::dump(options::record(o), 2) + "\n");
}

// floor: weak model on gold; its P(1) on the strong half and val are the weak labels
StagePlan floor_plan(const Run& r) {
  return {"floor", results::Kind::TrainFloor, r.o.weak_model, r.o.weak_lr, false, {"gold", ""}, "",
          {"floor", r.weak_half, r.val, r.test, {{"strong_half", r.strong_half}, {"val", r.val}}}};
}

// ceiling: strong model on gold
StagePlan ceiling_plan(const Run& r) {
  return {"ceiling", results::Kind::TrainCeiling, r.o.strong_model, r.o.strong_lr, false, {"gold", ""}, "",
          {"ceiling", r.strong_half, r.val, r.test, {}}};
}

}  // namespace

PipelineSummary run_pipeline(const PipelineOptions& requested) {
  Run run;
  start_run(requested, run);
  const PipelineOptions& o = run.o;
  const StageContext& ctx = *run.ctx;
  const auto& strong_half = run.strong_half;
  const auto& val = run.val;
  PipelineSummary summary;
  summary.run_dir = ctx.run_dir;

  // The floor is the run's fine-tuned floor (every PGR of the run uses it); its predictions are
  // the weak labels unless an in-context weak model's are given.
  summary.stages.push_back(run_stage(floor_plan(run), ctx));
  const fs::path floor_dir = summary.stages.back().dir;
  const InContextLabels* in_context = run.in_context ? &*run.in_context : nullptr;
  std::vector<double> train_labels =
      in_context ? in_context->strong_half : stage_predictions(floor_dir, "strong_half", strong_half);
  std::vector<double> val_labels = in_context ? in_context->val : stage_predictions(floor_dir, "val", val);
  // The stage key holds the labels' identity either way (the floor's key, or the labels' hash).
  std::string upstream = in_context ? "in-context-labels-" + in_context->sha256 : summary.stages.back().key;
  const json::Value in_context_labels = in_context ? in_context->record_extra() : json::Value();
  const std::string weak_labeller = in_context ? in_context->model : o.weak_model;

  summary.stages.push_back(run_stage(ceiling_plan(run), ctx));

  // w2s, then s2s rounds: the strong model on the previous stage's soft labels
  for (std::int64_t round = 0; round <= o.s2s_iters; ++round) {
    const bool first = round == 0;
    const std::string name = first ? "w2s" : "s2s-" + std::to_string(round);
    const auto train = relabelled(strong_half, train_labels);
    // --probe-relabel replaces these labels by the probe's (on the strong model's activations).
    const results::LabelSource labels =
        o.probe.relabel ? results::LabelSource{"probe", o.strong_model}
                        : results::LabelSource{first ? "weak" : "student", first ? weak_labeller : o.strong_model};
    StagePlan plan{name,
                   first ? results::Kind::TrainW2S : results::Kind::TrainS2S,
                   o.strong_model,
                   o.strong_lr,
                   true,
                   labels,
                   upstream,
                   {name, train, relabelled(val, val_labels), run.test, {}},
                   in_context_labels};
    plan.inputs.predict = {{"strong_half", plan.inputs.train}, {"val", plan.inputs.val}};
    summary.stages.push_back(run_stage(plan, ctx));
    const fs::path dir = summary.stages.back().dir;
    train_labels = stage_predictions(dir, "strong_half", strong_half);
    val_labels = stage_predictions(dir, "val", val);
    upstream = summary.stages.back().key;
  }
  return summary;
}

PipelineSummary run_shared_stage(const PipelineOptions& requested, SharedStage stage) {
  Run run;
  start_run(requested, run);
  PipelineSummary summary;
  summary.run_dir = run.ctx->run_dir;
  summary.stages.push_back(run_stage(stage == SharedStage::Floor ? floor_plan(run) : ceiling_plan(run), *run.ctx));
  return summary;
}

namespace {

// "…/models/hf/stories260K-llama" → "stories260K-llama"; a random spec without its tokenizer path.
std::string display_name(const std::string& spec) {
  if (spec.rfind("random:", 0) != 0) return fs::path(spec).filename().empty() ? spec : fs::path(spec).filename().string();
  std::string out;
  for (const auto& part : split_list(spec.substr(7), ',')) {
    if (part.rfind("tokenizer=", 0) == 0 && part != "tokenizer=bytes") continue;
    out += (out.empty() ? "random:" : ",") + part;
  }
  return out;
}

}  // namespace

std::string format_summary(const PipelineSummary& summary) {
  std::string out = fmt::format("{:<8} {:<34} {:<8} {:>6} {:>10} {:>9} {:>8} {:>6} {:>9}\n", "stage", "model", "labels",
                                "reused", "test AUROC", "test acc", "CE gold", "steps", "time");
  for (const auto& s : summary.stages) {
    std::string model = display_name(s.model);
    if (model.size() > 34) model = model.substr(0, 31) + "...";
    out += fmt::format("{:<8} {:<34} {:<8} {:>6} {:>10.4f} {:>9.4f} {:>8.4f} {:>6} {:>9}\n", s.stage, model,
                       s.label_source, s.reused ? "yes" : "no", s.test_auroc, s.test_accuracy, s.test_ce_gold, s.steps,
                       format_duration(s.wall_seconds));
  }
  for (const auto& s : summary.stages)
    for (const auto& w : s.warnings) out += "warning: " + w + "\n";
  out += "records: " + summary.run_dir.string() + "/<stage>/record.json  (PGR: w2s analyze " +
         summary.run_dir.parent_path().string() + ")\n";
  return out;
}

}  // namespace w2s::train
