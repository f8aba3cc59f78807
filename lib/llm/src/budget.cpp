#include "budget.h"

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
  if (why == Unseen::Unreadable) ++t.unreadable;
  t.possibly_billed_usd += usd;
}

}  // namespace w2s::llm
