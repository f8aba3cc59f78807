// In-context weak labels for a fine-tuning run: a `weak-labels` record (lib/icl, `w2s weak-sweep
// --dataset NAME`) read, checked against the run's data and turned into P(class 1) per example.
#include "weak_labels.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "w2s/results.h"

namespace w2s::train {

namespace fs = std::filesystem;

json::Value InContextLabels::record_extra() const {
  json::Value v = json::Value::object();
  v.set("path", file.string());
  v.set("model", model);
  v.set("labels_sha256", sha256);
  v.set("strong_half", static_cast<std::int64_t>(strong_half.size()));
  v.set("val", static_cast<std::int64_t>(val.size()));
  v.set("soft", soft);
  v.set("hard", hard);
  v.set("accuracy_vs_gold_strong_half", accuracy_vs_gold);
  return v;
}

namespace {

// Where the record's data differs from the run's (empty: the same data).
std::vector<std::string> data_differences(const results::DatasetIdentity& d, const data::TrainingData& data) {
  std::vector<std::string> out;
  if (d.name != data.name) out.push_back(fmt::format("dataset '{}', this run '{}'", d.name, data.name));
  if (!d.variant.empty()) out.push_back(fmt::format("dataset variant '{}', this run none", d.variant));
  if (d.seed != data.seed) out.push_back(fmt::format("data seed {}, this run {}", d.seed, data.seed));
  std::set<std::string> theirs, ours;
  for (const auto& s : d.sources) theirs.insert(s.sha256);
  for (const auto& s : data.sources) ours.insert(s.sha256);
  if (theirs != ours) out.push_back("other data files (source sha256s differ)");
  return out;
}

// extra.class_of_letter: each letter's class, both classes present.
std::map<std::string, int> class_of_letter(const results::ResultRecord& r, const std::string& where) {
  const json::Value* m = r.extra.is_object() ? r.extra.find("class_of_letter") : nullptr;
  if (!m || !m->is_object())
    throw Error(where + ": no extra.class_of_letter (which letter is which class); only in-context records on a "
                        "registry dataset (w2s weak-sweep --dataset NAME) can label a fine-tuning run");
  std::map<std::string, int> out;
  std::set<int> classes;
  for (const auto& [letter, cls] : m->as_object()) {
    if (!cls.is_number() || (cls.as_int() != 0 && cls.as_int() != 1))
      throw Error(fmt::format("{}: extra.class_of_letter[\"{}\"] is not 0 or 1", where, letter));
    out[letter] = static_cast<int>(cls.as_int());
    classes.insert(out[letter]);
  }
  if (classes.size() != 2) throw Error(where + ": extra.class_of_letter does not name a letter for both classes");
  return out;
}

// P(class 1) of one prediction, or nullopt when it has no usable label (no letter, a failed
// request, a letter that is no option, probabilities that do not cover both options).
std::optional<std::pair<double, bool>> label_of(const results::Prediction& p, const std::map<std::string, int>& classes) {
  if (p.error || !classes.count(p.prediction)) return std::nullopt;
  if (p.probabilities.empty()) return std::pair{static_cast<double>(classes.at(p.prediction)), false};
  double mass[2] = {0, 0};
  for (const auto& [letter, cls] : classes) {
    const auto it = p.probabilities.find(letter);
    if (it == p.probabilities.end()) return std::nullopt;
    mass[cls] += it->second;
  }
  if (!(mass[0] + mass[1] > 0)) return std::nullopt;
  return std::pair{mass[1] / (mass[0] + mass[1]), true};
}

}  // namespace

InContextLabels read_in_context_labels(const fs::path& file, const data::TrainingData& data,
                                       const std::vector<LabelledExample>& strong_half,
                                       const std::vector<LabelledExample>& val) {
  const std::string where = "--weak-labels-from " + file.string();
  results::ResultRecord r;
  try {
    r = results::read_record(file);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (r.kind != results::Kind::WeakLabels)
    throw Error(fmt::format("{}: a record of kind {}, not weak-labels (the in-context weak model's labels, written by "
                            "w2s weak-sweep --dataset NAME)",
                            where, results::kind_name(r.kind)));
  if (const auto diff = data_differences(r.dataset, data); !diff.empty())
    throw Error(fmt::format("{}: labels another data set than this run's ({}); label this run's data: w2s weak-sweep "
                            "--dataset {} --data-seed {} with the same --data-dir and --n-train/--n-val/--n-test",
                            where, fmt::join(diff, ", "), data.name, data.seed));
  const std::map<std::string, int> classes = class_of_letter(r, where);

  // id -> (P(class 1), from probabilities), or nullopt for an unusable label
  std::map<std::string, std::optional<std::pair<double, bool>>> by_id;
  for (const auto& p : r.predictions) {
    const auto label = label_of(p, classes);
    const auto [it, fresh] = by_id.emplace(p.id, label);
    if (!fresh && it->second != label)
      throw Error(fmt::format("{}: example {} is labelled twice with different labels", where, p.id));
  }

  InContextLabels out;
  out.file = file;
  out.model = r.evaluated_model;
  std::vector<std::string> missing, unusable;
  std::size_t missing_strong = 0, missing_val = 0;
  std::string material;
  std::int64_t right = 0;
  for (auto [name, examples, labels] : {std::tuple{"strong_half", &strong_half, &out.strong_half},
                                        std::tuple{"val", &val, &out.val}}) {
    for (const auto& x : *examples) {
      const auto it = by_id.find(x.id);
      if (it == by_id.end()) {
        missing.push_back(x.id);
        ++(labels == &out.val ? missing_val : missing_strong);
        continue;
      }
      if (!it->second) {
        unusable.push_back(x.id);
        continue;
      }
      const auto [p1, soft] = *it->second;
      labels->push_back(p1);
      ++(soft ? out.soft : out.hard);
      if (labels == &out.strong_half && (p1 > 0.5) == (x.gold == 1)) ++right;
      material += fmt::format("{}\t{}\t{:.17g}\n", name, x.id, p1);
    }
  }
  if (!missing.empty())
    throw Error(fmt::format(
        "{}: {} of the examples this run needs have no label ({} of the {} strong-half, {} of the {} val examples; "
        "first: {}); the record labels {} examples, probably the shots of a weak-sweep only. Label the whole pool: "
        "w2s weak-sweep --dataset {} ... --label-pool full",
        where, missing.size(), missing_strong, strong_half.size(), missing_val, val.size(), missing.front(),
        by_id.size(), data.name));
  if (!unusable.empty())
    throw Error(fmt::format("{}: {} of the {} labels this run needs are unusable (no option letter, a failed request "
                            "or probabilities without both options; first: {}); w2s train puts no default label in "
                            "their place: label them again (rerun the in-context labelling) or use another weak model",
                            where, unusable.size(), strong_half.size() + val.size(), unusable.front()));
  out.sha256 = sha256_hex(material);
  out.accuracy_vs_gold = strong_half.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(strong_half.size());
  return out;
}

}  // namespace w2s::train
