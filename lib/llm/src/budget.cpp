#include "budget.h"

#include <algorithm>

#include <fmt/format.h>

namespace w2s::llm {

bool Budget::allows(double worst_usd) const {
  if (!cap_) return true;
  if (worst_usd > 0) return spent_ + possibly_billed_ + reserved_ + worst_usd <= *cap_;
  return spent_ + possibly_billed_ < *cap_;
}

std::string Budget::refusal(double worst_usd) const {
  return fmt::format("budget cap reached: --max-cost ${:.4f}, spent ${:.4f}, this request may cost up to ${:.6f}",
                     cap_.value_or(0.0), spent_, worst_usd);
}

void Budget::count(const std::string& model, const Completion& c) {
  ModelTotals& t = totals_[model];
  if (!c.ok) {
    ++t.failed;
    return;
  }
  ++t.requests;
  if (c.refusal) ++t.refused;
  if (c.cache_hit) {
    ++t.cache_hits;
    t.replayed_cost_usd += c.replayed_cost_usd;
    return;
  }
  t.prompt_tokens += c.prompt_tokens;
  t.completion_tokens += c.completion_tokens;
}

void Budget::charge(const std::string& model, double usd, const std::string& source) {
  ModelTotals& t = totals_[model];
  spent_ += usd;
  t.cost_usd += usd;
  if (source == "usage") t.cost_from_usage += usd;
  if (source == "pricing") t.cost_from_pricing += usd;
  if (source == "generation") t.cost_from_generation += usd;
  if (source == "none") ++t.cost_unknown;
}

void Budget::charge_possibly_billed(const std::string& model, double usd, Unseen why) {
  ModelTotals& t = totals_[model];
  possibly_billed_ += usd;
  if (why == Unseen::TimedOut) ++t.timed_out;
  if (why == Unseen::Dropped) ++t.dropped;
  if (why == Unseen::Unreadable) ++t.unreadable;
  if (why == Unseen::NoUsage) ++t.no_usage;
  if (why == Unseen::Oversize) ++t.oversize;
  t.possibly_billed_usd += usd;
}

void Budget::reconcile(const std::string& model, double worst_usd, double booked_usd) {
  ModelTotals& t = totals_[model];
  // Never below 0 by rounding: these sums only ever held worst cases added one by one.
  possibly_billed_ = std::max(0.0, possibly_billed_ - worst_usd);
  t.possibly_billed_usd = std::max(0.0, t.possibly_billed_usd - worst_usd);
  spent_ += booked_usd;
  t.reconciled_usd += booked_usd;
}

}  // namespace w2s::llm
