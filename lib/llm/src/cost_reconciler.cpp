#include "cost_reconciler.h"

#include "internal.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace w2s::llm {
namespace {

enum class Lookup { Found, NotYet, Unknown };

std::string escaped_id(const std::string& id) {
  CURL* escaper = curl_easy_init();
  if (!escaper) throw Error("curl_easy_init failed");
  char* escaped = curl_easy_escape(escaper, id.c_str(), static_cast<int>(id.size()));
  std::string out = escaped ? escaped : "";
  curl_free(escaped);
  curl_easy_cleanup(escaper);
  return out;
}

Lookup look_up(const http::Endpoint& endpoint, Completion& c) {
  const http::GetResult r = endpoint.get("/generation?id=" + escaped_id(c.generation_id));
  if (r.code != CURLE_OK || r.status == 404 || r.status == 429 || r.status >= 500) return Lookup::NotYet;
  if (r.status != 200) return Lookup::Unknown;  // e.g. 401/403: the cost stays unknown
  try {
    const json::Value body = json::parse(r.body, "GET /generation");
    const json::Value* data = body.find("data");
    const json::Value* cost = data && data->is_object() ? data->find("total_cost") : nullptr;
    if (const std::optional<double> usd = detail::reported_usd(cost, "GET /generation total_cost")) {
      c.cost_usd = *usd;
      c.cost_source = "generation";
      return Lookup::Found;
    }
  } catch (const Error&) {
  }
  return Lookup::Unknown;
}

}  // namespace

CostReconciler::CostReconciler(const http::Endpoint& endpoint, KeyGuard& key_guard)
    : endpoint_(endpoint), key_guard_(key_guard) {}

bool CostReconciler::can_reconcile() {
  if (has_generation_endpoint_) return *has_generation_endpoint_;
  return key_guard_.speaks_openrouter();
}

void CostReconciler::fill_costs(const std::vector<Completion*>& completions) {
  if (completions.empty()) return;
  const ClientOptions& o = endpoint_.options();
  std::vector<Completion*> open = completions;
  const double deadline = monotonic_seconds() + o.generation_wait_s;
  double wait = o.backoff_base_s;
  bool found_any = false;
  while (true) {
    std::vector<Completion*> not_yet;
    for (Completion* c : open) {
      const Lookup result = look_up(endpoint_, *c);
      if (result == Lookup::NotYet) not_yet.push_back(c);
      found_any |= result == Lookup::Found;
    }
    open = std::move(not_yet);
    const double now = monotonic_seconds();
    if (open.empty() || now >= deadline) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, deadline - now)));
    wait = std::min(wait * o.backoff_factor, o.backoff_cap_s);
  }
  if (found_any) has_generation_endpoint_ = true;
  if (open.empty()) return;
  if (has_generation_endpoint_ != true) {
    has_generation_endpoint_ = false;
    log::warn("GET /generation found none of {} generation ids within {:.0f} s: this endpoint does not serve "
              "it; their cost stays unknown (cost_source \"none\", counted as $0) and /generation is not "
              "asked again",
              open.size(), o.generation_wait_s);
  } else {
    log::warn("GET /generation: {} generation records did not appear within {:.0f} s; their cost stays "
              "unknown (cost_source \"none\", counted as $0)",
              open.size(), o.generation_wait_s);
  }
}

}  // namespace w2s::llm
