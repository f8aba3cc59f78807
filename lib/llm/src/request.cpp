// Request bodies, cache keys, token estimates, key resolution and response parsing.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "internal.h"

namespace w2s::llm {

namespace {

// Where a value's text is in the body.
struct Slice {
  std::size_t at = 0, size = 0;
};

// Where the body's values are, for the cache key.
struct Slices {
  Slice model, temperature, max_tokens, seed, top_p, stop, top_logprobs;
  std::vector<std::pair<Slice, Slice>> messages;  // role, content
};

// Room for a request's body: its strings as they are, and the JSON around them.
std::size_t expected_size(const ChatRequest& r) {
  std::size_t n = 256 + r.model.size();
  for (const auto& m : r.messages) n += m.content.size() + m.role.size() + 32;
  for (const auto& s : r.stop) n += s.size() + 4;
  return n;
}

// The wire body, written once into a buffer sized for it, in the API's order (model, messages of
// {role, content}, the sampling fields, stream); `at` learns where each value is.
std::string write_body(const ChatRequest& r, Slices& at) {
  std::string out;
  out.reserve(expected_size(r));
  const auto value = [&out](Slice& slice, const auto& write) {
    slice.at = out.size();
    write();
    slice.size = out.size() - slice.at;
  };
  out += "{\"model\":";
  value(at.model, [&] { json::write_string(out, r.model); });
  out += ",\"messages\":[";
  at.messages.resize(r.messages.size());
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    out += i ? ",{\"role\":" : "{\"role\":";
    value(at.messages[i].first, [&] { json::write_string(out, r.messages[i].role); });
    out += ",\"content\":";
    value(at.messages[i].second, [&] { json::write_string(out, r.messages[i].content); });
    out += '}';
  }
  out += ']';
  if (r.temperature) {
    out += ",\"temperature\":";
    value(at.temperature, [&] { json::write_number(out, *r.temperature); });
  }
  if (r.max_tokens) {
    out += ",\"max_tokens\":";
    value(at.max_tokens, [&] { json::write_number(out, static_cast<std::int64_t>(*r.max_tokens)); });
  }
  if (r.seed) {
    out += ",\"seed\":";
    value(at.seed, [&] { json::write_number(out, *r.seed); });
  }
  if (r.top_p) {
    out += ",\"top_p\":";
    value(at.top_p, [&] { json::write_number(out, *r.top_p); });
  }
  if (!r.stop.empty()) {
    out += ",\"stop\":";
    value(at.stop, [&] {
      for (std::size_t i = 0; i < r.stop.size(); ++i) {
        out += i ? ',' : '[';
        json::write_string(out, r.stop[i]);
      }
      out += ']';
    });
  }
  if (r.logprobs) {
    out += ",\"logprobs\":true";
    if (r.top_logprobs) {
      out += ",\"top_logprobs\":";
      value(at.top_logprobs, [&] { json::write_number(out, static_cast<std::int64_t>(*r.top_logprobs)); });
    }
  }
  if (!r.provider.empty()) out += ",\"provider\":" + json::dump(options::record(r.provider));
  if (!r.reasoning.empty()) out += ",\"reasoning\":" + json::dump(options::record(r.reasoning));
  // Said explicitly: a gateway whose default is to stream is asked not to (and one that streams
  // anyway is read all the same: event_stream.cpp). Not part of the cache key.
  out += ",\"stream\":false}";
  return out;
}

// SHA-256 fed in pieces (OpenSSL's EVP interface).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw Error("OpenSSL: digest init failed");
  }
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error("OpenSSL: digest final failed");
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(2 * len, '0');
    for (unsigned i = 0; i < len; ++i) {
      out[2 * i] = kDigits[md[i] >> 4];
      out[2 * i + 1] = kDigits[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// The cache key: the SHA-256 of json::dump_canonical of the fields that change the answer (the wire
// body without "stream", so that adding it kept every cached answer) and "endpoint" (so that a
// local server's answers never replay as OpenRouter's). The canonical text is never written out:
// the body's own value texts are hashed in its order (keys sorted; a message is {content, role}),
// so every key stays what it was when it was hashed from a json::Value.
std::string key_of(const std::string& base_url, const ChatRequest& r, std::string_view body, const Slices& at) {
  Sha256 h;
  const auto field = [&](std::string_view name_and_colon, Slice value) {
    h.update(name_and_colon);
    h.update(body.substr(value.at, value.size));
  };
  std::string endpoint;
  json::write_string(endpoint, base_url);
  h.update("{\"endpoint\":");
  h.update(endpoint);
  if (r.logprobs) h.update(",\"logprobs\":true");
  if (r.max_tokens) field(",\"max_tokens\":", at.max_tokens);
  h.update(",\"messages\":[");
  for (std::size_t i = 0; i < at.messages.size(); ++i) {
    field(i ? ",{\"content\":" : "{\"content\":", at.messages[i].second);
    field(",\"role\":", at.messages[i].first);
    h.update("}");
  }
  h.update("]");
  field(",\"model\":", at.model);
  if (!r.provider.empty()) h.update(",\"provider\":" + json::dump_canonical(options::record(r.provider)));
  if (!r.reasoning.empty()) h.update(",\"reasoning\":" + json::dump_canonical(options::record(r.reasoning)));
  if (r.seed) field(",\"seed\":", at.seed);
  if (!r.stop.empty()) field(",\"stop\":", at.stop);
  if (r.temperature) field(",\"temperature\":", at.temperature);
  if (r.logprobs && r.top_logprobs) field(",\"top_logprobs\":", at.top_logprobs);
  if (r.top_p) field(",\"top_p\":", at.top_p);
  h.update("}");
  return h.hex();
}

}  // namespace

WireRequest wire_request(const std::string& base_url, const ChatRequest& r) {
  Slices at;
  WireRequest w;
  w.body = write_body(r, at);
  w.key = key_of(base_url, r, w.body, at);
  return w;
}

std::string wire_body(const ChatRequest& r) {
  Slices unused;
  return write_body(r, unused);
}

json::Value request_body(const ChatRequest& r) { return json::parse(wire_body(r), "request body"); }

void validate(const ReasoningOptions& r) {
  // OpenRouter's reasoning efforts: another word would be sent and answered by an error (or
  // ignored) on every request, so it is refused before any.
  static const std::set<std::string> efforts = {"minimal", "low", "medium", "high"};
  if (!r.effort.empty() && !efforts.count(r.effort))
    throw Error("--reasoning-effort: unknown effort '" + r.effort + "' (expected one of: minimal, low, medium, high)");
  if (r.max_tokens && *r.max_tokens < 1) throw Error("--reasoning-max-tokens must be at least 1");
  if (!r.effort.empty() && r.max_tokens)
    throw Error("--reasoning-effort and --reasoning-max-tokens exclude each other (OpenRouter takes one of them)");
  if (!r.enabled && (!r.effort.empty() || r.max_tokens || r.exclude))
    throw Error("--no-reasoning excludes the other --reasoning-* options");
}

std::string cache_key(const std::string& base_url, const ChatRequest& r) { return wire_request(base_url, r).key; }

std::int64_t estimate_prompt_tokens(const ChatRequest& r) {
  std::size_t chars = 0;
  for (const auto& m : r.messages) chars += m.content.size();
  return static_cast<std::int64_t>(chars / 4 + 4 * r.messages.size());
}

void detail::check_plausible_key(const std::string& key, std::string_view from) {
  if (key.empty()) return;
  const bool printable = std::all_of(key.begin(), key.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
  if (printable && key.size() >= detail::kShortestApiKey && key.size() <= detail::kLongestApiKey) return;
  // The key itself is never shown, not even a part of it: only what is wrong with it.
  throw Error(fmt::format("the API key from {} is not a plausible key: {}; a key is {} to {} printable ASCII "
                          "characters without spaces (OpenRouter's start with sk-or-). Check the key; for a "
                          "server that needs none, unset it",
                          from,
                          printable ? fmt::format("it has {} characters", key.size())
                                    : std::string("it holds spaces, control or non-ASCII characters"),
                          detail::kShortestApiKey, detail::kLongestApiKey));
}

std::string resolve_api_key(const std::filesystem::path& key_file) {
  if (key_file.empty()) {
    const char* env = std::getenv("OPENROUTER_API_KEY");
    std::string key = env ? std::string(env) : std::string();
    detail::check_plausible_key(key, "$OPENROUTER_API_KEY");
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
  detail::check_plausible_key(key, "--api-key-file " + key_file.string());
  log::redact(key);
  return key;
}

namespace detail {

namespace {

void append_text(std::string& to, std::string_view text, std::string_view separator) {
  if (text.empty()) return;
  if (!to.empty()) to += separator;
  to += text;
}

// The text of a thinking part: Mistral's {"type":"thinking","thinking":[{"type":"text","text":..}]},
// or a string in "thinking" / "text" / "reasoning".
std::string thinking_text(const json::Value& part) {
  std::string text;
  for (const char* field : {"thinking", "text", "reasoning"}) {
    const json::Value* v = part.find(field);
    if (!v) continue;
    if (v->is_string()) append_text(text, v->as_string(), "\n");
    if (v->is_array()) {
      for (const auto& item : v->as_array()) {
        if (item.is_string()) append_text(text, item.as_string(), "\n");
        if (item.is_object()) append_text(text, item.get_string("text"), "\n");
      }
    }
    if (!text.empty()) break;
  }
  return text;
}

// A list of typed parts: text parts are the answer, thinking parts the reasoning; other parts
// (images, references) are neither.
void read_content_parts(const json::Array& parts, Completion& out) {
  for (const auto& part : parts) {
    if (part.is_string()) {
      out.content += part.as_string();
      continue;
    }
    if (!part.is_object()) continue;
    const std::string type = part.get_string("type");
    if (type == "text" || type == "output_text")
      out.content += part.get_string("text");
    else if (type == "thinking" || type == "reasoning")
      append_text(out.reasoning, thinking_text(part), "\n");
  }
}

// OpenRouter's message.reasoning; DeepSeek's, vLLM's and llama.cpp's reasoning_content; else the
// text and summaries of OpenRouter's reasoning_details.
void read_reasoning_fields(const json::Value& message, Completion& out) {
  for (const char* field : {"reasoning", "reasoning_content"}) {
    const json::Value* v = message.find(field);
    if (v && v->is_string() && !v->as_string().empty()) {
      append_text(out.reasoning, v->as_string(), "\n");
      return;
    }
  }
  if (const json::Value* details = message.find("reasoning_details"); details && details->is_array())
    for (const auto& d : details->as_array())
      if (d.is_object()) append_text(out.reasoning, d.get_string("text", d.get_string("summary")), "\n");
}

// A reasoning model served without a reasoning parser writes "<think>...</think>answer".
void split_think_block(Completion& out) {
  const std::size_t start = out.content.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || out.content.compare(start, 7, "<think>") != 0) return;
  const std::size_t close = out.content.find("</think>", start + 7);
  const std::size_t inner_end = close == std::string::npos ? out.content.size() : close;
  append_text(out.reasoning, std::string_view(out.content).substr(start + 7, inner_end - start - 7), "\n");
  if (close == std::string::npos) {
    out.content.clear();  // cut off while thinking
    return;
  }
  std::string answer = out.content.substr(close + 8);
  answer.erase(0, answer.find_first_not_of(" \t\r\n"));
  out.content = std::move(answer);
}

// A logprob as sent: a finite number, or nullopt (null, NaN read as null, a string, absent).
// Values above 0 are kept: scoring works in log space (icl's letter_probabilities).
std::optional<double> logprob_of(const json::Value& entry) {
  const json::Value* v = entry.is_object() ? entry.find("logprob") : nullptr;
  if (!v || !v->is_number() || !std::isfinite(v->as_double())) return std::nullopt;
  return v->as_double();
}

// An alternative without a usable logprob is left out; the chosen token's own is then the
// smallest double (a probability of 0), as the tolerant reader makes of -Infinity.
void read_logprobs(const json::Value& choice, Completion& out) {
  out.logprobs.clear();
  const json::Value* lp = choice.find("logprobs");
  if (!lp || !lp->is_object()) return;
  const json::Value* tokens = lp->find("content");
  if (!tokens || !tokens->is_array()) return;
  for (const auto& t : tokens->as_array()) {
    if (!t.is_object()) continue;
    TokenLogprob token{t.get_string("token"), logprob_of(t).value_or(-1e308), {}};
    if (const json::Value* top = t.find("top_logprobs"); top && top->is_array())
      for (const auto& alt : top->as_array())
        if (const std::optional<double> logprob = logprob_of(alt))
          token.top.push_back({alt.get_string("token"), *logprob});
    out.logprobs.push_back(std::move(token));
  }
}

// A token count as sent: a whole number from 0 to kMostTokens; anything else counts as 0 (it
// cannot be a count, and must not reach the totals).
constexpr double kMostTokens = 1e9;
std::int64_t token_count(const json::Value& object, std::string_view key) {
  const json::Value* v = object.find(key);
  if (!v || !v->is_number()) return 0;
  const double x = v->as_double();
  if (!std::isfinite(x) || x < 0 || x > kMostTokens) return 0;
  return static_cast<std::int64_t>(x);
}

// The refusal of a chat completion: message.refusal (the model declined), or finish_reason
// "content_filter" (the provider's filter stopped the answer).
std::optional<Refusal> refusal_of(const json::Value& message, const Completion& out) {
  std::string text;
  if (const json::Value* r = message.find("refusal"); r && r->is_string()) text = r->as_string();
  if (out.finish_reason == "content_filter")
    return Refusal{RefusalKind::ContentFilter,
                   !text.empty()          ? text
                   : !out.content.empty() ? out.content
                                          : std::string("stopped by the provider's content filter")};
  if (!text.empty()) return Refusal{RefusalKind::ModelRefusal, text};
  return std::nullopt;
}

}  // namespace

ReportedCost read_usage(const json::Value& body, Completion& out) {
  ReportedCost reported;
  const json::Value* usage = body.find("usage");
  if (!usage || !usage->is_object()) return reported;
  out.prompt_tokens = token_count(*usage, "prompt_tokens");
  out.completion_tokens = token_count(*usage, "completion_tokens");
  if (const json::Value* d = usage->find("prompt_tokens_details"); d && d->is_object())
    out.cached_tokens = token_count(*d, "cached_tokens");
  if (const json::Value* d = usage->find("completion_tokens_details"); d && d->is_object())
    out.reasoning_tokens = token_count(*d, "reasoning_tokens");
  reported.cost = reported_usd(usage->find("cost"), "usage.cost");
  // BYOK: the upstream provider's charge, on top of OpenRouter's fee in `cost`. Responses of keys
  // that are not BYOK may carry the field too; then it is part of `cost` already.
  const json::Value* byok = usage->find("is_byok");
  const json::Value* details = usage->find("cost_details");
  const json::Value* upstream =
      details && details->is_object() ? details->find("upstream_inference_cost") : nullptr;
  if (const std::optional<double> usd = reported_usd(upstream, "usage.cost_details.upstream_inference_cost");
      usd && *usd > 0 && (!byok || (byok->is_bool() && byok->as_bool())))
    reported.upstream = *usd;
  return reported;
}

std::optional<double> reported_usd(const json::Value* v, std::string_view what) {
  if (!v || !v->is_number()) return std::nullopt;
  const double usd = v->as_double();
  if (std::isfinite(usd) && usd >= 0 && usd <= kMostUsdPerRequest) return usd;
  log::warn("a response reported {} = {}, which cannot be a price (not a number from 0 to {}): it is not used",
            what, usd, kMostUsdPerRequest);
  return std::nullopt;
}

ReportedCost parse_completion(const json::Value& body, Completion& out) {
  const json::Value& choice = body.at("choices").at(0);
  const json::Value& message = choice.at("message");
  out.content.clear();
  out.reasoning.clear();
  if (const json::Value* content = message.find("content")) {
    if (content->is_string()) out.content = content->as_string();
    if (content->is_array()) read_content_parts(content->as_array(), out);
  }
  read_reasoning_fields(message, out);
  split_think_block(out);
  out.finish_reason = choice.get_string("finish_reason");
  out.refusal = refusal_of(message, out);
  read_logprobs(choice, out);
  out.provider = body.get_string("provider", "unknown");
  if (out.provider.empty()) out.provider = "unknown";
  out.generation_id = body.get_string("id");
  out.model = body.get_string("model");
  return read_usage(body, out);
}

json::Value completion_to_cache(const Completion& c) {
  json::Array logprobs;
  for (const auto& t : c.logprobs) {
    json::Array top;
    for (const auto& alt : t.top) top.push_back(json::Object{{"token", alt.token}, {"logprob", alt.logprob}});
    logprobs.push_back(json::Object{{"token", t.token}, {"logprob", t.logprob}, {"top", json::Value(top)}});
  }
  json::Value v = json::Object{{"content", c.content},
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
  // Newer fields only where they say something, so entries of plain answers stay as they were.
  if (!c.reasoning.empty()) v.set("reasoning", c.reasoning);
  if (c.reasoning_tokens > 0) v.set("reasoning_tokens", c.reasoning_tokens);
  if (c.upstream_cost_usd > 0) v.set("upstream_cost_usd", c.upstream_cost_usd);
  if (c.top_logprobs_sent) v.set("top_logprobs_sent", *c.top_logprobs_sent);
  if (c.refusal)
    v.set("refusal", json::Object{{"kind", names_of(c.refusal->kind).name(c.refusal->kind)}, {"text", c.refusal->text}});
  return v;
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
  c.reasoning = v.get_string("reasoning");
  c.reasoning_tokens = v.get_int("reasoning_tokens");
  c.upstream_cost_usd = v.get_double("upstream_cost_usd");
  if (const json::Value* sent = v.find("top_logprobs_sent"); sent && sent->is_number())
    c.top_logprobs_sent = static_cast<int>(sent->as_int());
  if (const json::Value* r = v.find("refusal"); r && r->is_object())
    c.refusal = Refusal{names_of(RefusalKind{}).parse(r->get_string("kind")), r->get_string("text")};
  c.replayed_cost_usd = v.get_double("cost_usd");
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
// No model costs a dollar per token ($1,000,000 per million); a price above it is no price.
constexpr double kMostUsdPerToken = 1.0;

// Prices are decimal strings ("0.0000004"); "-1" marks variable pricing (treated as unknown), and
// so does anything that is not a finite price ("nan", "inf", "1e400").
std::optional<double> parse_price(const json::Value* v) {
  if (!v) return 0.0;
  double d = 0.0;
  if (v->is_number()) {
    d = v->as_double();
  } else if (v->is_string()) {
    const std::string& s = v->as_string();
    char* end = nullptr;
    d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0') return std::nullopt;
  } else {
    return 0.0;
  }
  if (!std::isfinite(d) || d < 0 || d > kMostUsdPerToken) return std::nullopt;
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

std::set<std::string> parse_model_ids(const json::Value& body) {
  std::set<std::string> ids;
  const json::Value* data = body.find("data");
  if (!data || !data->is_array()) return ids;
  for (const auto& m : data->as_array())
    if (m.is_object())
      if (std::string id = m.get_string("id"); !id.empty()) ids.insert(std::move(id));
  return ids;
}

}  // namespace detail
}  // namespace w2s::llm
