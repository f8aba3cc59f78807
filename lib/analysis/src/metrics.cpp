// The statistics of the analysis, each in one place: PGR (with its zero guard), McNemar,
// Cohen's kappa, tie-aware AUROC and the bootstrap percentile interval.
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis {

// The PGR formula. A gap below zero_guard makes the ratio meaningless (noise / ~0), so it is
// undefined rather than 0 or infinite.
std::optional<double> pgr(double student, double floor, double ceiling, double zero_guard) {
  const double gap = ceiling - floor;
  if (!(std::fabs(gap) >= zero_guard)) return std::nullopt;  // also catches NaN
  return (student - floor) / gap;
}

namespace detail {
bool clear_gap(double floor, double ceiling, double zero_guard) { return ceiling - floor >= zero_guard; }
}  // namespace detail

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

namespace {

// The regularised incomplete beta function I_x(a, b), by Lentz's continued fraction (converges in
// well under 300 steps for the arguments the t distribution gives).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  if (x > (a + 1.0) / (a + b + 2.0)) return 1.0 - incomplete_beta(b, a, 1.0 - x);
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                                b * std::log1p(-x)) / a;
  constexpr double tiny = 1e-300;
  double f = 1.0, c = 1.0, d = 0.0;
  for (int i = 0; i <= 300; ++i) {
    const int m = i / 2;
    double numerator;
    if (i == 0)
      numerator = 1.0;
    else if (i % 2 == 0)
      numerator = (m * (b - m) * x) / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    else
      numerator = -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + numerator * d;
    d = std::fabs(d) < tiny ? tiny : d;
    d = 1.0 / d;
    c = 1.0 + numerator / c;
    c = std::fabs(c) < tiny ? tiny : c;
    const double cd = c * d;
    f *= cd;
    if (std::fabs(1.0 - cd) < 1e-15) break;
  }
  return front * (f - 1.0);
}

double student_t_cdf(double t, double df) {
  const double tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
  return t >= 0.0 ? 1.0 - tail : tail;
}

}  // namespace

double student_t_quantile(double q, double df) {
  if (!(q > 0.0 && q < 1.0) || !(df >= 1.0)) throw Error(fmt::format("student_t_quantile({}, {}): need 0 < q < 1, df >= 1", q, df));
  // Bisection on the CDF: 200 halvings of [-1e6, 1e6] are far below double precision.
  double lo = -1e6, hi = 1e6;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::optional<Interval> percentile_interval(std::vector<double> samples, double confidence) {
  if (samples.empty()) return std::nullopt;
  const double tail = (1.0 - confidence) / 2.0;
  return Interval{linear_quantile(samples, tail), linear_quantile(std::move(samples), 1.0 - tail)};
}

}  // namespace w2s::analysis
