// What an OpenRouterClient holds across batches: its options, the endpoint, cache and ledger, and
// the named parts the batch loop (batch.cpp) works with.
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>

#include "adaptive_concurrency.h"
#include "budget.h"
#include "cost_reconciler.h"
#include "http.h"
#include "key_guard.h"
#include "ledger.h"
#include "price_list.h"
#include "response_cache.h"
#include "w2s/llm.h"

namespace w2s::llm {

struct ClientState {
  // Validates the options and resolves the key (see OpenRouterClient's constructor).
  explicit ClientState(ClientOptions options);
  ClientState(const ClientState&) = delete;  // the parts refer to each other
  ClientState& operator=(const ClientState&) = delete;

  ClientOptions options;  // the key cleared
  std::unique_ptr<http::Endpoint> endpoint;
  std::string chat_url;
  std::unique_ptr<ResponseCache> cache;  // null with --no-cache
  Ledger ledger;
  PriceList prices;
  Budget budget;
  KeyGuard key_guard;
  CostReconciler reconciler;
  AdaptiveConcurrency concurrency;
  http::TransferPool transfers;
  std::map<std::string, ModelEstimate> dry_run_estimate;
  double next_dispatch_at = 0.0;  // --rpm spacing, carried across batches
  // The largest top_logprobs each model's server accepts, learnt from a 400 that named it.
  std::map<std::string, int> top_logprobs_cap;
  // Whether the endpoint ever answered (any HTTP status): until it has, failures to connect stop
  // the client early (the endpoint is unreachable, not busy).
  bool endpoint_answered = false;
  // Whether the one warning that model ids cannot be checked (no /models list) was given.
  bool model_ids_unchecked_warned = false;
  // Requests this client sent to free (":free") models on the UTC day `free_day` (days since the
  // epoch): the least the key's daily free-model cap has spent today.
  std::int64_t free_day = -1;
  std::int64_t free_sent_today = 0;
  // Set by 401 or 402 without Retry-After (or a failed /key re-check): nothing more is sent.
  std::string stop_reason;
  std::mt19937_64 rng{std::random_device{}()};
};

}  // namespace w2s::llm
