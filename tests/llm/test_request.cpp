// Request bodies, cache keys, token estimates, /models pricing and key resolution.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "http.h"
#include "internal.h"
#include "llm_test_util.h"

namespace w2s::llm {
namespace {

TEST(Request, CacheKeyCoversEveryFieldThatChangesTheAnswer) {
  const ChatRequest base = testing::make_request(1);
  const std::string k = cache_key("https://openrouter.ai/api/v1", base);
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, cache_key("https://openrouter.ai/api/v1", base));
  EXPECT_NE(k, cache_key("http://127.0.0.1:8080/v1", base));
  auto changed = [&](auto mutate) {
    ChatRequest r = base;
    mutate(r);
    return cache_key("https://openrouter.ai/api/v1", r) != k;
  };
  EXPECT_TRUE(changed([](ChatRequest& r) { r.model = "other/model"; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.messages[1].content += " "; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.messages[0].role = "user"; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.temperature = 0.5; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.max_tokens = 2; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.seed = 1; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.top_p = 0.5; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.stop = {"x"}; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.logprobs = true; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.logprobs = true; r.top_logprobs = 5; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.provider.order = {"a"}; }));
  EXPECT_TRUE(changed([](ChatRequest& r) { r.provider.data_collection = "deny"; }));
}

TEST(Request, CacheKeyIsSha256OfTheCanonicalRequest) {
  ChatRequest r;
  r.model = "m";
  r.messages = {{"user", "hi"}};
  r.max_tokens = 1;
  const std::string canonical =
      R"({"endpoint":"E","max_tokens":1,"messages":[{"content":"hi","role":"user"}],"model":"m"})";
  EXPECT_EQ(cache_key("E", r), sha256_hex(canonical));
}

// The fields as a json::Value, as the cache key was defined before the body was written directly:
// every key of an existing cache must stay what it was.
json::Value answer_fields_as_values(const ChatRequest& r) {
  json::Value v = json::Object{{"model", r.model}};
  json::Array messages;
  for (const auto& m : r.messages) messages.push_back(json::Object{{"role", m.role}, {"content", m.content}});
  v.set("messages", json::Value(messages));
  if (r.temperature) v.set("temperature", *r.temperature);
  if (r.max_tokens) v.set("max_tokens", *r.max_tokens);
  if (r.seed) v.set("seed", *r.seed);
  if (r.top_p) v.set("top_p", *r.top_p);
  if (!r.stop.empty()) v.set("stop", json::Value(r.stop));
  if (r.logprobs) {
    v.set("logprobs", true);
    if (r.top_logprobs) v.set("top_logprobs", *r.top_logprobs);
  }
  if (!r.provider.empty()) v.set("provider", options::record(r.provider));
  if (!r.reasoning.empty()) v.set("reasoning", options::record(r.reasoning));
  return v;
}

TEST(Request, TheBodyWrittenOnceCarriesEveryFieldAndItsKeyStaysTheCanonicalHash) {
  std::vector<ChatRequest> shapes;
  ChatRequest plain = testing::make_request(3);
  shapes.push_back(plain);
  ChatRequest text = plain;  // escapes, control characters, non-ASCII and invalid UTF-8
  text.messages[1].content =
      "quote \" backslash \\ tab\t nl\n cr\r \x01\x1f del\x7f é 漢字 🙂 cut \xe6\x97 latin \xe9";
  text.model = "vendor/m\u00e9";
  shapes.push_back(text);
  ChatRequest every = plain;
  every.temperature = 0.7;
  every.max_tokens = 4096;
  every.seed = -12345678901;
  every.top_p = 1.0;
  every.stop = {"\n", "END", ""};
  every.logprobs = true;
  every.top_logprobs = 5;
  every.provider.order = {"b", "a"};
  every.provider.allow_fallbacks = false;
  every.reasoning.max_tokens = 512;
  every.reasoning.exclude = true;
  shapes.push_back(every);
  ChatRequest bare;  // no optional field, no message
  bare.model = "m";
  shapes.push_back(bare);
  ChatRequest top_without_logprobs = plain;  // top_logprobs is sent only with logprobs
  top_without_logprobs.top_logprobs = 3;
  top_without_logprobs.temperature = 1e-300;
  shapes.push_back(top_without_logprobs);

  for (const std::string endpoint : {"https://openrouter.ai/api/v1", "http://127.0.0.1:1/v\"1"}) {
    for (const ChatRequest& r : shapes) {
      const json::Value fields = answer_fields_as_values(r);
      json::Value keyed = fields;
      keyed.set("endpoint", endpoint);
      const WireRequest wire = wire_request(endpoint, r);
      EXPECT_EQ(wire.key, sha256_hex(json::dump_canonical(keyed)));
      EXPECT_EQ(cache_key(endpoint, r), wire.key);
      json::Value sent = fields;
      sent.set("stream", false);
      const json::Value body = json::parse(wire.body, "wire body");
      EXPECT_EQ(json::dump_canonical(body), json::dump_canonical(sent));
      EXPECT_EQ(json::dump_canonical(request_body(r)), json::dump_canonical(sent));
      EXPECT_EQ(wire_body(r), wire.body);
      // The API's layout: model first, each message {role, content}.
      EXPECT_EQ(wire.body.rfind("{\"model\":", 0), 0u);
      if (!r.messages.empty()) {
        EXPECT_NE(wire.body.find("\"messages\":[{\"role\":"), std::string::npos);
      }
    }
  }
}

TEST(Request, GzipIsAskedForOnlyFromAnotherHostAndForLongAnswers) {
  EXPECT_TRUE(http::is_loopback_url("http://127.0.0.1:8080/v1"));
  EXPECT_TRUE(http::is_loopback_url("http://127.8.9.10/v1"));
  EXPECT_TRUE(http::is_loopback_url("http://LocalHost:1234/api/v1"));
  EXPECT_TRUE(http::is_loopback_url("http://[::1]:8080/v1"));
  EXPECT_FALSE(http::is_loopback_url("https://openrouter.ai/api/v1"));
  EXPECT_FALSE(http::is_loopback_url("http://10.0.0.5:8000/v1"));
  EXPECT_FALSE(http::is_loopback_url("http://localhost.example.com/v1"));
  EXPECT_FALSE(http::is_loopback_url("not a url"));

  ChatRequest letter = testing::make_request(0);  // max_tokens 1
  ChatRequest open = letter;
  open.max_tokens.reset();
  ChatRequest long_answer = letter;
  long_answer.max_tokens = http::kGzipFromTokens + 1;
  ChatRequest alternatives = letter;  // 1 token, but 20 alternatives per token, 13 tokens
  alternatives.max_tokens = 13;
  alternatives.logprobs = true;
  alternatives.top_logprobs = 20;
  EXPECT_FALSE(http::wants_gzip(false, letter));
  EXPECT_TRUE(http::wants_gzip(false, open));
  EXPECT_TRUE(http::wants_gzip(false, long_answer));
  EXPECT_TRUE(http::wants_gzip(false, alternatives));
  for (const ChatRequest& r : {letter, open, long_answer, alternatives}) EXPECT_FALSE(http::wants_gzip(true, r));

  // What a loopback server receives: no Accept-Encoding, even for an answer without max_tokens.
  test::OpenRouterServer server;
  OpenRouterClient client(testing::fast_options(server, "gzip-loopback"));
  const auto results = client.run_batch({letter, open});
  ASSERT_TRUE(results[0].ok && results[1].ok);
  const std::vector<std::string> encodings = server.accept_encoding_headers();
  ASSERT_EQ(encodings.size(), 2u);
  for (const std::string& e : encodings) EXPECT_EQ(e, "");
}

TEST(Request, EstimatesPromptTokensAsCharactersOverFour) {
  ChatRequest r;
  r.messages = {{"system", std::string(40, 'x')}, {"user", std::string(81, 'y')}};
  EXPECT_EQ(estimate_prompt_tokens(r), 121 / 4 + 8);
}

TEST(Request, ParsesModelsPricingFromDecimalStrings) {
  json::Value body = json::parse(R"({"data":[
    {"id":"a","context_length":1000,"top_provider":{"max_completion_tokens":100},
     "pricing":{"prompt":"0.0000004","completion":"0.00000026","request":"0"}},
    {"id":"free","pricing":{"prompt":"0","completion":"0"}},
    {"id":"router","pricing":{"prompt":"-1","completion":"-1"}},
    {"id":"nan","pricing":{"prompt":"nan","completion":"0"}},
    {"id":"inf","pricing":{"prompt":"0","completion":"inf"}},
    {"id":"huge","pricing":{"prompt":"1e400","completion":"0"}},
    {"id":"dear","pricing":{"prompt":2.5,"completion":"0"}},
    {"id":"noprice"}]})");
  auto p = detail::parse_models(body);
  ASSERT_EQ(p.count("a"), 1u);
  EXPECT_DOUBLE_EQ(p["a"].prompt, 0.0000004);
  EXPECT_DOUBLE_EQ(p["a"].completion, 0.00000026);
  EXPECT_EQ(p["a"].context_length, 1000);
  EXPECT_EQ(p["a"].max_completion_tokens, 100);
  EXPECT_EQ(p.count("free"), 1u);
  EXPECT_EQ(p["free"].prompt, 0.0);
  EXPECT_EQ(p.count("router"), 0u);  // variable pricing: unknown
  for (const char* id : {"nan", "inf", "huge", "dear"})  // not a finite price of at most $1 a token
    EXPECT_EQ(p.count(id), 0u) << id;
  EXPECT_EQ(p.count("noprice"), 0u);
}

TEST(Request, ScrubsTheKeyEverywhereInAText) {
  EXPECT_EQ(detail::scrub("a KEY b KEY", "KEY"), "a [redacted] b [redacted]");
  EXPECT_EQ(detail::scrub("a b", ""), "a b");
}

TEST(Request, ResolvesTheKeyFromAFileOrTheEnvironment) {
  auto dir = test::scratch_dir("llm_keyfile");
  auto file = dir / "key";
  write_file_atomic(file, "  sk-or-v1-file \n");
  ::chmod(file.c_str(), 0600);
  // w2s::log writes to stderr; stdout is watched too, so that a warning printed there is caught as well.
  auto capture = [] {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
  };
  auto captured = [] {
    std::string out = ::testing::internal::GetCapturedStdout();
    return out + ::testing::internal::GetCapturedStderr();
  };
  capture();
  EXPECT_EQ(resolve_api_key(file), "sk-or-v1-file");
  EXPECT_EQ(captured().find("readable"), std::string::npos);
  ::chmod(file.c_str(), 0644);
  capture();
  EXPECT_EQ(resolve_api_key(file), "sk-or-v1-file");
  std::string warned = captured();
  EXPECT_NE(warned.find("readable by group or others"), std::string::npos);
  EXPECT_EQ(warned.find("sk-or-v1-file"), std::string::npos);
  EXPECT_THROW(resolve_api_key(dir / "missing"), Error);
  write_file_atomic(dir / "empty", "\n");
  ::chmod((dir / "empty").c_str(), 0600);
  EXPECT_THROW(resolve_api_key(dir / "empty"), Error);
  ::setenv("OPENROUTER_API_KEY", "sk-or-v1-env", 1);
  EXPECT_EQ(resolve_api_key({}), "sk-or-v1-env");
  ::unsetenv("OPENROUTER_API_KEY");
  EXPECT_EQ(resolve_api_key({}), "");
}

TEST(Request, RefusesOpenRouterWithoutAKey) {
  ::unsetenv("OPENROUTER_API_KEY");
  ClientOptions o;
  o.no_cache = true;
  o.cache_dir = test::scratch_dir("llm_nokey");
  EXPECT_THROW({ OpenRouterClient c(o); }, Error);
  o.dry_run = true;
  EXPECT_NO_THROW({ OpenRouterClient c(o); });
}

}  // namespace
}  // namespace w2s::llm
