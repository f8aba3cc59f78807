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
  if (r.record.kind == Kind::TrainW2S && !r.record.label_source.model.empty()) return r.record.label_source.model;
  throw Error(r.path.string() + ": cannot tell the weak model of this student (no model with role \"weak\")");
}

// The method a student stands for: extra.method when the trainer set one, else the run name,
// with the stage appended for strong-to-strong rounds ("logconf/s2s-1").
std::string method_of(const LoadedRecord& r) {
  const auto& rec = r.record;
  std::string method = rec.extra.is_object() ? rec.extra.get_string("method") : "";
  if (method.empty()) method = rec.run.empty() ? "w2s" : rec.run;
  if (rec.kind == Kind::TrainS2S) method += "/" + rec.stage.value_or("s2s");
  return method;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2.0;
}

}  // namespace

json::Value train_tables(const std::vector<const LoadedRecord*>& records, const Options& options,
                         json::Value& method_rows, json::Value& method_pair_rows) {
  json::Value rows = json::Value::array();
  // dataset name -> identity key, to refuse mixing two versions of one dataset.
  std::map<std::string, const LoadedRecord*> identity;
  std::map<std::pair<std::string, std::string>, std::vector<const LoadedRecord*>> floors, ceilings;  // (dataset, model)
  std::vector<const LoadedRecord*> students;
  for (const auto* r : records) {
    const auto& ds = r->record.dataset;
    auto [it, fresh] = identity.emplace(ds.name, r);
    if (!fresh && dataset_key(it->second->record.dataset) != dataset_key(ds))
      throw Error(fmt::format("mixed datasets: {} uses {} but {} uses {}", it->second->path.string(),
                              dataset_key(it->second->record.dataset), r->path.string(), dataset_key(ds)));
    switch (r->record.kind) {
      case Kind::TrainFloor: floors[{ds.name, r->record.evaluated_model}].push_back(r); break;
      case Kind::TrainCeiling: ceilings[{ds.name, r->record.evaluated_model}].push_back(r); break;
      case Kind::TrainW2S:
      case Kind::TrainS2S: students.push_back(r); break;
      default: break;
    }
  }

  // Group students by (dataset, weak, strong) so each group shares one alignment and bootstrap.
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const LoadedRecord*>> groups;
  for (const auto* s : students)
    groups[{s->record.dataset.name, weak_model_of(*s), s->record.evaluated_model}].push_back(s);

  std::map<std::string, std::vector<double>> pgr_auroc_by_method, pgr_accuracy_by_method;
  std::map<std::string, std::set<std::string>> datasets_by_method;
  for (const auto& [key, group] : groups) {
    const std::string& dataset = std::get<0>(key);
    const std::string& weak = std::get<1>(key);
    const std::string& strong = std::get<2>(key);
    auto role = [&](auto& table, const std::string& model, const char* what) {
      auto it = table.find({dataset, model});
      if (it == table.end())
        throw Error(fmt::format("{}: missing {} for {} on {}: no {} record of {} among the inputs",
                                group.front()->path.string(), what, strong, dataset,
                                what == std::string("floor") ? "train-floor" : "train-ceiling", model));
      return pick_unique(it->second, fmt::format("the {} of {} on {}", what, model, dataset));
    };
    const LoadedRecord* floor_rec = role(floors, weak, "floor");
    const LoadedRecord* ceiling_rec = role(ceilings, strong, "ceiling");
    std::vector<const LoadedRecord*> used = {floor_rec, ceiling_rec};
    used.insert(used.end(), group.begin(), group.end());
    const std::vector<Eval> evals = align(used);
    const Eval& floor = evals[0];
    const Eval& ceiling = evals[1];
    Bootstrap boot(floor.correct.size(), options);
    const double conf = options.confidence;
    // What the method comparisons below need of each student.
    struct StudentPgr {
      std::string method;
      const Eval* eval;
      std::optional<double> accuracy, auroc;            // PGR
      Samples accuracy_samples, auroc_samples;
    };
    std::vector<StudentPgr> pgrs;

    for (std::size_t i = 2; i < evals.size(); ++i) {
      const Eval& x = evals[i];
      const std::string method = method_of(*used[i]);
      json::Value row = json::Value::object();
      row.set("dataset", dataset);
      row.set("weak", weak);
      row.set("strong", strong);
      row.set("weak_name", nullptr);  // filled by name_models (detail.h)
      row.set("strong_name", nullptr);
      row.set("method", method);
      row.set("stage", x.record->stage.value_or(""));
      row.set("n", static_cast<std::int64_t>(x.correct.size()));
      auto acc = [&](const Eval& e) { return boot.enabled() ? &boot.accuracy(e) : nullptr; };
      put_estimate(row, "floor_accuracy", floor.accuracy(), acc(floor), conf);
      put_estimate(row, "ceiling_accuracy", ceiling.accuracy(), acc(ceiling), conf);
      put_estimate(row, "student_accuracy", x.accuracy(), acc(x), conf);
      const auto pgr_acc = pgr(x.accuracy(), floor.accuracy(), ceiling.accuracy(), options.zero_guard);
      StudentPgr& student = pgrs.emplace_back(StudentPgr{method, &x, pgr_acc, std::nullopt, {}, {}});
      if (boot.enabled())
        student.accuracy_samples =
            pgr_samples(boot.accuracy(x), boot.accuracy(floor), boot.accuracy(ceiling), options.zero_guard);
      put_estimate(row, "pgr_accuracy", pgr_acc, boot.enabled() ? &student.accuracy_samples : nullptr, conf);

      // AUROC bootstraps need per-example scores on all three; otherwise point values only.
      const bool scored = floor.has_scores && ceiling.has_scores && x.has_scores && boot.enabled();
      auto auc = [&](const Eval& e) { return scored ? &boot.auroc(e) : nullptr; };
      put_estimate(row, "floor_auroc", floor.auroc(), auc(floor), conf);
      put_estimate(row, "ceiling_auroc", ceiling.auroc(), auc(ceiling), conf);
      put_estimate(row, "student_auroc", x.auroc(), auc(x), conf);
      std::optional<double> pgr_auc;
      if (floor.auroc() && ceiling.auroc() && x.auroc())
        pgr_auc = pgr(*x.auroc(), *floor.auroc(), *ceiling.auroc(), options.zero_guard);
      student.auroc = pgr_auc;
      if (scored)
        student.auroc_samples = pgr_samples(boot.auroc(x), boot.auroc(floor), boot.auroc(ceiling), options.zero_guard);
      put_estimate(row, "pgr_auroc", pgr_auc, scored ? &student.auroc_samples : nullptr, conf);

      put_mcnemar(row, mcnemar(x.correct, ceiling.correct), "student", "ceiling");
      row.set("kappa_student_floor", cohen_kappa(x.answers, floor.answers));
      row.set("floor_file", floor_rec->path.string());
      row.set("ceiling_file", ceiling_rec->path.string());
      row.set("file", used[i]->path.string());
      rows.push_back(std::move(row));

      datasets_by_method[method].insert(dataset);
      if (pgr_auc) pgr_auroc_by_method[method].push_back(*pgr_auc);
      if (pgr_acc) pgr_accuracy_by_method[method].push_back(*pgr_acc);
    }

    // Every two methods of this group: same floor, ceiling, test examples and resamples, so the
    // difference of their PGRs has a paired bootstrap interval and p-value.
    for (std::size_t a = 0; a < pgrs.size(); ++a) {
      for (std::size_t b = a + 1; b < pgrs.size(); ++b) {
        const StudentPgr& x = pgrs[a];
        const StudentPgr& y = pgrs[b];
        json::Value row = json::Value::object();
        row.set("dataset", dataset);
        row.set("weak", weak);
        row.set("strong", strong);
        row.set("method_a", x.method);
        row.set("method_b", y.method);
        row.set("n", static_cast<std::int64_t>(x.eval->correct.size()));
        for (auto [metric, x_point, y_point, x_samples, y_samples] :
             {std::tuple{"auroc", x.auroc, y.auroc, &x.auroc_samples, &y.auroc_samples},
              std::tuple{"accuracy", x.accuracy, y.accuracy, &x.accuracy_samples, &y.accuracy_samples}}) {
          std::optional<double> delta;
          if (x_point && y_point) delta = *x_point - *y_point;
          // Both resampled (same resamples, hence equal sizes), or neither.
          const bool resampled = delta && !x_samples->empty() && x_samples->size() == y_samples->size();
          const Samples deltas = resampled ? differences(*x_samples, *y_samples) : Samples();
          put_estimate(row, std::string("delta_pgr_") + metric, delta, resampled ? &deltas : nullptr, conf);
          row.set(std::string("p_") + metric, resampled ? bootstrap_p_value(deltas) : std::nullopt);
        }
        put_mcnemar(row, mcnemar(x.eval->correct, y.eval->correct), "a", "b");
        method_pair_rows.push_back(std::move(row));
      }
    }
  }

  for (const auto& [method, datasets] : datasets_by_method) {
    json::Value row = json::Value::object();
    row.set("method", method);
    row.set("datasets", static_cast<std::int64_t>(datasets.size()));
    for (auto [name, values] : {std::pair{"pgr_auroc", &pgr_auroc_by_method[method]},
                                std::pair{"pgr_accuracy", &pgr_accuracy_by_method[method]}}) {
      std::optional<double> mean, med;
      if (!values->empty()) {
        double sum = 0.0;
        for (double v : *values) sum += v;
        mean = sum / static_cast<double>(values->size());
        med = median(*values);
      }
      row.set(std::string(name) + "_defined", static_cast<std::int64_t>(values->size()));
      row.set(std::string(name) + "_mean", mean);
      row.set(std::string(name) + "_median", med);
    }
    method_rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace w2s::analysis::detail
