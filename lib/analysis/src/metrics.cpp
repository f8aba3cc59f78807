// The statistics of the analysis, each in one place: PGR (with its zero guard), McNemar,
// Cohen's kappa, tie-aware AUROC and the bootstrap percentile interval.
#include <algorithm>
#include <cmath>
#include <map>

#include "w2s/analysis.h"

namespace w2s::analysis {

// The PGR formula. A gap below zero_guard makes the ratio meaningless (noise / ~0), so it is
// undefined rather than 0 or infinite.
std::optional<double> pgr(double student, double floor, double ceiling, double zero_guard) {
  const double gap = ceiling - floor;
  if (!(std::fabs(gap) >= zero_guard)) return std::nullopt;  // also catches NaN
  return (student - floor) / gap;
}

// Exact two-sided binomial test on the discordant pairs when they are few (the chi-square
// approximation is poor there), else the chi-square statistic with Edwards' continuity
// correction, (|b - c| - 1)^2 / (b + c), as statsmodels' mcnemar(exact=False).
McNemar mcnemar(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct) {
  if (a_correct.size() != b_correct.size()) throw Error("mcnemar: sequences differ in length");
  McNemar m;
  for (std::size_t i = 0; i < a_correct.size(); ++i) {
    if (a_correct[i] && !b_correct[i]) ++m.only_a_correct;
    if (!a_correct[i] && b_correct[i]) ++m.only_b_correct;
  }
  const std::int64_t n = m.only_a_correct + m.only_b_correct;
  if (n < kMcNemarExactBelow) {
    m.method = "exact-binomial";
    const std::int64_t k = std::min(m.only_a_correct, m.only_b_correct);
    double tail = 0.0;
    for (std::int64_t i = 0; i <= k; ++i)
      tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
    m.p_value = std::min(1.0, 2.0 * tail);
  } else {
    m.method = "chi2-continuity";
    const double d = std::fabs(static_cast<double>(m.only_a_correct - m.only_b_correct)) - 1.0;
    m.statistic = d * d / static_cast<double>(n);
    m.p_value = std::erfc(std::sqrt(*m.statistic / 2.0));  // chi-square, 1 degree of freedom
  }
  return m;
}

std::optional<double> cohen_kappa(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) throw Error("cohen_kappa: sequences differ in length");
  if (a.empty()) return std::nullopt;
  std::map<std::string, std::pair<double, double>> freq;
  double agree = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    freq[a[i]].first += 1.0;
    freq[b[i]].second += 1.0;
    if (a[i] == b[i]) agree += 1.0;
  }
  const double n = static_cast<double>(a.size());
  double chance = 0.0;
  for (const auto& [label, f] : freq) chance += (f.first / n) * (f.second / n);
  if (1.0 - chance < 1e-12) return std::nullopt;
  return (agree / n - chance) / (1.0 - chance);
}

std::optional<Interval> percentile_interval(std::vector<double> samples, double confidence) {
  if (samples.empty()) return std::nullopt;
  const double tail = (1.0 - confidence) / 2.0;
  return Interval{linear_quantile(samples, tail), linear_quantile(std::move(samples), 1.0 - tail)};
}

}  // namespace w2s::analysis
