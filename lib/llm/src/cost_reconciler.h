// Cost reconciliation: a completion that came without usage.cost and whose model has no /models
// price gets its cost from GET /generation?id=<generation id> (`data.total_cost`). OpenRouter
// makes that record queryable a few seconds after the completion, so 404 (and 429, 5xx, network
// errors) are retried with doubling waits for at most `generation_wait_s` in all.
#pragma once

#include <optional>
#include <vector>

#include "http.h"
#include "key_guard.h"
#include "w2s/llm.h"

namespace w2s::llm {

class CostReconciler {
 public:
  CostReconciler(const http::Endpoint& endpoint, KeyGuard& key_guard);

  // Whether a lookup can succeed here: only servers that speak OpenRouter's protocol serve
  // /generation (llama.cpp's or vLLM's ids would only 404 for the whole wait), and not once the
  // endpoint was seen not to serve it.
  bool can_reconcile();

  // Looks up each completion's cost; sets cost_usd and cost_source "generation" where found.
  // The others keep cost_source "none" (one warning says so).
  void fill_costs(const std::vector<Completion*>& completions);

 private:
  const http::Endpoint& endpoint_;
  KeyGuard& key_guard_;
  std::optional<bool> has_generation_endpoint_;
};

}  // namespace w2s::llm
