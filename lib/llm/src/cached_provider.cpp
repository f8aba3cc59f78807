// CachedProvider: the response cache (response_cache.h) in front of a provider that keeps none
// itself. The OpenRouter client has its own, interleaved with retries and billing (batch.cpp).
#include <optional>

#include "internal.h"
#include "response_cache.h"

namespace w2s::llm {

struct CachedProvider::Impl {
  EndpointOf endpoint_of;
  std::unique_ptr<ResponseCache> cache;  // null with no_cache
  bool refresh = false;
};

CachedProvider::CachedProvider(Provider& inner, EndpointOf endpoint_of, const ClientOptions& options)
    : inner_(inner), impl_(std::make_unique<Impl>()) {
  validate(options);  // --no-cache with --refresh, ...
  impl_->endpoint_of = std::move(endpoint_of);
  impl_->refresh = options.refresh;
  if (!options.no_cache) impl_->cache = std::make_unique<ResponseCache>(options.cache_dir / "llm-cache.sqlite");
}

CachedProvider::~CachedProvider() = default;

std::vector<Completion> CachedProvider::run_batch(const std::vector<ChatRequest>& requests,
                                                  const ResultCallback& on_result) {
  std::vector<Completion> out(requests.size());
  std::vector<std::string> keys(requests.size());
  std::vector<ChatRequest> missing;
  std::vector<std::size_t> missing_index;  // position in `requests` of each missing one
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (impl_->cache) {
      keys[i] = cache_key(impl_->endpoint_of(requests[i].model), requests[i]);
      if (!impl_->refresh)
        if (std::optional<json::Value> hit = impl_->cache->get(keys[i])) {
          out[i] = detail::completion_from_cache(*hit);
          if (on_result) on_result(i, out[i]);
          continue;
        }
    }
    missing.push_back(requests[i]);
    missing_index.push_back(i);
  }
  if (missing.empty()) return out;
  std::vector<bool> delivered(missing.size(), false);
  auto deliver = [&](std::size_t k, const Completion& c) {
    if (k >= missing.size() || delivered[k]) return;
    delivered[k] = true;
    const std::size_t i = missing_index[k];
    out[i] = c;
    if (impl_->cache && c.ok) impl_->cache->put(keys[i], requests[i].model, detail::completion_to_cache(c));
    if (on_result) on_result(i, c);
  };
  std::vector<Completion> answered = inner_.run_batch(missing, deliver);
  if (answered.size() != missing.size())
    throw Error("provider returned " + std::to_string(answered.size()) + " completions for " +
                std::to_string(missing.size()) + " requests");
  for (std::size_t k = 0; k < answered.size(); ++k) deliver(k, answered[k]);
  return out;
}

}  // namespace w2s::llm
