// Splits the inputs into in-context and fine-tuning records, groups the in-context ones by test
// set, and assembles the report.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "detail.h"

namespace w2s::analysis {
namespace {

// What makes two records comparable: dataset, split, and the examples with their gold answers
// (order does not matter; examples are paired by id).
std::string test_set_key(const results::ResultRecord& r) {
  std::vector<std::string> examples;
  for (const auto& p : r.predictions) examples.push_back(p.id + '\x1f' + p.gold);
  std::sort(examples.begin(), examples.end());
  std::string key = detail::dataset_key(r.dataset) + '\x1e' + r.dataset.split;
  for (const auto& e : examples) key += '\x1e' + e;
  return sha256_hex(key);
}

using TestSetGroups = std::vector<std::pair<TestSet, std::vector<const results::LoadedRecord*>>>;

// Groups the records by test set, in order of first appearance, with readable unique labels.
// With `short_labels`, a dataset that has one test set among the records is labelled by its name.
TestSetGroups split_by_test_set(const std::vector<const results::LoadedRecord*>& records, bool short_labels = false) {
  TestSetGroups groups;
  std::vector<std::string> keys;
  for (const auto* r : records) {
    const std::string key = test_set_key(r->record);
    const auto at = std::find(keys.begin(), keys.end(), key);
    if (at != keys.end()) {
      groups[static_cast<std::size_t>(at - keys.begin())].second.push_back(r);
      continue;
    }
    const auto& ds = r->record.dataset;
    TestSet t;
    t.dataset = ds;
    t.n = static_cast<std::int64_t>(r->record.predictions.size());
    t.label = fmt::format("{}{}, {} split, n={}", ds.name, ds.variant.empty() ? "" : " " + ds.variant, ds.split, t.n);
    keys.push_back(key);
    groups.push_back({std::move(t), {r}});
  }
  std::map<std::string, int> per_dataset;
  for (const auto& g : groups) ++per_dataset[g.first.dataset.name];
  if (short_labels)
    for (auto& g : groups)
      if (per_dataset[g.first.dataset.name] == 1) g.first.label = g.first.dataset.name;
  std::map<std::string, int> uses;
  for (const auto& g : groups) ++uses[g.first.label];
  for (std::size_t i = 0; i < groups.size(); ++i)  // two test sets that read alike: add a fingerprint
    if (uses[groups[i].first.label] > 1) groups[i].first.label += " [" + keys[i].substr(0, 8) + "]";
  return groups;
}

}  // namespace

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

// Answers without an option letter (or cut off at max_tokens) count as wrong: a model that never
// answers with a letter scores 0 whatever it knows. Such points, and weak-sweep points whose shots
// carry empty weak labels, are named in a note.
void note_unusable_answers(const std::vector<const results::LoadedRecord*>& icl, Report& report) {
  for (const auto* r : icl) {
    const auto& rec = r->record;
    const auto n = static_cast<std::int64_t>(rec.predictions.size());
    const detail::UnusableAnswers u = detail::unusable_answers(rec);
    if (n > 0 && static_cast<double>(u.unparsed) > detail::kUnusableShareNoted * static_cast<double>(n))
      report.notes.push_back(fmt::format(
          "{}: {} of {} answers of {} have no option letter ({} cut off at max_tokens); they count as wrong, so its "
          "accuracy measures the answers it never gave (raise --max-tokens, or use --score logprobs)",
          r->path.string(), u.unparsed, n, rec.evaluated_model, u.cut_off));
    if (const std::int64_t empty = detail::unusable_weak_labels(rec); empty > 0)
      report.notes.push_back(fmt::format("{}: {} of its {} weak labels (from {}) are empty: the weak model gave no "
                                         "usable answer there (column weak_labels_unusable)",
                                         r->path.string(), empty, rec.shots.value_or(0), rec.label_source.model));
  }
}

// A sweep's students side by side: each "train" row gets its run, its seed and the settings in
// which the students differ (the grid's variables: a learning rate, a loss, ...).
void put_run_columns(json::Value& rows, const std::vector<const results::LoadedRecord*>& members) {
  std::vector<const results::LoadedRecord*> students;
  for (const auto* r : members)
    if (r->record.kind == results::Kind::TrainW2S || r->record.kind == results::Kind::TrainS2S) students.push_back(r);
  const std::vector<json::Value> settings = detail::varying_settings(students, {"train_args.seed", "lr"});
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < students.size(); ++i) index[students[i]->path.string()] = i;
  for (auto& row : rows.as_array()) {
    const auto it = index.find(row.get_string("file"));
    if (it == index.end()) continue;
    const auto& rec = students[it->second]->record;
    const json::Value* args = rec.config.is_object() ? rec.config.find("train_args") : nullptr;
    const json::Value* seed = args && args->is_object() ? args->find("seed") : nullptr;
    row.set("run", rec.run);
    row.set("seed", seed && seed->is_number() ? json::Value(seed->as_int()) : json::Value());
    row.set("settings", settings[it->second]);
  }
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
  note_unusable_answers(icl, report);
  if (icl.empty() && train.empty())
    throw Error("no experiment records (baseline, gold-sweep, weak-sweep or train-*) among the inputs");

  json::Value accuracy_rows = json::Value::array();
  json::Value pair_rows = json::Value::array();
  std::optional<Error> first_failure;
  for (auto& [whole_test_set, all_members] : split_by_test_set(icl)) {
    // Runs that disagree on a role (other settings, another results folder) side by side.
    for (const auto& group : detail::split_disagreeing_runs(all_members)) {
      TestSet test_set = whole_test_set;
      if (!group.run.empty()) {
        std::vector<std::string> settings;
        for (const auto& [k, v] : group.settings.as_object())
          settings.push_back(k + "=" + (v.is_null() ? std::string("unset") : v.as_string()));
        test_set.label += " | run " + group.run + (settings.empty() ? "" : " (" + fmt::format("{}", fmt::join(settings, ", ")) + ")");
      }
      json::Value accuracy = json::Value::array(), pairs;
      try {
        pairs = detail::icl_tables(group.records, options, accuracy);
      } catch (const Error& e) {
        if (!first_failure) first_failure = e;
        report.notes.push_back(fmt::format("test set {} left out: {}", test_set.label, e.what()));
        continue;
      }
      for (auto* rows : {&accuracy, &pairs})
        for (auto& row : rows->as_array()) {
          row.set("test_set", test_set.label);
          row.set("run", group.run);
          row.set("settings", group.settings);
        }
      for (auto& row : accuracy.as_array()) accuracy_rows.push_back(std::move(row));
      for (auto& row : pairs.as_array()) pair_rows.push_back(std::move(row));
      report.test_sets.push_back(std::move(test_set));
    }
  }

  // Fine-tuning records likewise, one test set at a time; each method's PGRs over all of them.
  json::Value train_rows = json::Value::array(), method_pair_rows = json::Value::array();
  std::map<std::string, detail::MethodPgrs> pgrs_by_method;
  bool any_train_table = false;
  json::Value curve_rows = json::Value::array();
  for (const auto& [test_set, members] : split_by_test_set(train, true)) {
    json::Value curves = detail::train_curves(members, report.notes);
    for (auto& row : curves.as_array()) {
      row.set("test_set", test_set.label);
      curve_rows.push_back(std::move(row));
    }
    detail::TrainTables tables;
    try {
      tables = detail::train_tables(members, test_set.label, options);
    } catch (const Error& e) {
      if (!first_failure) first_failure = e;
      report.notes.push_back(fmt::format("fine-tuning test set {} left out: {}", test_set.label, e.what()));
      continue;
    }
    any_train_table = true;
    put_run_columns(tables.rows, members);
    for (auto& row : tables.rows.as_array()) train_rows.push_back(std::move(row));
    for (auto& row : tables.method_pair_rows.as_array()) method_pair_rows.push_back(std::move(row));
    for (auto& [method, pgrs] : tables.pgrs_by_method) {  // cells of different test sets
      detail::MethodPgrs& all = pgrs_by_method[method];
      all.auroc.merge(pgrs.auroc);
      all.accuracy.merge(pgrs.accuracy);
    }
  }
  if (first_failure && report.test_sets.empty() && !any_train_table) throw *first_failure;

  report.tables.set("icl_accuracy", std::move(accuracy_rows));
  report.tables.set("icl_pairs", std::move(pair_rows));
  report.tables.set("train", std::move(train_rows));
  detail::MethodTables method_tables = detail::method_rows(pgrs_by_method, options);
  report.tables.set("train_dataset_methods", std::move(method_tables.cells));
  report.tables.set("train_methods", std::move(method_tables.methods));
  report.tables.set("train_method_pairs", std::move(method_pair_rows));
  report.tables.set("train_curves", std::move(curve_rows));
  detail::ParadigmTables paradigms = detail::paradigm_tables(icl, train, report.tables, options, report.notes);
  report.tables.set("paradigms", std::move(paradigms.rows));
  report.tables.set("paradigm_tests", std::move(paradigms.tests));
  detail::put_settings_columns(report.tables);
  detail::name_models(report.tables);

  if (!report.test_sets.empty()) {
    report.dataset = report.test_sets.front().dataset;
  } else if (!train.empty()) {
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
