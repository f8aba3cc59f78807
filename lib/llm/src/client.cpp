// OpenRouterClient: its parts (client_state.h) and their construction; run_batch is batch.cpp.
#include <algorithm>

#include "batch.h"
#include "client_state.h"
#include "internal.h"

namespace w2s::llm {
namespace {

ClientOptions validated(ClientOptions o) {
  validate(o);
  o.min_concurrency = std::clamp(o.min_concurrency, 1, o.max_concurrency);
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  return o;
}

// Takes the key out of the options (options() must not hand it around) into the endpoint.
std::unique_ptr<http::Endpoint> endpoint_for(ClientOptions& o) {
  if (!o.api_key.empty()) {
    detail::check_plausible_key(o.api_key, "the client options");
    log::redact(o.api_key);
  }
  std::string key = !o.api_key.empty() ? o.api_key : resolve_api_key(o.api_key_file);
  o.api_key.clear();
  auto endpoint = std::make_unique<http::Endpoint>(o.base_url, std::move(key), o);
  if (!endpoint->has_key() && endpoint->is_openrouter() && !o.dry_run)
    throw Error("no API key: set $OPENROUTER_API_KEY or pass --api-key-file");
  return endpoint;
}

ModelList fetch_models(const http::Endpoint& endpoint) {
  ModelList list;
  try {
    const http::GetResult r = endpoint.get("/models");
    if (r.code == CURLE_OK && r.status == 200) {
      const json::Value body = json::parse(r.body, "GET /models");
      list.ids = detail::parse_model_ids(body);
      list.prices = detail::parse_models(body);
      list.listed = !list.ids.empty();
      if (!list.listed) list.problem = "lists no model";
    } else {
      list.problem = r.code == CURLE_OK ? "answered HTTP " + std::to_string(r.status) : endpoint.scrub(r.message);
    }
  } catch (const Error& e) {
    list.problem = endpoint.scrub(e.what());
  }
  if (!list.listed) log::debug("GET /models: {}", list.problem);
  return list;
}

// A dry run answers from a cache that exists and creates none (nor its folder).
std::unique_ptr<ResponseCache> open_cache(const ClientOptions& o) {
  const std::filesystem::path file = o.cache_dir / "llm-cache.sqlite";
  if (o.no_cache || (o.dry_run && !std::filesystem::exists(file))) return nullptr;
  return std::make_unique<ResponseCache>(file);
}

// A dry run sends nothing, so it has nothing to book: no ledger file.
std::filesystem::path ledger_path(const ClientOptions& o) {
  if (o.dry_run) return {};
  return !o.ledger_path.empty() ? o.ledger_path : o.cache_dir / "ledger.jsonl";
}

std::optional<Pricing> assumed_pricing(const ClientOptions& o) {
  if (!o.assume_price) return std::nullopt;
  Pricing p;
  p.prompt = (*o.assume_price)[0] / 1e6;
  p.completion = (*o.assume_price)[1] / 1e6;
  return p;
}

}  // namespace

void validate(const ClientOptions& o) {
  if (o.max_concurrency < 1) throw Error("--max-concurrency must be at least 1");
  if (o.requests_per_minute < 0) throw Error("--rpm must not be negative");
  if (o.max_attempts < 1) throw Error("--max-attempts must be at least 1");
  if (o.request_timeout_s <= 0) throw Error("--request-timeout must be positive");
  if (o.connect_timeout_s <= 0) throw Error("--connect-timeout must be positive");
  if (!(o.max_response_mib > 0 && o.max_response_mib <= 4096))
    throw Error("--max-response-mib must be above 0 and at most 4096");
  if (o.max_cost_usd && *o.max_cost_usd < 0) throw Error("--max-cost must not be negative");
  if (o.assume_price && ((*o.assume_price)[0] < 0 || (*o.assume_price)[1] < 0 ||
                         (*o.assume_price)[0] + (*o.assume_price)[1] <= 0))
    throw Error("--assume-price takes two prices in USD per million tokens (prompt,completion), not negative, not both 0");
  if (o.key_recheck_every < 0) throw Error("--key-recheck-every must not be negative");
  if (o.no_cache && o.refresh) throw Error("--no-cache and --refresh exclude each other");
}

ClientState::ClientState(ClientOptions o)
    : options(validated(std::move(o))),
      endpoint(endpoint_for(options)),
      chat_url(endpoint->base_url() + "/chat/completions"),
      cache(open_cache(options)),
      ledger(ledger_path(options), options.ledger_tag),
      prices([this] { return fetch_models(*endpoint); }, assumed_pricing(options)),
      budget(options.max_cost_usd),
      key_guard(*endpoint, options.key_check, options.key_recheck_every),
      reconciler(*endpoint, key_guard),
      concurrency(options.min_concurrency, options.max_concurrency, options.adaptive_concurrency,
                  options.backoff_base_s),
      transfers(*endpoint, chat_url, static_cast<long>(options.max_concurrency) + 16) {}

struct OpenRouterClient::Impl : ClientState {
  using ClientState::ClientState;
};

OpenRouterClient::OpenRouterClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

OpenRouterClient::~OpenRouterClient() = default;

std::vector<Completion> OpenRouterClient::run_batch(const std::vector<ChatRequest>& requests,
                                                    const ResultCallback& on_result) {
  std::vector<Completion> out;
  try {
    out = llm::run_batch(*impl_, requests, on_result);
  } catch (...) {
    impl_->ledger.sync();
    throw;
  }
  impl_->ledger.sync();
  return out;
}

std::map<std::string, ModelEstimate> OpenRouterClient::estimate(const std::vector<ChatRequest>& requests) {
  Impl& s = *impl_;
  std::map<std::string, ModelEstimate> out;
  for (const auto& r : requests) {
    const bool hit = s.cache && !s.options.refresh && s.cache->get(cache_key(s.options.base_url, r)).has_value();
    s.prices.add_estimate(out, r, hit);
  }
  return out;
}

const std::map<std::string, ModelEstimate>& OpenRouterClient::dry_run_estimate() const {
  return impl_->dry_run_estimate;
}
const std::map<std::string, Pricing>& OpenRouterClient::pricing() { return impl_->prices.all(); }
std::optional<KeyInfo> OpenRouterClient::key_info() { return impl_->key_guard.key_info(); }
const std::map<std::string, ModelTotals>& OpenRouterClient::totals() const { return impl_->budget.totals(); }
double OpenRouterClient::total_cost_usd() const { return impl_->budget.spent(); }
double OpenRouterClient::possibly_billed_usd() const { return impl_->budget.possibly_billed(); }
const ClientOptions& OpenRouterClient::options() const { return impl_->options; }

}  // namespace w2s::llm
