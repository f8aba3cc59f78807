// ResultRecord <-> JSON. Field names and layout: docs/result-schema.md.
// Top-level and metric optionals are written as null (every record has the same shape);
// per-prediction optionals are omitted when absent (records carry thousands of predictions).
#include <fmt/format.h>

#include "schema_text.h"
#include "w2s/results.h"

namespace w2s::results {
namespace {

using json::Value;

constexpr std::pair<Kind, const char*> kKindNames[] = {
    {Kind::Baseline, "baseline"},          {Kind::GoldSweep, "gold-sweep"},   {Kind::WeakSweep, "weak-sweep"},
    {Kind::WeakLabels, "weak-labels"},     {Kind::TrainFloor, "train-floor"}, {Kind::TrainCeiling, "train-ceiling"},
    {Kind::TrainW2S, "train-w2s"},         {Kind::TrainS2S, "train-s2s"},     {Kind::Analysis, "analysis"}};

Value cost_json(const ModelCost& c) {
  Value v = json::Object{{"usd", c.usd},
                         {"prompt_tokens", c.prompt_tokens},     {"completion_tokens", c.completion_tokens},
                         {"requests", c.requests},               {"cache_hits", c.cache_hits},
                         {"failed_requests", c.failed_requests}};
  if (c.replayed_usd > 0) v.set("replayed_usd", c.replayed_usd);
  if (c.upstream_usd > 0) v.set("upstream_usd", c.upstream_usd);
  if (c.possibly_billed_usd > 0) v.set("possibly_billed_usd", c.possibly_billed_usd);
  if (c.reconciled_usd > 0) v.set("reconciled_usd", c.reconciled_usd);
  return v;
}

ModelCost cost_from(const Value& v) {
  ModelCost c;
  c.usd = v.at("usd").as_double();
  c.prompt_tokens = v.at("prompt_tokens").as_int();
  c.completion_tokens = v.at("completion_tokens").as_int();
  c.requests = v.at("requests").as_int();
  c.cache_hits = v.at("cache_hits").as_int();
  c.failed_requests = v.at("failed_requests").as_int();
  c.replayed_usd = v.get_double("replayed_usd");
  c.upstream_usd = v.get_double("upstream_usd");
  c.possibly_billed_usd = v.get_double("possibly_billed_usd");
  c.reconciled_usd = v.get_double("reconciled_usd");
  return c;
}

std::optional<double> opt_double(const Value& obj, std::string_view key) {
  const Value* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_double();
}

std::optional<std::string> opt_string(const Value& obj, std::string_view key) {
  const Value* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_string();
}

Value metrics_json(const Metrics& m) {
  Value v = Value::object();
  v.set("n", m.n);
  v.set("num_correct", m.num_correct);
  v.set("accuracy", m.accuracy);
  v.set("accuracy_answered", m.accuracy_answered);
  v.set("auroc", m.auroc);
  v.set("parse_failures", m.parse_failures);
  v.set("failed", m.failed);
  v.set("loss", m.loss);
  v.set("extra", m.extra);
  return v;
}

Metrics metrics_from(const Value& v) {
  Metrics m;
  m.n = v.at("n").as_int();
  m.num_correct = v.at("num_correct").as_int();
  m.accuracy = v.at("accuracy").as_double();
  m.accuracy_answered = opt_double(v, "accuracy_answered");
  m.auroc = opt_double(v, "auroc");
  m.parse_failures = v.at("parse_failures").as_int();
  m.failed = v.at("failed").as_int();
  m.loss = opt_double(v, "loss");
  if (const Value* e = v.find("extra")) m.extra = *e;
  return m;
}

Value prediction_json(const Prediction& p) {
  Value v = Value::object();
  v.set("id", p.id);
  v.set("prediction", p.prediction);
  v.set("gold", p.gold);
  v.set("correct", p.correct);
  if (p.score) v.set("score", *p.score);
  if (!p.probabilities.empty()) {
    Value probs = Value::object();
    for (const auto& [option, prob] : p.probabilities) probs.set(option, prob);
    v.set("probabilities", std::move(probs));
  }
  if (p.label_used) v.set("label_used", *p.label_used);
  if (p.raw_completion) v.set("raw_completion", *p.raw_completion);
  if (p.reasoning) v.set("reasoning", *p.reasoning);
  if (p.reasoning_tokens) v.set("reasoning_tokens", *p.reasoning_tokens);
  if (p.finish_reason) v.set("finish_reason", *p.finish_reason);
  if (p.scored_by) v.set("scored_by", *p.scored_by);
  if (p.error) v.set("error", *p.error);
  if (p.refusal) v.set("refusal", *p.refusal);
  if (p.refusal_category) v.set("refusal_category", *p.refusal_category);
  return v;
}

Prediction prediction_from(const Value& v) {
  Prediction p;
  p.id = v.at("id").as_string();
  p.prediction = v.at("prediction").as_string();
  p.gold = v.at("gold").as_string();
  p.correct = v.at("correct").as_bool();
  p.score = opt_double(v, "score");
  if (const Value* probs = v.find("probabilities"))
    for (const auto& [option, prob] : probs->as_object()) p.probabilities[option] = prob.as_double();
  p.label_used = opt_double(v, "label_used");
  p.raw_completion = opt_string(v, "raw_completion");
  p.reasoning = opt_string(v, "reasoning");
  if (const Value* t = v.find("reasoning_tokens"); t && !t->is_null()) p.reasoning_tokens = t->as_int();
  p.finish_reason = opt_string(v, "finish_reason");
  p.scored_by = opt_string(v, "scored_by");
  p.error = opt_string(v, "error");
  p.refusal = opt_string(v, "refusal");
  p.refusal_category = opt_string(v, "refusal_category");
  return p;
}

Value dataset_json(const DatasetIdentity& d) {
  Value v = json::Object{{"name", d.name}, {"variant", d.variant}};
  Value sources = Value::array();
  for (const auto& s : d.sources) sources.push_back(json::Object{{"path", s.path}, {"sha256", s.sha256}});
  v.set("sources", std::move(sources));
  v.set("split", d.split);
  Value sizes = Value::object();
  for (const auto& [split, size] : d.split_sizes) sizes.set(split, size);
  v.set("split_sizes", std::move(sizes));
  v.set("seed", d.seed);
  return v;
}

DatasetIdentity dataset_from(const Value& v) {
  DatasetIdentity d;
  d.name = v.at("name").as_string();
  d.variant = v.at("variant").as_string();
  for (const auto& s : v.at("sources").as_array())
    d.sources.push_back({s.at("path").as_string(), s.at("sha256").as_string()});
  d.split = v.at("split").as_string();
  for (const auto& [split, size] : v.at("split_sizes").as_object()) d.split_sizes[split] = size.as_int();
  d.seed = v.at("seed").as_int();
  return d;
}

}  // namespace

const char* kind_name(Kind k) {
  for (const auto& [kind, name] : kKindNames)
    if (kind == k) return name;
  throw Error("kind_name: invalid Kind value");
}

Kind parse_kind(std::string_view s) {
  std::string known;
  for (const auto& [kind, name] : kKindNames) {
    if (s == name) return kind;
    known += (known.empty() ? "" : ", ") + std::string(name);
  }
  throw Error(fmt::format("unknown result kind \"{}\" (expected one of: {})", s, known));
}

const json::Value& schema() {
  static const Value parsed = json::parse(detail::kSchemaText, "docs/result-schema.json (embedded)");
  return parsed;
}

json::Value to_json(const ResultRecord& r) {
  Value v = Value::object();
  v.set("schema_version", r.schema_version);
  v.set("kind", kind_name(r.kind));
  v.set("run", r.run);
  v.set("created_at", r.created_at);
  v.set("tool_version", r.tool_version);
  v.set("tool_git_commit", r.tool_git_commit);
  v.set("config", r.config.is_null() ? Value::object() : r.config);  // null = nothing recorded
  v.set("dataset", dataset_json(r.dataset));
  Value models = Value::array();
  for (const auto& m : r.models) {
    Value role = Value::object();
    role.set("id", m.id);
    role.set("role", m.role);
    models.push_back(std::move(role));
  }
  v.set("models", std::move(models));
  v.set("evaluated_model", r.evaluated_model);
  Value label = Value::object();
  label.set("kind", r.label_source.kind);
  label.set("model", r.label_source.model);
  v.set("label_source", std::move(label));
  v.set("shots", r.shots);
  v.set("stage", r.stage);
  v.set("metrics", metrics_json(r.metrics));
  Value predictions = Value::array();
  for (const auto& p : r.predictions) predictions.push_back(prediction_json(p));
  v.set("predictions", std::move(predictions));
  Value cost = Value::object();
  cost.set("total", cost_json(r.cost.total));
  cost.set("source", r.cost.source);
  Value by_model = Value::object();
  for (const auto& [model, c] : r.cost.by_model) by_model.set(model, cost_json(c));
  cost.set("by_model", std::move(by_model));
  v.set("cost", std::move(cost));
  if (r.failure) v.set("failure", *r.failure);
  Value timing = Value::object();
  timing.set("started_at", r.timing.started_at);
  timing.set("finished_at", r.timing.finished_at);
  timing.set("wall_seconds", r.timing.wall_seconds);
  v.set("timing", std::move(timing));
  v.set("extra", r.extra);
  return v;
}

ResultRecord from_json(const json::Value& v, std::string_view origin) {
  if (auto problems = validate(v); !problems.empty()) {
    std::string msg = fmt::format("{}: not a valid w2s result record ({} problem{}):", origin, problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  ResultRecord r;
  r.schema_version = v.at("schema_version").as_string();
  r.kind = parse_kind(v.at("kind").as_string());
  r.run = v.get_string("run");
  r.created_at = v.at("created_at").as_string();
  r.tool_version = v.at("tool_version").as_string();
  r.tool_git_commit = v.at("tool_git_commit").as_string();
  r.config = v.at("config");
  r.dataset = dataset_from(v.at("dataset"));
  for (const auto& m : v.at("models").as_array()) r.models.push_back({m.at("id").as_string(), m.at("role").as_string()});
  r.evaluated_model = v.at("evaluated_model").as_string();
  r.label_source.kind = v.at("label_source").at("kind").as_string();
  r.label_source.model = v.at("label_source").at("model").as_string();
  if (const Value* s = v.find("shots"); s && !s->is_null()) r.shots = s->as_int();
  r.stage = opt_string(v, "stage");
  r.failure = opt_string(v, "failure");
  r.metrics = metrics_from(v.at("metrics"));
  for (const auto& p : v.at("predictions").as_array()) r.predictions.push_back(prediction_from(p));
  if (const Value* cost = v.find("cost")) {
    r.cost.total = cost_from(cost->at("total"));
    r.cost.source = cost->at("source").as_string();
    for (const auto& [model, c] : cost->at("by_model").as_object()) r.cost.by_model[model] = cost_from(c);
  }
  if (const Value* timing = v.find("timing")) {
    r.timing.started_at = timing->at("started_at").as_string();
    r.timing.finished_at = timing->at("finished_at").as_string();
    r.timing.wall_seconds = timing->at("wall_seconds").as_double();
  }
  if (const Value* e = v.find("extra")) r.extra = *e;
  return r;
}

}  // namespace w2s::results
