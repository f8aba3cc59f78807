#include "ledger.h"

#include <cmath>
#include <cstdint>
#include <string>

namespace w2s::llm {

Ledger::Ledger(const std::filesystem::path& path, std::string tag) : tag_(std::move(tag)) {
  if (!path.empty()) file_ = std::make_unique<AppendOnlyFile>(path, 0600);
}

void Ledger::record(const std::string& model, const Completion& c, const std::string& request_key,
                    std::string_view status, std::optional<double> possibly_billed_usd) {
  if (!file_) return;
  // Written straight into one buffer (a line per request is on the batch's hot path), as
  // json::dump would write the same fields in this order.
  std::string line;
  line.reserve(512);
  const auto key = [&line](std::string_view name) {  // names are plain ASCII: no escaping
    line += line.empty() ? "{\"" : ",\"";
    line += name;
    line += "\":";
  };
  key("time");
  json::write_string(line, now_iso8601());
  if (!tag_.empty()) {
    key("tag");
    json::write_string(line, tag_);
  }
  key("model");
  json::write_string(line, model);
  key("provider");
  json::write_string(line, c.provider);
  key("prompt_tokens");
  json::write_number(line, c.prompt_tokens);
  key("completion_tokens");
  json::write_number(line, c.completion_tokens);
  key("cached_tokens");
  json::write_number(line, c.cached_tokens);
  key("cost_usd");
  json::write_number(line, c.cost_usd);
  key("cost_source");
  json::write_string(line, c.cost_source);
  if (c.upstream_cost_usd > 0) {
    key("upstream_cost_usd");
    json::write_number(line, c.upstream_cost_usd);
  }
  if (c.replayed_cost_usd > 0) {
    key("replayed_cost_usd");
    json::write_number(line, c.replayed_cost_usd);
  }
  key("generation_id");
  json::write_string(line, c.generation_id);
  key("cache_hit");
  line += c.cache_hit ? "true" : "false";
  key("status");
  json::write_string(line, status);
  key("attempts");
  json::write_number(line, static_cast<std::int64_t>(c.attempts));
  key("latency_ms");
  json::write_number(line, std::round(c.latency_s * 1000.0));
  key("request");
  json::write_string(line, request_key);
  if (possibly_billed_usd) {
    key("possibly_billed_usd");
    json::write_number(line, *possibly_billed_usd);
  }
  line += '}';
  file_->append_line(line);
}

void Ledger::sync() {
  if (file_) file_->sync();
}

}  // namespace w2s::llm
