#include "price_list.h"

#include <algorithm>
#include <cmath>

namespace w2s::llm {

const ModelList& PriceList::models() {
  if (!models_) models_ = load_ ? load_() : ModelList{};
  return *models_;
}

const Pricing* PriceList::find(const std::string& model) {
  const auto& p = all();
  auto it = p.find(model);
  return it == p.end() ? nullptr : &it->second;
}

const Pricing* PriceList::bound(const std::string& model) {
  if (const Pricing* p = find(model)) return p;
  return assumed_ ? &*assumed_ : nullptr;
}

double PriceList::assumed_cost(const std::string& model, const Completion& c) {
  if (!assumed_ || find(model)) return 0.0;
  return c.prompt_tokens * assumed_->prompt + c.completion_tokens * assumed_->completion;
}

std::int64_t PriceList::completion_bound(const ChatRequest& r, const Pricing& p, std::int64_t prompt) {
  if (r.max_tokens) return *r.max_tokens;
  if (p.max_completion_tokens > 0) return p.max_completion_tokens;
  if (p.context_length > 0) return std::max<std::int64_t>(0, p.context_length - prompt);
  return 4096;
}

double PriceList::worst_case_usd(const ChatRequest& r) {
  const Pricing* p = bound(r.model);
  if (!p) return 0.0;
  std::int64_t prompt_bytes = 0;
  for (const auto& m : r.messages) prompt_bytes += static_cast<std::int64_t>(m.content.size()) + 4;
  return (prompt_bytes * p->prompt + completion_bound(r, *p, prompt_bytes) * p->completion + p->request) *
         price_factor(r.model);
}

std::optional<double> PriceList::observe(const std::string& model, std::int64_t prompt_tokens,
                                         std::int64_t completion_tokens, double reported_usd) {
  Observed& o = observed_[model];
  const bool first = !o.seen;
  o.seen = true;
  const Pricing* p = bound(model);
  const double at_price = p ? prompt_tokens * p->prompt + completion_tokens * p->completion + p->request : 0.0;
  if (!(at_price > 0) || !std::isfinite(reported_usd)) {  // nothing to compare with (a free or unpriced model)
    o.confirmed = true;
    return std::nullopt;
  }
  const double factor = reported_usd / at_price;
  const bool risen = factor > o.factor * 1.01;
  o.factor = std::max(o.factor, factor);
  o.confirmed = first || !risen;
  if (risen) return o.factor;
  return std::nullopt;
}

bool PriceList::confirmed(const std::string& model) const {
  auto it = observed_.find(model);
  return it != observed_.end() && it->second.confirmed;
}

double PriceList::price_factor(const std::string& model) const {
  auto it = observed_.find(model);
  return it == observed_.end() ? 1.0 : it->second.factor;
}

void PriceList::add_estimate(std::map<std::string, ModelEstimate>& out, const ChatRequest& r, bool cached) {
  ModelEstimate& e = out[r.model];
  ++e.requests;
  if (cached) {
    ++e.cached;
    return;
  }
  const std::int64_t prompt = estimate_prompt_tokens(r);
  e.prompt_tokens += prompt;
  const Pricing* p = bound(r.model);
  const std::int64_t completion = p ? completion_bound(r, *p, prompt) : r.max_tokens.value_or(0);
  e.max_completion_tokens += completion;
  if (p) {
    e.priced = true;
    e.price_assumed = !find(r.model);
    e.prompt_cost_usd += prompt * p->prompt + p->request;
    e.max_cost_usd += prompt * p->prompt + completion * p->completion + p->request;
  }
}

double PriceList::estimated_upper_bound_usd(const std::vector<const ChatRequest*>& requests) {
  std::map<std::string, ModelEstimate> estimate;
  for (const ChatRequest* r : requests) add_estimate(estimate, *r, false);
  double usd = 0.0;
  for (const auto& [model, e] : estimate) usd += e.max_cost_usd;
  return usd;
}

}  // namespace w2s::llm
