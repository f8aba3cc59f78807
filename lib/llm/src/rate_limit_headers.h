// How long a server asks us to wait, from the headers of a 429 (or 503, 408, the in-flight 402),
// in every form servers send:
//   retry-after-ms                    milliseconds (OpenAI, Azure)
//   Retry-After                       delta seconds, or an HTTP-date
//   X-RateLimit-Reset / RateLimit-Reset
//                                     epoch milliseconds (OpenRouter), epoch seconds (GitHub and
//                                     many APIs), delta seconds (IETF draft), a duration, a date
//   x-ratelimit-reset-{requests,tokens}   durations such as "1s", "6m0s", "2m59.56s" (OpenAI, Groq)
//   anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset   RFC 3339 dates
// in that order of preference. For the per-limit resets, the limits whose remaining count is 0
// decide (the latest of them); when none is known to be exhausted, the earliest reset.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace w2s::llm::retry {

// Lower-case header name -> value.
using HeaderMap = std::map<std::string, std::string>;

// Whether a response header is one the wait is read from (or that tells which limit is spent).
bool is_rate_limit_header(std::string_view lower_case_name);

// Every wait read is finite and at most a year; a value that is not (NaN, "nans", infinity) is
// no wait, as if the header were absent.
struct ServerWait {
  double seconds = 0.0;  // >= 0
  std::string source;    // for the log, e.g. "X-RateLimit-Reset: 1764431675 (epoch seconds)"
};

std::optional<ServerWait> server_wait(const HeaderMap& headers, std::time_t now);

// Retry-After: delta-seconds ("2", "0.5") or an HTTP-date. nullopt when unparseable.
std::optional<double> parse_retry_after(std::string_view value, std::time_t now);

// A reset value: a number (>= 1e12 epoch milliseconds, >= 1e9 epoch seconds, else delta
// seconds), a duration ("1m30s", "250ms", "1h"), or a date (RFC 3339 or HTTP-date). Seconds from
// `now`, at least 0; `form` (optional) receives how the value was read.
std::optional<double> parse_reset(std::string_view value, std::time_t now, std::string* form = nullptr);

// "6m0s" -> 360, "2m59.56s" -> 179.56, "250ms" -> 0.25, "1h" -> 3600. nullopt otherwise.
std::optional<double> parse_duration(std::string_view value);

}  // namespace w2s::llm::retry
