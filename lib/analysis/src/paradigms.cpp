// In context and fine-tuning side by side (docs/analysis.md, "In-context and fine-tuning side by
// side"): for one dataset and (weak, strong) pair, every in-context weak-sweep point (per shot
// count) and every fine-tuned student, each with its own paradigm's floor and ceiling, all on the
// test examples they have in common, with one paired bootstrap for all of them; and per in-context
// point and fine-tuned student, the accuracy difference with its paired bootstrap interval and
// p-value and McNemar's test on the common examples. Where the two cannot be compared (other data,
// no common pair, no common test example, other gold answers) a note says so instead.
//
// It works from the in-context and fine-tuning tables already built (their rows name the records
// of every role), so the roles are decided in one place each.
#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "detail.h"

namespace w2s::analysis::detail {
namespace {

using json::Value;
using results::LoadedRecord;
using results::ResultRecord;

// Data identity: dataset (name, variant, source sha256s) and data seed.
std::string data_of(const ResultRecord& r) { return dataset_key(r.dataset) + fmt::format(" seed {}", r.dataset.seed); }

// Model ids are matched as written, after normalising path spellings ("models/a/" = "models/./a").
std::string model_key(const std::string& id) {
  std::string s = std::filesystem::path(id).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// The class of each letter of an in-context record on a registry dataset; nullopt for other
// in-context records (TruthfulQA has no fine-tuning counterpart).
std::optional<std::map<std::string, int>> class_of_letter(const ResultRecord& r) {
  const Value* m = r.extra.is_object() ? r.extra.find("class_of_letter") : nullptr;
  if (!m || !m->is_object()) return std::nullopt;
  std::map<std::string, int> out;
  for (const auto& [letter, cls] : m->as_object())
    if (cls.is_number()) out[letter] = static_cast<int>(cls.as_int());
  return out;
}

// Per example id: correct, and the gold class (in-context letters mapped through class_of_letter;
// -1 where a letter has no class).
using Outcomes = std::map<std::string, std::pair<bool, int>>;
Outcomes outcomes_of(const ResultRecord& r) {
  const auto classes = class_of_letter(r);
  Outcomes out;
  for (const auto& p : r.predictions) {
    int gold = -1;
    if (classes) {
      const auto it = classes->find(p.gold);
      if (it != classes->end()) gold = it->second;
    } else if (p.gold == "0" || p.gold == "1") {
      gold = p.gold == "1";
    }
    out[p.id] = {p.correct, gold};
  }
  return out;
}

// One student of either paradigm with its floor and ceiling (the ceiling may be missing: an
// in-context point whose strong model has no gold sweep at its shot count).
struct Entry {
  bool in_context = false;
  std::optional<std::int64_t> shots;  // in context
  std::string method;                 // fine-tuning: the student's method
  const LoadedRecord* floor = nullptr;
  const LoadedRecord* ceiling = nullptr;
  const LoadedRecord* student = nullptr;
};

struct Group {
  std::string dataset, weak, strong;  // ids as the in-context records write them
  std::vector<Entry> entries;         // in-context first, then fine-tuning
};

class Records {
 public:
  explicit Records(const std::vector<const LoadedRecord*>& records) {
    for (const auto* r : records) by_path_[r->path.string()] = r;
  }
  const LoadedRecord* at(const Value& path) const {
    if (!path.is_string()) return nullptr;
    const auto it = by_path_.find(path.as_string());
    return it == by_path_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, const LoadedRecord*> by_path_;
};

// The in-context floor and ceiling of a weak-sweep row: the zero-shot point of its weak model, and
// its strong model with the same number of gold shots (zero-shot at 0 shots), from the accuracy
// rows of the same test set and run.
std::pair<const LoadedRecord*, const LoadedRecord*> icl_floor_ceiling(const Value& pair, const Value& accuracy_rows,
                                                                       const Records& records) {
  const LoadedRecord *floor = nullptr, *ceiling = nullptr;
  const std::int64_t shots = pair.get_int("shots");
  for (const auto& a : accuracy_rows.as_array()) {
    if (a.get_string("test_set") != pair.get_string("test_set") || a.get_string("run") != pair.get_string("run")) continue;
    const std::string curve = a.get_string("curve"), model = a.get_string("model");
    if (curve == "zero-shot" && model == pair.get_string("weak")) floor = records.at(a.at("file"));
    const bool strong_at_shots = model == pair.get_string("strong") &&
                                 ((shots == 0 && curve == "zero-shot") || (curve == "gold" && a.get_int("shots") == shots));
    if (strong_at_shots) ceiling = records.at(a.at("file"));
  }
  return {floor, ceiling};
}

// The weak model whose labels taught a fine-tuned student: an in-context labeller
// (--weak-labels-from: extra.in_context_labels.model), else the floor's weak model.
std::string labeller_of(const ResultRecord& student, const std::string& floor_weak) {
  const Value* from = student.extra.is_object() ? student.extra.find("in_context_labels") : nullptr;
  return from && from->is_object() && !from->get_string("model").empty() ? from->get_string("model") : floor_weak;
}

std::string pair_text(const std::string& weak, const std::string& strong) { return weak + " -> " + strong; }

// Fills `row` with floor, ceiling, student and PGR (accuracy) of one entry on the common examples.
void put_entry(Value& row, const Entry& e, const std::map<const LoadedRecord*, Eval>& evals, Bootstrap& boot,
               const Options& options) {
  const double conf = options.confidence;
  auto point = [&](const LoadedRecord* r) { return r ? std::optional(evals.at(r).accuracy()) : std::nullopt; };
  auto samples = [&](const LoadedRecord* r) { return r && boot.enabled() ? &boot.accuracy(evals.at(r)) : nullptr; };
  put_estimate(row, "floor_accuracy", point(e.floor), samples(e.floor), conf);
  put_estimate(row, "ceiling_accuracy", point(e.ceiling), samples(e.ceiling), conf);
  put_estimate(row, "student_accuracy", point(e.student), samples(e.student), conf);
  std::optional<double> pgr_point;
  Samples pgr_resamples;
  if (e.ceiling) {
    pgr_point = pgr(*point(e.student), *point(e.floor), *point(e.ceiling), options.zero_guard);
    if (boot.enabled())
      pgr_resamples = pgr_samples(*samples(e.student), *samples(e.floor), *samples(e.ceiling), options.zero_guard);
    row.set("ceiling_not_above_floor_accuracy", !clear_gap(*point(e.floor), *point(e.ceiling), options.zero_guard));
  } else {
    row.set("ceiling_not_above_floor_accuracy", nullptr);
  }
  put_estimate(row, "pgr_accuracy", pgr_point, boot.enabled() ? &pgr_resamples : nullptr, conf);
}

}  // namespace

ParadigmTables paradigm_tables(const std::vector<const LoadedRecord*>& icl, const std::vector<const LoadedRecord*>& train,
                               const Value& tables, const Options& options, std::vector<std::string>& notes) {
  ParadigmTables out;
  std::vector<const LoadedRecord*> all = icl;
  all.insert(all.end(), train.begin(), train.end());
  const Records records(all);

  // Entries by (data, weak, strong), and each paradigm's data and pairs by dataset name.
  std::map<std::tuple<std::string, std::string, std::string>, Group> groups;
  std::map<std::string, std::set<std::string>> icl_data, train_data, icl_pairs, train_pairs;  // by dataset name
  for (const auto& row : tables.at("icl_pairs").as_array()) {
    const LoadedRecord* student = records.at(row.at("file"));
    if (!student || row.get_bool("self_pair") || !class_of_letter(student->record)) continue;
    const ResultRecord& r = student->record;
    const auto [floor, ceiling] = icl_floor_ceiling(row, tables.at("icl_accuracy"), records);
    if (!floor) continue;
    const std::string weak = row.get_string("weak"), strong = row.get_string("strong");
    icl_data[r.dataset.name].insert(data_of(r));
    icl_pairs[r.dataset.name].insert(pair_text(weak, strong));
    Group& g = groups[{data_of(r), model_key(weak), model_key(strong)}];
    g.dataset = r.dataset.name, g.weak = weak, g.strong = strong;
    g.entries.push_back({true, row.get_int("shots"), "", floor, ceiling, student});
  }
  std::vector<std::tuple<std::tuple<std::string, std::string, std::string>, Entry>> fine_tuned;
  for (const auto& row : tables.at("train").as_array()) {
    const LoadedRecord* student = records.at(row.at("file"));
    if (!student) continue;
    const ResultRecord& r = student->record;
    const std::string weak = labeller_of(r, row.get_string("weak")), strong = row.get_string("strong");
    train_data[r.dataset.name].insert(data_of(r));
    train_pairs[r.dataset.name].insert(pair_text(weak, strong));
    fine_tuned.push_back({{data_of(r), model_key(weak), model_key(strong)},
                          {false, std::nullopt, row.get_string("method"), records.at(row.at("floor_file")),
                           records.at(row.at("ceiling_file")), student}});
  }
  for (const auto& [key, entry] : fine_tuned)
    if (const auto it = groups.find(key); it != groups.end()) it->second.entries.push_back(entry);

  // Datasets in both paradigms that cannot be put side by side, said so.
  for (const auto& [name, data] : icl_data) {
    if (!train_data.count(name)) continue;
    std::vector<std::string> common;
    std::set_intersection(data.begin(), data.end(), train_data[name].begin(), train_data[name].end(),
                          std::back_inserter(common));
    if (common.empty()) {
      notes.push_back(fmt::format("in context and fine-tuning on {} not compared: they are on different data "
                                  "(in context: {}; fine-tuning: {}); run both on the same --data-seed, data files "
                                  "and --n-test",
                                  name, fmt::join(data, "; "), fmt::join(train_data[name], "; ")));
      continue;
    }
    const bool any_pair = std::any_of(groups.begin(), groups.end(), [&](const auto& g) {
      return g.second.dataset == name &&
             std::any_of(g.second.entries.begin(), g.second.entries.end(), [](const Entry& e) { return !e.in_context; });
    });
    if (!any_pair)
      notes.push_back(fmt::format("in context and fine-tuning on {} not compared: no (weak, strong) pair in both "
                                  "(in context: {}; fine-tuning: {}); model ids are matched as written "
                                  "(docs/analysis.md)",
                                  name, fmt::join(icl_pairs[name], ", "), fmt::join(train_pairs[name], ", ")));
  }

  for (const auto& [key, g] : groups) {
    const bool both = std::any_of(g.entries.begin(), g.entries.end(), [](const Entry& e) { return !e.in_context; });
    if (!both) continue;
    const std::string what = fmt::format("in context and fine-tuning on {}, {}", g.dataset, pair_text(g.weak, g.strong));
    // The examples every record of the group has, in the first in-context student's order, with
    // one gold class.
    std::vector<const LoadedRecord*> used;
    for (const auto& e : g.entries)
      for (const auto* r : {e.floor, e.ceiling, e.student})
        if (r && std::find(used.begin(), used.end(), r) == used.end()) used.push_back(r);
    std::map<const LoadedRecord*, Outcomes> outcomes;
    for (const auto* r : used) outcomes[r] = outcomes_of(r->record);
    const LoadedRecord* reference = g.entries.front().student;
    std::vector<std::string> common;
    std::optional<std::pair<std::string, const LoadedRecord*>> other_gold;  // example id, record
    for (const auto& p : reference->record.predictions) {
      const int gold = outcomes.at(reference).at(p.id).second;
      bool everywhere = true;
      for (const auto* r : used) {
        const auto it = outcomes.at(r).find(p.id);
        if (it == outcomes.at(r).end()) {
          everywhere = false;
          break;
        }
        if ((it->second.second != gold || gold < 0) && !other_gold) other_gold = {p.id, r};
      }
      if (everywhere) common.push_back(p.id);
    }
    if (other_gold) {
      notes.push_back(fmt::format("{} not compared: example {} has no gold class or another one in {} than in {} "
                                  "(extra.class_of_letter of the in-context records?)",
                                  what, other_gold->first, other_gold->second->path.string(), reference->path.string()));
      continue;
    }
    if (common.empty()) {
      notes.push_back(fmt::format("{} not compared: no test example in common (in context: the first --test-size "
                                  "examples of the fine-tuning test split, same --data-seed and --n-test)",
                                  what));
      continue;
    }
    std::set<std::size_t> sizes;
    for (const auto* r : used) sizes.insert(r->record.predictions.size());
    if (sizes.size() > 1 || *sizes.begin() != common.size())
      notes.push_back(fmt::format("{}: compared on the {} test examples all their records share (the records have "
                                  "{} examples)",
                                  what, common.size(), fmt::join(sizes, ", ")));

    std::map<const LoadedRecord*, Eval> evals;
    for (const auto* r : used) {
      Eval& e = evals[r];
      e.path = r->path;
      e.record = &r->record;
      for (const auto& id : common) e.correct.push_back(outcomes.at(r).at(id).first);
    }
    Bootstrap boot(common.size(), options);
    for (const auto& e : g.entries) {
      Value row = Value::object();
      row.set("dataset", g.dataset);
      row.set("weak", g.weak);
      row.set("weak_name", nullptr);  // filled by name_models
      row.set("strong", g.strong);
      row.set("strong_name", nullptr);
      row.set("paradigm", e.in_context ? "in-context" : "fine-tuning");
      row.set("shots", e.shots);
      row.set("method", e.in_context ? std::string("weak-sweep") : e.method);
      row.set("n", static_cast<std::int64_t>(common.size()));
      row.set("floor", e.in_context ? "weak model zero-shot" : "fine-tuned weak model (gold)");
      row.set("ceiling", e.in_context ? "strong model, same number of gold shots" : "fine-tuned strong model (gold)");
      put_entry(row, e, evals, boot, options);
      row.set("floor_file", e.floor->path.string());
      row.set("ceiling_file", e.ceiling ? Value(e.ceiling->path.string()) : Value());
      row.set("file", e.student->path.string());
      out.rows.push_back(std::move(row));
    }
    // Each in-context point against each fine-tuned student on the same examples and resamples.
    for (const auto& a : g.entries) {
      if (!a.in_context) continue;
      for (const auto& b : g.entries) {
        if (b.in_context) continue;
        const Eval& x = evals.at(a.student);
        const Eval& y = evals.at(b.student);
        Value row = Value::object();
        row.set("dataset", g.dataset);
        row.set("weak", g.weak);
        row.set("weak_name", nullptr);
        row.set("strong", g.strong);
        row.set("strong_name", nullptr);
        row.set("shots", a.shots);
        row.set("method", b.method);
        row.set("n", static_cast<std::int64_t>(common.size()));
        const Samples deltas = boot.enabled() ? differences(boot.accuracy(x), boot.accuracy(y)) : Samples();
        put_estimate(row, "delta_accuracy", x.accuracy() - y.accuracy(), boot.enabled() ? &deltas : nullptr,
                     options.confidence);
        row.set("bootstrap_p", boot.enabled() ? bootstrap_p_value(deltas) : std::nullopt);
        put_mcnemar(row, mcnemar(x.correct, y.correct), "in_context", "fine_tuned");
        row.set("in_context_file", a.student->path.string());
        row.set("fine_tuned_file", b.student->path.string());
        out.tests.push_back(std::move(row));
      }
    }
  }
  return out;
}

}  // namespace w2s::analysis::detail
