// One run_batch: the scheduler and transfer loop of the client.
#pragma once

#include <vector>

#include "client_state.h"

namespace w2s::llm {

// Sends every request (see OpenRouterClient::run_batch) with the client's parts: cache replays
// first, then one transfer per distinct uncached request, dispatched while the concurrency
// window, the requests-per-minute spacing, the budget and the key guard allow; finished
// transfers are classified by the retry policy (retry_policy.cpp) and retried, failed or
// delivered; completions without a cost are reconciled at the end.
std::vector<Completion> run_batch(ClientState& client, const std::vector<ChatRequest>& requests,
                                  const ResultCallback& on_result);

}  // namespace w2s::llm
