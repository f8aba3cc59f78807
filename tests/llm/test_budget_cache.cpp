// Money and durability: the budget cap, cost totals, /key check, dry run, the key never written,
// resume after SIGKILL, several processes sharing one cache.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <thread>

#include "llm_test_util.h"

namespace w2s::llm {
namespace {

TEST(Budget, TheCapHoldsWithManyRequestsInFlight) {
  // The server charges every request its worst case, as the client reserves it (at the listed
  // price: the usage it reports says so).
  test::ServerOptions so;
  OpenRouterServer server(
      [&](const json::Value& body, int) {
        std::int64_t bytes = 0;
        for (const auto& m : body.at("messages").as_array())
          bytes += static_cast<std::int64_t>(m.at("content").as_string().size()) + 4;
        Reply r = Reply::ok("A").with_latency(0.02);
        r.prompt_tokens = bytes;
        r.completion_tokens = body.at("max_tokens").as_int();
        r.cost = bytes * so.prompt_price + body.at("max_tokens").as_int() * so.completion_price;
        return r;
      },
      so);
  ClientOptions o = fast_options(server, "llm_budget");
  o.max_concurrency = 64;
  const double per_request = (23 + 4 + 36 + 4) * so.prompt_price + 1 * so.completion_price;
  o.max_cost_usd = 100.5 * per_request;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(400));
  int ok = 0, capped = 0;
  for (const auto& c : results) {
    ok += c.ok;
    if (!c.ok) {
      EXPECT_NE(c.error.find("budget cap reached"), std::string::npos) << c.error;
      ++capped;
    }
  }
  EXPECT_LE(server.billed_cost(), *o.max_cost_usd);
  EXPECT_LE(client.total_cost_usd(), *o.max_cost_usd);
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  EXPECT_GE(ok, 90);  // question numbers vary in length; about 100 fit
  EXPECT_EQ(ok + capped, 400);
  EXPECT_EQ(server.chat_requests(), ok);
  EXPECT_GT(server.max_in_flight(), 8);
}

// --max-cost with a model the endpoint lists no price for: nothing bounds its requests' cost, so
// the batch is refused before anything is sent, naming the model and --assume-price.
TEST(Budget, AnUnpricedModelIsRefusedUnderMaxCostWithoutAnAssumedPrice) {
  OpenRouterServer server;
  ClientOptions o = fast_options(server, "llm_budget_unpriced_refused");
  o.max_cost_usd = 0.0001;
  OpenRouterClient client(o);
  try {
    client.run_batch({testing::make_request(0), testing::make_request(1, "vendor/unpriced")});
    FAIL() << "an unpriced model under --max-cost must be refused";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--max-cost cannot bound the cost of vendor/unpriced"), std::string::npos) << message;
    EXPECT_NE(message.find("--assume-price IN,OUT"), std::string::npos) << message;
    EXPECT_EQ(message.find("test/small"), std::string::npos) << message;  // priced: not named
  }
  EXPECT_EQ(server.chat_requests(), 0);
  // Without a cap the same model runs.
  o.max_cost_usd.reset();
  o.cache_dir = test::scratch_dir("llm_budget_unpriced_uncapped");
  OpenRouterClient uncapped(o);
  EXPECT_TRUE(uncapped.run_batch(make_requests(2, "vendor/unpriced"))[1].ok);
}

// With --assume-price, the unpriced model's requests are reserved at that price: the cap holds with
// many in flight, whether the server reports what each answer cost or not.
TEST(Budget, AnAssumedPriceMakesTheCapHardForAnUnpricedModel) {
  test::ServerOptions so;
  so.serve_generation = false;
  bool report_cost = true;
  OpenRouterServer server(
      [&](const json::Value& body, int) {
        std::int64_t bytes = 0;  // the server bills each request its worst case at the assumed price
        for (const auto& m : body.at("messages").as_array())
          bytes += static_cast<std::int64_t>(m.at("content").as_string().size()) + 4;
        Reply r = Reply::ok("A").with_latency(0.02);
        r.prompt_tokens = bytes;
        r.completion_tokens = body.at("max_tokens").as_int();
        r.cost = bytes * 0.000002 + body.at("max_tokens").as_int() * 0.000004;
        r.omit_cost = !report_cost;
        return r;
      },
      so);
  ClientOptions o = fast_options(server, "llm_budget_assumed_price");
  o.max_concurrency = 64;
  o.generation_wait_s = 0.05;
  o.assume_price = std::array<double, 2>{2.0, 4.0};  // USD per million tokens
  const double per_request = (23 + 4 + 36 + 4) * 0.000002 + 1 * 0.000004;
  o.max_cost_usd = 30.5 * per_request;
  OpenRouterClient client(o);
  const auto estimate = client.estimate(make_requests(1, "vendor/unpriced")).at("vendor/unpriced");
  EXPECT_TRUE(estimate.priced);
  EXPECT_TRUE(estimate.price_assumed);
  auto results = client.run_batch(make_requests(200, "vendor/unpriced"));
  int ok = 0;
  for (const auto& c : results) {
    ok += c.ok;
    if (!c.ok) {
      EXPECT_NE(c.error.find("budget cap reached"), std::string::npos) << c.error;
    }
  }
  EXPECT_LE(server.billed_cost(), *o.max_cost_usd);
  EXPECT_LE(client.total_cost_usd(), *o.max_cost_usd);
  EXPECT_GE(ok, 20);  // question numbers vary in length; about 30 fit
  EXPECT_LT(ok, 200);

  // A server that reports no cost: each answer counts against the cap at the assumed price
  // (tokens x price: possibly billed, not in the reported cost).
  report_cost = false;
  o.no_cache = true;
  OpenRouterClient silent(o);
  results = silent.run_batch(make_requests(200, "vendor/unpriced"));
  ok = 0;
  for (const auto& c : results) {
    ok += c.ok;
    if (!c.ok) {
      EXPECT_NE(c.error.find("budget cap reached"), std::string::npos) << c.error;
    }
  }
  EXPECT_EQ(silent.total_cost_usd(), 0.0);
  EXPECT_GT(silent.possibly_billed_usd(), 0.0);
  EXPECT_LE(silent.possibly_billed_usd(), *o.max_cost_usd);
  EXPECT_LT(ok, 200);
}

TEST(Budget, CostTotalsEqualTheServersUsageCostAndTheLedger) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    const int q = testing::question_number(body);
    if (q % 5 == 0 && attempt == 1) {  // billed error during generation, then retried
      Reply r = Reply::ok("");
      r.finish_reason = "error";
      r.cost = 0.000123;
      return r;
    }
    if (q % 7 == 0 && attempt == 1) return Reply::error(502, "upstream");
    return OpenRouterServer::default_policy(body, attempt).with_cost(0.000001 * (q + 1));
  });
  ClientOptions o = fast_options(server, "llm_totals");
  o.ledger_tag = "totals-test";
  OpenRouterClient client(o);
  auto requests = make_requests(60);
  requests.push_back(testing::make_request(3, "test/large"));
  client.run_batch(requests);
  client.run_batch(requests);  // all cache hits: $0
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  double by_model = 0;
  for (const auto& [model, t] : client.totals()) by_model += t.cost_usd;
  EXPECT_NEAR(by_model, server.billed_cost(), 1e-12);
  EXPECT_EQ(client.totals().at("test/small").cache_hits, 60);
  auto ledger = read_ledger(o.cache_dir / "ledger.jsonl");
  double ledger_sum = 0;
  int hits = 0, billed = 0;
  for (const auto& line : ledger) {
    ledger_sum += line.at("cost_usd").as_double();
    hits += line.at("cache_hit").as_bool();
    billed += !line.at("cache_hit").as_bool();
    EXPECT_EQ(line.at("tag").as_string(), "totals-test");
    for (const char* field : {"time", "model", "provider", "prompt_tokens", "completion_tokens",
                              "cost_source", "generation_id", "request"})
      EXPECT_TRUE(line.contains(field)) << field;
  }
  EXPECT_NEAR(ledger_sum, server.billed_cost(), 1e-12);
  EXPECT_EQ(hits, 61);
  EXPECT_EQ(billed, 61 + 12);  // 61 answers + 12 billed generation errors (q = 0, 5, ..., 55)
}

TEST(Budget, KeyCheckStopsOrWarnsWhenTheRemainingLimitIsTooLow) {
  OpenRouterServer server;
  server.set_key(json::Object{{"label", "k"}, {"limit", 1.0}, {"limit_remaining", 0.0000001},
                              {"usage", 0.99}, {"is_free_tier", false}});
  ClientOptions o = fast_options(server, "llm_keycheck");
  {
    OpenRouterClient client(o);
    auto info = client.key_info();
    ASSERT_TRUE(info);
    EXPECT_DOUBLE_EQ(*info->limit, 1.0);
    try {
      client.run_batch(make_requests(10));
      ADD_FAILURE() << "expected the key check to stop the batch";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("remaining limit"), std::string::npos);
    }
    EXPECT_EQ(server.chat_requests(), 0);
  }
  o.key_check = KeyCheck::Warn;
  OpenRouterClient warned(o);
  auto results = warned.run_batch(make_requests(10));
  EXPECT_TRUE(results[0].ok);
  EXPECT_EQ(server.chat_requests(), 10);
}

// /key reports limit - billed; each request bills $0.001 against a $0.030 limit. The re-check
// every 10 billed requests finds $0 left after the 30th, below the worst case of the other 10.
TEST(Budget, KeyRecheckStopsALongBatchWhenTheLimitRunsOut) {
  test::ServerOptions so;
  so.key_limit = 0.030;
  OpenRouterServer server([](const json::Value&, int) { return Reply::ok("A").with_cost(0.001); },
                          so);
  ClientOptions o = fast_options(server, "llm_key_recheck");
  o.max_concurrency = 1;  // completions in order: the check after the 30th stops exactly there
  o.key_recheck_every = 10;
  OpenRouterClient client(o);
  int delivered = 0;
  auto results = client.run_batch(make_requests(40), [&](std::size_t, const Completion&) { ++delivered; });
  EXPECT_EQ(delivered, 40);
  for (int i = 0; i < 40; ++i) {
    if (i < 30) {
      EXPECT_TRUE(results[i].ok) << i << ": " << results[i].error;
    } else {
      EXPECT_FALSE(results[i].ok) << i;
      EXPECT_NE(results[i].error.find("key limit nearly reached"), std::string::npos)
          << results[i].error;
    }
  }
  EXPECT_EQ(server.chat_requests(), 30);
  EXPECT_EQ(server.key_requests(), 1 + 3);  // before the batch, after 10, 20 and 30
  EXPECT_NEAR(client.total_cost_usd(), 0.030, 1e-12);
  EXPECT_EQ(read_ledger(o.cache_dir / "ledger.jsonl").size(), 30u);  // nothing completed is lost

  // The 30 answers are cached: with the limit raised, a new client sends only the other 10.
  server.set_key(json::Object{{"label", "k"}, {"limit", 1.0}, {"limit_remaining", 0.97},
                              {"usage", 0.03}, {"is_free_tier", false}});
  OpenRouterClient resumed(o);
  auto rest = resumed.run_batch(make_requests(40));
  EXPECT_EQ(server.chat_requests(), 40);
  for (const auto& c : rest) EXPECT_TRUE(c.ok) << c.error;
}

TEST(Budget, KeyRecheckOffOrWarnSendsEverything) {
  for (int mode = 0; mode < 2; ++mode) {
    test::ServerOptions so;
    so.key_limit = 0.030;
    OpenRouterServer server([](const json::Value&, int) { return Reply::ok("A").with_cost(0.001); },
                            so);
    ClientOptions o = fast_options(server, "llm_key_recheck_off_" + std::to_string(mode));
    o.max_concurrency = 1;
    o.key_recheck_every = mode == 0 ? 0 : 10;
    if (mode == 1) o.key_check = KeyCheck::Warn;
    OpenRouterClient client(o);
    auto results = client.run_batch(make_requests(40));
    for (const auto& c : results) EXPECT_TRUE(c.ok) << c.error;
    EXPECT_EQ(server.chat_requests(), 40);
    EXPECT_EQ(server.key_requests(), mode == 0 ? 1 : 1 + 4);
  }
}

// No usage.cost and no /models price: the cost comes from GET /generation, whose records appear
// only after two 404s per id (as on OpenRouter, a few seconds after the completion).
TEST(Cost, ReconcilesUnpricedCompletionsThroughGeneration) {
  test::ServerOptions so;
  so.generation_not_found_first = 2;
  OpenRouterServer server([](const json::Value&, int) { return Reply::ok("B").with_cost(0.00123).without_cost(); },
                          so);
  ClientOptions o = fast_options(server, "llm_generation_cost");
  o.generation_wait_s = 5;
  OpenRouterClient client(o);
  auto requests = make_requests(12, "test/unpriced");
  requests.push_back(requests[3]);  // duplicates: sent once, replayed at $0
  requests.push_back(requests[7]);
  std::vector<std::string> seen_sources;
  auto results = client.run_batch(
      requests, [&](std::size_t, const Completion& c) { seen_sources.push_back(c.cost_source); });
  ASSERT_EQ(seen_sources.size(), 14u);
  EXPECT_EQ(std::count(seen_sources.begin(), seen_sources.end(), "generation"), 12);
  EXPECT_EQ(std::count(seen_sources.begin(), seen_sources.end(), "cache"), 2);
  for (std::size_t i = 0; i < 12; ++i) {
    ASSERT_TRUE(results[i].ok) << results[i].error;
    EXPECT_EQ(results[i].cost_source, "generation");
    EXPECT_DOUBLE_EQ(results[i].cost_usd, 0.00123);
  }
  EXPECT_EQ(results[12].cost_source, "cache");
  EXPECT_EQ(server.generation_requests(), 12 * 3);
  const ModelTotals& t = client.totals().at("test/unpriced");
  EXPECT_EQ(t.requests, 14);
  EXPECT_EQ(t.cost_unknown, 0);
  EXPECT_NEAR(t.cost_from_generation, 12 * 0.00123, 1e-12);
  EXPECT_NEAR(t.cost_usd, 12 * 0.00123, 1e-12);
  EXPECT_NEAR(client.total_cost_usd(), 12 * 0.00123, 1e-12);
  auto ledger = read_ledger(o.cache_dir / "ledger.jsonl");
  ASSERT_EQ(ledger.size(), 14u);  // each billed once, each duplicate once as a cache hit
  double ledger_sum = 0;
  int from_generation = 0;
  for (const auto& line : ledger) {
    ledger_sum += line.at("cost_usd").as_double();
    from_generation += line.at("cost_source").as_string() == "generation";
  }
  EXPECT_EQ(from_generation, 12);
  EXPECT_NEAR(ledger_sum, 12 * 0.00123, 1e-12);
}

TEST(Cost, LeavesTheCostUnknownWhenGenerationIsNotServed) {
  test::ServerOptions so;
  so.serve_generation = false;  // 404 for every id, for ever
  OpenRouterServer server([](const json::Value&, int) { return Reply::ok("B").without_cost(); }, so);
  ClientOptions o = fast_options(server, "llm_generation_absent");
  o.generation_wait_s = 0.2;
  OpenRouterClient client(o);
  auto first = client.run_batch(make_requests(4, "test/unpriced"));
  for (const auto& c : first) {
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.cost_source, "none");
    EXPECT_EQ(c.cost_usd, 0.0);
  }
  const int asked = server.generation_requests();
  EXPECT_GE(asked, 4 * 2);  // retried within the wait
  // Learned: the next batch does not ask (nor wait) again.
  auto later = make_requests(8, "test/unpriced");
  later.erase(later.begin(), later.begin() + 4);  // four new requests
  auto second = client.run_batch(later);
  EXPECT_EQ(server.generation_requests(), asked);
  for (const auto& c : second) EXPECT_EQ(c.cost_source, "none");
  EXPECT_EQ(client.totals().at("test/unpriced").cost_unknown, 8);
  EXPECT_EQ(read_ledger(o.cache_dir / "ledger.jsonl").size(), 8u);
}

TEST(Budget, DryRunEstimatesFromModelsPricingWithoutChatRequests) {
  OpenRouterServer server;
  ClientOptions o = fast_options(server, "llm_dry");
  {
    OpenRouterClient warm(o);
    warm.run_batch(make_requests(3));  // three cached answers
  }
  o.dry_run = true;
  OpenRouterClient client(o);
  auto requests = make_requests(10, "test/small", 5);
  for (int i = 0; i < 3; ++i) requests[i].max_tokens = 1;  // identical to the cached ones
  auto results = client.run_batch(requests);
  EXPECT_EQ(server.chat_requests(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(results[i].cache_hit);
  for (int i = 3; i < 10; ++i) EXPECT_EQ(results[i].error, "dry run: not sent");
  const ModelEstimate& e = client.dry_run_estimate().at("test/small");
  EXPECT_EQ(e.requests, 10);
  EXPECT_EQ(e.cached, 3);
  std::int64_t prompt = 0;
  for (int i = 3; i < 10; ++i) prompt += estimate_prompt_tokens(requests[i]);
  EXPECT_EQ(e.prompt_tokens, prompt);
  EXPECT_EQ(e.max_completion_tokens, 7 * 5);
  EXPECT_TRUE(e.priced);
  EXPECT_NEAR(e.max_cost_usd, prompt * 0.0000004 + 35 * 0.0000008, 1e-15);
  EXPECT_NEAR(e.prompt_cost_usd, prompt * 0.0000004, 1e-15);
  auto direct = client.estimate(requests);
  EXPECT_EQ(direct.at("test/small").cached, 3);
  EXPECT_NEAR(direct.at("test/small").max_cost_usd, e.max_cost_usd, 1e-15);
}

TEST(Secrets, TheKeyNeverAppearsInAnyFileOrMessage) {
  const std::string key = "sk-or-v1-SUPERSECRET-4242424242";
  test::ServerOptions so;
  so.api_key = key;
  OpenRouterServer server(
      [&](const json::Value& body, int attempt) {
        const int q = testing::question_number(body);
        // A misbehaving upstream that echoes the request headers in its error.
        if (q == 1) return Reply::error(400, "bad header Authorization: Bearer " + key);
        if (q == 2 && attempt == 1) return Reply::error(503, "echo " + key);
        return OpenRouterServer::default_policy(body, attempt);
      },
      so);
  auto dir = test::scratch_dir("llm_secret");
  write_file_atomic(dir / "key", key + "\n");
  ::chmod((dir / "key").c_str(), 0600);
  ClientOptions o = fast_options(server, "llm_secret_cache");
  o.api_key.clear();
  o.api_key_file = dir / "key";
  o.max_attempts = 1;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  std::vector<Completion> results;
  {
    OpenRouterClient client(o);
    EXPECT_EQ(client.options().api_key, "");
    results = client.run_batch(make_requests(5));
  }
  std::string logs = ::testing::internal::GetCapturedStdout();
  logs += ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(results[0].ok) << results[0].error;  // the key was sent and accepted
  EXPECT_FALSE(results[1].ok);
  EXPECT_NE(results[1].error.find("[redacted]"), std::string::npos);
  for (const auto& c : results) EXPECT_EQ(c.error.find(key), std::string::npos) << c.error;
  EXPECT_EQ(logs.find(key), std::string::npos);
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(o.cache_dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(read_file(entry.path()).find(key), std::string::npos) << entry.path();
  }
  EXPECT_GE(files, 2);  // cache database and ledger
}

// Runs the batch runner; returns its pid.
pid_t spawn_runner(const OpenRouterServer& server, const std::filesystem::path& cache, int first,
                   int count, int concurrency) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(W2S_LLM_BATCH_RUNNER, W2S_LLM_BATCH_RUNNER, server.base_url().c_str(), cache.c_str(),
          std::to_string(first).c_str(), std::to_string(count).c_str(),
          std::to_string(concurrency).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST(Resume, AKilledRunSendsNoCompletedRequestAgain) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    return OpenRouterServer::default_policy(body, attempt).with_latency(0.05);
  });
  const auto cache = test::scratch_dir("llm_resume");
  pid_t child = spawn_runner(server, cache, 0, 80, 4);
  const double deadline = monotonic_seconds() + 20;
  while (server.completed_chat_requests() < 20 && monotonic_seconds() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(child, SIGKILL);
  EXPECT_EQ(wait_exit_code(child), -SIGKILL);
  // A request the child wrote just before it died may still be read by the server: wait until the
  // server's count has stayed the same for 200 ms.
  int sent_before = server.chat_requests();
  for (int unchanged = 0; unchanged < 20;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int now = server.chat_requests();
    unchanged = now == sent_before ? unchanged + 1 : 0;
    sent_before = now;
  }
  ASSERT_LT(sent_before, 80) << "the child finished before it was killed";

  ClientOptions o = fast_options(server, "llm_resume_unused");
  o.cache_dir = cache;
  OpenRouterClient client(o);
  auto requests = make_requests(80);
  const std::int64_t cached = client.estimate(requests).at("test/small").cached;
  EXPECT_GE(cached, 15);
  auto results = client.run_batch(requests);
  for (const auto& c : results) EXPECT_TRUE(c.ok) << c.error;
  // Only requests without a committed answer were sent again.
  EXPECT_EQ(server.chat_requests() - sent_before, 80 - cached);
  std::map<std::string, int> sends;
  for (const auto& body : server.received_bodies()) ++sends[json::dump_canonical(body)];
  int twice = 0;
  for (const auto& [body, n] : sends) twice += n > 1;
  EXPECT_LE(twice, 4);  // at most the requests in flight at the kill
}

TEST(SharedCache, ConcurrentProcessesShareOneCache) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    return OpenRouterServer::default_policy(body, attempt).with_latency(0.002);
  });
  const auto cache = test::scratch_dir("llm_shared");
  // Three processes over overlapping ranges: 0-99, 50-149, 100-199.
  std::vector<pid_t> children;
  for (int first : {0, 50, 100}) children.push_back(spawn_runner(server, cache, first, 100, 8));
  for (pid_t pid : children) EXPECT_EQ(wait_exit_code(pid), 0);
  ClientOptions o = fast_options(server, "llm_shared_unused");
  o.cache_dir = cache;
  OpenRouterClient client(o);
  const int before = server.chat_requests();
  EXPECT_GE(before, 200);
  auto results = client.run_batch(make_requests(200));
  for (const auto& c : results) {
    EXPECT_TRUE(c.ok);
    EXPECT_TRUE(c.cache_hit);
  }
  EXPECT_EQ(server.chat_requests(), before);
  auto ledger = read_ledger(cache / "ledger.jsonl");  // every line whole, none interleaved
  EXPECT_GE(ledger.size(), 300u);
}

}  // namespace
}  // namespace w2s::llm
