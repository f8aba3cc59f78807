#include "key_guard.h"

#include <fmt/format.h>

namespace w2s::llm {

KeyGuard::KeyGuard(const http::Endpoint& endpoint, KeyCheck mode, int recheck_every)
    : endpoint_(endpoint), mode_(mode), recheck_every_(recheck_every) {}

std::optional<KeyInfo> KeyGuard::key_info() {
  if (has_key_endpoint_ == false) return std::nullopt;
  http::GetResult r = endpoint_.get("/key");
  if (r.code == CURLE_OK && r.status == 401)
    throw Error("API key rejected by GET /key (401): check $OPENROUTER_API_KEY or --api-key-file");
  std::optional<json::Value> body;
  if (r.code == CURLE_OK && r.status == 200) {
    try {
      body = json::parse(r.body, "GET /key");
    } catch (const Error&) {
    }
  }
  const json::Value* data = body ? body->find("data") : nullptr;
  if (!data || !data->is_object()) {
    has_key_endpoint_ = false;
    return std::nullopt;
  }
  has_key_endpoint_ = true;
  KeyInfo info;
  info.label = data->get_string("label");
  if (const json::Value* v = data->find("limit"); v && v->is_number()) info.limit = v->as_double();
  if (const json::Value* v = data->find("limit_remaining"); v && v->is_number()) info.limit_remaining = v->as_double();
  info.usage = data->get_double("usage");
  info.is_free_tier = data->get_bool("is_free_tier");
  return info;
}

void KeyGuard::check_before_batch(const std::function<double()>& worst_usd) {
  if (mode_ == KeyCheck::Off || has_key_endpoint_ == false) return;
  const double estimate_usd = worst_usd();
  std::optional<KeyInfo> info = key_info();
  if (!info || !info->limit_remaining || *info->limit_remaining >= estimate_usd) return;
  std::string message = fmt::format(
      "the key's remaining limit (${:.6f}) is below this batch's worst-case estimate "
      "(${:.6f}); raise the key limit, lower max_tokens, or pass --key-check warn",
      *info->limit_remaining, estimate_usd);
  if (mode_ == KeyCheck::Stop) throw Error(message);
  log::warn("{}", message);
}

std::string KeyGuard::recheck_if_due(const std::function<std::pair<double, std::size_t>()>& still_open) {
  if (mode_ == KeyCheck::Off || recheck_every_ <= 0 || has_key_endpoint_ != true ||
      billed_since_check_ < recheck_every_)
    return "";
  billed_since_check_ = 0;
  std::optional<KeyInfo> info;
  try {
    info = key_info();
  } catch (const Error& e) {  // 401: the key was revoked mid-batch
    return endpoint_.scrub(e.what());
  }
  if (!info) {
    has_key_endpoint_ = true;  // one failed re-check does not make /key go away
    return "";
  }
  if (!info->limit_remaining) return "";
  const auto [worst, count] = still_open();
  if (*info->limit_remaining >= worst) return "";
  const std::string message = fmt::format(
      "key limit nearly reached: GET /key reports ${:.6f} remaining, below the worst case "
      "${:.6f} of the {} requests still to send or in flight",
      *info->limit_remaining, worst, count);
  if (mode_ == KeyCheck::Stop) return message + " (raise the key limit, or pass --key-check warn)";
  if (!warned_) {
    warned_ = true;
    log::warn("{}", message);
  }
  return "";
}

bool KeyGuard::speaks_openrouter() {
  if (endpoint_.is_openrouter()) return true;
  if (!has_key_endpoint_) {
    try {
      key_info();
    } catch (const Error&) {
    }
  }
  return has_key_endpoint_ == true;
}

}  // namespace w2s::llm
