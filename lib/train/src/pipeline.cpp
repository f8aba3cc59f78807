// The weak-to-strong pipeline: stages, their cache, and what each stage writes.
//
//   floor    weak model, weak half, gold        → P(1) on the strong half and val = weak labels
//   ceiling  strong model, strong half, gold
//   w2s      strong model, strong half, weak labels (val = weak labels; never gold)
//   s2s-i    strong model, strong half, the previous student's P(1) on the strong half and val
//
// Stage cache: <results>/<shared>/<dataset>/stages/<stage>-<key>/. The key is the sha256 of a
// canonical JSON of everything that affects the stage (stage_key_material below). A stage folder
// with stage.json is finished and reused; one without it holds resume checkpoints. The student's
// loss is not part of the floor's or ceiling's key, so changing it reuses them and the weak labels.
//
// Per stage, the run folder <results>/<run>/<dataset>/<stage>/ gets record.json (a
// w2s::results record), results.json (the reference's field names) and predictions.jsonl.
#include <torch/torch.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "losses.h"
#include "probes.h"
#include "stage_key.h"
#include "trainer.h"
#include "w2s/results.h"

namespace w2s::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheFormat = "w2s-train-stage-v1";

void say(const std::string& message) { fmt::print(stderr, "[w2s train] {}\n", message); }

// ---- options as JSON (config.json, record config, cache keys) --------------------------------
json::Value trainer_json(const TrainerOptions& t) {
  json::Value v = json::Value::object();
  v.set("lr", t.lr);
  v.set("n_epochs", t.n_epochs);
  v.set("minibatch_size", t.minibatch_size);
  v.set("batch_size", t.batch_size);
  v.set("lr_schedule", t.lr_schedule);
  v.set("n_warmup_steps", t.n_warmup_steps);
  v.set("weight_decay", t.weight_decay);
  v.set("adam_betas", json::Array{t.adam_beta1, t.adam_beta2});
  v.set("adam_eps", t.adam_eps);
  v.set("max_grad_norm", t.max_grad_norm);
  v.set("eval_every", t.eval_every);
  v.set("save_every", t.save_every);
  v.set("load_best_model_at_end", t.load_best_model_at_end);
  v.set("metric_for_best_model", t.metric_for_best_model);
  v.set("seed", t.seed);
  v.set("max_length", t.max_length);
  v.set("auroc_mode", t.auroc_mode == AurocMode::TieAware ? "tie-aware" : "reference");
  return v;
}

json::Value loss_json(const LossOptions& l) {
  json::Value v = json::Value::object();
  v.set("name", l.name);
  if (l.name == "logconf" || l.name == "entropy" || l.name == "entropy-grad") {
    v.set("logconf_weight", l.logconf_weight);
    v.set("logconf_warmup_steps", l.logconf_warmup_steps);
    v.set("balance_batch", l.balance_batch);
  } else if (l.name == "window") {
    v.set("radius", l.radius);
  } else if (l.name == "openai-logconf") {
    v.set("logconf_weight", l.logconf_weight);
    v.set("openai_warmup_frac", l.openai_warmup_frac);
  } else if (l.name == "product") {
    v.set("product_alpha", l.product_alpha);
    v.set("product_beta", l.product_beta);
  }
  return v;
}

json::Value probe_json(const ProbeOptions& p) {
  json::Value v = json::Value::object();
  v.set("probe", p.probe);
  v.set("layer", p.layer);
  v.set("relabel", p.relabel);
  v.set("filter", p.filter);
  v.set("contamination", p.contamination);
  if (p.probe == "knn") {
    v.set("k", p.knn_k);
    v.set("metric", p.knn_metric);
  } else if (p.probe == "logreg") {
    v.set("l2p", p.logreg_l2p);
  } else {
    v.set("k_cc", p.topo_k_cc);
    v.set("k_zeta", p.topo_k_zeta);
    v.set("modified", p.topo_modified);
  }
  return v;
}

}  // namespace

json::Value options_json(const PipelineOptions& o) {
  json::Value v = json::Value::object();
  v.set("weak_model_name", o.weak_model);
  v.set("strong_model_name", o.strong_model);
  v.set("dataset", o.data.name);
  if (o.data.dataset_file) v.set("dataset_file", *o.data.dataset_file);
  v.set("n_train", static_cast<std::int64_t>(o.data.n_train));
  v.set("n_val", static_cast<std::int64_t>(o.data.n_val));
  v.set("n_test", static_cast<std::int64_t>(o.data.n_test));
  v.set("data_seed", o.data.seed);
  v.set("shared_folder", o.shared_folder);
  v.set("weak_lr", o.weak_lr);
  v.set("strong_lr", o.strong_lr);
  v.set("disable_lora", o.disable_lora);
  v.set("lora_rank", o.lora_rank);
  v.set("lora_alpha", o.lora_alpha);
  v.set("lora_modules", o.lora_modules);
  v.set("s2s_iters", o.s2s_iters);
  v.set("device", o.device);
  v.set("dtype", o.dtype);
  v.set("train_args", trainer_json(o.trainer));
  v.set("loss", loss_json(o.loss));
  v.set("probe", probe_json(o.probe));
  return v;
}

namespace {

// ---- data ------------------------------------------------------------------------------------
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

// sha256 over the ids and labels in order: changes whenever the examples or their labels do.
std::string examples_hash(const std::vector<LabelledExample>& xs) {
  std::string material;
  for (const auto& x : xs) material += fmt::format("{}\t{}\t{:.17g}\n", x.id, x.gold, x.label);
  return sha256_hex(material);
}

}  // namespace

// ---- one stage -------------------------------------------------------------------------------
json::Value stage_key_material(const StagePlan& plan, const PipelineOptions& o, const json::Value& data_identity) {
  json::Value m = json::Value::object();
  m.set("format", kCacheFormat);
  m.set("stage", plan.name);
  m.set("model", model_identity(plan.model, o.models_dir));
  m.set("data", data_identity);
  m.set("train", examples_hash(plan.inputs.train));
  m.set("val", examples_hash(plan.inputs.val));
  m.set("test", examples_hash(plan.inputs.test));
  for (const auto& [name, xs] : plan.inputs.predict) m.set("predict_" + name, examples_hash(xs));
  TrainerOptions t = o.trainer;
  t.lr = plan.lr;
  m.set("train_args", trainer_json(t));
  json::Value lora = json::Object{{"r", o.lora_rank}, {"alpha", o.lora_alpha}};
  if (o.lora_modules != "auto") lora.set("modules", o.lora_modules);  // keeps earlier keys valid
  m.set("lora", o.disable_lora ? json::Value("disabled") : lora);
  m.set("dtype", o.dtype);
  m.set("upstream", plan.upstream_key);
  if (plan.transfer) {  // floor and ceiling train without auxiliary terms: the loss does not matter
    m.set("loss", loss_json(o.loss));
    if (o.probe.active()) m.set("probe", probe_json(o.probe));
  }
  return m;
}

std::string stage_key(const json::Value& material) { return sha256_hex(json::dump_canonical(material)).substr(0, 16); }

json::Value activations_key_material(const StageInputs& in, const PipelineOptions& o) {
  std::string ids;
  for (const auto* set : {&in.train, &in.val, &in.test}) {
    for (const auto& x : *set) ids += x.id + ",";
    ids += ";";
  }
  json::Value material = json::Value::object();
  material.set("model", model_identity(o.strong_model, o.models_dir));
  material.set("ids", sha256_hex(ids));
  material.set("max_length", o.trainer.max_length);
  material.set("layer", o.probe.layer);
  material.set("dtype", o.dtype);
  return material;
}

namespace {

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

// Reads the P(1) a finished stage predicted on one of its predict sets, in example order.
std::vector<double> stage_predictions(const fs::path& stage_dir, const std::string& split,
                                      const std::vector<LabelledExample>& expected) {
  std::ifstream in(stage_dir / "predictions.jsonl");
  if (!in) throw Error("cannot read " + (stage_dir / "predictions.jsonl").string());
  std::vector<double> out;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto v = json::parse(line, (stage_dir / "predictions.jsonl").string() + ":" + std::to_string(line_no));
    if (v.get_string("split") != split) continue;
    if (out.size() >= expected.size() || v.at("id").as_string() != expected[out.size()].id)
      throw Error((stage_dir / "predictions.jsonl").string() + ":" + std::to_string(line_no) + ": " + split +
                  " predictions do not match the examples (stale cache?)");
    out.push_back(v.at("soft_pred").as_double());
  }
  if (out.size() != expected.size())
    throw Error((stage_dir / "predictions.jsonl").string() + ": expected " + std::to_string(expected.size()) + " " +
                split + " predictions, found " + std::to_string(out.size()));
  return out;
}

results::ResultRecord make_record(const StagePlan& plan, const PipelineOptions& o, const data::TrainingData& data,
                                  const StageOutcome& out, const json::Value& stage_config,
                                  const std::map<std::string, std::int64_t>& split_sizes, const results::Timing& timing) {
  results::ResultRecord r;
  r.kind = plan.kind;
  r.run = o.run_name;
  r.config = stage_config;
  r.dataset.name = data.name;
  for (const auto& s : data.sources) r.dataset.sources.push_back({s.path, s.sha256});
  r.dataset.split = "test";
  r.dataset.split_sizes = split_sizes;
  r.dataset.seed = data.seed;
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
  extra.set("auroc_mode", o.trainer.auroc_mode == AurocMode::TieAware ? "tie-aware" : "reference");
  extra.set("val_auroc_vs_training_labels", std::isnan(out.val.auroc) ? json::Value() : json::Value(out.val.auroc));
  extra.set("val_accuracy_vs_training_labels", out.val.accuracy);
  r.metrics.extra = extra;
  r.timing = timing;
  json::Value rx = json::Value::object();
  rx.set("steps", out.steps);
  rx.set("best_step", out.best_step);
  rx.set("epoch", out.epoch);
  rx.set("truncated_train_texts", out.truncated);
  rx.set("resumed_from_checkpoint", out.resumed);
  r.extra = rx;
  return r;
}

StageSummary summary_of(const StagePlan& plan, const results::ResultRecord& r, const fs::path& dir,
                        const std::string& key, bool reused) {
  StageSummary s;
  s.stage = plan.name;
  s.model = plan.model;
  s.label_source = plan.label_source.kind;
  s.reused = reused;
  s.key = key;
  s.dir = dir;
  s.test_auroc = r.metrics.auroc.value_or(std::nan(""));
  s.test_accuracy = r.metrics.accuracy;
  s.test_loss = r.metrics.loss.value_or(std::nan(""));
  s.test_ce_gold = r.metrics.extra.get_double("ce_gold");
  s.steps = r.extra.get_int("steps");
  s.wall_seconds = r.timing.wall_seconds;
  return s;
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

ClassifierOptions classifier_options(const PipelineOptions& o) {
  ClassifierOptions c;
  c.disable_lora = o.disable_lora;
  c.lora_rank = o.lora_rank;
  c.lora_alpha = o.lora_alpha;
  c.lora_modules = o.lora_modules;
  c.device = o.device;
  c.dtype = o.dtype;
  c.threads = o.threads;
  c.seed = o.trainer.seed;
  c.models_dir = o.models_dir;
  return c;
}

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
  const ExclusiveFileLock lock(dir / "lock", [] { say("probe: another run is computing these activations; waiting for it"); });
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

// Filters or relabels a transfer stage's train and val with the probe; reports go to `dir`.
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
  say(fmt::format("probe {}: {} train and {} val examples {}", o.probe.probe, in.train.size(), in.val.size(),
                  o.probe.filter ? "kept" : "relabelled"));
}

// Trains the stage unless its cache folder is finished; returns its summary. Either way the
// run folder gets the stage's record, results.json and predictions.jsonl.
StageSummary run_stage(const StagePlan& plan, const PipelineOptions& o, const data::TrainingData& data,
                       const json::Value& data_identity, const fs::path& shared_dir, const fs::path& run_dir) {
  const json::Value material = stage_key_material(plan, o, data_identity);
  const std::string key = stage_key(material);
  const fs::path dir = shared_dir / "stages" / (plan.name + "-" + key);
  const fs::path out_dir = run_dir / plan.name;
  fs::create_directories(out_dir);

  auto publish = [&](bool reused) {
    auto record = results::from_json(json::parse_file(dir / "record.cache"), (dir / "record.cache").string());
    record.run = o.run_name;
    results::write_record(out_dir / "record.json", record);
    fs::copy_file(dir / "results.json", out_dir / "results.json", fs::copy_options::overwrite_existing);
    fs::copy_file(dir / "predictions.jsonl", out_dir / "predictions.jsonl", fs::copy_options::overwrite_existing);
    return summary_of(plan, record, dir, key, reused);
  };

  auto reuse_if_finished = [&]() -> std::optional<StageSummary> {
    if (!fs::exists(dir / "stage.json")) return std::nullopt;
    say(fmt::format("{}: stage cache hit, reusing {}", plan.name, dir.string()));
    return publish(true);
  };
  if (auto hit = reuse_if_finished()) return *hit;
  // Runs that share the stage cache train a stage one at a time: a second run waits here, then
  // finds the stage finished (or resumes it if the first one was killed).
  fs::create_directories(dir);
  const ExclusiveFileLock lock(dir / "lock", [&] {
    say(fmt::format("{}: another run is training this stage; waiting for it", plan.name));
  });
  if (auto hit = reuse_if_finished()) return *hit;
  say(fmt::format("{}: training {} on {} examples ({} labels) in {}", plan.name, plan.model, plan.inputs.train.size(),
                  plan.label_source.kind, dir.string()));
  write_file_atomic(dir / "key.json", json::dump(material, 2) + "\n");

  StageInputs inputs = plan.inputs;
  if (plan.transfer && o.probe.active()) probe_inputs(inputs, o, shared_dir, dir);
  // midweak: from this round's training labels after filter/relabel (quirk #10: the reference
  // keeps the first round's value for later rounds)
  double radius = 0.51;
  if (plan.transfer && o.loss.name == "window") {
    std::vector<double> labels;
    for (const auto& x : inputs.train) labels.push_back(x.label);
    radius = o.loss.radius == "midweak" ? midweak_radius(labels) : std::stod(o.loss.radius);
  }

  json::Value stage_config = options_json(o);
  stage_config.set("stage", plan.name);
  stage_config.set("model_name", plan.model);
  stage_config.set("lr", plan.lr);
  stage_config.set("transfer", plan.transfer);
  if (plan.transfer && o.loss.name == "window") stage_config.set("window_radius", radius);
  stage_config.set("stage_key", key);
  write_file_atomic(dir / "config.json", json::dump(stage_config, 2) + "\n");

  results::Timing timing;
  timing.started_at = now_iso8601();
  const double started = monotonic_seconds();

  Classifier classifier = build_classifier(plan.model, classifier_options(o));

  StageSettings settings;
  settings.trainer = o.trainer;
  settings.trainer.lr = plan.lr;
  settings.loss = o.loss;
  settings.transfer = plan.transfer;
  settings.radius = radius;
  settings.dir = dir;
  settings.progress = o.progress;
  const StageOutcome out = train_stage(classifier, inputs, settings);

  timing.finished_at = now_iso8601();
  timing.wall_seconds = monotonic_seconds() - started;

  // predictions.jsonl: test, then the predict sets (the next stage's labels)
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
  write_file_atomic(dir / "predictions.jsonl", lines);

  const std::map<std::string, std::int64_t> split_sizes = {
      {"train", static_cast<std::int64_t>(inputs.train.size())},
      {"val", static_cast<std::int64_t>(inputs.val.size())},
      {"test", static_cast<std::int64_t>(plan.inputs.test.size())}};

  // results.json: the reference's evaluation on test, plus the actual split sizes
  json::Value res = json::Value::object();
  res.set("eval_loss", out.test.loss);
  res.set("eval_accuracy", out.test.accuracy);
  res.set("eval_auroc", std::isnan(out.test.auroc) ? json::Value() : json::Value(out.test.auroc));
  res.set("eval_runtime", out.test.runtime_s);
  res.set("eval_samples_per_second", static_cast<double>(plan.inputs.test.size()) / std::max(out.test.runtime_s, 1e-9));
  res.set("eval_steps_per_second", static_cast<double>(out.test.batches) / std::max(out.test.runtime_s, 1e-9));
  res.set("epoch", out.epoch);
  res.set("eval_ce_gold", out.test.ce_gold);
  res.set("split_sizes", json::Value(json::Object{{"train", split_sizes.at("train")},
                                                  {"val", split_sizes.at("val")},
                                                  {"test", split_sizes.at("test")}}));
  write_file_atomic(dir / "results.json", json::dump(res, 2) + "\n");

  auto record = make_record(plan, o, data, out, stage_config, split_sizes, timing);
  record.created_at = now_iso8601();
  record.tool_version = tool_version();
  record.tool_git_commit = tool_git_commit();
  const json::Value record_json = results::to_json(record);
  if (auto problems = results::validate(record_json); !problems.empty())
    throw Error("internal: invalid result record for stage " + plan.name + ": " + problems.front());
  write_file_atomic(dir / "record.cache", json::dump(record_json, 2) + "\n");

  // The marker comes last: from here on the stage counts as finished.
  json::Value marker = json::Value::object();
  marker.set("stage", plan.name);
  marker.set("key", key);
  marker.set("finished_at", timing.finished_at);
  write_file_atomic(dir / "stage.json", json::dump(marker, 2) + "\n");
  remove_checkpoints(dir, out.best_step);
  say(fmt::format("{}: done, test AUROC {:.4f}, accuracy {:.4f} ({})", plan.name, out.test.auroc, out.test.accuracy,
                  format_duration(timing.wall_seconds)));
  return publish(false);
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
  // has 8192 buckets. Full fine-tuning, a large learning rate, minibatches of 32. SST-2's train
  // split is mostly short phrases, its test split (GLUE dev) whole sentences; the longest has 49
  // words (train: 54), so max_length 64 truncates nothing. The student uses xent: logconf's self-hardening
  // amplifies the errors of a model with no prior (docs/training.md, "The demo preset").
  o.weak_model = "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1";
  o.strong_model = "random:hidden=64,layers=2,heads=4,kv_heads=4,tokenizer=words,vocab=8192,seed=2";
  o.data.name = "sst2";
  o.data.n_train = 20000;
  o.data.n_val = 500;
  o.data.n_test = 1000;
  o.disable_lora = true;
  o.weak_lr = 3e-3;
  o.strong_lr = 3e-3;
  o.loss.name = "xent";
  o.trainer.n_epochs = 2;
  o.trainer.minibatch_size = 32;
  o.trainer.batch_size = 32;
  o.trainer.n_warmup_steps = 20;
  o.trainer.eval_every = 25;
  o.trainer.save_every = 25;
  o.trainer.max_length = 64;
  o.threads = 2;
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
  if (o.lora_rank < 1) throw Error("--lora-rank must be >= 1");
  if (o.lora_modules.empty() || split_list(o.lora_modules).empty())
    throw Error("--lora-modules must name at least one linear layer, or be auto");
  const auto& p = o.probe;
  if (p.filter && p.relabel)  // the reference crashes on a length mismatch (quirk #4)
    throw Error("--probe-filter and --probe-relabel cannot be combined: choose one");
  if (p.probe != "knn" && p.probe != "logreg" && p.probe != "topo")
    throw Error("--probe must be knn, logreg or topo, got '" + p.probe + "'");
  if (p.knn_metric != "euclidean" && p.knn_metric != "cosine") throw Error("--knn-metric must be euclidean or cosine");
  if (!(p.contamination >= 0 && p.contamination < 1)) throw Error("--contamination must be in [0, 1)");
  if (p.knn_k < 1 || p.topo_k_cc < 1 || p.topo_k_zeta < 1) throw Error("probe k values must be >= 1");
  if (o.loss.balance_batch && t.minibatch_size == 1)
    say("warning: --balance-batch with --minibatch-size 1 sets every label to 0.5 (reference quirk #2)");
}

PipelineSummary run_pipeline(const PipelineOptions& requested) {
  validate(requested);
  PipelineOptions o = requested;
  const model::RunOptions placement = model::resolve_run_options({o.device, o.dtype, o.threads});
  o.device = placement.device;
  o.dtype = placement.dtype;
  // Hugging Face ids are fetched (when missing) before any data is read, so a model problem
  // surfaces first. Records and cache keys keep the ids; the stages find the same directories.
  resolve_model_spec(o.weak_model, o.models_dir);
  resolve_model_spec(o.strong_model, o.models_dir);
  // Subnormal floats make CPU training several times slower (tiny activations late in training)
  // and change no result worth keeping.
  torch::globalContext().setFlushDenormal(true);
  const data::TrainingData data = data::load_training_data(o.data);
  for (const auto& notice : data.notices) say("notice: " + notice);
  const data::Halves halves = data::split_weak_strong(data.train);

  json::Value data_identity = json::Value::object();
  data_identity.set("name", data.name);
  data_identity.set("seed", data.seed);
  json::Value sources = json::Value::array();
  for (const auto& s : data.sources) sources.push_back(json::Value(json::Object{{"sha256", s.sha256}}));
  data_identity.set("sources", sources);

  const fs::path shared_dir = o.results_folder / o.shared_folder / data.name;
  PipelineSummary summary;
  summary.run_dir = o.results_folder / o.run_name / data.name;
  fs::create_directories(summary.run_dir);
  write_file_atomic(summary.run_dir / "config.json", json::dump(options_json(o), 2) + "\n");

  const auto weak_half = with_gold_labels(halves.weak);
  const auto strong_half = with_gold_labels(halves.strong);
  const auto val = with_gold_labels(data.val);
  const auto test = with_gold_labels(data.test);

  // floor: weak model on gold; its P(1) on the strong half and val are the weak labels
  StagePlan floor{"floor", results::Kind::TrainFloor, o.weak_model, "weak", o.weak_lr, false, {"gold", ""}, "",
                  {"floor", weak_half, val, test, {{"strong_half", strong_half}, {"val", val}}}};
  summary.stages.push_back(run_stage(floor, o, data, data_identity, shared_dir, summary.run_dir));
  const fs::path floor_dir = summary.stages.back().dir;
  std::vector<double> train_labels = stage_predictions(floor_dir, "strong_half", strong_half);
  std::vector<double> val_labels = stage_predictions(floor_dir, "val", val);
  std::string upstream = summary.stages.back().key;

  // ceiling: strong model on gold
  StagePlan ceiling{"ceiling", results::Kind::TrainCeiling, o.strong_model, "strong", o.strong_lr, false,
                    {"gold", ""}, "", {"ceiling", strong_half, val, test, {}}};
  summary.stages.push_back(run_stage(ceiling, o, data, data_identity, shared_dir, summary.run_dir));

  // w2s, then s2s rounds: the strong model on the previous stage's soft labels
  for (std::int64_t round = 0; round <= o.s2s_iters; ++round) {
    const bool first = round == 0;
    const std::string name = first ? "w2s" : "s2s-" + std::to_string(round);
    const auto train = relabelled(strong_half, train_labels);
    StagePlan plan{name,
                   first ? results::Kind::TrainW2S : results::Kind::TrainS2S,
                   o.strong_model,
                   "student",
                   o.strong_lr,
                   true,
                   {first ? "weak" : "student", first ? o.weak_model : o.strong_model},
                   upstream,
                   {name, train, relabelled(val, val_labels), test, {}}};
    plan.inputs.predict = {{"strong_half", plan.inputs.train}, {"val", plan.inputs.val}};
    summary.stages.push_back(run_stage(plan, o, data, data_identity, shared_dir, summary.run_dir));
    const fs::path dir = summary.stages.back().dir;
    train_labels = stage_predictions(dir, "strong_half", strong_half);
    val_labels = stage_predictions(dir, "val", val);
    upstream = summary.stages.back().key;
  }
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
  out += "records: " + summary.run_dir.string() + "/<stage>/record.json  (PGR: w2s analyze " +
         summary.run_dir.parent_path().string() + ")\n";
  return out;
}

}  // namespace w2s::train
