// Splits the inputs into in-context and fine-tuning records, checks they describe one
// experiment, and assembles the report.
#include <set>
#include <utility>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis {

namespace {

// A weak-sweep point whose floor or ceiling (the zero-shot point of its weak or strong model)
// failed cannot be compared: it is left out with them, said so.
void leave_out_students_without_zero_shot(const std::vector<results::LoadedRecord>& records,
                                          std::vector<const results::LoadedRecord*>& icl, Report& report) {
  const auto is_zero_shot = [](const results::ResultRecord& r) {
    return r.kind == results::Kind::Baseline || (r.kind == results::Kind::GoldSweep && r.shots.value_or(0) == 0);
  };
  std::set<std::string> failed, usable;
  for (const auto& r : records)
    if (is_zero_shot(r.record)) (r.record.failure ? failed : usable).insert(r.record.evaluated_model);
  std::erase_if(icl, [&](const results::LoadedRecord* r) {
    if (r->record.kind != results::Kind::WeakSweep) return false;
    for (const auto& [model, role] : {std::pair{r->record.label_source.model, "floor"},
                                      std::pair{r->record.evaluated_model, "ceiling"}})
      if (failed.count(model) && !usable.count(model)) {
        report.notes.push_back(fmt::format("left out {}: its {} (the zero-shot point of {}) failed", r->path.string(),
                                           role, model));
        std::erase(report.inputs, r->path);
        return true;
      }
    return false;
  });
}

}  // namespace

Report analyze(const std::vector<results::LoadedRecord>& records, const Options& options) {
  if (options.confidence <= 0.0 || options.confidence >= 1.0)
    throw Error(fmt::format("confidence must be in (0, 1), got {}", options.confidence));
  if (options.zero_guard < 0.0) throw Error("the PGR zero guard must be >= 0");
  Report report;
  report.options = options;
  std::vector<const results::LoadedRecord*> icl, train;
  for (const auto& r : records) {
    if (r.record.failure) {  // its metrics measure the failures (lib/icl marks such points)
      report.notes.push_back(
          fmt::format("left out {}: the evaluation point failed ({})", r.path.string(), *r.record.failure));
      continue;
    }
    switch (r.record.kind) {
      case results::Kind::Baseline:
      case results::Kind::GoldSweep:
      case results::Kind::WeakSweep: icl.push_back(&r); break;
      case results::Kind::TrainFloor:
      case results::Kind::TrainCeiling:
      case results::Kind::TrainW2S:
      case results::Kind::TrainS2S: train.push_back(&r); break;
      case results::Kind::WeakLabels:
      case results::Kind::Analysis:
        report.notes.push_back(fmt::format("skipped {} (kind {})", r.path.string(), results::kind_name(r.record.kind)));
        continue;
    }
    report.inputs.push_back(r.path);
  }
  leave_out_students_without_zero_shot(records, icl, report);
  if (icl.empty() && train.empty())
    throw Error("no experiment records (baseline, gold-sweep, weak-sweep or train-*) among the inputs");

  // All in-context records must be on one dataset; fine-tuning records span datasets.
  for (const auto* r : icl) {
    const auto* first = icl.front();
    if (detail::dataset_key(r->record.dataset) != detail::dataset_key(first->record.dataset) ||
        r->record.dataset.split != first->record.dataset.split)
      throw Error(fmt::format("mixed datasets: {} is on {} split \"{}\" but {} is on {} split \"{}\"",
                              first->path.string(), detail::dataset_key(first->record.dataset),
                              first->record.dataset.split, r->path.string(), detail::dataset_key(r->record.dataset),
                              r->record.dataset.split));
  }

  json::Value accuracy_rows = json::Value::array();
  json::Value pair_rows = detail::icl_tables(icl, options, accuracy_rows);
  detail::TrainTables train_tables = detail::train_tables(train, options);
  report.tables.set("icl_accuracy", std::move(accuracy_rows));
  report.tables.set("icl_pairs", std::move(pair_rows));
  report.tables.set("train", std::move(train_tables.rows));
  report.tables.set("train_methods", std::move(train_tables.method_rows));
  report.tables.set("train_method_pairs", std::move(train_tables.method_pair_rows));
  detail::name_models(report.tables);

  if (!icl.empty()) {
    report.dataset = icl.front()->record.dataset;
  } else {
    std::set<std::string> names;
    for (const auto* r : train) names.insert(r->record.dataset.name);
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n;
    report.dataset.name = joined;
    report.dataset.split = train.front()->record.dataset.split;
  }
  return report;
}

}  // namespace w2s::analysis
