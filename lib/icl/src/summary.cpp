// The console summary printed after each command.
#include <fmt/format.h>

#include "w2s/icl.h"

namespace w2s::icl {

std::string format_summary(const RunSummary& s) {
  std::string out = fmt::format("{:<12} {:<48} {:>5} {:>8} {:>8} {:>6} {:>6} {:>10} {:>7} {:>6}\n", "experiment",
                                "model (weak -> strong)", "shots", "accuracy", "answered", "unparsed", "failed",
                                "cost $", "sent", "cached");
  std::vector<std::string> models;
  for (const auto& p : s.points) {
    models.push_back(p.model);
    if (!p.label_model.empty()) models.push_back(p.label_model);
  }
  const ModelNames names(models);  // "org/" dropped only where the name stays unique
  for (const auto& p : s.points) {
    const std::string who = p.label_model.empty() ? names(p.model) : names(p.label_model) + " -> " + names(p.model);
    const std::string answered =
        p.metrics.accuracy_answered ? fmt::format("{:.3f}", *p.metrics.accuracy_answered) : std::string("-");
    out += fmt::format("{:<12} {:<48} {:>5} {:>8.3f} {:>8} {:>6} {:>6} {:>10.6f} {:>7} {:>6}\n",
                       results::kind_name(p.kind), who, p.shots, p.metrics.accuracy, answered,
                       p.metrics.parse_failures, p.metrics.failed, p.cost.usd, p.cost.requests, p.cost.cache_hits);
  }
  out += fmt::format("total: ${:.6f} ({} requests sent, {} served from cache or shared, {} failed; cost source: {})\n",
                     s.cost.total.usd, s.cost.total.requests, s.cost.total.cache_hits, s.cost.total.failed_requests,
                     s.cost.source);
  return out;
}

}  // namespace w2s::icl
