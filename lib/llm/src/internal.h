// Pieces shared by the client's sources (not part of the public API).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "w2s/llm.h"

namespace w2s::llm {

// A request as sent: its wire body, written once into a buffer sized for it, and its cache key,
// hashed once from that text (request.cpp).
struct WireRequest {
  std::string key;
  std::string body;
};
WireRequest wire_request(const std::string& base_url, const ChatRequest& r);
// The wire body alone (a request sent with fewer top_logprobs than asked keeps the key of the
// request as asked).
std::string wire_body(const ChatRequest& r);

}  // namespace w2s::llm

namespace w2s::llm::detail {

// What a response says it cost: usage.cost, and for bring-your-own-key responses the upstream
// provider's charge (usage.cost_details.upstream_inference_cost; 0 otherwise).
struct ReportedCost {
  std::optional<double> cost;
  double upstream = 0.0;
};

// Reads a body's usage: token counts into `out`, and what it says the response cost. Every number
// is checked: token counts outside 0..1e9 count as 0, a cost that is not a finite number from 0 to
// kMostUsdPerRequest as not reported (with a warning).
ReportedCost read_usage(const json::Value& body, Completion& out);

// No single chat request costs more (the dearest models cost a few dollars per million tokens).
inline constexpr double kMostUsdPerRequest = 1000.0;
// A cost figure of a response (`what` names it for the warning); nullopt when absent or implausible.
std::optional<double> reported_usd(const json::Value* v, std::string_view what);

// API keys are printable ASCII without spaces, this long; anything else is refused before use.
inline constexpr std::size_t kShortestApiKey = 6;
inline constexpr std::size_t kLongestApiKey = 4096;
// Throws w2s::Error (naming `from`, never showing the key) unless `key` is empty or plausible.
void check_plausible_key(const std::string& key, std::string_view from);

// Fills content (text, or the text parts of a content list), reasoning, finish_reason, logprobs,
// usage tokens, provider, id and model from a /chat/completions body already accepted by
// retry::classify. Returns what the body says it cost.
ReportedCost parse_completion(const json::Value& body, Completion& out);

// The completion as stored in the cache, and back (the replay is marked as a $0 cache hit).
json::Value completion_to_cache(const Completion& c);
Completion completion_from_cache(const json::Value& v);

// Replaces every occurrence of `secret` in `text` (no-op for an empty secret).
std::string scrub(std::string text, const std::string& secret);

// Parses a /models `data` array into per-model pricing (decimal strings, USD per token).
std::map<std::string, Pricing> parse_models(const json::Value& models_body);
// Every model id a /models body lists, priced or not.
std::set<std::string> parse_model_ids(const json::Value& models_body);

}  // namespace w2s::llm::detail
