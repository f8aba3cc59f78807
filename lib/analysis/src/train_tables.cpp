// Fine-tuning runs: per dataset and weak->strong pair, the floor (train-floor), ceiling
// (train-ceiling) and every student (train-w2s, train-s2s) -> PGR on accuracy and on AUROC.
#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis::detail {
namespace {

using results::Kind;
using results::LoadedRecord;

// The weak model a student descends from: its "weak" role, else the labelling model.
std::string weak_model_of(const LoadedRecord& r) {
  for (const auto& m : r.record.models)
    if (m.role == "weak") return m.id;
  if (r.record.kind == Kind::TrainW2S && r.record.label_source.kind == "weak" && !r.record.label_source.model.empty())
    return r.record.label_source.model;
  throw Error(r.path.string() + ": cannot tell the weak model of this student (no model with role \"weak\")");
}

// The method a student stands for: extra.method when the trainer set one (what was done: loss,
// probe and filter/relabel), else (records from before it did) the run name; with the stage
// appended for strong-to-strong rounds ("logconf/s2s-1").
std::string method_of(const LoadedRecord& r) {
  const auto& rec = r.record;
  std::string method = rec.extra.is_object() ? rec.extra.get_string("method") : "";
  if (method.empty()) method = rec.run.empty() ? "w2s" : rec.run;
  if (rec.kind == Kind::TrainS2S) method += "/" + rec.stage.value_or("s2s");
  return method;
}

// What a record predicted, as text: two records with equal outcomes are copies of one stage.
std::string outcomes(const LoadedRecord* r) { return json::dump(results::to_json(r->record).at("predictions")); }

// One student of a group under the name it is reported by.
struct Student {
  const LoadedRecord* record;
  std::string method;
};

// The students of one group. A stage that several runs reused from the stage cache (same method,
// same outcomes) is one student, not a method compared with itself; the same method with other
// outcomes (another learning rate, other data) is told apart by its run name.
std::vector<Student> distinct_students(const std::vector<const LoadedRecord*>& group) {
  std::vector<Student> out;
  std::map<std::string, std::vector<std::size_t>> by_method;  // method -> indices into out
  for (const auto* r : group) {
    const std::string method = method_of(*r);
    auto& same_method = by_method[method];
    const bool duplicate = std::any_of(same_method.begin(), same_method.end(),
                                       [&](std::size_t i) { return outcomes(out[i].record) == outcomes(r); });
    if (duplicate) continue;
    same_method.push_back(out.size());
    out.push_back({r, method});
  }
  for (const auto& [method, indices] : by_method)
    if (indices.size() > 1)
      for (std::size_t i : indices) out[i].method += " [" + out[i].record->record.run + "]";
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2.0;
}

using ByDatasetAndModel = std::map<std::pair<std::string, std::string>, std::vector<const LoadedRecord*>>;
// (dataset, weak, strong): the students of one weak → strong pair on one dataset.
using GroupKey = std::tuple<std::string, std::string, std::string>;

// The floor (or ceiling) of a student: the one record of that role, or, where a sweep's runs
// trained several (other seeds, other learning rates) or two results folders hold runs of one
// name, the one in the student's own run folder.
// Returned as the first record with the same outcomes, so that the copies a stage-cache hit left
// in several run folders are one floor.
const LoadedRecord* role_record(const ByDatasetAndModel& table, const std::string& dataset, const std::string& model,
                                const std::string& what, const LoadedRecord& student) {
  auto it = table.find({dataset, model});
  if (it == table.end())
    throw Error(fmt::format("{}: missing {} for {} on {}: no {} record of {} among the inputs", student.path.string(),
                            what, student.record.evaluated_model, dataset,
                            what == "floor" ? "train-floor" : "train-ceiling", model));
  std::vector<const LoadedRecord*> same_run;
  for (const auto* r : it->second)
    if (run_folder(*r) == run_folder(student)) same_run.push_back(r);
  const LoadedRecord* chosen =
      pick_unique(same_run.empty() ? it->second : same_run, fmt::format("the {} of {} on {}", what, model, dataset));
  const std::string chosen_outcomes = outcomes(chosen);
  for (const auto* r : it->second)
    if (outcomes(r) == chosen_outcomes) return r;
  return chosen;
}

// The students of one pair on one dataset that share their floor and ceiling.
struct Group {
  GroupKey key;
  const LoadedRecord* floor;
  const LoadedRecord* ceiling;
  std::vector<const LoadedRecord*> students;
};

// The records of one test set by role, the students in groups, in order of dataset, pair and
// floor / ceiling file.
std::vector<Group> sort_by_role(const std::vector<const LoadedRecord*>& records) {
  ByDatasetAndModel floors, ceilings;
  std::vector<const LoadedRecord*> students;
  for (const auto* r : records) {
    const auto& ds = r->record.dataset;
    switch (r->record.kind) {
      case Kind::TrainFloor: floors[{ds.name, r->record.evaluated_model}].push_back(r); break;
      case Kind::TrainCeiling: ceilings[{ds.name, r->record.evaluated_model}].push_back(r); break;
      case Kind::TrainW2S:
      case Kind::TrainS2S: students.push_back(r); break;
      default: break;
    }
  }
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, Group> groups;
  for (const auto* s : students) {
    const std::string& dataset = s->record.dataset.name;
    const GroupKey key{dataset, weak_model_of(*s), s->record.evaluated_model};
    const auto* floor = role_record(floors, dataset, std::get<1>(key), "floor", *s);
    const auto* ceiling = role_record(ceilings, dataset, std::get<2>(key), "ceiling", *s);
    auto [it, fresh] = groups.try_emplace({dataset, std::get<1>(key), std::get<2>(key), floor->path.string(),
                                           ceiling->path.string()},
                                          Group{key, floor, ceiling, {}});
    it->second.students.push_back(s);
  }
  std::vector<Group> out;
  for (auto& [k, g] : groups) out.push_back(std::move(g));
  return out;
}

// The first columns of a row about one method of one pair on one test set.
json::Value method_row(const GroupKey& key, const std::string& test_set, const std::string& method) {
  const auto& [dataset, weak, strong] = key;
  json::Value row = json::Value::object();
  row.set("dataset", dataset);
  row.set("test_set", test_set);
  row.set("weak", weak);
  row.set("strong", strong);
  row.set("weak_name", nullptr);  // filled by name_models (detail.h)
  row.set("strong_name", nullptr);
  row.set("method", method);
  return row;
}

// One student's PGRs with their bootstrap samples, for the method comparisons.
struct StudentPgr {
  std::string method;
  const Eval* eval;
  Estimate accuracy, auroc;  // PGR
};

// The "train" rows of one group (one per student) and what the comparisons need of each student.
struct GroupTable {
  json::Value rows = json::Value::array();
  std::vector<StudentPgr> students;
};

GroupTable student_rows(const GroupKey& key, const std::string& test_set, const std::vector<const LoadedRecord*>& used,
                        const std::vector<std::string>& methods, const std::vector<Eval>& evals, Bootstrap& boot,
                        const Options& options) {
  const Eval& floor = evals[0];
  const Eval& ceiling = evals[1];
  const double conf = options.confidence;
  GroupTable table;
  for (std::size_t i = 2; i < evals.size(); ++i) {
    const Eval& x = evals[i];
    const std::string& method = methods[i - 2];
    json::Value row = method_row(key, test_set, method);
    row.set("stage", x.record->stage.value_or(""));
    row.set("n", static_cast<std::int64_t>(x.correct.size()));
    auto acc = [&](const Eval& e) { return boot.enabled() ? &boot.accuracy(e) : nullptr; };
    put_estimate(row, "floor_accuracy", floor.accuracy(), acc(floor), conf);
    put_estimate(row, "ceiling_accuracy", ceiling.accuracy(), acc(ceiling), conf);
    put_estimate(row, "student_accuracy", x.accuracy(), acc(x), conf);
    StudentPgr& student = table.students.emplace_back(StudentPgr{method, &x, {}, {}});
    student.accuracy.point = pgr(x.accuracy(), floor.accuracy(), ceiling.accuracy(), options.zero_guard);
    student.accuracy.floor = floor.accuracy();
    student.accuracy.ceiling = ceiling.accuracy();
    student.accuracy.student = x.accuracy();
    // A ceiling not clearly above the floor leaves no gap to recover: the PGR (if any) is no share
    // of one. It stays in its row, flagged, and is left out of every mean and median.
    student.accuracy.clear_gap = clear_gap(floor.accuracy(), ceiling.accuracy(), options.zero_guard);
    if (boot.enabled())
      student.accuracy.samples =
          pgr_samples(boot.accuracy(x), boot.accuracy(floor), boot.accuracy(ceiling), options.zero_guard);
    put_estimate(row, "pgr_accuracy", student.accuracy.point, boot.enabled() ? &student.accuracy.samples : nullptr,
                 conf);
    row.set("ceiling_not_above_floor_accuracy", !student.accuracy.clear_gap);

    // AUROC bootstraps need per-example scores on all three; otherwise point values only.
    const bool scored = floor.has_scores && ceiling.has_scores && x.has_scores && boot.enabled();
    auto auc = [&](const Eval& e) { return scored ? &boot.auroc(e) : nullptr; };
    put_estimate(row, "floor_auroc", floor.auroc(), auc(floor), conf);
    put_estimate(row, "ceiling_auroc", ceiling.auroc(), auc(ceiling), conf);
    put_estimate(row, "student_auroc", x.auroc(), auc(x), conf);
    if (floor.auroc() && ceiling.auroc() && x.auroc()) {
      student.auroc.point = pgr(*x.auroc(), *floor.auroc(), *ceiling.auroc(), options.zero_guard);
      student.auroc.floor = floor.auroc();
      student.auroc.ceiling = ceiling.auroc();
      student.auroc.student = x.auroc();
    }
    if (scored)
      student.auroc.samples = pgr_samples(boot.auroc(x), boot.auroc(floor), boot.auroc(ceiling), options.zero_guard);
    put_estimate(row, "pgr_auroc", student.auroc.point, scored ? &student.auroc.samples : nullptr, conf);
    if (floor.auroc() && ceiling.auroc()) {
      student.auroc.clear_gap = clear_gap(*floor.auroc(), *ceiling.auroc(), options.zero_guard);
      row.set("ceiling_not_above_floor_auroc", !student.auroc.clear_gap);
    } else {
      row.set("ceiling_not_above_floor_auroc", nullptr);
    }

    put_mcnemar(row, mcnemar(x.correct, ceiling.correct), "student", "ceiling");
    row.set("kappa_student_floor", cohen_kappa(x.answers, floor.answers));
    row.set("floor_file", used[0]->path.string());
    row.set("ceiling_file", used[1]->path.string());
    row.set("file", used[i]->path.string());
    table.rows.push_back(std::move(row));
  }
  return table;
}

// Every two methods of one group: same floor, ceiling, test examples and resamples, so the
// difference of their PGRs has a paired bootstrap interval and p-value.
json::Value method_pair_rows(const GroupKey& key, const std::string& test_set, const std::vector<StudentPgr>& students,
                             double conf) {
  const auto& [dataset, weak, strong] = key;
  json::Value rows = json::Value::array();
  for (std::size_t a = 0; a < students.size(); ++a) {
    for (std::size_t b = a + 1; b < students.size(); ++b) {
      const StudentPgr& x = students[a];
      const StudentPgr& y = students[b];
      json::Value row = json::Value::object();
      row.set("dataset", dataset);
      row.set("test_set", test_set);
      row.set("weak", weak);
      row.set("strong", strong);
      row.set("method_a", x.method);
      row.set("method_b", y.method);
      row.set("n", static_cast<std::int64_t>(x.eval->correct.size()));
      for (auto [metric, x_point, y_point, x_samples, y_samples] :
           {std::tuple{"auroc", x.auroc.point, y.auroc.point, &x.auroc.samples, &y.auroc.samples},
            std::tuple{"accuracy", x.accuracy.point, y.accuracy.point, &x.accuracy.samples, &y.accuracy.samples}}) {
        std::optional<double> delta;
        if (x_point && y_point) delta = *x_point - *y_point;
        // Both resampled (same resamples, hence equal sizes), or neither.
        const bool resampled = delta && !x_samples->empty() && x_samples->size() == y_samples->size();
        const Samples deltas = resampled ? differences(*x_samples, *y_samples) : Samples();
        put_estimate(row, std::string("delta_pgr_") + metric, delta, resampled ? &deltas : nullptr, conf);
        row.set(std::string("p_") + metric, resampled ? bootstrap_p_value(deltas) : std::nullopt);
      }
      put_mcnemar(row, mcnemar(x.eval->correct, y.eval->correct), "a", "b");
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

// A PGR statistic (mean, median) of the defined estimates, with its bootstrap samples: per
// resample, the statistic of the same estimates' samples (independent resamples for different test
// sets, paired ones for runs on the same test examples). A resample where one of them is undefined
// is undefined; without samples for all of them there are none.
Estimate summarise(const std::vector<Estimate>& estimates, double (*statistic)(const std::vector<double>&)) {
  std::vector<const Estimate*> defined;
  for (const auto& e : estimates)
    if (e.point && e.clear_gap) defined.push_back(&e);
  Estimate out;
  if (defined.empty()) return out;
  std::vector<double> points;
  for (const auto* e : defined) points.push_back(*e->point);
  out.point = statistic(points);
  const std::size_t n = defined.front()->samples.size();
  for (const auto* e : defined)
    if (e->samples.empty() || e->samples.size() != n) return out;
  out.samples.resize(n);
  for (std::size_t b = 0; b < n; ++b) {
    std::vector<double> values;
    for (const auto* e : defined)
      if (e->samples[b]) values.push_back(*e->samples[b]);
    if (values.size() == defined.size()) out.samples[b] = statistic(values);
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double median_of(const std::vector<double>& v) { return median(v); }

void put_summary(json::Value& row, const std::string& key, const Estimate& e, double confidence) {
  put_estimate(row, key, e.point, e.samples.empty() ? nullptr : &e.samples, confidence);
}

// PGRs left out of a mean: defined but without a clear gap (ceiling not clearly above the floor).
std::int64_t left_out(const std::vector<Estimate>& estimates) {
  return std::count_if(estimates.begin(), estimates.end(), [](const Estimate& e) { return e.point && !e.clear_gap; });
}

// The mean floor, ceiling and student of the estimates that have all three, and the PGR of those
// means (undefined without a clear gap between the mean floor and the mean ceiling): robust where
// single PGRs are ratios of small gaps.
Estimate of_means(const std::vector<Estimate>& estimates, double zero_guard) {
  std::vector<double> floors, ceilings, students;
  for (const auto& e : estimates)
    if (e.floor && e.ceiling && e.student) {
      floors.push_back(*e.floor);
      ceilings.push_back(*e.ceiling);
      students.push_back(*e.student);
    }
  Estimate out;
  if (floors.empty()) return out;
  out.floor = mean_of(floors);
  out.ceiling = mean_of(ceilings);
  out.student = mean_of(students);
  out.clear_gap = clear_gap(*out.floor, *out.ceiling, zero_guard);
  if (out.clear_gap) out.point = pgr(*out.student, *out.floor, *out.ceiling, zero_guard);
  return out;
}

// A cell's mean over its runs, carrying the runs' mean floor, ceiling and student for the method's
// PGR of means.
Estimate cell_mean(const std::vector<Estimate>& runs, double zero_guard) {
  Estimate mean = summarise(runs, mean_of);
  const Estimate means = of_means(runs, zero_guard);
  mean.floor = means.floor;
  mean.ceiling = means.ceiling;
  mean.student = means.student;
  return mean;
}

}  // namespace

TrainTables train_tables(const std::vector<const LoadedRecord*>& records, const std::string& test_set,
                         const Options& options) {
  TrainTables out;
  for (const Group& group : sort_by_role(records)) {
    const auto& [dataset, weak, strong] = group.key;
    std::vector<const LoadedRecord*> used = {group.floor, group.ceiling};
    std::vector<std::string> methods;
    for (const auto& student : distinct_students(group.students)) {
      used.push_back(student.record);
      methods.push_back(student.method);
    }
    const std::vector<Eval> evals = align(used);  // floor, ceiling, then the students
    Bootstrap boot(evals[0].correct.size(), options);
    GroupTable table = student_rows(group.key, test_set, used, methods, evals, boot, options);
    for (auto& row : table.rows.as_array()) out.rows.push_back(std::move(row));
    json::Value pairs = method_pair_rows(group.key, test_set, table.students, options.confidence);
    for (auto& row : pairs.as_array()) out.method_pair_rows.push_back(std::move(row));
    for (const auto& s : table.students) {
      MethodPgrs& m = out.pgrs_by_method[s.method];
      const MethodCell cell{test_set, dataset, weak, strong};
      m.auroc[cell].push_back(s.auroc);
      m.accuracy[cell].push_back(s.accuracy);
    }
  }
  return out;
}

MethodTables method_rows(const std::map<std::string, MethodPgrs>& by_method, const Options& options) {
  MethodTables out;
  const double confidence = options.confidence;
  for (const auto& [method, pgrs] : by_method) {
    std::set<std::string> test_sets;
    for (const auto& [cell, runs] : pgrs.auroc) test_sets.insert(std::get<0>(cell));
    json::Value summary = json::Value::object();
    summary.set("method", method);
    summary.set("datasets", static_cast<std::int64_t>(test_sets.size()));
    for (auto [name, by_cell] : {std::pair{"pgr_auroc", &pgrs.auroc}, std::pair{"pgr_accuracy", &pgrs.accuracy}}) {
      std::vector<Estimate> cell_means;
      std::int64_t runs_left_out = 0;
      for (const auto& [cell, runs] : *by_cell) {
        cell_means.push_back(cell_mean(runs, options.zero_guard));
        runs_left_out += left_out(runs);
      }
      std::int64_t defined = 0;
      for (const auto& e : cell_means) defined += e.point ? 1 : 0;
      summary.set(std::string(name) + "_defined", defined);
      summary.set(std::string(name) + "_left_out", runs_left_out);
      put_summary(summary, std::string(name) + "_mean", summarise(cell_means, mean_of), confidence);
      put_summary(summary, std::string(name) + "_median", summarise(cell_means, median_of), confidence);
      summary.set(std::string(name) + "_of_means", of_means(cell_means, options.zero_guard).point);
    }
    out.methods.push_back(std::move(summary));
    for (const auto& [cell, runs] : pgrs.auroc) {
      const auto& [test_set, dataset, weak, strong] = cell;
      json::Value row = method_row({dataset, weak, strong}, test_set, method);
      row.set("runs", static_cast<std::int64_t>(runs.size()));
      for (auto [name, of_cell] : {std::pair{"pgr_auroc", &runs}, std::pair{"pgr_accuracy", &pgrs.accuracy.at(cell)}}) {
        put_summary(row, name, summarise(*of_cell, mean_of), confidence);
        row.set(std::string(name) + "_left_out", left_out(*of_cell));
        row.set(std::string(name) + "_of_means", of_means(*of_cell, options.zero_guard).point);
      }
      out.cells.push_back(std::move(row));
    }
  }
  return out;
}

}  // namespace w2s::analysis::detail
