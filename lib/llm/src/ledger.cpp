#include "ledger.h"

#include <cmath>

namespace w2s::llm {

Ledger::Ledger(const std::filesystem::path& path, std::string tag) : tag_(std::move(tag)) {
  if (!path.empty()) file_ = std::make_unique<AppendOnlyFile>(path, 0600);
}

void Ledger::record(const std::string& model, const Completion& c, const std::string& request_key,
                    std::string_view status, std::optional<double> possibly_billed_usd) {
  if (!file_) return;
  json::Value line = json::Object{{"time", now_iso8601()}};
  if (!tag_.empty()) line.set("tag", tag_);
  line.set("model", model);
  line.set("provider", c.provider);
  line.set("prompt_tokens", c.prompt_tokens);
  line.set("completion_tokens", c.completion_tokens);
  line.set("cached_tokens", c.cached_tokens);
  line.set("cost_usd", c.cost_usd);
  line.set("cost_source", c.cost_source);
  if (c.upstream_cost_usd > 0) line.set("upstream_cost_usd", c.upstream_cost_usd);
  if (c.replayed_cost_usd > 0) line.set("replayed_cost_usd", c.replayed_cost_usd);
  line.set("generation_id", c.generation_id);
  line.set("cache_hit", c.cache_hit);
  line.set("status", status);
  line.set("attempts", c.attempts);
  line.set("latency_ms", std::round(c.latency_s * 1000.0));
  line.set("request", request_key);
  if (possibly_billed_usd) line.set("possibly_billed_usd", *possibly_billed_usd);
  file_->append_line(json::dump(line));
}

void Ledger::sync() {
  if (file_) file_->sync();
}

}  // namespace w2s::llm
