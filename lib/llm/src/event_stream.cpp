#include "event_stream.h"

#include <vector>

#include "tolerant_json.h"

namespace w2s::llm {
namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The payloads of the data lines, up to [DONE].
std::vector<std::string_view> data_lines(std::string_view body) {
  std::vector<std::string_view> out;
  while (!body.empty()) {
    const std::size_t eol = body.find('\n');
    const std::string_view line = trimmed(body.substr(0, eol));
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    if (line.substr(0, 5) != "data:") continue;  // blank, ": comment", "event:", "id:", "retry:"
    const std::string_view payload = trimmed(line.substr(5));
    if (payload == "[DONE]") break;
    out.push_back(payload);
  }
  return out;
}

std::optional<json::Value> chunk_json(std::string_view payload) {
  try {
    return json::parse(payload, "event stream chunk");
  } catch (const Error&) {
  }
  if (std::optional<TolerantRead> read = read_json_tolerantly(payload)) return std::move(read->value);
  return std::nullopt;
}

void append_string(std::string& to, const json::Value& object, std::string_view key) {
  if (const json::Value* v = object.find(key); v && v->is_string()) to += v->as_string();
}

}  // namespace

bool is_event_stream(std::string_view body) {
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t eol = body.find('\n', at);
    const std::string_view line = trimmed(body.substr(at, eol == std::string_view::npos ? body.npos : eol - at));
    at = eol == std::string_view::npos ? body.size() : eol + 1;
    if (line.empty() || line.front() == ':') continue;
    if (line.substr(0, 5) != "data:") return false;
    return data_lines(body).size() > 1 || body.find("[DONE]") != std::string_view::npos;
  }
  return false;
}

std::optional<json::Value> assemble_event_stream(std::string_view body) {
  json::Value out = json::Object{{"object", "chat.completion"}};
  std::string content, reasoning, refusal;
  bool has_refusal = false, any = false;
  std::optional<std::string> finish_reason;
  json::Array logprobs;
  json::Value choice_error;
  for (std::string_view payload : data_lines(body)) {
    std::optional<json::Value> chunk = chunk_json(payload);
    if (!chunk || !chunk->is_object()) return std::nullopt;
    for (const char* key : {"id", "model", "provider", "created", "system_fingerprint"})
      if (const json::Value* v = chunk->find(key); v && !v->is_null() && !out.contains(key)) out.set(key, *v);
    if (const json::Value* usage = chunk->find("usage"); usage && usage->is_object()) out.set("usage", *usage);
    if (const json::Value* error = chunk->find("error"); error && !error->is_null()) {
      out.set("error", *error);
      any = true;
    }
    const json::Value* choices = chunk->find("choices");
    if (!choices || !choices->is_array() || choices->size() == 0) continue;
    const json::Value& choice = choices->at(0);
    if (!choice.is_object()) continue;
    any = true;
    // A gateway may send the whole message in one chunk ("message" instead of "delta").
    const json::Value* delta = choice.find("delta");
    if (!delta || !delta->is_object()) delta = choice.find("message");
    if (delta && delta->is_object()) {
      append_string(content, *delta, "content");
      append_string(reasoning, *delta, "reasoning");
      append_string(reasoning, *delta, "reasoning_content");
      if (const json::Value* r = delta->find("refusal"); r && r->is_string()) {
        refusal += r->as_string();
        has_refusal = true;
      }
    }
    if (const json::Value* fr = choice.find("finish_reason"); fr && fr->is_string()) finish_reason = fr->as_string();
    if (const json::Value* e = choice.find("error"); e && !e->is_null()) choice_error = *e;
    if (const json::Value* lp = choice.find("logprobs"); lp && lp->is_object())
      if (const json::Value* tokens = lp->find("content"); tokens && tokens->is_array())
        for (const auto& t : tokens->as_array()) logprobs.push_back(t);
  }
  // A stream that ends without a finish_reason, [DONE] or an error was cut off: its answer may be too.
  const bool ended = finish_reason || body.find("[DONE]") != std::string_view::npos || out.contains("error");
  if (!any || !ended) return std::nullopt;
  json::Value message = json::Object{{"role", "assistant"}, {"content", content}};
  if (!reasoning.empty()) message.set("reasoning", reasoning);
  if (has_refusal) message.set("refusal", refusal);
  json::Value choice = json::Object{{"index", 0}};
  choice.set("finish_reason", finish_reason ? json::Value(*finish_reason) : json::Value());
  choice.set("message", message);
  if (!logprobs.empty()) choice.set("logprobs", json::Object{{"content", json::Value(logprobs)}});
  if (!choice_error.is_null()) choice.set("error", choice_error);
  out.set("choices", json::Array{choice});
  return out;
}

}  // namespace w2s::llm
