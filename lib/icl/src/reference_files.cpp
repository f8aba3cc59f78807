// The reference's result files (docs/reference-behaviour.md §8), written from our records so that the
// reference's plotting scripts can read a run of this tool.
#include <algorithm>
#include <map>

#include "w2s/icl.h"

namespace w2s::icl {
namespace {

namespace fs = std::filesystem;

json::Value reference_dataset(const Dataset& ds) {
  return json::Object{{"name", "TruthfulQA"}, {"test_size", ds.test.size()}, {"train_size", ds.shot_pool.size()}};
}

json::Value reference_cost(const results::ResultRecord& r) {
  return json::Object{{"total_cost", r.cost.total.usd},
                      {"prompt_tokens", r.cost.total.prompt_tokens},
                      {"completion_tokens", r.cost.total.completion_tokens},
                      {"num_requests", r.cost.total.requests},
                      {"num_cache_hits", r.cost.total.cache_hits}};
}

json::Value predictions_of(const results::ResultRecord& r) {
  json::Value out = json::Value::array();
  for (const auto& p : r.predictions) out.push_back(p.prediction);
  return out;
}

json::Value raw_completions_of(const results::ResultRecord& r) {
  json::Value out = json::Value::array();
  for (const auto& p : r.predictions) out.push_back(p.raw_completion ? json::Value(*p.raw_completion) : json::Value());
  return out;
}

// {num_few_shot, accuracy, num_correct, num_total[, predictions]} + optional extras.
json::Value shot_entry(const results::ResultRecord& r, bool with_predictions) {
  json::Value e = json::Object{{"num_few_shot", r.shots.value_or(0)},
                               {"accuracy", r.metrics.accuracy},
                               {"num_correct", r.metrics.num_correct},
                               {"num_total", r.metrics.n}};
  if (with_predictions) e["predictions"] = predictions_of(r);
  e["parse_failures"] = r.metrics.parse_failures;
  e["cost"] = reference_cost(r);
  if (with_predictions) e["raw_completions"] = raw_completions_of(r);
  return e;
}

void write_json(const fs::path& path, const json::Value& v, std::vector<fs::path>& written) {
  write_file_atomic(path, json::dump(v, 2));
  written.push_back(path);
}

}  // namespace

std::vector<fs::path> write_reference_files(const RunSummary& summary, const Dataset& ds, const fs::path& dir) {
  if (ds.kind != DatasetKind::TruthfulQa)
    throw Error("--reference-files: the reference's file format is TruthfulQA's; " + ds.name + " has none");
  const std::string ts = local_timestamp();
  std::vector<fs::path> written;
  std::vector<results::ResultRecord> baselines, gold, weak;
  for (const auto& p : summary.points) {
    if (p.kind == results::Kind::WeakLabels) continue;
    results::ResultRecord r = results::read_record(p.file);
    (p.kind == results::Kind::Baseline ? baselines : p.kind == results::Kind::GoldSweep ? gold : weak)
        .push_back(std::move(r));
  }
  const json::Value no_shots = json::Object{{"num_examples", 0}, {"label_type", "none"}};

  if (!baselines.empty()) {
    json::Value models = json::Value::object();
    for (const auto& r : baselines) {
      json::Value results = json::Object{{"accuracy", r.metrics.accuracy},
                                         {"num_correct", r.metrics.num_correct},
                                         {"num_total", r.metrics.n},
                                         {"predictions", predictions_of(r)}};
      write_json(dir / "weak_labels" / (model_slug(r.evaluated_model) + "_baseline.json"),
                 json::Object{{"timestamp", ts},
                              {"model", r.evaluated_model},
                              {"model_name", model_short_name(r.evaluated_model)},
                              {"dataset", reference_dataset(ds)},
                              {"few_shot", no_shots},
                              {"results", results},
                              {"cost", reference_cost(r)},
                              {"parse_failures", r.metrics.parse_failures},
                              {"raw_completions", raw_completions_of(r)}},
                 written);
      json::Value entry = json::Object{{"model_name", model_short_name(r.evaluated_model)}};
      for (const auto& [k, v] : results.as_object()) entry[k] = v;
      models[r.evaluated_model] = entry;
    }
    write_json(dir / "weak_labels" / ("baseline_" + ts + ".json"),
               json::Object{{"timestamp", ts}, {"dataset", reference_dataset(ds)}, {"few_shot", no_shots},
                            {"models", models}},
               written);
  }

  auto shots_list = [](const std::vector<results::ResultRecord>& rs) {
    std::vector<std::int64_t> shots;
    for (const auto& r : rs)
      if (std::find(shots.begin(), shots.end(), r.shots.value_or(0)) == shots.end()) shots.push_back(r.shots.value_or(0));
    std::sort(shots.begin(), shots.end());
    return json::Value(shots);
  };

  if (!gold.empty()) {
    json::Value models = json::Value::object();
    for (const auto& r : gold) {
      json::Value& m = models[r.evaluated_model];
      if (!m.contains("model_name")) {
        m["model_name"] = model_short_name(r.evaluated_model);
        m["results"] = json::Value::array();
      }
      m["results"].push_back(shot_entry(r, false));
    }
    write_json(dir / ("gold_sweep_" + ts + ".json"),
               json::Object{{"timestamp", ts}, {"experiment", "gold_labels_sweep"}, {"num_shots_list", shots_list(gold)},
                            {"dataset", reference_dataset(ds)}, {"models", models}},
               written);
  }

  if (!weak.empty()) {
    json::Value pairs = json::Value::object();
    std::map<std::string, const results::ResultRecord*> largest;  // pair key -> record with most shots
    for (const auto& r : weak) {
      const std::string& w = r.label_source.model;
      const std::string& s = r.evaluated_model;
      const std::string key = w + " -> " + s;
      json::Value& p = pairs[key];
      if (!p.contains("weak_model")) {
        p["weak_model"] = w;
        p["weak_model_name"] = model_short_name(w);
        p["strong_model"] = s;
        p["strong_model_name"] = model_short_name(s);
        p["results"] = json::Value::array();
      }
      p["results"].push_back(shot_entry(r, true));
      if (!largest.count(key) || largest[key]->shots.value_or(0) < r.shots.value_or(0)) largest[key] = &r;
    }
    const json::Value shots = shots_list(weak);
    write_json(dir / ("weak_sweep_" + ts + ".json"),
               json::Object{{"timestamp", ts}, {"experiment", "weak_labels_sweep"}, {"num_shots_list", shots},
                            {"dataset", reference_dataset(ds)}, {"model_pairs", pairs}},
               written);
    for (const auto& [key, p] : pairs.as_object()) {
      const std::string w = p.at("weak_model").as_string(), s = p.at("strong_model").as_string();
      const json::Value* few_shot = largest[key]->extra.find("few_shot");
      write_json(dir / "weak_labels" / ("w2s_" + model_slug(w) + "_to_" + model_slug(s) + "_" + ts + ".json"),
                 json::Object{{"timestamp", ts},
                              {"experiment", "weak_to_strong_sweep"},
                              {"weak_model", w},
                              {"weak_model_name", model_short_name(w)},
                              {"strong_model", s},
                              {"strong_model_name", model_short_name(s)},
                              {"dataset", reference_dataset(ds)},
                              {"num_shots_list", shots},
                              {"results_by_shot_count", p.at("results")},
                              {"weak_labels_train", few_shot ? few_shot->at("labels") : json::Value::array()}},
                 written);
    }
  }
  return written;
}

}  // namespace w2s::icl
