// Every fault the API throws, injected by the test server over real HTTP.
#include <gtest/gtest.h>

#include <algorithm>

#include "llm_test_util.h"

namespace w2s::llm {
namespace {

struct FaultCase {
  const char* name;
  std::function<Reply()> fault;
  // The server may have billed an attempt whose cost the client never read: "timeout" (it stopped
  // waiting), "dropped" (the connection closed after the request was sent) or "unreadable" (a 200
  // whose body is not JSON). Its worst case is booked instead.
  const char* unseen = "";
};

class TransientFault : public ::testing::TestWithParam<FaultCase> {};

// Every request meets the fault on its first attempt and succeeds on the second.
TEST_P(TransientFault, IsRetriedUntilTheRequestSucceeds) {
  const FaultCase& fc = GetParam();
  OpenRouterServer server([&](const json::Value& body, int attempt) {
    if (attempt == 1) return fc.fault();
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, std::string("llm_fault_") + fc.name);
  o.request_timeout_s = 0.5;
  o.max_concurrency = 8;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(12));
  for (const auto& c : results) {
    ASSERT_TRUE(c.ok) << fc.name << ": " << c.error;
    // libcurl itself re-sends once when a reused keep-alive connection turns out dead.
    if (std::string(fc.name) == "connection_reset")
      EXPECT_LE(c.attempts, 2);
    else
      EXPECT_EQ(c.attempts, 2) << fc.name;
  }
  EXPECT_EQ(server.chat_requests(), 24);
  const ModelTotals& t = client.totals().at("test/small");
  const std::string unseen = fc.unseen;
  if (unseen.empty()) {
    EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
    EXPECT_EQ(client.possibly_billed_usd(), 0.0);
  } else {
    // The server billed attempts whose cost we never read; their worst case covers it.
    server.wait_until_idle();
    if (unseen == "dropped") {
      // libcurl re-sends once by itself on a reused connection that turns out dead: only the
      // requests whose reset reached us count.
      const auto reached = std::count_if(results.begin(), results.end(), [](const auto& c) { return c.attempts == 2; });
      EXPECT_EQ(t.dropped, reached);
      EXPECT_GT(reached, 0);
    } else {
      EXPECT_EQ(unseen == "timeout" ? t.timed_out : t.unreadable, 12) << fc.name;
    }
    if (std::string(fc.name) == "truncated") {
      // Its X-Generation-Id came before the body was cut: GET /generation reconciled it.
      EXPECT_NEAR(client.possibly_billed_usd(), 0.0, 1e-15);
      EXPECT_GT(t.reconciled_usd, 0.0);
    } else {
      EXPECT_GT(client.possibly_billed_usd(), 0.0);
    }
    if (unseen == "timeout") {
      EXPECT_LT(client.total_cost_usd(), server.billed_cost());
    }
    EXPECT_GE(client.total_cost_usd() + client.possibly_billed_usd() + 1e-15, server.billed_cost());
  }
}

Reply choice_error() {
  Reply r = Reply::ok("");
  r.choice_error = json::Object{{"code", 502}, {"message", "provider crashed"}};
  return r;
}
Reply finish_error() {
  Reply r = Reply::ok("");
  r.finish_reason = "error";
  return r;
}
Reply empty_choices() {
  Reply r;
  r.empty_choices = true;
  return r;
}
Reply malformed() {
  Reply r;
  r.raw_body = R"({"id":"gen-1","choices":[{"message":{"content":"A"})";
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, TransientFault,
    ::testing::Values(
        FaultCase{"429", [] { return Reply::error(429, "Rate limit exceeded"); }},
        FaultCase{"429_retry_after", [] { return Reply::error(429, "slow down").with_retry_after("0"); }},
        FaultCase{"402_in_flight", [] { return Reply::in_flight_402("0"); }},
        FaultCase{"408", [] { return Reply::error(408, "timeout"); }},
        FaultCase{"500", [] { return Reply::error(500, "internal"); }},
        FaultCase{"502", [] {
          return Reply::error(502, "Provider returned error",
                              json::Object{{"provider_name", "X"}, {"raw", "boom"}});
        }},
        FaultCase{"503", [] { return Reply::error(503, "No endpoints found"); }},
        FaultCase{"choice_error", choice_error},
        FaultCase{"finish_reason_error", finish_error},
        FaultCase{"empty_choices", empty_choices},
        FaultCase{"malformed_json", malformed, "unreadable"},
        FaultCase{"truncated", [] { return Reply::fault_reply(Reply::Fault::Truncate); }, "unreadable"},
        FaultCase{"connection_reset", [] { return Reply::fault_reply(Reply::Fault::ResetConnection); }, "dropped"},
        FaultCase{"timeout", [] { return Reply::ok("A").with_latency(1.0); }, "timeout"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Faults, ASlowBodyIsReadToTheEnd) {
  OpenRouterServer server([](const json::Value&, int) {
    Reply r = Reply::ok("D");
    r.fault = Reply::Fault::SlowBody;
    r.slow_body_s = 0.2;
    return r;
  });
  OpenRouterClient client(fast_options(server, "llm_slow_body"));
  auto results = client.run_batch(make_requests(4));
  for (const auto& c : results) {
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.content, "D");
    EXPECT_EQ(c.attempts, 1);
  }
}

TEST(Faults, ExhaustedRetriesFailOneRequestNotTheBatch) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (testing::question_number(body) == 3) return Reply::error(503, "No endpoints found");
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_exhausted");
  o.max_attempts = 3;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(10));
  for (int i = 0; i < 10; ++i) {
    if (i == 3) {
      EXPECT_FALSE(results[i].ok);
      EXPECT_EQ(results[i].attempts, 3);
      EXPECT_EQ(results[i].http_status, 503);
      EXPECT_NE(results[i].error.find("No endpoints found"), std::string::npos);
      EXPECT_NE(results[i].error.find("gave up after 3 attempts"), std::string::npos);
    } else {
      EXPECT_TRUE(results[i].ok) << results[i].error;
    }
  }
  EXPECT_EQ(server.chat_requests(), 9 + 3);
  EXPECT_EQ(client.totals().at("test/small").failed, 1);
}

// A moderation 403 is a refusal (ok, Completion::refusal with the reasons), never retried; a 400
// fails the request.
TEST(Faults, BadRequestAndModerationAreNotRetried) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    const int q = testing::question_number(body);
    if (q == 0) return Reply::error(400, "context length exceeded");
    if (q == 1)
      return Reply::error(403, "Input flagged",
                          json::Object{{"reasons", json::Array{"self-harm"}},
                                       {"flagged_input", "..."},
                                       {"provider_name", "OpenAI"},
                                       {"model_slug", "m"}});
    return OpenRouterServer::default_policy(body, attempt);
  });
  OpenRouterClient client(fast_options(server, "llm_no_retry"));
  auto results = client.run_batch(make_requests(3));
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_NE(results[0].error.find("bad request (400): context length exceeded"), std::string::npos);
  EXPECT_TRUE(results[1].ok);
  EXPECT_EQ(results[1].attempts, 1);
  ASSERT_TRUE(results[1].refusal.has_value());
  EXPECT_EQ(results[1].refusal->kind, RefusalKind::Moderation);
  EXPECT_NE(results[1].refusal->text.find("moderation"), std::string::npos);
  EXPECT_NE(results[1].refusal->text.find("self-harm"), std::string::npos);
  EXPECT_EQ(client.totals().at("test/small").refused, 1);
  EXPECT_TRUE(results[2].ok);
  EXPECT_EQ(server.chat_requests(), 3);
}

TEST(Faults, CreditsExhaustedStopsDispatchingAndFailsTheRest) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (testing::question_number(body) >= 5) return Reply::error(402, "Insufficient credits");
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_402");
  o.max_concurrency = 1;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(20));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(results[i].ok);
  for (int i = 5; i < 20; ++i) {
    EXPECT_FALSE(results[i].ok);
    EXPECT_NE(results[i].error.find("credits exhausted"), std::string::npos) << results[i].error;
  }
  EXPECT_EQ(server.chat_requests(), 6);
  // Later batches send nothing either.
  auto later = client.run_batch({testing::make_request(100)});
  EXPECT_FALSE(later[0].ok);
  EXPECT_EQ(server.chat_requests(), 6);
}

TEST(Faults, ABadKeyStopsTheRun) {
  test::ServerOptions so;
  so.api_key = "the-right-key";
  OpenRouterServer server({}, so);
  ClientOptions o = fast_options(server, "llm_401");
  o.max_concurrency = 1;
  o.key_check = KeyCheck::Off;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(5));
  for (const auto& c : results) {
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("API key rejected (401)"), std::string::npos) << c.error;
  }
  EXPECT_EQ(server.chat_requests(), 1);
  o.key_check = KeyCheck::Stop;
  OpenRouterClient checked(o);
  EXPECT_THROW(checked.run_batch(make_requests(5)), Error);
  EXPECT_EQ(server.chat_requests(), 1);
}

TEST(Faults, HonoursRetryAfterInSecondsAndAsAnHttpDate) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (attempt == 1) {
      if (testing::question_number(body) == 0) return Reply::error(429, "wait").with_retry_after("1");
      char date[64];
      std::time_t when = std::time(nullptr) + 2;
      std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&when));
      return Reply::error(503, "busy").with_retry_after(date);
    }
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_retry_after");
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(2));
  ASSERT_TRUE(results[0].ok && results[1].ok);
  auto bodies = server.received_bodies();
  auto times = server.arrival_times();
  double first[2] = {-1, -1}, second[2] = {-1, -1};
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    int q = testing::question_number(bodies[i]);
    (first[q] < 0 ? first[q] : second[q]) = times[i];
  }
  EXPECT_GE(second[0] - first[0], 0.95);  // "1" second, not the 1 ms test backoff
  EXPECT_GE(second[1] - first[1], 0.9);   // date one to two seconds ahead (1 s resolution)
}

TEST(Faults, AdaptiveConcurrencyBacksOffOn429) {
  std::atomic<int> calls{0};
  OpenRouterServer server([&](const json::Value& body, int attempt) {
    // A burst of 429s early in the run, then normal service.
    if (++calls <= 40) return Reply::error(429, "Rate limit exceeded").with_latency(0.005);
    return OpenRouterServer::default_policy(body, attempt).with_latency(0.005);
  });
  ClientOptions o = fast_options(server, "llm_aimd");
  o.max_concurrency = 32;
  o.min_concurrency = 4;
  o.max_attempts = 10;
  o.backoff_base_s = 0.05;
  o.backoff_cap_s = 0.1;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(200));
  for (const auto& c : results) ASSERT_TRUE(c.ok) << c.error;
  // After the halving the window stays below the maximum until 50 successes per step.
  auto times = server.arrival_times();
  EXPECT_EQ(server.chat_requests(), 240);
  EXPECT_LE(server.max_in_flight(), 32);
}

}  // namespace
}  // namespace w2s::llm
