// The client's retry policy (docs/reference-behaviour.md §12):
//   retry      network errors, timeouts, 408, 429, 5xx, the in-flight 402 (it carries
//              Retry-After), errors inside HTTP 200 (choices[].error, finish_reason "error",
//              a top-level "error"), empty choices, malformed JSON;
//   fail       400 bad request, 403 moderation / guardrail (with its reasons), other 4xx;
//   stop all   401 bad key, 402 without Retry-After (credits exhausted or key limit reached).
// Waits: Retry-After (seconds or HTTP-date), else X-RateLimit-Reset, else full-jitter backoff.
#include "retry_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

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

std::optional<double> server_wait(const AttemptOutcome& o, std::time_t now) {
  if (!o.retry_after.empty()) {
    if (auto s = parse_retry_after(o.retry_after, now)) return s;
  }
  if (!o.rate_limit_reset.empty()) {
    char* end = nullptr;
    double ms = std::strtod(o.rate_limit_reset.c_str(), &end);
    if (end != o.rate_limit_reset.c_str() && ms > 0) {
      double s = ms / 1000.0 - static_cast<double>(now);
      return std::max(0.0, s);
    }
  }
  return std::nullopt;
}

Decision retry(std::string reason, bool slow_down = false, std::optional<double> wait = {}) {
  return Decision{Verdict::Retry, std::move(reason), slow_down, wait};
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

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) {
  std::string v(value);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double seconds = std::strtod(v.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(seconds)) return std::max(0.0, seconds);
  std::time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, static_cast<double>(when - now));
}

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
      return {Verdict::FailRequest, "bad request (400): " + what, false, {}};
    case 401:
      return {Verdict::StopDispatch,
              "API key rejected (401): " + what +
                  " (check $OPENROUTER_API_KEY or --api-key-file)",
              false,
              {}};
    case 402:
      if (!o.retry_after.empty())
        return retry("in-flight spending budget (402): " + what, true, server_wait(o, now));
      return {Verdict::StopDispatch, "credits exhausted or key limit reached (402): " + what,
              false, {}};
    case 403:
      return {Verdict::FailRequest, "refused by moderation or policy (403): " + what, false, {}};
    case 408:
      return retry("request timeout (408): " + what, false, server_wait(o, now));
    case 429:
      return retry("rate limited (429): " + what, true, server_wait(o, now));
    default:
      break;
  }
  if (s >= 500) return retry(fmt::format("server error ({}): {}", s, what), false, server_wait(o, now));
  return {Verdict::FailRequest, fmt::format("HTTP {}: {}", s, what), false, {}};
}

double retry_delay(const Backoff& b, int retry, const Decision& d, std::mt19937_64& rng) {
  if (d.server_wait_s) return std::min(*d.server_wait_s, b.max_server_wait_s);
  const double ceiling = std::min(b.cap_s, b.base_s * std::pow(b.factor, std::max(0, retry - 1)));
  return std::uniform_real_distribution<double>(0.0, ceiling)(rng);
}

}  // namespace w2s::llm::retry
