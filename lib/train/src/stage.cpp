// One stage of the pipeline, in four steps (run_stage at the bottom):
//
//   1. key      the stage's cache folder <shared>/stages/<stage>-<key>/; a finished one (stage.json)
//               is reused, a folder another run is training is waited for (flock)
//   2. inputs   students: the probe filters or relabels train and val; the window radius
//   3. train    config.json, a fresh classifier, the training loop (trainer.cpp)
//   4. outputs  predictions.jsonl, results.json, the result record, then the stage.json marker
//
// Either way the run folder <results>/<run>/<dataset>/<stage>/ gets record.json (a w2s::results
// record), results.json (the reference's field names) and predictions.jsonl.
//
// The key is the sha256 of a canonical JSON of everything that affects the stage
// (stage_key_material). The options part comes from the option field lists in w2s/train.h;
// floor and ceiling train without auxiliary terms, so the student's loss and probe are not part
// of their keys and changing them reuses the floor, the ceiling and the weak labels.
#include "stage.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <fstream>

#include "losses.h"
#include "probes.h"

namespace w2s::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheFormat = "w2s-train-stage-v1";

// sha256 over the ids and labels in order: changes whenever the examples or their labels do.
std::string examples_hash(const std::vector<LabelledExample>& xs) {
  std::string material;
  for (const auto& x : xs) material += fmt::format("{}\t{}\t{:.17g}\n", x.id, x.gold, x.label);
  return sha256_hex(material);
}

// The model files' remembered hashes, beside the stage caches of every dataset.
fs::path hash_memo(const PipelineOptions& o) { return o.results_dir / o.shared_folder / "file-hashes.json"; }

// What a student's training did, for analysis tables: the loss, then the probe and what it did
// ("logconf", "xent+knn-relabel", "logconf+topo-filter"), and "+in-context-labels" when an
// in-context weak model labelled (--weak-labels-from). The s2s round is the record's stage.
std::string method_name(const PipelineOptions& o) {
  std::string method = names_of(o.loss.kind).name(o.loss.kind);
  if (o.weak_labels_from) method += "+in-context-labels";
  if (o.probe.active())
    method += "+" + names_of(o.probe.kind).name(o.probe.kind) + (o.probe.relabel ? "-relabel" : "-filter");
  return method;
}

ClassifierOptions classifier_options(const PipelineOptions& o) { return {o.lora, o.run, o.trainer.seed, o.models_dir}; }

}  // namespace

void say(const std::string& message) { log::info("{}", message); }

// Who holds a stage's lock, as its holder recorded it (ExclusiveFileLock).
std::string holder_text(const std::string& holder) { return holder.empty() ? "its process not yet recorded" : holder; }

// ---- 1. key ------------------------------------------------------------------------------------
json::Value data_identity(const data::TrainingData& data) {
  json::Value identity = json::Value::object();
  identity.set("name", data.name);
  identity.set("seed", data.seed);
  json::Value sources = json::Value::array();
  for (const auto& s : data.sources) sources.push_back(json::Value(json::Object{{"sha256", s.sha256}}));
  identity.set("sources", sources);
  return identity;
}

namespace {
// Only students (transfer stages) have auxiliary loss terms, hence a loss warmup to fit.
FittedSchedule fitted_schedule(const StagePlan& plan, const PipelineOptions& o, std::size_t n_train) {
  LossOptions loss = o.loss;
  if (!plan.transfer) loss.kind = Loss::Xent;
  return fit_to_run(o.trainer, loss, optimizer_steps(o.trainer, static_cast<std::int64_t>(n_train)));
}
}  // namespace

json::Value stage_key_material(const StagePlan& plan, const PipelineOptions& o, const json::Value& data_identity) {
  json::Value m = json::Value::object();
  m.set("format", kCacheFormat);
  m.set("stage", plan.name);
  m.set("model", model_identity(plan.model, o.models_dir, hash_memo(o)));
  m.set("data", data_identity);
  m.set("train", examples_hash(plan.inputs.train));
  m.set("val", examples_hash(plan.inputs.val));
  m.set("test", examples_hash(plan.inputs.test));
  for (const auto& [name, xs] : plan.inputs.predict) m.set("predict_" + name, examples_hash(xs));
  m.set("upstream", plan.upstream_key);
  // The options: every field the lists mark kKey, with this stage's learning rate. Only students
  // have auxiliary loss terms and probes.
  PipelineOptions stage_options = o;
  stage_options.trainer.lr = plan.lr;
  const json::Value options_key = options::key(stage_options);
  for (const auto& [name, value] : options_key.as_object()) {
    if (name == "loss" && !plan.transfer) continue;
    if (name == "probe" && !(plan.transfer && o.probe.active())) continue;
    m.set(name, value);
  }
  // A logconf / entropy warmup fitted to a short run trains otherwise than the same options did
  // before warmups were fitted; the stages it changes get keys of their own. (Fitted here to the
  // set before a probe filter, which is known before the stage runs.)
  if (plan.transfer && uses_logconf_warmup(o.loss.kind)) {
    const std::int64_t warmup = fitted_schedule(plan, o, plan.inputs.train.size()).loss.logconf_warmup_steps;
    if (warmup != o.loss.logconf_warmup_steps) m.set("fitted_logconf_warmup_steps", warmup);
  }
  return m;
}

std::string stage_key(const json::Value& material) { return sha256_hex(json::dump_canonical(material)).substr(0, 16); }

namespace {

struct StageFolder {
  json::Value material;
  std::string key;
  fs::path dir;
};

StageFolder stage_folder(const StagePlan& plan, const StageContext& ctx) {
  StageFolder f;
  f.material = stage_key_material(plan, ctx.options, ctx.data_identity);
  f.key = stage_key(f.material);
  f.dir = ctx.shared_dir / "stages" / (plan.name + "-" + f.key);
  return f;
}

StageSummary summary_of(const StagePlan& plan, const results::ResultRecord& r, const StageFolder& folder,
                        bool reused) {
  StageSummary s;
  s.stage = plan.name;
  s.model = plan.model;
  s.label_source = plan.label_source.kind;
  s.reused = reused;
  s.key = folder.key;
  s.dir = folder.dir;
  s.test_auroc = r.metrics.auroc.value_or(std::nan(""));
  s.test_accuracy = r.metrics.accuracy;
  s.test_ce_gold = r.metrics.extra.get_double("ce_gold");
  s.steps = r.extra.get_int("steps");
  s.wall_seconds = r.timing.wall_seconds;
  if (const json::Value* warnings = r.extra.find("warnings"))
    for (const auto& w : warnings->as_array()) s.warnings.push_back(w.as_string());
  return s;
}

// Copies a finished stage's record (under this run's name), results.json and predictions.jsonl
// into the run folder.
StageSummary publish(const StagePlan& plan, const StageContext& ctx, const StageFolder& folder, bool reused) {
  const fs::path out_dir = ctx.run_dir / plan.name;
  fs::create_directories(out_dir);
  auto record = results::from_json(json::parse_file(folder.dir / "record.cache"), (folder.dir / "record.cache").string());
  record.run = ctx.options.run_name;
  results::write_record(out_dir / "record.json", record);
  for (const char* file : {"results.json", "predictions.jsonl"})
    fs::copy_file(folder.dir / file, out_dir / file, fs::copy_options::overwrite_existing);
  // The training log (loss, learning rate and evaluations per step) for the training curves of
  // `w2s plot` and `w2s report`; stages cached before it was published have none.
  if (fs::exists(folder.dir / "log.jsonl"))
    fs::copy_file(folder.dir / "log.jsonl", out_dir / "log.jsonl", fs::copy_options::overwrite_existing);
  return summary_of(plan, record, folder, reused);
}

std::optional<StageSummary> reuse_if_finished(const StagePlan& plan, const StageContext& ctx,
                                              const StageFolder& folder) {
  if (!fs::exists(folder.dir / "stage.json")) return std::nullopt;
  say(fmt::format("{}: stage cache hit, reusing {}", plan.name, folder.dir.string()));
  return publish(plan, ctx, folder, true);
}

// ---- 2. inputs ---------------------------------------------------------------------------------
// Strong-model activations of train / val / test, cached under <shared>/activations/<key>/.
Activations strong_activations(const StageInputs& in, const PipelineOptions& o, const fs::path& shared_dir) {
  const json::Value material = activations_key_material(in, o);
  const fs::path dir = shared_dir / "activations" / stage_key(material);
  const char* splits[] = {"train", "val", "test"};
  Activations acts;
  torch::Tensor* targets[] = {&acts.train, &acts.val, &acts.test};
  auto load_if_done = [&] {
    if (!fs::exists(dir / "done")) return false;
    say("probe: reusing cached activations " + dir.string());
    for (int i = 0; i < 3; ++i) *targets[i] = model::load_safetensors(dir / (std::string(splits[i]) + ".safetensors")).at(0).second;
    return true;
  };
  if (load_if_done()) return acts;
  const ExclusiveFileLock lock(dir / "lock", [](const std::string& holder) {
    say(fmt::format("probe: another run is computing these activations ({}); waiting for it", holder_text(holder)));
  });
  if (load_if_done()) return acts;
  say("probe: computing strong-model activations into " + dir.string());
  // The base model: LoRA's B starts at zero, so the adapted model equals it.
  Classifier base = build_classifier(o.strong_model, classifier_options(o));
  const std::vector<LabelledExample>* sets[] = {&in.train, &in.val, &in.test};
  for (int i = 0; i < 3; ++i) {
    *targets[i] = last_token_activations(base, *sets[i], o.trainer.max_length, o.probe.layer, o.trainer.minibatch_size);
    model::save_safetensors(dir / (std::string(splits[i]) + ".safetensors"), {{"activations", *targets[i]}});
  }
  write_file_atomic(dir / "material.json", json::dump(material, 2) + "\n");
  write_file_atomic(dir / "done", "");
  return acts;
}

// Filters or relabels a student's train and val with the probe; reports go to `dir`.
void probe_inputs(StageInputs& in, const PipelineOptions& o, const fs::path& shared_dir, const fs::path& dir) {
  const Activations acts = strong_activations(in, o, shared_dir);
  auto labels = [](const std::vector<LabelledExample>& xs, bool gold) {
    std::vector<double> out;
    for (const auto& x : xs) out.push_back(gold ? x.gold : x.label);
    return out;
  };
  const ProbeResult r = apply_probe(o.probe, acts, labels(in.train, false), labels(in.val, false),
                                    Gold{labels(in.train, true), labels(in.val, true), labels(in.test, true)},
                                    o.trainer.auroc_mode);
  for (const auto& [file, content] : r.reports) write_file_atomic(dir / file, json::dump(content, 2) + "\n");
  auto select = [](const std::vector<LabelledExample>& xs, const std::vector<std::int64_t>& kept,
                   const std::vector<double>& new_labels) {
    std::vector<LabelledExample> out;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      out.push_back(xs[static_cast<std::size_t>(kept[i])]);
      out.back().label = new_labels[i];
    }
    return out;
  };
  in.train = select(in.train, r.train_kept, r.train_labels);
  in.val = select(in.val, r.val_kept, r.val_labels);
  say(fmt::format("probe {}: {} train and {} val examples {}", names_of(o.probe.kind).name(o.probe.kind),
                  in.train.size(), in.val.size(), o.probe.filter ? "kept" : "relabelled"));
}

struct PreparedInputs {
  StageInputs sets;      // the plan's, after the probe
  double radius = 0.51;  // the window radius (0.51 counts every example: floor and ceiling)
};

PreparedInputs prepare_inputs(const StagePlan& plan, const StageContext& ctx, const fs::path& dir) {
  const PipelineOptions& o = ctx.options;
  PreparedInputs in{plan.inputs};
  if (plan.transfer && o.probe.active()) probe_inputs(in.sets, o, ctx.shared_dir, dir);
  // midweak: from this round's training labels after filter/relabel (quirk #10: the reference
  // keeps the first round's value for later rounds)
  if (plan.transfer && o.loss.kind == Loss::Window) {
    std::vector<double> labels;
    for (const auto& x : in.sets.train) labels.push_back(x.label);
    in.radius = o.loss.radius == "midweak" ? midweak_radius(labels) : std::stod(o.loss.radius);
  }
  return in;
}

// ---- 3. train ----------------------------------------------------------------------------------
struct Trained {
  json::Value config;  // config.json: the recorded options and what this stage made of them
  StageOutcome outcome;
  results::Timing timing;
  std::vector<std::string> warnings;  // recorded as extra.warnings
  json::Value environment;            // recorded as extra.environment
};

// "model name" of /proc/cpuinfo; "unknown" where there is none.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const auto first = line.find_first_not_of(" \t", colon + 1);
      if (first != std::string::npos) return line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    }
  return "unknown";
}

// What a stage's numbers depend on beyond its options: where and with what it ran.
json::Value environment(const model::Placement& placement) {
  json::Value env = json::Value::object();
  env.set("device", placement.device.str());
  env.set("dtype", model::dtype_name(placement.dtype));
  env.set("threads", static_cast<std::int64_t>(torch::get_num_threads()));
  env.set("cpu_model", cpu_model());
  env.set("libtorch_version", fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH));
  env.set("w2s_version", tool_version());
  env.set("w2s_commit", tool_git_commit());
  return env;
}

Trained train(const StagePlan& plan, const StageContext& ctx, const PreparedInputs& in, const StageFolder& folder) {
  const PipelineOptions& o = ctx.options;
  Trained t;
  // Small runs: warmups and eval interval fitted to the stage's length, recorded and said.
  const FittedSchedule fitted = fitted_schedule(plan, o, in.sets.train.size());
  StageSettings settings;
  settings.trainer = fitted.trainer;
  settings.trainer.lr = plan.lr;
  settings.loss = o.loss;
  settings.loss.logconf_warmup_steps = fitted.loss.logconf_warmup_steps;
  settings.transfer = plan.transfer;
  settings.radius = in.radius;
  settings.dir = folder.dir;
  settings.progress = o.progress;

  // The recorded options are the ones this stage trains with (its learning rate, the fitted
  // schedule), not the command line's: train_args and loss are what the trainer is handed.
  PipelineOptions effective = o;
  effective.trainer = settings.trainer;
  effective.loss = settings.loss;
  t.config = options::record(effective);
  t.config.set("stage", plan.name);
  t.config.set("model_name", plan.model);
  t.config.set("lr", plan.lr);
  t.config.set("transfer", plan.transfer);
  if (plan.transfer && o.loss.kind == Loss::Window) t.config.set("window_radius", in.radius);
  t.config.set("stage_key", folder.key);
  const std::int64_t steps = optimizer_steps(o.trainer, static_cast<std::int64_t>(in.sets.train.size()));
  t.config.set("optimizer_steps", steps);
  if (!fitted.changes.empty()) {
    json::Value changes = json::Value::array();
    for (const auto& change : fitted.changes) changes.push_back(change);
    t.config.set("fitted_to_run", changes);  // what the options asked for -> what train_args hold
    say(fmt::format("{}: the run has only {} optimizer steps: {}", plan.name, steps, fmt::join(fitted.changes, ", ")));
  }
  write_file_atomic(folder.dir / "config.json", json::dump(t.config, 2) + "\n");

  t.timing.started_at = now_iso8601();
  const double started = monotonic_seconds();
  Classifier classifier = build_classifier(plan.model, classifier_options(o));
  t.environment = environment(classifier.placement);
  t.outcome = train_stage(classifier, in.sets, settings);
  t.timing.finished_at = now_iso8601();
  t.timing.wall_seconds = monotonic_seconds() - started;
  if (o.trainer.load_best_model_at_end && t.outcome.best_step == 0) {
    t.warnings.push_back(fmt::format(
        "{}: the best checkpoint by {} is step 0, the untrained model: this stage's results are those of {} "
        "before training (more data or epochs, or another learning rate, may help)",
        plan.name, o.trainer.metric_for_best_model, plan.model));
    log::warn("{}", t.warnings.back());
  }
  return t;
}

// ---- 4. outputs --------------------------------------------------------------------------------
results::Prediction prediction_of(const LabelledExample& x, double p1) {
  results::Prediction p;
  p.id = x.id;
  p.prediction = p1 > 0.5 ? "1" : "0";
  p.gold = std::to_string(x.gold);
  p.correct = (p1 > 0.5) == (x.gold == 1);
  p.score = p1;
  p.probabilities = {{"0", 1.0 - p1}, {"1", p1}};
  return p;
}

json::Value prediction_line(const std::string& split, const LabelledExample& x, std::optional<double> label_used,
                            double p1) {
  json::Value v = json::Value::object();
  v.set("split", split);
  v.set("id", x.id);
  v.set("txt", x.txt);
  v.set("gt_label", x.gold);
  v.set("label_used", label_used);
  v.set("soft_pred", p1);
  return v;
}

// predictions.jsonl: test, then the predict sets (the next stage's labels).
std::string predictions_jsonl(const StagePlan& plan, const StageOutcome& out) {
  std::string lines;
  for (std::size_t i = 0; i < plan.inputs.test.size(); ++i)
    lines += json::dump(prediction_line("test", plan.inputs.test[i], std::nullopt, out.test.p1[i])) + "\n";
  for (const auto& [name, xs] : plan.inputs.predict) {
    // label_used only where this stage trained (or selected its checkpoint) on these labels
    const bool trained_on = name == "val" || plan.name != "floor";
    const auto& p1 = out.predicted.at(name);
    for (std::size_t i = 0; i < xs.size(); ++i)
      lines += json::dump(prediction_line(name, xs[i], trained_on ? std::optional<double>(xs[i].label) : std::nullopt,
                                          p1[i])) +
               "\n";
  }
  return lines;
}

// results.json: the reference's evaluation on test, plus the actual split sizes.
json::Value results_json(const StageOutcome& out, const std::map<std::string, std::int64_t>& split_sizes) {
  json::Value res = json::Value::object();
  res.set("eval_loss", out.test.loss);
  res.set("eval_accuracy", out.test.accuracy);
  res.set("eval_auroc", std::isnan(out.test.auroc) ? json::Value() : json::Value(out.test.auroc));
  res.set("eval_runtime", out.test.runtime_s);
  res.set("eval_samples_per_second",
          static_cast<double>(split_sizes.at("test")) / std::max(out.test.runtime_s, 1e-9));
  res.set("eval_steps_per_second", static_cast<double>(out.test.batches) / std::max(out.test.runtime_s, 1e-9));
  res.set("epoch", out.epoch);
  res.set("eval_ce_gold", out.test.ce_gold);
  res.set("split_sizes", json::Value(json::Object{{"train", split_sizes.at("train")},
                                                  {"val", split_sizes.at("val")},
                                                  {"test", split_sizes.at("test")}}));
  return res;
}

results::ResultRecord make_record(const StagePlan& plan, const StageContext& ctx, const Trained& t,
                                  const std::map<std::string, std::int64_t>& split_sizes) {
  const PipelineOptions& o = ctx.options;
  const StageOutcome& out = t.outcome;
  results::ResultRecord r;
  r.kind = plan.kind;
  r.run = o.run_name;
  r.config = t.config;
  r.dataset.name = ctx.data.name;
  for (const auto& s : ctx.data.sources) r.dataset.sources.push_back({s.path, s.sha256});
  r.dataset.split = "test";
  r.dataset.split_sizes = split_sizes;
  r.dataset.seed = ctx.data.seed;
  r.models = {{o.weak_model, "weak"}, {o.strong_model, plan.transfer ? "student" : "strong"}};
  r.evaluated_model = plan.model;
  r.label_source = plan.label_source;
  r.stage = plan.name;
  for (std::size_t i = 0; i < plan.inputs.test.size(); ++i)
    r.predictions.push_back(prediction_of(plan.inputs.test[i], out.test.p1[i]));
  r.metrics = results::accuracy_metrics(r.predictions);
  if (!std::isnan(out.test.auroc)) r.metrics.auroc = out.test.auroc;
  r.metrics.loss = out.test.loss;
  json::Value extra = json::Value::object();
  extra.set("ce_gold", out.test.ce_gold);
  extra.set("auroc_mode", names_of(o.trainer.auroc_mode).name(o.trainer.auroc_mode));
  extra.set("val_auroc_vs_training_labels", std::isnan(out.val.auroc) ? json::Value() : json::Value(out.val.auroc));
  extra.set("val_accuracy_vs_training_labels", out.val.accuracy);
  r.metrics.extra = extra;
  r.timing = t.timing;
  json::Value rx = json::Value::object();
  rx.set("steps", out.steps);
  rx.set("best_step", out.best_step);
  rx.set("epoch", out.epoch);
  rx.set("truncated_train_texts", out.truncated);
  rx.set("resumed_from_checkpoint", out.resumed);
  if (plan.transfer) rx.set("method", method_name(o));
  if (!plan.in_context_labels.is_null()) {
    rx.set("weak_labels_from", plan.in_context_labels.get_string("path"));
    rx.set("in_context_labels", plan.in_context_labels);
  }
  rx.set("environment", t.environment);
  if (!t.warnings.empty()) {
    json::Value warnings = json::Value::array();
    for (const auto& w : t.warnings) warnings.push_back(w);
    rx.set("warnings", warnings);
  }
  r.extra = rx;
  r.created_at = now_iso8601();
  r.tool_version = tool_version();
  r.tool_git_commit = tool_git_commit();
  return r;
}

// After the marker: resume state and the best weights of other steps are no longer needed.
void remove_checkpoints(const fs::path& dir, std::int64_t best_step) {
  fs::remove(dir / "checkpoint.json");
  const std::string keep = fmt::format("best-{}.safetensors", best_step);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0) fs::remove_all(entry.path());
    if (name.rfind("best-", 0) == 0 && name != keep) fs::remove(entry.path());
  }
}

void write_outputs(const StagePlan& plan, const StageContext& ctx, const PreparedInputs& in, const Trained& t,
                   const StageFolder& folder) {
  const fs::path& dir = folder.dir;
  write_file_atomic(dir / "predictions.jsonl", predictions_jsonl(plan, t.outcome));
  const std::map<std::string, std::int64_t> split_sizes = {
      {"train", static_cast<std::int64_t>(in.sets.train.size())},
      {"val", static_cast<std::int64_t>(in.sets.val.size())},
      {"test", static_cast<std::int64_t>(plan.inputs.test.size())}};
  write_file_atomic(dir / "results.json", json::dump(results_json(t.outcome, split_sizes), 2) + "\n");

  const json::Value record = results::to_json(make_record(plan, ctx, t, split_sizes));
  if (auto problems = results::validate(record); !problems.empty())
    throw Error("internal: invalid result record for stage " + plan.name + ": " + problems.front());
  write_file_atomic(dir / "record.cache", json::dump(record, 2) + "\n");

  // The marker comes last: from here on the stage counts as finished.
  json::Value marker = json::Value::object();
  marker.set("stage", plan.name);
  marker.set("key", folder.key);
  marker.set("finished_at", t.timing.finished_at);
  write_file_atomic(dir / "stage.json", json::dump(marker, 2) + "\n");
  remove_checkpoints(dir, t.outcome.best_step);
}

// A diverged stage leaves diverged.json (status "diverged", where and how, the message) in its stage
// folder and in the run folder, and no record.json or stage.json: it has no metrics, and a rerun
// trains it again. The error goes on, naming the learning-rate flag to lower.
[[noreturn]] void stop_diverged(const StagePlan& plan, const StageContext& ctx, const StageFolder& folder,
                                const StageDiverged& d) {
  const auto number = [](double x) { return std::isfinite(x) ? json::Value(x) : json::Value(fmt::format("{}", x)); };
  json::Value v = json::Value::object();
  v.set("stage", plan.name);
  v.set("status", "diverged");
  v.set("model", plan.model);
  v.set("stage_key", folder.key);
  v.set("step", d.step);
  v.set("loss", number(d.loss));
  v.set("grad_norm", number(d.grad_norm));
  v.set("learning_rate", number(d.learning_rate));
  v.set("message", d.what());
  v.set("created_at", now_iso8601());
  const std::string text = json::dump(v, 2) + "\n";
  const fs::path in_run = ctx.run_dir / plan.name / "diverged.json";
  fs::create_directories(in_run.parent_path());
  write_file_atomic(folder.dir / "diverged.json", text);
  write_file_atomic(in_run, text);
  throw StageDiverged(fmt::format("{}: {}: lower {} (recorded in {})", plan.name, d.what(),
                                  plan.name == "floor" ? "--weak-lr" : "--strong-lr", in_run.string()),
                      d.step, d.loss, d.grad_norm, d.learning_rate);
}

}  // namespace

json::Value activations_key_material(const StageInputs& in, const PipelineOptions& o) {
  std::string ids;
  for (const auto* set : {&in.train, &in.val, &in.test}) {
    for (const auto& x : *set) ids += x.id + ",";
    ids += ";";
  }
  json::Value material = json::Value::object();
  material.set("model", model_identity(o.strong_model, o.models_dir, hash_memo(o)));
  material.set("ids", sha256_hex(ids));
  material.set("max_length", o.trainer.max_length);
  material.set("layer", o.probe.layer);
  material.set("dtype", o.run.dtype);
  return material;
}

std::vector<double> stage_predictions(const fs::path& stage_dir, const std::string& split,
                                      const std::vector<LabelledExample>& expected) {
  const fs::path file = stage_dir / "predictions.jsonl";
  std::ifstream in(file);
  if (!in) throw Error("cannot read " + file.string());
  std::vector<double> out;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = file.string() + ":" + std::to_string(line_no);
    const auto v = json::parse(line, where);
    if (v.get_string("split") != split) continue;
    if (out.size() >= expected.size() || v.at("id").as_string() != expected[out.size()].id)
      throw Error(where + ": " + split + " predictions do not match the examples (stale cache?)");
    out.push_back(v.at("soft_pred").as_double());
  }
  if (out.size() != expected.size())
    throw Error(fmt::format("{}: expected {} {} predictions, found {}", file.string(), expected.size(), split,
                            out.size()));
  return out;
}

StageSummary run_stage(const StagePlan& plan, const StageContext& ctx) {
  const StageFolder folder = stage_folder(plan, ctx);  // 1. key
  if (auto hit = reuse_if_finished(plan, ctx, folder)) return *hit;
  // Runs that share the stage cache train a stage one at a time: a second run waits here, then
  // finds the stage finished (or resumes it if the first one was killed).
  fs::create_directories(folder.dir);
  const ExclusiveFileLock lock(folder.dir / "lock", [&](const std::string& holder) {
    say(fmt::format("{}: another run is training this stage ({}); waiting for it", plan.name, holder_text(holder)));
  });
  if (auto hit = reuse_if_finished(plan, ctx, folder)) return *hit;
  say(fmt::format("{}: training {} on {} examples ({} labels) in {}", plan.name, plan.model, plan.inputs.train.size(),
                  plan.label_source.kind, folder.dir.string()));
  write_file_atomic(folder.dir / "key.json", json::dump(folder.material, 2) + "\n");

  const PreparedInputs inputs = prepare_inputs(plan, ctx, folder.dir);  // 2. inputs
  const Trained trained = [&] {                                         // 3. train
    try {
      return train(plan, ctx, inputs, folder);
    } catch (const StageDiverged& d) {
      stop_diverged(plan, ctx, folder, d);
    }
  }();
  write_outputs(plan, ctx, inputs, trained, folder);                    // 4. outputs
  say(fmt::format("{}: done, test AUROC {:.4f}, accuracy {:.4f} ({})", plan.name, trained.outcome.test.auroc,
                  trained.outcome.test.accuracy, format_duration(trained.timing.wall_seconds)));
  return publish(plan, ctx, folder, false);
}

}  // namespace w2s::train
