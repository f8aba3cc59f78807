// The console summary printed after each command.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "w2s/icl.h"

namespace w2s::icl {
namespace {

std::int64_t extra_count(const results::Metrics& m, std::string_view key) {
  return m.extra.is_object() ? m.extra.get_int(key) : 0;
}

}  // namespace

std::string format_summary(const RunSummary& s) {
  std::string out = fmt::format("{:<12} {:<48} {:>5} {:>8} {:>8} {:>6} {:>7} {:>7} {:>6} {:>10} {:>7} {:>6}\n",
                                "experiment", "model (weak -> strong)", "shots", "accuracy", "answered", "unparsed",
                                "refused", "cut off", "failed", "cost $", "sent", "cached");
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
    out += fmt::format("{:<12} {:<48} {:>5} {:>8.3f} {:>8} {:>6} {:>7} {:>7} {:>6} {:>10.6f} {:>7} {:>6}\n",
                       results::kind_name(p.kind), who, p.shots, p.metrics.accuracy, answered,
                       p.metrics.parse_failures, extra_count(p.metrics, "refused"), extra_count(p.metrics, "truncated"),
                       p.metrics.failed, p.cost.usd, p.cost.requests, p.cost.cache_hits);
  }
  if (const auto failed = std::count_if(s.points.begin(), s.points.end(), [](const auto& p) { return p.failed; }))
    out += fmt::format("{} evaluation point(s) failed (most of their requests failed): their records are marked "
                       "\"failure\", and w2s analyze and w2s plot leave them out\n",
                       failed);
  const results::ModelCost& total = s.cost.total;
  out += fmt::format("total: ${:.6f} ({} requests sent, {} served from cache or shared, {} failed; cost source: {})\n",
                     total.usd, total.requests, total.cache_hits, total.failed_requests, s.cost.source);
  if (total.replayed_usd > 0)
    out += fmt::format("the answers served from the cache cost ${:.6f} when first paid (${:.6f} in all)\n",
                       total.replayed_usd, total.usd + total.replayed_usd);
  if (total.possibly_billed_usd > 0 || total.reconciled_usd > 0)
    out += fmt::format("money apart from the answers' cost: reconciled ${:.6f} (GET /generation: what attempts whose "
                       "answer never came were billed), possibly billed up to ${:.6f} (the worst case of the others); "
                       "booked ${:.6f}, ${:.6f} at most in all\n",
                       total.reconciled_usd, total.possibly_billed_usd, total.usd,
                       total.usd + total.reconciled_usd + total.possibly_billed_usd);
  if (total.upstream_usd > 0)
    out += fmt::format("bring-your-own-key upstream charges: ${:.6f}\n", total.upstream_usd);
  if (const std::string warning = cut_off_warning(s); !warning.empty()) out += warning + "\n";
  return out;
}

std::string logprobs_missing_warning(const RunSummary& s) {
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_model;  // model -> (missing, answered)
  for (const auto& p : s.points) {
    auto& [missing, answered] = by_model[p.model];
    missing += extra_count(p.metrics, "logprobs_missing");
    answered += p.metrics.n - p.metrics.failed;
  }
  std::string out;
  for (const auto& [model, counts] : by_model) {
    if (counts.first == 0) continue;
    out += fmt::format(
        "{}--score logprobs: {} returned no logprobs for {} of {} answers; they were scored from their text "
        "(predictions' scored_by \"text-no-logprobs\", metrics.extra.logprobs_missing). The endpoint or its "
        "provider may not support logprobs: try --provider-order with one that does, or --score text",
        out.empty() ? "" : "\n", model, counts.first, counts.second);
  }
  return out;
}

std::string cut_off_warning(const RunSummary& s) {
  std::int64_t n = 0;
  for (const auto& p : s.points) n += extra_count(p.metrics, "cut_off_by_reasoning");
  if (n == 0) return "";
  return fmt::format("{} answers were cut off at max_tokens by reasoning — raise --max-tokens or set "
                     "--reasoning-effort low, --reasoning-max-tokens N or --no-reasoning",
                     n);
}

}  // namespace w2s::icl
