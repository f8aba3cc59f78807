// AUROC: the one implementation shared by lib/icl, lib/train and lib/analysis.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "w2s/results.h"

namespace w2s::results {

const options::NameTable<AurocTies>& names_of(AurocTies) {
  static const options::NameTable<AurocTies> table{
      "AUROC mode", {{AurocTies::TieAware, "tie-aware"}, {AurocTies::Reference, "reference"}}};
  return table;
}

std::optional<double> auroc(const std::vector<double>& scores, const std::vector<bool>& positive, AurocTies ties) {
  if (scores.size() != positive.size())
    throw Error("auroc: " + std::to_string(scores.size()) + " scores but " + std::to_string(positive.size()) +
                " labels");
  // A NaN compares unequal to itself and unordered with everything: the sort's order and the tie
  // groups below would be meaningless (a NaN tie group never ends). A diverged model's scores are
  // refused here, whoever computed them.
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i]))
      throw Error(fmt::format("auroc: score {} of {} is {}; AUROC needs finite scores", i, scores.size(), scores[i]));
  const std::size_t n = scores.size();
  const double positives = static_cast<double>(std::count(positive.begin(), positive.end(), true));
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Descending by score; stable, so the reference mode ranks ties in input order.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

  double pairs = 0;  // Σ over negatives of the positives ranked above it (ties count one half)
  if (ties == AurocTies::Reference) {
    double seen_positives = 0;
    for (std::size_t i : order) {
      if (positive[i])
        seen_positives += 1;
      else
        pairs += seen_positives;
    }
  } else {
    double positives_above = 0;
    for (std::size_t start = 0; start < n;) {
      std::size_t end = start;
      double group_pos = 0, group_neg = 0;
      while (end < n && scores[order[end]] == scores[order[start]]) {
        (positive[order[end]] ? group_pos : group_neg) += 1;
        ++end;
      }
      pairs += group_neg * (positives_above + 0.5 * group_pos);
      positives_above += group_pos;
      start = end;
    }
  }
  return pairs / (positives * negatives);
}

}  // namespace w2s::results
