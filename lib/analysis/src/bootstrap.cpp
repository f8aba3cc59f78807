// Aligned evaluations and the paired bootstrap.
#include <algorithm>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis::detail {

double Eval::accuracy() const {
  if (correct.empty()) return 0.0;
  std::size_t right = 0;
  for (bool c : correct) right += c;
  return static_cast<double>(right) / static_cast<double>(correct.size());
}

std::optional<double> Eval::auroc() const {
  if (has_scores) return results::auroc(scores, positive);
  return record->metrics.auroc;
}

std::vector<Eval> align(const std::vector<const results::LoadedRecord*>& records) {
  std::vector<Eval> out;
  if (records.empty()) return out;
  const auto& first = *records.front();
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < first.record.predictions.size(); ++i)
    if (!position.emplace(first.record.predictions[i].id, i).second)
      throw Error(fmt::format("{}: example id \"{}\" appears twice", first.path.string(),
                              first.record.predictions[i].id));
  const std::size_t n = first.record.predictions.size();
  for (const auto* loaded : records) {
    const auto& preds = loaded->record.predictions;
    if (preds.empty())
      throw Error(loaded->path.string() + ": the record has no per-example predictions; analysis pairs examples by id");
    Eval e;
    e.path = loaded->path;
    e.record = &loaded->record;
    e.correct.assign(n, false);
    e.answers.assign(n, "");
    e.scores.assign(n, 0.0);
    e.positive.assign(n, false);
    e.has_scores = true;
    std::vector<bool> seen(n, false);
    for (const auto& p : preds) {
      auto it = position.find(p.id);
      if (it == position.end())
        throw Error(fmt::format("different test sets: example id \"{}\" is in {} but not in {}", p.id,
                                loaded->path.string(), first.path.string()));
      const std::size_t i = it->second;
      if (seen[i]) throw Error(fmt::format("{}: example id \"{}\" appears twice", loaded->path.string(), p.id));
      seen[i] = true;
      if (p.gold != first.record.predictions[i].gold)
        throw Error(fmt::format("different gold answers for example \"{}\": \"{}\" in {} but \"{}\" in {}", p.id,
                                p.gold, loaded->path.string(), first.record.predictions[i].gold,
                                first.path.string()));
      e.correct[i] = p.correct;
      e.answers[i] = p.prediction;
      e.positive[i] = p.gold == "1";
      if (p.score && (p.gold == "0" || p.gold == "1"))
        e.scores[i] = *p.score;
      else
        e.has_scores = false;
    }
    if (preds.size() != n)
      throw Error(fmt::format("different test sets: {} has {} examples but {} has {}", loaded->path.string(),
                              preds.size(), first.path.string(), n));
    out.push_back(std::move(e));
  }
  return out;
}

Bootstrap::Bootstrap(std::size_t n_examples, const Options& options) {
  if (options.bootstrap_resamples <= 0 || n_examples == 0) return;
  PyRandom rng(options.seed);
  indices_.resize(static_cast<std::size_t>(options.bootstrap_resamples));
  for (auto& sample : indices_) {
    sample.resize(n_examples);
    for (auto& i : sample) i = static_cast<std::uint32_t>(rng.randbelow(n_examples));
  }
}

const Samples& Bootstrap::accuracy(const Eval& e) {
  auto [it, fresh] = accuracy_.try_emplace(&e);
  if (fresh) {
    it->second.reserve(indices_.size());
    for (const auto& sample : indices_) {
      std::size_t right = 0;
      for (auto i : sample) right += e.correct[i];
      it->second.push_back(static_cast<double>(right) / static_cast<double>(sample.size()));
    }
  }
  return it->second;
}

const Samples& Bootstrap::auroc(const Eval& e) {
  auto [it, fresh] = auroc_.try_emplace(&e);
  if (fresh) {
    std::vector<double> scores;
    std::vector<bool> positive;
    for (const auto& sample : indices_) {
      scores.clear();
      positive.clear();
      for (auto i : sample) {
        scores.push_back(e.scores[i]);
        positive.push_back(e.positive[i]);
      }
      it->second.push_back(results::auroc(scores, positive));
    }
  }
  return it->second;
}

Samples pgr_samples(const Samples& student, const Samples& floor, const Samples& ceiling, double zero_guard) {
  Samples out(student.size());
  for (std::size_t b = 0; b < student.size(); ++b)
    if (student[b] && floor[b] && ceiling[b]) out[b] = pgr(*student[b], *floor[b], *ceiling[b], zero_guard);
  return out;
}

Samples differences(const Samples& a, const Samples& b) {
  Samples out(a.size());
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k] && b[k]) out[k] = *a[k] - *b[k];
  return out;
}

std::optional<double> bootstrap_p_value(const Samples& differences) {
  std::size_t defined = 0, at_most_zero = 0, at_least_zero = 0;
  for (const auto& d : differences) {
    if (!d) continue;
    ++defined;
    at_most_zero += *d <= 0;
    at_least_zero += *d >= 0;
  }
  if (defined == 0 || 2 * defined < differences.size()) return std::nullopt;
  return std::min(1.0, 2.0 * static_cast<double>(std::min(at_most_zero, at_least_zero)) / static_cast<double>(defined));
}

void put_mcnemar(json::Value& row, const McNemar& test, const std::string& a_name, const std::string& b_name) {
  row.set("mcnemar_" + a_name + "_only_correct", test.only_a_correct);
  row.set("mcnemar_" + b_name + "_only_correct", test.only_b_correct);
  row.set("mcnemar_statistic", test.statistic);
  row.set("mcnemar_p", test.p_value);
  row.set("mcnemar_method", test.method);
}

void put_estimate(json::Value& row, const std::string& key, std::optional<double> point, const Samples* samples,
                  double confidence) {
  // + 0.0 turns a negative zero (PGR 0 / negative gap) into 0, so no table prints "-0".
  row.set(key, point ? std::optional(*point + 0.0) : std::nullopt);
  std::optional<Interval> ci;
  if (point && samples && !samples->empty()) {
    std::vector<double> defined;
    for (const auto& s : *samples)
      if (s) defined.push_back(*s);
    if (2 * defined.size() >= samples->size()) ci = percentile_interval(std::move(defined), confidence);
  }
  row.set(key + "_lo", ci ? json::Value(ci->lo + 0.0) : json::Value());
  row.set(key + "_hi", ci ? json::Value(ci->hi + 0.0) : json::Value());
}

std::optional<double> share(std::int64_t numerator, std::int64_t denominator) {
  if (denominator == 0) return std::nullopt;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

std::string dataset_key(const results::DatasetIdentity& d) {
  std::set<std::string> hashes;
  for (const auto& s : d.sources) hashes.insert(s.sha256);
  std::string key = d.name;
  if (!d.variant.empty()) key += " (" + d.variant + ")";
  if (!hashes.empty()) {
    key += " [sha256";
    for (const auto& h : hashes) key += " " + h.substr(0, 12);
    key += "]";
  }
  return key;
}

const results::LoadedRecord* pick_unique(const std::vector<const results::LoadedRecord*>& candidates,
                                         const std::string& role) {
  const auto* first = candidates.front();
  const std::string outcome = json::dump(results::to_json(first->record).at("predictions"));
  for (const auto* other : candidates) {
    if (other == first) continue;
    if (json::dump(results::to_json(other->record).at("predictions")) != outcome)
      throw Error(fmt::format("two different records for {}: {} and {}; pass only the files of one experiment",
                              role, first->path.string(), other->path.string()));
  }
  return first;
}

}  // namespace w2s::analysis::detail
