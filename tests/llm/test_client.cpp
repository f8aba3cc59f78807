// Happy path of the batch client over real HTTP against the test server.
#include <gtest/gtest.h>

#include <set>

#include "llm_test_util.h"

namespace w2s::llm {
namespace {

TEST(Client, CompletesABatchWithBoundedConcurrency) {
  OpenRouterServer server([](const json::Value& body, int) {
    return OpenRouterServer::default_policy(body, 1).with_latency(0.01);
  });
  ClientOptions o = fast_options(server, "llm_happy");
  o.max_concurrency = 16;
  OpenRouterClient client(o);
  const auto requests = make_requests(100);
  std::set<std::size_t> called;
  auto results = client.run_batch(requests, [&](std::size_t i, const Completion& c) {
    EXPECT_TRUE(c.ok);
    called.insert(i);
  });
  ASSERT_EQ(results.size(), 100u);
  EXPECT_EQ(called.size(), 100u);
  double sum = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Completion& c = results[i];
    ASSERT_TRUE(c.ok) << c.error;
    json::Value body = request_body(requests[i]);
    EXPECT_EQ(c.content, OpenRouterServer::default_policy(body, 1).content);
    EXPECT_EQ(c.finish_reason, "stop");
    EXPECT_EQ(c.cost_source, "usage");
    EXPECT_EQ(c.provider, "TestProvider");
    EXPECT_EQ(c.model, "test/small");
    EXPECT_EQ(c.generation_id.rfind("gen-", 0), 0u);
    EXPECT_EQ(c.attempts, 1);
    EXPECT_FALSE(c.cache_hit);
    EXPECT_GT(c.prompt_tokens, 0);
    sum += c.cost_usd;
  }
  EXPECT_EQ(server.chat_requests(), 100);
  EXPECT_LE(server.max_in_flight(), 16);
  EXPECT_GT(server.max_in_flight(), 1);
  EXPECT_NEAR(sum, server.billed_cost(), 1e-12);
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  const ModelTotals& t = client.totals().at("test/small");
  EXPECT_EQ(t.requests, 100);
  EXPECT_EQ(t.failed, 0);
  EXPECT_NEAR(t.cost_from_usage, server.billed_cost(), 1e-12);
  for (const auto& auth : server.authorization_headers())
    EXPECT_EQ(auth, std::string("Bearer ") + testing::kTestKey);
}

TEST(Client, SendsEveryRequestFieldAndParsesLogprobs) {
  OpenRouterServer server;
  OpenRouterClient client(fast_options(server, "llm_fields"));
  ChatRequest r = testing::make_request(7);
  r.seed = 42;
  r.top_p = 0.9;
  r.stop = {"\n"};
  r.logprobs = true;
  r.top_logprobs = 3;
  r.provider.order = {"deepinfra"};
  r.provider.allow_fallbacks = false;
  r.provider.require_parameters = true;
  r.provider.data_collection = "deny";
  auto results = client.run_batch({r});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  const json::Value sent = server.received_bodies().at(0);
  EXPECT_EQ(sent.at("model").as_string(), "test/small");
  EXPECT_EQ(sent.at("seed").as_int(), 42);
  EXPECT_DOUBLE_EQ(sent.at("top_p").as_double(), 0.9);
  EXPECT_EQ(sent.at("stop").at(0).as_string(), "\n");
  EXPECT_TRUE(sent.at("logprobs").as_bool());
  EXPECT_EQ(sent.at("top_logprobs").as_int(), 3);
  EXPECT_EQ(sent.at("max_tokens").as_int(), 1);
  EXPECT_EQ(sent.at("provider").at("order").at(0).as_string(), "deepinfra");
  EXPECT_FALSE(sent.at("provider").at("allow_fallbacks").as_bool());
  EXPECT_TRUE(sent.at("provider").at("require_parameters").as_bool());
  EXPECT_EQ(sent.at("provider").at("data_collection").as_string(), "deny");
  ASSERT_EQ(results[0].logprobs.size(), 1u);
  EXPECT_EQ(results[0].logprobs[0].token, results[0].content);
  EXPECT_EQ(results[0].logprobs[0].top.size(), 3u);
}

// A replay costs $0 now, and remembers what the answer cost when it was first paid.
TEST(Client, ReplaysFromTheCacheAtZeroCost) {
  OpenRouterServer server;
  ClientOptions o = fast_options(server, "llm_replay");
  const auto requests = make_requests(20);
  std::vector<Completion> first;
  {
    OpenRouterClient client(o);
    first = client.run_batch(requests);
  }
  OpenRouterClient again(o);
  auto second = again.run_batch(requests);
  EXPECT_EQ(server.chat_requests(), 20);
  for (std::size_t i = 0; i < second.size(); ++i) {
    EXPECT_TRUE(second[i].ok);
    EXPECT_TRUE(second[i].cache_hit);
    EXPECT_EQ(second[i].cost_usd, 0.0);
    EXPECT_EQ(second[i].cost_source, "cache");
    EXPECT_EQ(second[i].content, first[i].content);
    EXPECT_EQ(second[i].generation_id, first[i].generation_id);
    EXPECT_DOUBLE_EQ(second[i].replayed_cost_usd, first[i].cost_usd);
    EXPECT_GT(second[i].replayed_cost_usd, 0.0);
  }
  EXPECT_EQ(again.total_cost_usd(), 0.0);
  EXPECT_EQ(again.totals().at("test/small").cache_hits, 20);
  EXPECT_NEAR(again.totals().at("test/small").replayed_cost_usd, server.billed_cost(), 1e-12);

  o.refresh = true;
  OpenRouterClient refreshing(o);
  auto third = refreshing.run_batch(requests);
  EXPECT_EQ(server.chat_requests(), 40);
  EXPECT_FALSE(third[0].cache_hit);

  o.refresh = false;
  o.no_cache = true;
  OpenRouterClient uncached(o);
  uncached.run_batch(requests);
  EXPECT_EQ(server.chat_requests(), 60);
}

TEST(Client, SendsIdenticalRequestsOfABatchOnce) {
  OpenRouterServer server;
  OpenRouterClient client(fast_options(server, "llm_dupes"));
  std::vector<ChatRequest> requests(5, testing::make_request(1));
  auto results = client.run_batch(requests);
  EXPECT_EQ(server.chat_requests(), 1);
  int hits = 0;
  for (const auto& c : results) {
    EXPECT_TRUE(c.ok);
    EXPECT_EQ(c.content, results[0].content);
    hits += c.cache_hit;
  }
  EXPECT_EQ(hits, 4);
}

TEST(Client, FallsBackToModelsPricingWhenUsageCostIsAbsent) {
  OpenRouterServer server([](const json::Value&, int) {
    Reply r = Reply::ok("C");
    r.omit_cost = true;
    r.omit_provider = true;
    r.prompt_tokens = 100;
    r.completion_tokens = 10;
    return r;
  });
  OpenRouterClient client(fast_options(server, "llm_pricing"));
  auto priced = client.run_batch({testing::make_request(1, "test/small")});
  ASSERT_TRUE(priced[0].ok);
  EXPECT_EQ(priced[0].cost_source, "pricing");
  EXPECT_NEAR(priced[0].cost_usd, 100 * 0.0000004 + 10 * 0.0000008, 1e-15);
  EXPECT_EQ(priced[0].provider, "unknown");
  // No /models price: the cost comes from GET /generation (the test server keeps the record).
  auto unpriced = client.run_batch({testing::make_request(1, "local/unpriced")});
  ASSERT_TRUE(unpriced[0].ok);
  EXPECT_EQ(unpriced[0].cost_source, "generation");
  EXPECT_NEAR(unpriced[0].cost_usd, 100 * 0.0000004 + 10 * 0.0000008, 1e-15);
  EXPECT_EQ(client.totals().at("local/unpriced").cost_unknown, 0);
  EXPECT_NEAR(client.totals().at("local/unpriced").cost_from_generation, unpriced[0].cost_usd, 1e-15);
  EXPECT_NEAR(client.totals().at("test/small").cost_from_pricing, priced[0].cost_usd, 1e-15);
}

// Model ids are checked against GET /models before anything is sent: an alias or a typo fails with
// the closest listed ids; an endpoint without a list gets a warning and the ids as given.
TEST(Client, UnknownModelIdsFailBeforeAnyRequestWithASuggestion) {
  OpenRouterServer server;
  OpenRouterClient client(fast_options(server, "llm_unknown_model"));
  try {
    client.run_batch({testing::make_request(0), testing::make_request(1, "70B")});
    FAIL() << "an unknown model id must stop the batch";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'70B' (did you mean meta-llama/llama-3.1-70b-instruct?)"), std::string::npos) << message;
    EXPECT_NE(message.find(server.base_url() + "/models"), std::string::npos) << message;
  }
  EXPECT_EQ(server.chat_requests(), 0);
  EXPECT_TRUE(client.run_batch({testing::make_request(1, "meta-llama/llama-3.1-70b-instruct")})[0].ok);
}

TEST(Client, AnEndpointWithoutAModelListIsUsedWithTheIdsAsGiven) {
  OpenRouterServer server;
  server.set_models(json::Value::array());
  OpenRouterClient client(fast_options(server, "llm_no_model_list"));
  EXPECT_TRUE(client.run_batch({testing::make_request(1, "any/model")})[0].ok);
  EXPECT_EQ(server.chat_requests(), 1);
}

TEST(Client, SpacesDispatchesUnderARequestsPerMinuteLimit) {
  OpenRouterServer server;
  ClientOptions o = fast_options(server, "llm_rpm");
  o.requests_per_minute = 1200;  // one every 50 ms
  OpenRouterClient client(o);
  client.run_batch(make_requests(6));
  auto t = server.arrival_times();
  ASSERT_EQ(t.size(), 6u);
  // Five 50 ms gaps; the first connection's setup may shorten one gap, hence the slack.
  EXPECT_GE(t.back() - t.front(), 0.2);
}

}  // namespace
}  // namespace w2s::llm
