// Logprob scoring of option letters and the one-vs-rest AUROC over those probabilities.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "w2s/icl.h"

namespace w2s::icl {
namespace {

std::string_view trim_ascii_space(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::map<std::string, double> letter_probabilities(const llm::Completion& completion,
                                                   const std::vector<std::string>& letters) {
  if (completion.logprobs.empty()) return {};
  const llm::TokenLogprob& first = completion.logprobs.front();
  // Some servers list the chosen token only in `token`, not among `top`.
  std::vector<llm::TopLogprob> candidates = first.top;
  if (std::none_of(candidates.begin(), candidates.end(), [&](const auto& t) { return t.token == first.token; }))
    candidates.push_back({first.token, first.logprob});
  // In log space (log-sum-exp): exp() of a logprob a server sent as 1000 is infinite, and
  // infinity / infinity would make every probability NaN. Relative to the largest logprob, each
  // term is at most 1. Values that are not finite numbers are no evidence for a letter.
  std::vector<std::pair<std::string, double>> letter_logprobs;
  double largest = -std::numeric_limits<double>::infinity();
  for (const auto& cand : candidates) {
    const std::string_view token = trim_ascii_space(cand.token);
    if (!std::isfinite(cand.logprob) || std::find(letters.begin(), letters.end(), token) == letters.end()) continue;
    letter_logprobs.emplace_back(std::string(token), cand.logprob);
    largest = std::max(largest, cand.logprob);
  }
  std::map<std::string, double> mass;
  double total = 0.0;
  for (const auto& [letter, logprob] : letter_logprobs) {
    const double relative = std::exp(logprob - largest);
    mass[letter] += relative;
    total += relative;
  }
  if (!(total > 0.0)) return {};  // no letter, or all of probability 0 (-1e308)
  for (auto& [letter, p] : mass) p /= total;
  return mass;
}

std::optional<double> ovr_auroc(const std::vector<results::Prediction>& predictions) {
  std::set<std::string> classes;
  for (const auto& p : predictions)
    if (!p.probabilities.empty()) classes.insert(p.gold);
  double sum = 0.0;
  int used = 0;
  for (const auto& cls : classes) {
    std::vector<double> scores;
    std::vector<bool> positive;
    for (const auto& p : predictions) {
      if (p.probabilities.empty()) continue;
      auto it = p.probabilities.find(cls);
      scores.push_back(it == p.probabilities.end() ? 0.0 : it->second);
      positive.push_back(p.gold == cls);
    }
    const auto area = results::auroc(scores, positive);
    if (!area) continue;  // this class is never (or always) the gold answer
    sum += *area;
    ++used;
  }
  if (used == 0) return std::nullopt;
  return sum / used;
}

}  // namespace w2s::icl
