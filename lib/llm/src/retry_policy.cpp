// The client's retry policy (docs/reference-behaviour.md §12):
//   retry      network errors, timeouts, 408, 429, 5xx, the in-flight 402 (it carries
//              Retry-After), errors inside HTTP 200 (choices[].error, finish_reason "error",
//              a top-level "error"), empty choices, malformed JSON;
//   fail       400 bad request, 403 moderation / guardrail (with its reasons), other 4xx;
//   stop all   401 bad key, 402 without Retry-After (credits exhausted or key limit reached).
// Waits: what the server asked for (rate_limit_headers.cpp: Retry-After, X-RateLimit-Reset, ...),
// capped, else full-jitter backoff.
#include "retry_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>

#include <fmt/format.h>

namespace w2s::llm::retry {
namespace {

const json::Value* error_object(const json::Value* body) {
  if (!body || !body->is_object()) return nullptr;
  const json::Value* e = body->find("error");
  return e && e->is_object() ? e : nullptr;
}

// "message" plus the metadata that helps the user: provider, moderation reasons, raw upstream.
std::string describe(const json::Value* body) {
  const json::Value* e = error_object(body);
  if (!e) return "no error message";
  std::string text = e->get_string("message", "no error message");
  if (const json::Value* meta = e->find("metadata"); meta && meta->is_object()) {
    if (const json::Value* reasons = meta->find("reasons"); reasons && reasons->is_array()) {
      std::string joined;
      for (const auto& r : reasons->as_array())
        if (r.is_string()) joined += (joined.empty() ? "" : ", ") + r.as_string();
      if (!joined.empty()) text += "; reasons: " + joined;
    }
    if (std::string p = meta->get_string("provider_name"); !p.empty()) text += "; provider: " + p;
    if (const json::Value* raw = meta->find("raw"); raw && !raw->is_null())
      text += "; upstream: " + (raw->is_string() ? raw->as_string() : json::dump(*raw));
  }
  return text;
}

Decision retry(std::string reason, bool slow_down = false, const AttemptOutcome* waits_from = nullptr,
               std::time_t now = 0) {
  Decision d{Verdict::Retry, std::move(reason), slow_down, std::nullopt, {}};
  if (waits_from) {
    if (std::optional<ServerWait> wait = server_wait(waits_from->headers, now)) {
      d.server_wait_s = wait->seconds;
      d.server_wait_source = std::move(wait->source);
    }
  }
  return d;
}

Decision fail_request(std::string reason) { return Decision{Verdict::FailRequest, std::move(reason), false, {}, {}}; }
Decision stop_dispatch(std::string reason) { return Decision{Verdict::StopDispatch, std::move(reason), false, {}, {}}; }

// A 403 from moderation carries metadata.reasons or metadata.flagged_input (a guardrail or budget
// policy 403 does not): the model was not asked, the input was refused.
bool is_moderation(const json::Value* body) {
  const json::Value* e = error_object(body);
  const json::Value* meta = e ? e->find("metadata") : nullptr;
  return meta && meta->is_object() && (meta->contains("reasons") || meta->contains("flagged_input"));
}

// OpenRouter: "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model
// requests per day".
bool names_a_daily_limit(const json::Value* body) {
  const json::Value* e = error_object(body);
  if (!e) return false;
  const std::string message = ascii_lower(e->get_string("message"));
  for (const char* marker : {"per-day", "per day", "daily", "requests/day", "rpd"})
    if (message.find(marker) != std::string::npos) return true;
  return false;
}

Decision rate_limited(const AttemptOutcome& o, const std::string& what, std::time_t now) {
  Decision d = retry("rate limited (429): " + what, true, &o, now);
  if (names_a_daily_limit(o.body) || (d.server_wait_s && *d.server_wait_s > kDailyCapWaitS)) {
    d.verdict = Verdict::StopDispatch;
    d.daily_cap = true;
    d.reason = "daily request limit reached (429): " + what;
  }
  return d;
}

Decision classify_ok_body(const json::Value* body) {
  if (!body || !body->is_object()) return retry("malformed JSON in a 200 response");
  if (error_object(body)) return retry("error inside a 200 response: " + describe(body));
  const json::Value* choices = body->find("choices");
  if (!choices || !choices->is_array() || choices->size() == 0)
    return retry("empty choices in a 200 response");
  const json::Value& first = choices->at(0);
  if (const json::Value* e = first.find("error"); e && !e->is_null()) {
    std::string message = e->is_object() ? e->get_string("message", json::dump(*e)) : json::dump(*e);
    return retry("generation error (choices[0].error): " + message);
  }
  if (first.get_string("finish_reason") == "error") return retry("finish_reason \"error\"");
  const json::Value* message = first.find("message");
  if (!message || !message->is_object()) return retry("choice without a message");
  return Decision{};
}

}  // namespace

Decision classify(const AttemptOutcome& o, std::time_t now) {
  if (o.transport_error != 0) {
    return retry(o.transport_error == CURLE_OPERATION_TIMEDOUT
                     ? "timeout: " + o.transport_message
                     : "network error: " + o.transport_message);
  }
  const long s = o.status;
  if (s == 200) return classify_ok_body(o.body);
  const std::string what = describe(o.body);
  switch (s) {
    case 400:
      return fail_request("bad request (400): " + what);
    case 401:
      return stop_dispatch("API key rejected (401): " + what + " (check $OPENROUTER_API_KEY or --api-key-file)");
    case 402:
      if (o.headers.count("retry-after") || o.headers.count("retry-after-ms"))
        return retry("in-flight spending budget (402): " + what, true, &o, now);
      return stop_dispatch("credits exhausted or key limit reached (402): " + what);
    case 403:
      if (is_moderation(o.body)) return Decision{Verdict::Refused, "refused by moderation (403): " + what, false, {}, {}};
      return fail_request("refused by policy (403): " + what);
    case 408:
      return retry("request timeout (408): " + what, false, &o, now);
    case 429:
      return rate_limited(o, what, now);
    default:
      break;
  }
  if (s >= 500) return retry(fmt::format("server error ({}): {}", s, what), false, &o, now);
  return fail_request(fmt::format("HTTP {}: {}", s, what));
}

double retry_delay(const Backoff& b, int retry, const Decision& d, std::mt19937_64& rng) {
  // fmin returns the number when the other one is NaN: no NaN wait ever reaches the retry queue.
  if (d.server_wait_s) return std::max(0.0, std::fmin(*d.server_wait_s, b.max_server_wait_s));
  const double ceiling = std::fmin(b.cap_s, b.base_s * std::pow(b.factor, std::max(0, retry - 1)));
  if (!(ceiling > 0)) return 0.0;
  return std::uniform_real_distribution<double>(0.0, ceiling)(rng);
}

namespace {

// The number after the first of `markers` found in `text` (lower case), e.g. "max allowed: 5".
std::optional<int> number_after(const std::string& text, std::initializer_list<std::string_view> markers) {
  for (std::string_view marker : markers) {
    const std::size_t at = text.find(marker);
    if (at == std::string::npos) continue;
    std::size_t i = at + marker.size();
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && i < at + marker.size() + 8) ++i;
    if (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) return std::atoi(text.c_str() + i);
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> allowed_top_logprobs(std::string_view error_message, int sent) {
  const std::string text = ascii_lower(std::string(error_message));
  if (text.find("logprobs") == std::string::npos) return std::nullopt;
  //   vLLM        "Requested sample logprobs of 20, which is greater than max allowed: 5"
  //   old vLLM    "Cannot request more than 5 logprobs."
  //   Azure       "Invalid value for 'top_logprobs': must be less than or equal to 5."
  //   DashScope   "Invalid 'top_logprobs': 20. Expected an integer in range [0, 5]"
  //   Together    "5 is greater than the maximum of 1 - 'logprobs'"
  std::optional<int> allowed = number_after(text, {"max allowed", "more than", "less than or equal to",
                                                   "maximum of", "at most", "<=", "range [0,", "between 0 and"});
  if (!allowed) {
    const bool too_many = text.find("greater") != std::string::npos || text.find("exceed") != std::string::npos ||
                          text.find("range") != std::string::npos || text.find("maximum") != std::string::npos ||
                          text.find("too many") != std::string::npos || text.find("invalid") != std::string::npos;
    if (!too_many) return std::nullopt;
    allowed = 5;  // the most common cap (vLLM's old default, Azure, several providers)
  }
  if (*allowed < 0 || *allowed >= sent) return std::nullopt;
  return *allowed;
}

}  // namespace w2s::llm::retry
