// Request bodies, cache keys, token estimates, /models pricing and key resolution.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

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
