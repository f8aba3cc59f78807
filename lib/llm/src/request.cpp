// Request bodies, cache keys, token estimates, key resolution and response parsing.
#include <sys/stat.h>

#include <cstdlib>

#include "internal.h"

namespace w2s::llm {

json::Value request_body(const ChatRequest& r) {
  json::Value body = json::Object{{"model", r.model}};
  json::Array messages;
  for (const auto& m : r.messages)
    messages.push_back(json::Object{{"role", m.role}, {"content", m.content}});
  body.set("messages", json::Value(messages));
  if (r.temperature) body.set("temperature", *r.temperature);
  if (r.max_tokens) body.set("max_tokens", *r.max_tokens);
  if (r.seed) body.set("seed", *r.seed);
  if (r.top_p) body.set("top_p", *r.top_p);
  if (!r.stop.empty()) body.set("stop", json::Value(r.stop));
  if (r.logprobs) {
    body.set("logprobs", true);
    if (r.top_logprobs) body.set("top_logprobs", *r.top_logprobs);
  }
  if (!r.provider.empty()) {
    json::Value p = json::Value::object();
    if (!r.provider.order.empty()) p.set("order", json::Value(r.provider.order));
    if (r.provider.allow_fallbacks) p.set("allow_fallbacks", *r.provider.allow_fallbacks);
    if (r.provider.require_parameters) p.set("require_parameters", *r.provider.require_parameters);
    if (!r.provider.data_collection.empty()) p.set("data_collection", r.provider.data_collection);
    body.set("provider", p);
  }
  return body;
}

std::string cache_key(const std::string& base_url, const ChatRequest& r) {
  // The wire body holds exactly the fields that change the answer; the endpoint is added so
  // that a local server's answers never replay as OpenRouter's.
  json::Value key = request_body(r);
  key.set("endpoint", base_url);
  return sha256_hex(json::dump_canonical(key));
}

std::int64_t estimate_prompt_tokens(const ChatRequest& r) {
  std::size_t chars = 0;
  for (const auto& m : r.messages) chars += m.content.size();
  return static_cast<std::int64_t>(chars / 4 + 4 * r.messages.size());
}

std::string resolve_api_key(const std::filesystem::path& key_file) {
  if (key_file.empty()) {
    const char* env = std::getenv("OPENROUTER_API_KEY");
    std::string key = env ? std::string(env) : std::string();
    log::redact(key);
    return key;
  }
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0)
    throw Error("--api-key-file " + key_file.string() + ": cannot read the file");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    log::warn("API key file {} is readable by group or others; chmod 600 it", key_file.string());
  std::string key = read_file(key_file);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
  if (key.empty()) throw Error("--api-key-file " + key_file.string() + ": the file is empty");
  log::redact(key);
  return key;
}

namespace detail {

std::optional<double> parse_completion(const json::Value& body, Completion& out) {
  const json::Value& choice = body.at("choices").at(0);
  const json::Value& message = choice.at("message");
  const json::Value* content = message.find("content");
  out.content = content && content->is_string() ? content->as_string() : "";
  out.finish_reason = choice.get_string("finish_reason");
  out.logprobs.clear();
  if (const json::Value* lp = choice.find("logprobs"); lp && lp->is_object()) {
    if (const json::Value* tokens = lp->find("content"); tokens && tokens->is_array()) {
      for (const auto& t : tokens->as_array()) {
        TokenLogprob token{t.get_string("token"), t.get_double("logprob"), {}};
        if (const json::Value* top = t.find("top_logprobs"); top && top->is_array())
          for (const auto& alt : top->as_array())
            token.top.push_back({alt.get_string("token"), alt.get_double("logprob")});
        out.logprobs.push_back(std::move(token));
      }
    }
  }
  out.provider = body.get_string("provider", "unknown");
  if (out.provider.empty()) out.provider = "unknown";
  out.generation_id = body.get_string("id");
  out.model = body.get_string("model");
  std::optional<double> cost;
  if (const json::Value* usage = body.find("usage"); usage && usage->is_object()) {
    out.prompt_tokens = usage->get_int("prompt_tokens");
    out.completion_tokens = usage->get_int("completion_tokens");
    if (const json::Value* d = usage->find("prompt_tokens_details"); d && d->is_object())
      out.cached_tokens = d->get_int("cached_tokens");
    if (const json::Value* c = usage->find("cost"); c && c->is_number()) cost = c->as_double();
  }
  return cost;
}

json::Value completion_to_cache(const Completion& c) {
  json::Array logprobs;
  for (const auto& t : c.logprobs) {
    json::Array top;
    for (const auto& alt : t.top) top.push_back(json::Object{{"token", alt.token}, {"logprob", alt.logprob}});
    logprobs.push_back(json::Object{{"token", t.token}, {"logprob", t.logprob}, {"top", json::Value(top)}});
  }
  return json::Object{{"content", c.content},
                      {"finish_reason", c.finish_reason},
                      {"logprobs", json::Value(logprobs)},
                      {"prompt_tokens", c.prompt_tokens},
                      {"completion_tokens", c.completion_tokens},
                      {"cached_tokens", c.cached_tokens},
                      {"cost_usd", c.cost_usd},
                      {"cost_source", c.cost_source},
                      {"provider", c.provider},
                      {"generation_id", c.generation_id},
                      {"model", c.model},
                      {"created", now_iso8601()}};
}

Completion completion_from_cache(const json::Value& v) {
  Completion c;
  c.ok = true;
  c.content = v.get_string("content");
  c.finish_reason = v.get_string("finish_reason");
  if (const json::Value* lp = v.find("logprobs"); lp && lp->is_array()) {
    for (const auto& t : lp->as_array()) {
      TokenLogprob token{t.get_string("token"), t.get_double("logprob"), {}};
      if (const json::Value* top = t.find("top"); top && top->is_array())
        for (const auto& alt : top->as_array())
          token.top.push_back({alt.get_string("token"), alt.get_double("logprob")});
      c.logprobs.push_back(std::move(token));
    }
  }
  c.prompt_tokens = v.get_int("prompt_tokens");
  c.completion_tokens = v.get_int("completion_tokens");
  c.cached_tokens = v.get_int("cached_tokens");
  c.provider = v.get_string("provider", "unknown");
  c.generation_id = v.get_string("generation_id");
  c.model = v.get_string("model");
  c.cost_usd = 0.0;
  c.cost_source = "cache";
  c.cache_hit = true;
  c.http_status = 200;
  return c;
}

std::string scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
    text.replace(at, secret.size(), "[redacted]");
  return text;
}

namespace {
// Prices are decimal strings ("0.0000004"); "-1" marks variable pricing (treated as unknown).
std::optional<double> parse_price(const json::Value* v) {
  if (!v) return 0.0;
  if (v->is_number()) return v->as_double();
  if (!v->is_string()) return 0.0;
  const std::string& s = v->as_string();
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || d < 0) return std::nullopt;
  return d;
}
}  // namespace

std::map<std::string, Pricing> parse_models(const json::Value& body) {
  std::map<std::string, Pricing> out;
  const json::Value* data = body.find("data");
  if (!data || !data->is_array()) return out;
  for (const auto& m : data->as_array()) {
    const json::Value* pricing = m.find("pricing");
    if (!pricing || !pricing->is_object()) continue;
    auto prompt = parse_price(pricing->find("prompt"));
    auto completion = parse_price(pricing->find("completion"));
    auto request = parse_price(pricing->find("request"));
    if (!prompt || !completion || !request) continue;
    Pricing p{*prompt, *completion, *request, m.get_int("context_length"), 0};
    if (const json::Value* top = m.find("top_provider"); top && top->is_object()) {
      const json::Value* mct = top->find("max_completion_tokens");
      if (mct && mct->is_number()) p.max_completion_tokens = mct->as_int();
    }
    out[m.get_string("id")] = p;
  }
  return out;
}

}  // namespace detail
}  // namespace w2s::llm
