// The retry policy of the client, in one place: which outcomes are retried, which fail one
// request, which stop the whole run, and how long to wait before the next attempt.
#pragma once

#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "rate_limit_headers.h"
#include "w2s/core.h"

namespace w2s::llm::retry {

// One attempt as seen on the wire.
struct AttemptOutcome {
  int transport_error = 0;         // CURLcode; 0 when a complete HTTP response arrived
  std::string transport_message;   // curl's description of transport_error
  long status = 0;                 // HTTP status (0 when transport_error != 0)
  HeaderMap headers;               // Retry-After and rate-limit headers (rate_limit_headers.h)
  const json::Value* body = nullptr;  // parsed body; nullptr when it was not valid JSON
};

enum class Verdict {
  Success,       // a usable completion
  Retry,         // transient: try again after `wait_s` or backoff
  FailRequest,   // permanent for this request (400, 403, 404, ...)
  StopDispatch,  // permanent for every request (401 bad key, 402 credits exhausted, a daily cap)
  Refused,       // a moderation 403: the request's outcome is a refusal, not a failure
};

struct Decision {
  Verdict verdict = Verdict::Success;
  std::string reason;               // for the user; empty on success
  bool slow_down = false;           // 429 / in-flight 402: lower the concurrency window
  std::optional<double> server_wait_s;  // wait the server asked for (Retry-After / reset)
  std::string server_wait_source;       // the header it came from, for the log
  // A 429 of a daily request cap (OpenRouter's free models: 50 or 1000 a day): its message names
  // a per-day limit, or its reset is more than kDailyCapWaitS away. Retrying before the reset
  // cannot succeed, so it stops the run (StopDispatch) instead of waiting.
  bool daily_cap = false;
};

inline constexpr double kDailyCapWaitS = 2 * 3600.0;

Decision classify(const AttemptOutcome& outcome, std::time_t now);

struct Backoff {
  double base_s = 1.0;
  double factor = 2.0;
  double cap_s = 60.0;
  double max_server_wait_s = 600.0;
};

// Seconds to wait before retry number `retry` (1 = the first retry): the server's wait when it
// gave one (capped at max_server_wait_s), else full jitter U(0, min(cap, base * factor^(retry-1))).
// Always finite, whatever the options and the server said.
double retry_delay(const Backoff& backoff, int retry, const Decision& decision,
                   std::mt19937_64& rng);

// A 400 whose message says `top_logprobs` (or `logprobs`) is above the server's limit, as vLLM,
// Azure, DashScope and other providers send it: the largest value allowed, when it is below
// `sent` (5 when the message names no number). nullopt for any other message.
std::optional<int> allowed_top_logprobs(std::string_view error_message, int sent);

}  // namespace w2s::llm::retry
