// Responses as servers send them today (issue 12), over real HTTP against the test server:
// reasoning models, content parts, 200s that are not strict JSON, rate-limit headers in every
// form, servers that cap top_logprobs, unreachable endpoints, and bring-your-own-key upstream
// charges (cache replays that remember their cost: test_client.cpp).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <ctime>

#include "internal.h"
#include "llm_test_util.h"
#include "rate_limit_headers.h"
#include "retry_policy.h"
#include "tolerant_json.h"

namespace w2s::llm {
namespace {

// ---------------------------------------------------------------------------------------------
// 1. A reasoning model that spends max_tokens thinking
// ---------------------------------------------------------------------------------------------

TEST(ReasoningModels, AnAnswerCutOffWhileReasoningKeepsFinishReasonAndTheReasoning) {
  OpenRouterServer server([](const json::Value& body, int) {
    return Reply::cut_off_while_reasoning("The question asks about Libras. Let me weigh each option", body.at("max_tokens").as_int());
  });
  ClientOptions o = fast_options(server, "llm_reasoning_cut_off");
  ChatRequest r = make_request(1, "test/small", 20);
  r.reasoning.effort = "low";
  r.reasoning.exclude = true;
  std::vector<Completion> first;
  {
    OpenRouterClient client(o);
    first = client.run_batch({r});
  }
  ASSERT_TRUE(first[0].ok) << first[0].error;
  EXPECT_EQ(first[0].content, "");
  EXPECT_EQ(first[0].finish_reason, "length");
  EXPECT_EQ(first[0].reasoning, "The question asks about Libras. Let me weigh each option");
  EXPECT_EQ(first[0].reasoning_tokens, 20);
  const json::Value sent = server.received_bodies().at(0);
  EXPECT_EQ(sent.at("reasoning").at("effort").as_string(), "low");
  EXPECT_TRUE(sent.at("reasoning").at("exclude").as_bool());
  EXPECT_FALSE(sent.at("reasoning").contains("max_tokens"));

  // The replay keeps all of it.
  OpenRouterClient again(o);
  const auto replay = again.run_batch({r});
  EXPECT_TRUE(replay[0].cache_hit);
  EXPECT_EQ(replay[0].finish_reason, "length");
  EXPECT_EQ(replay[0].reasoning, first[0].reasoning);
  EXPECT_EQ(replay[0].reasoning_tokens, 20);
}

TEST(ReasoningModels, TheReasoningObjectIsSentOnlyWhenSetAndChangesTheCacheKey) {
  ChatRequest plain = make_request(1);
  EXPECT_FALSE(request_body(plain).contains("reasoning"));
  ChatRequest off = plain;
  off.reasoning.enabled = false;
  EXPECT_EQ(json::dump(request_body(off).at("reasoning")), R"({"enabled":false})");
  ChatRequest budget = plain;
  budget.reasoning.max_tokens = 512;
  budget.reasoning.exclude = true;
  EXPECT_EQ(json::dump(request_body(budget).at("reasoning")), R"({"max_tokens":512,"exclude":true})");
  EXPECT_NE(cache_key("u", plain), cache_key("u", off));
  EXPECT_NE(cache_key("u", off), cache_key("u", budget));
}

// ---------------------------------------------------------------------------------------------
// 2. Content as a list of typed parts, and the other places reasoning text arrives
// ---------------------------------------------------------------------------------------------

TEST(ContentParts, TextPartsAreTheAnswerAndThinkingPartsTheReasoning) {
  OpenRouterServer server([](const json::Value& body, int) {
    Reply r;
    switch (testing::question_number(body)) {
      case 0:  // Mistral Magistral
        r.content_parts = json::Array{
            json::Object{{"type", "thinking"},
                         {"thinking", json::Array{json::Object{{"type", "text"}, {"text", "Option B fits."}}}}},
            json::Object{{"type", "text"}, {"text", "B"}}};
        break;
      case 1:  // DeepSeek / vLLM reasoning parser
        r.content = "C";
        r.reasoning = "C is right because";
        r.reasoning_field = "reasoning_content";
        break;
      case 2:  // a reasoning model without a reasoning parser
        r.content = "<think>\nA is wrong, D is right.\n</think>\n\nD";
        break;
      case 3:  // typed parts with a plain-string thinking field and an unrelated part
        r.content_parts = json::Array{json::Object{{"type", "thinking"}, {"thinking", "hmm"}},
                                      json::Object{{"type", "image_url"}, {"image_url", "x"}},
                                      json::Object{{"type", "text"}, {"text", "The answer is "}},
                                      json::Object{{"type", "text"}, {"text", "A"}}};
        break;
    }
    return r;
  });
  OpenRouterClient client(fast_options(server, "llm_content_parts"));
  const auto results = client.run_batch(make_requests(4));
  for (const auto& c : results) ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(results[0].content, "B");
  EXPECT_EQ(results[0].reasoning, "Option B fits.");
  EXPECT_EQ(results[1].content, "C");
  EXPECT_EQ(results[1].reasoning, "C is right because");
  EXPECT_EQ(results[2].content, "D");
  EXPECT_EQ(results[2].reasoning, "\nA is wrong, D is right.\n");
  EXPECT_EQ(results[3].content, "The answer is A");
  EXPECT_EQ(results[3].reasoning, "hmm");
}

TEST(ContentParts, OpenRouterReasoningDetailsAndAThinkBlockCutOff) {
  Completion c;
  detail::parse_completion(json::parse(R"({"choices":[{"finish_reason":"stop","message":{"content":"A",
      "reasoning":null,"reasoning_details":[{"type":"reasoning.summary","summary":"Compared the options."},
      {"type":"reasoning.encrypted","data":"xyz"}]}}]})"),
                           c);
  EXPECT_EQ(c.content, "A");
  EXPECT_EQ(c.reasoning, "Compared the options.");
  detail::parse_completion(
      json::parse(R"({"choices":[{"finish_reason":"length","message":{"content":"<think>Still weighing A"}}]})"), c);
  EXPECT_EQ(c.content, "");
  EXPECT_EQ(c.reasoning, "Still weighing A");
}

// ---------------------------------------------------------------------------------------------
// 3. A 200 that is not strict JSON but was billed
// ---------------------------------------------------------------------------------------------

struct BodyCase {
  const char* name;
  std::function<std::string(const std::string&)> wire;
  bool readable;  // a tolerant reading recovers the completion
};

std::string insert_after_brace(const std::string& text, const std::string& what) {
  return "{" + what + text.substr(1);
}

class BilledBody : public ::testing::TestWithParam<BodyCase> {};

TEST_P(BilledBody, IsReadTolerantlyOrBookedAtItsWorstCase) {
  const BodyCase& bc = GetParam();
  OpenRouterServer server([&](const json::Value& body, int attempt) {
    Reply r = OpenRouterServer::default_policy(body, attempt);
    if (attempt == 1) r.wire = bc.wire;
    return r;
  });
  ClientOptions o = fast_options(server, std::string("llm_billed_body_") + bc.name);
  testing::LogCapture log;
  OpenRouterClient client(o);
  const auto results = client.run_batch(make_requests(6));
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok) << bc.name << ": " << results[i].error;
    EXPECT_EQ(results[i].attempts, bc.readable ? 1 : 2) << bc.name;
    EXPECT_EQ(results[i].content,
              OpenRouterServer::default_policy(request_body(make_request(static_cast<int>(i))), 1).content);
  }
  const ModelTotals& t = client.totals().at("test/small");
  const auto ledger = testing::read_ledger(o.cache_dir / "ledger.jsonl");
  if (bc.readable) {
    EXPECT_EQ(server.chat_requests(), 6) << "a recovered answer is not paid for again";
    EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
    EXPECT_EQ(client.possibly_billed_usd(), 0.0);
    EXPECT_EQ(t.unreadable, 0);
  } else {
    EXPECT_EQ(server.chat_requests(), 12);
    EXPECT_EQ(t.unreadable, 6);
    // Booked at their worst case, then reconciled by their X-Generation-Id: the books equal the bill.
    EXPECT_NEAR(client.possibly_billed_usd(), 0.0, 1e-15);
    EXPECT_GT(t.reconciled_usd, 0.0);
    EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
    int unreadable_lines = 0;
    for (const auto& line : ledger)
      if (line.at("status").as_string() == "unreadable") {
        ++unreadable_lines;
        EXPECT_GT(line.at("possibly_billed_usd").as_double(), 0.0);
      }
    EXPECT_EQ(unreadable_lines, 6);
    EXPECT_FALSE(log.lines_with("could not be read").empty()) << "the final warning names them";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, BilledBody,
    ::testing::Values(
        BodyCase{"byte_order_mark", [](const std::string& t) { return "\xEF\xBB\xBF" + t; }, true},
        BodyCase{"keep_alive_lines",
                 [](const std::string& t) { return "\n\n: OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n   " + t; },
                 true},
        BodyCase{"sse_data_event", [](const std::string& t) { return "data: " + t + "\n\ndata: [DONE]\n\n"; }, true},
        BodyCase{"trailing_garbage", [](const std::string& t) { return t + "\n<html><body>502 Bad Gateway</body></html>"; },
                 true},
        BodyCase{"two_objects", [](const std::string& t) { return t + t; }, true},
        BodyCase{"trailing_nuls", [](const std::string& t) { return t + std::string(3, '\0'); }, true},
        BodyCase{"nan_and_infinity",
                 [](const std::string& t) { return insert_after_brace(t, R"("latency":NaN,"score":-Infinity,)"); }, true},
        BodyCase{"comments",
                 [](const std::string& t) { return "/* upstream: gateway */\n" + insert_after_brace(t, "// note\n"); },
                 true},
        BodyCase{"truncated", [](const std::string& t) { return t.substr(0, t.size() / 2); }, false},
        BodyCase{"truncated_in_a_string", [](const std::string& t) { return t.substr(0, t.find("\"content\"") + 12); },
                 false},
        BodyCase{"not_json_at_all", [](const std::string&) { return std::string("<html>upstream error</html>"); }, false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BilledBody, AnUnreadableBodyCountsAgainstTheBudgetCap) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    Reply r = OpenRouterServer::default_policy(body, attempt);
    r.wire = [](const std::string& t) { return t.substr(0, t.size() - 20); };  // always cut off
    return r;
  });
  ClientOptions o = fast_options(server, "llm_billed_body_budget");
  const ChatRequest r = make_request(1);
  std::int64_t bytes = 0;
  for (const auto& m : r.messages) bytes += static_cast<std::int64_t>(m.content.size()) + 4;
  const double worst = bytes * 0.0000004 + 1 * 0.0000008;
  o.max_cost_usd = 2.5 * worst;  // room for two attempts at their worst case, not three
  OpenRouterClient client(o);
  const auto results = client.run_batch({r});
  ASSERT_FALSE(results[0].ok);
  EXPECT_NE(results[0].error.find("budget cap reached"), std::string::npos) << results[0].error;
  EXPECT_EQ(server.chat_requests(), 2);
  // Each attempt's X-Generation-Id lets GET /generation reconcile it after the batch: then the
  // books hold what the server billed.
  EXPECT_NEAR(client.possibly_billed_usd(), 0.0, 1e-15);
  EXPECT_NEAR(client.totals().at("test/small").reconciled_usd, server.billed_cost(), 1e-15);
  EXPECT_GT(server.billed_cost(), 0.0);
}

TEST(TolerantJson, RepairsWhatServersSendAndRefusesCutOffValues) {
  auto read = [](std::string_view text) { return read_json_tolerantly(text); };
  auto value = read("\xEF\xBB\xBF : keep-alive\n\n{\"a\": [1, NaN, Infinity, -Infinity], // c\n \"b\": \"x//y\" /* z */} tail");
  ASSERT_TRUE(value);
  EXPECT_EQ(json::dump(value->value), R"({"a":[1,null,1e+308,-1e+308],"b":"x//y"})");
  EXPECT_EQ(value->repairs.size(), 5u);
  EXPECT_TRUE(read("data: {\"a\":\"}\"}\n\ndata: [DONE]"));
  EXPECT_EQ(json::dump(read(R"({"s":"a \"quoted\" NaN"})")->value), R"({"s":"a \"quoted\" NaN"})");
  EXPECT_FALSE(read(R"({"a":[1,2)"));
  EXPECT_FALSE(read(R"({"a":"unterminated)"));
  EXPECT_FALSE(read("{\"a\":1 /* open comment"));
  EXPECT_FALSE(read(""));
  EXPECT_FALSE(read("<html></html>"));
  EXPECT_FALSE(read(R"({"a":1,})"));  // still invalid after repair
}

// ---------------------------------------------------------------------------------------------
// 4. Rate-limit headers in every form servers send
// ---------------------------------------------------------------------------------------------

TEST(RateLimitHeaders, ReadsEveryFormOfResetAndRetryAfter) {
  using retry::parse_reset;
  const std::time_t now = 1764000000;
  std::string form;
  EXPECT_DOUBLE_EQ(*parse_reset("1764000004", now, &form), 4.0);
  EXPECT_EQ(form, "epoch seconds");
  EXPECT_DOUBLE_EQ(*parse_reset("1764000004500", now, &form), 4.5);
  EXPECT_EQ(form, "epoch milliseconds");
  EXPECT_DOUBLE_EQ(*parse_reset("4", now, &form), 4.0);
  EXPECT_EQ(form, "seconds from now");
  EXPECT_DOUBLE_EQ(*parse_reset("0.25", now), 0.25);
  EXPECT_DOUBLE_EQ(*parse_reset("1763999990", now), 0.0);  // already past
  EXPECT_DOUBLE_EQ(*parse_reset("6m0s", now, &form), 360.0);
  EXPECT_EQ(form, "a duration");
  EXPECT_NEAR(*parse_reset("2m59.56s", now), 179.56, 1e-9);
  EXPECT_DOUBLE_EQ(*parse_reset("250ms", now), 0.25);
  EXPECT_DOUBLE_EQ(*parse_reset("1h", now), 3600.0);
  EXPECT_DOUBLE_EQ(*parse_reset("2025-11-24T16:00:07Z", 1764000000), 7.0);  // RFC 3339
  EXPECT_DOUBLE_EQ(*parse_reset("2025-11-24T17:00:07.5+01:00", 1764000000), 7.5);
  EXPECT_DOUBLE_EQ(*parse_reset("Mon, 24 Nov 2025 16:00:09 GMT", 1764000000, &form), 9.0);
  EXPECT_EQ(form, "a date");
  EXPECT_FALSE(parse_reset("soon", now));
  EXPECT_FALSE(retry::parse_duration("12"));  // a duration needs a unit

  EXPECT_DOUBLE_EQ(*retry::parse_retry_after("120", 0), 120.0);
  EXPECT_DOUBLE_EQ(*retry::parse_retry_after("Mon, 24 Nov 2025 16:00:09 GMT", 1764000000), 9.0);
}

// Found by fuzz_rate_limit_headers (issue 22): a date's seconds read with %lf took "41e30800" as
// infinity, and a duration of "1e308h" overflowed: the client would have waited forever. Such values
// are no wait at all; every wait a header gives is finite.
TEST(RateLimitHeaders, AWaitIsNeverInfinite) {
  const std::time_t now = 1764000000;
  const auto finite = [](std::optional<double> s) { return !s || (std::isfinite(*s) && *s >= 0); };
  for (const char* value : {"2025-11-29T15:54:41e30800", "2025-11-29T15:54:41e308Z", "2025-13-29T15:54:41Z",
                            "2025-11-29T15:61:00Z", "1e308h", "1e999s", "nan", "infs", "-infs"}) {
    EXPECT_TRUE(finite(retry::parse_reset(value, now))) << value;
    EXPECT_TRUE(finite(retry::parse_retry_after(value, now))) << value;
    const auto wait = retry::server_wait({{"anthropic-ratelimit-requests-reset", value}}, now);
    EXPECT_TRUE(!wait || std::isfinite(wait->seconds)) << value;
  }
  EXPECT_FALSE(retry::parse_duration("1e308h"));
  EXPECT_FALSE(retry::parse_duration("infs"));
  EXPECT_DOUBLE_EQ(*retry::parse_reset("2025-11-24T16:00:60.5Z", now), 60.5);  // a leap second is a date
}

TEST(RateLimitHeaders, PrefersTheExplicitWaitThenTheResetThenTheExhaustedLimit) {
  const std::time_t now = 1764000000;
  auto wait = [&](retry::HeaderMap h) { return retry::server_wait(h, now); };
  EXPECT_DOUBLE_EQ(wait({{"retry-after-ms", "1500"}, {"retry-after", "9"}})->seconds, 1.5);
  EXPECT_DOUBLE_EQ(wait({{"retry-after", "9"}, {"x-ratelimit-reset", "1764000004"}})->seconds, 9.0);
  const auto reset = wait({{"x-ratelimit-reset", "1764000004"}, {"x-ratelimit-limit", "20"}});
  EXPECT_DOUBLE_EQ(reset->seconds, 4.0);
  EXPECT_EQ(reset->source, "X-RateLimit-Reset: 1764000004 (epoch seconds)");
  EXPECT_DOUBLE_EQ(wait({{"ratelimit-reset", "12"}})->seconds, 12.0);
  // OpenAI / Groq: the tokens limit is the one spent, so its reset decides.
  EXPECT_DOUBLE_EQ(wait({{"x-ratelimit-reset-requests", "1s"},
                         {"x-ratelimit-remaining-requests", "59"},
                         {"x-ratelimit-reset-tokens", "6m0s"},
                         {"x-ratelimit-remaining-tokens", "0"}})
                       ->seconds,
                   360.0);
  // Nothing known to be spent: the earliest reset.
  EXPECT_DOUBLE_EQ(wait({{"x-ratelimit-reset-requests", "2s"}, {"x-ratelimit-reset-tokens", "30s"}})->seconds, 2.0);
  // Anthropic: RFC 3339 resets.
  EXPECT_DOUBLE_EQ(wait({{"anthropic-ratelimit-requests-reset", "2025-11-24T16:00:05Z"},
                         {"anthropic-ratelimit-requests-remaining", "0"}})
                       ->seconds,
                   5.0);
  EXPECT_FALSE(wait({{"x-ratelimit-limit", "20"}}));
}

// Wait times between the first and the second attempt of each request, by question number.
std::map<int, double> second_attempt_gaps(const OpenRouterServer& server) {
  std::map<int, double> first, gap;
  const auto bodies = server.received_bodies();
  const auto times = server.arrival_times();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const int q = testing::question_number(bodies[i]);
    if (!first.count(q)) first[q] = times[i];
    else if (!gap.count(q)) gap[q] = times[i] - first[q];
  }
  return gap;
}

TEST(RateLimitHeaders, A429WithAnEpochSecondsResetIsRetriedWhenTheLimitResets) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (attempt == 1)
      return Reply::error(429, "Rate limit exceeded")
          .with_header("X-RateLimit-Limit", "20")
          .with_header("X-RateLimit-Remaining", "0")
          .with_header("X-RateLimit-Reset", std::to_string(std::time(nullptr) + 2));
    return OpenRouterServer::default_policy(body, attempt);
  });
  testing::LogCapture log;
  OpenRouterClient client(fast_options(server, "llm_reset_epoch_seconds"));
  const auto results = client.run_batch({make_request(0)});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  // "now + 2" in whole seconds: one to two seconds ahead; read as milliseconds it was "now".
  EXPECT_GE(second_attempt_gaps(server).at(0), 0.9);
  EXPECT_FALSE(log.lines_with("(epoch seconds)").empty()) << "the wait is logged with where it came from";
}

TEST(RateLimitHeaders, AVeryLongWaitIsCappedAndSaidSo) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (attempt == 1)
      return Reply::error(429, "Rate limit exceeded")
          .with_header("X-RateLimit-Reset", std::to_string((std::time(nullptr) + 3600) * 1000LL));
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_reset_capped");
  o.max_retry_after_s = 0.3;
  testing::LogCapture log;
  OpenRouterClient client(o);
  const auto results = client.run_batch({make_request(0)});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  EXPECT_GE(second_attempt_gaps(server).at(0), 0.3);
  const auto capped = log.lines_with("waited 0.3 s at most");
  ASSERT_EQ(capped.size(), 1u);
  EXPECT_NE(capped[0].find("X-RateLimit-Reset"), std::string::npos) << capped[0];
  EXPECT_NE(capped[0].find("epoch milliseconds"), std::string::npos) << capped[0];
}

// ---------------------------------------------------------------------------------------------
// 5. Servers that cap top_logprobs
// ---------------------------------------------------------------------------------------------

std::vector<ChatRequest> asking_top_logprobs(int n, int top_logprobs) {
  std::vector<ChatRequest> requests = make_requests(n);
  for (auto& r : requests) {
    r.logprobs = true;
    r.top_logprobs = top_logprobs;
  }
  return requests;
}

TEST(TopLogprobs, ACappedServerGetsOneRetryWithTheLargestAllowedValue) {
  test::ServerOptions so;
  so.max_top_logprobs = 5;
  OpenRouterServer server({}, so);
  ClientOptions o = fast_options(server, "llm_top_logprobs_cap");
  o.max_concurrency = 1;
  const std::vector<ChatRequest> requests = asking_top_logprobs(10, 20);
  testing::LogCapture log;
  {
    OpenRouterClient client(o);
    const auto results = client.run_batch(requests);
    for (const auto& c : results) {
      ASSERT_TRUE(c.ok) << c.error;
      ASSERT_TRUE(c.top_logprobs_sent);
      EXPECT_EQ(*c.top_logprobs_sent, 5);
      ASSERT_EQ(c.logprobs.size(), 1u);
      EXPECT_EQ(c.logprobs[0].top.size(), 5u);
    }
    // One refused request, then every request (the refused one again) with 5.
    EXPECT_EQ(server.chat_requests(), 11);
    const auto bodies = server.received_bodies();
    EXPECT_EQ(bodies[0].at("top_logprobs").as_int(), 20);
    for (std::size_t i = 1; i < bodies.size(); ++i) EXPECT_EQ(bodies[i].at("top_logprobs").as_int(), 5);
    EXPECT_EQ(log.lines_with("allows at most top_logprobs 5").size(), 1u);
  }
  // The cache keeps the requests as asked, and the value sent.
  OpenRouterClient again(o);
  const auto replay = again.run_batch(requests);
  EXPECT_TRUE(replay[3].cache_hit);
  EXPECT_EQ(replay[3].top_logprobs_sent.value_or(0), 5);
  EXPECT_EQ(server.chat_requests(), 11);
}

TEST(TopLogprobs, OnlyOneRetryAndOnlyForMessagesAboutLogprobs) {
  OpenRouterServer server([](const json::Value& body, int) {
    if (testing::question_number(body) == 0) return Reply::error(400, "top_logprobs must be less than or equal to 0");
    return Reply::error(400, "context length exceeded");
  });
  ClientOptions o = fast_options(server, "llm_top_logprobs_no_loop");
  o.max_concurrency = 1;
  OpenRouterClient client(o);
  const auto results = client.run_batch(asking_top_logprobs(2, 20));
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].attempts, 2);  // 20, then 0, then it fails: no loop
  EXPECT_FALSE(results[1].ok);
  EXPECT_EQ(results[1].attempts, 1);
}

TEST(TopLogprobs, ReadsTheLimitFromEachProvidersMessage) {
  using retry::allowed_top_logprobs;
  EXPECT_EQ(allowed_top_logprobs("bad request (400): Requested sample logprobs of 20, which is greater than max "
                                 "allowed: 5 (parameter=logprobs, value=20)",
                                 20),
            5);
  EXPECT_EQ(allowed_top_logprobs("Cannot request more than 5 logprobs.", 20), 5);
  EXPECT_EQ(allowed_top_logprobs("Invalid value for 'top_logprobs': must be less than or equal to 5.", 20), 5);
  EXPECT_EQ(allowed_top_logprobs("Invalid 'top_logprobs': 20. Expected an integer in range [0, 5]", 20), 5);
  EXPECT_EQ(allowed_top_logprobs("5 is greater than the maximum of 1 - 'logprobs'", 5), 1);
  EXPECT_EQ(allowed_top_logprobs("top_logprobs exceeds the provider limit", 20), 5);  // no number: 5
  EXPECT_FALSE(allowed_top_logprobs("context length exceeded", 20));
  EXPECT_FALSE(allowed_top_logprobs("Cannot request more than 20 logprobs.", 20));  // not below what was sent
  EXPECT_FALSE(allowed_top_logprobs("logprobs are not supported by this model", 20));
}

// ---------------------------------------------------------------------------------------------
// 6. An unreachable endpoint
// ---------------------------------------------------------------------------------------------

TEST(Unreachable, ConnectionRefusedStopsAtOnceNamingTheUrlAndTheError) {
  OpenRouterServer unused;
  ClientOptions o = fast_options(unused, "llm_unreachable_refused");
  o.base_url = "http://127.0.0.1:" + std::to_string(test::refused_port()) + "/api/v1";
  o.backoff_base_s = 1.0;  // the default: retrying every request for minutes is what must not happen
  o.max_concurrency = 4;
  OpenRouterClient client(o);
  std::vector<std::size_t> delivered;
  try {
    client.run_batch(make_requests(40), [&](std::size_t i, const Completion&) { delivered.push_back(i); });
    FAIL() << "an unreachable endpoint must stop the batch";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot reach " + o.base_url + "/chat/completions"), std::string::npos) << message;
    EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
    EXPECT_NE(message.find("--base-url"), std::string::npos) << message;
  }
  EXPECT_TRUE(delivered.empty()) << "no failed completion is handed on as if it were an answer";
}

TEST(Unreachable, AnUnknownHostStopsLikewise) {
  OpenRouterServer unused;
  ClientOptions o = fast_options(unused, "llm_unreachable_dns");
  o.base_url = "http://w2s-no-such-host.invalid/api/v1";
  o.connect_timeout_s = 3;  // resolving may time out instead of failing where no DNS answers
  OpenRouterClient client(o);
  try {
    client.run_batch(make_requests(3));
    FAIL() << "an unknown host must stop the batch";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot reach http://w2s-no-such-host.invalid/api/v1/chat/completions"), std::string::npos)
        << message;
    EXPECT_NE(message.find("w2s-no-such-host.invalid"), std::string::npos) << message;
  }
}

TEST(Unreachable, AServerThatNeverAcceptsFailsAtTheConnectTimeoutNotTheRequestTimeout) {
  OpenRouterServer unused;
  test::BlackholeListener blackhole;
  ClientOptions o = fast_options(unused, "llm_unreachable_blackhole");
  o.base_url = "http://127.0.0.1:" + std::to_string(blackhole.port()) + "/api/v1";
  o.connect_timeout_s = 0.2;
  o.request_timeout_s = 20;  // were the connect timeout not applied, the attempts would end here
  OpenRouterClient client(o);
  try {
    client.run_batch(make_requests(3));
    FAIL() << "a server that never accepts must stop the batch";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot reach " + o.base_url + "/chat/completions"), std::string::npos) << message;
    EXPECT_NE(message.find("no connection within --connect-timeout 0.2 s"), std::string::npos) << message;
    EXPECT_EQ(message.find("--request-timeout"), std::string::npos) << message;
  }
}

TEST(Unreachable, AnEndpointThatAnsweredBeforeIsRetriedAsUsual) {
  auto server = std::make_unique<OpenRouterServer>();
  ClientOptions o = fast_options(*server, "llm_unreachable_later");
  o.max_attempts = 2;
  OpenRouterClient client(o);
  ASSERT_TRUE(client.run_batch({make_request(0)})[0].ok);
  server.reset();  // the endpoint goes away mid-run: requests fail one by one, the batch ends
  const auto later = client.run_batch(make_requests(3, "test/large"));
  for (const auto& c : later) {
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("network error"), std::string::npos) << c.error;
  }
}

// 7. Cache replays remember what they cost: Client.ReplaysFromTheCacheAtZeroCost (test_client.cpp).

// ---------------------------------------------------------------------------------------------
// 8. Bring-your-own-key upstream cost
// ---------------------------------------------------------------------------------------------

Reply byok_reply(const json::Value& body, int attempt) {
  Reply r = OpenRouterServer::default_policy(body, attempt).with_cost(0.00001);
  r.byok = true;
  r.upstream_cost = 0.0002;
  return r;
}

TEST(Byok, TheUpstreamChargeIsRecordedAndCountedWhenAsked) {
  OpenRouterServer server(byok_reply);
  ClientOptions o = fast_options(server, "llm_byok");
  {
    OpenRouterClient client(o);
    const auto results = client.run_batch(make_requests(4));
    for (const auto& c : results) {
      EXPECT_DOUBLE_EQ(c.cost_usd, 0.00001);  // not counted unless asked
      EXPECT_DOUBLE_EQ(c.upstream_cost_usd, 0.0002);
    }
    EXPECT_NEAR(client.total_cost_usd(), 4 * 0.00001, 1e-12);
    EXPECT_NEAR(client.totals().at("test/small").upstream_cost_usd, server.billed_upstream_cost(), 1e-12);
    for (const auto& line : testing::read_ledger(o.cache_dir / "ledger.jsonl"))
      EXPECT_DOUBLE_EQ(line.at("upstream_cost_usd").as_double(), 0.0002);
  }
  o.count_upstream_cost = true;
  o.no_cache = true;
  // The spend now holds the upstream charges too: three requests fit (without the upstream charges,
  // all four would). The model has no /models price: the assumed one is what each request costs
  // with its upstream charge, for the tokens the server reports (so the price billed confirms it).
  server.set_policy([](const json::Value& body, int attempt) {
    Reply r = byok_reply(body, attempt);
    r.prompt_tokens = 0;
    for (const auto& m : body.at("messages").as_array())
      *r.prompt_tokens += static_cast<std::int64_t>(m.at("content").as_string().size()) + 4;
    r.completion_tokens = 1;
    return r;
  });
  std::int64_t tokens = 1;
  for (const auto& m : make_request(0).messages) tokens += static_cast<std::int64_t>(m.content.size()) + 4;
  const double per_million = 0.00021 / static_cast<double>(tokens) * 1e6;
  o.max_cost_usd = 3.5 * 0.00021;
  o.assume_price = std::array<double, 2>{per_million, per_million};
  o.max_concurrency = 1;
  OpenRouterClient counting(o);
  const auto results = counting.run_batch(make_requests(4, "unpriced/byok"));
  EXPECT_TRUE(results[0].ok && results[1].ok && results[2].ok);
  EXPECT_FALSE(results[3].ok);
  EXPECT_NE(results[3].error.find("budget cap reached"), std::string::npos) << results[3].error;
  EXPECT_DOUBLE_EQ(results[0].cost_usd, 0.00021);
  EXPECT_NEAR(counting.total_cost_usd(), 3 * 0.00021, 1e-12);
}

TEST(Byok, AnUpstreamCostOfANonByokKeyIsPartOfTheCostAlready) {
  Completion c;
  const auto reported = detail::parse_completion(
      json::parse(R"({"choices":[{"message":{"content":"A"},"finish_reason":"stop"}],
                      "usage":{"cost":0.0003,"is_byok":false,"cost_details":{"upstream_inference_cost":0.0003}}})"),
      c);
  EXPECT_DOUBLE_EQ(*reported.cost, 0.0003);
  EXPECT_EQ(reported.upstream, 0.0);
}

}  // namespace
}  // namespace w2s::llm
