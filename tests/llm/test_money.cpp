// Money and providers (issue 23), each case against the test server over real HTTP: the budget
// under a price above the assumed one, attempts that may have been billed, free-model daily caps,
// a gateway that streams anyway, refusals, values that are not finite, the API key's plausibility,
// response size.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "internal.h"
#include "llm_test_util.h"
#include "rate_limit_headers.h"

namespace w2s::llm {
namespace {

std::int64_t prompt_bytes(const json::Value& body) {
  std::int64_t bytes = 0;
  for (const auto& m : body.at("messages").as_array())
    bytes += static_cast<std::int64_t>(m.at("content").as_string().size()) + 4;
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// 1. The hard budget when the real price is above the assumed one
// ---------------------------------------------------------------------------------------------

// --max-cost 0.02 --assume-price 1,1 against a model that bills 50x that: the first request goes
// alone, its cost confirms (and raises) the price, the rest are reserved at the price billed. The
// spend passes the cap by less than one request's real cost, and a warning says what happened.
TEST(PriceSurprise, AModelBilling50TimesTheAssumedPriceStaysWithinOneRequestOfTheCap) {
  constexpr int kMaxTokens = 50;
  OpenRouterServer server([&](const json::Value& body, int) {
    Reply r = Reply::ok("A").with_latency(0.02);
    r.prompt_tokens = prompt_bytes(body);
    r.completion_tokens = kMaxTokens;
    r.cost = 50 * (*r.prompt_tokens + *r.completion_tokens) * 1e-6;  // 50 x $1 per million tokens
    return r;
  });
  ClientOptions o = fast_options(server, "llm_price_surprise");
  o.max_concurrency = 50;
  o.max_cost_usd = 0.02;
  o.assume_price = std::array<double, 2>{1.0, 1.0};
  testing::LogCapture log;
  OpenRouterClient client(o);
  const auto results = client.run_batch(make_requests(30, "vendor/unpriced", kMaxTokens));
  server.wait_until_idle();
  double largest = 0.0;
  int ok = 0;
  for (const auto& c : results) {
    if (c.ok) {
      ++ok;
      largest = std::max(largest, c.cost_usd);
    } else {
      EXPECT_NE(c.error.find("budget cap reached"), std::string::npos) << c.error;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_LT(ok, 30);
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  EXPECT_LE(server.billed_cost(), *o.max_cost_usd + largest);
  // The first request went alone: the second arrived after the first answer.
  const auto arrivals = server.arrival_times();
  ASSERT_GE(arrivals.size(), 2u);
  EXPECT_GE(arrivals[1] - arrivals[0], 0.02);
  const auto warned = log.lines_with("x its assumed (--assume-price) price");
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0].find("vendor/unpriced: billed $"), std::string::npos) << warned[0];
  EXPECT_NE(warned[0].find("50.00x"), std::string::npos) << warned[0];
}

// A /models price is unconfirmed too until a reported cost confirms it; a price billed at the
// listed one keeps the full concurrency after the first answer.
TEST(PriceSurprise, AListedPriceIsConfirmedByTheFirstAnswerThenRequestsGoInParallel) {
  test::ServerOptions so;
  OpenRouterServer server(
      [&](const json::Value& body, int attempt) {
        Reply r = OpenRouterServer::default_policy(body, attempt).with_latency(0.05);
        if (testing::question_number(body) >= 100) r.cost = 0.001;  // far above the listed price
        return r;
      },
      so);
  ClientOptions o = fast_options(server, "llm_price_listed");
  o.max_concurrency = 16;
  o.max_cost_usd = 1.0;
  testing::LogCapture log;
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(33));
  for (const auto& c : results) EXPECT_TRUE(c.ok) << c.error;
  EXPECT_GT(server.max_in_flight(), 4);
  // A later price rise: warned, and the model goes back to one request in flight.
  std::vector<ChatRequest> dear;
  for (int i = 100; i < 104; ++i) dear.push_back(make_request(i));
  const int before = server.chat_requests();
  results = client.run_batch(dear);
  for (const auto& c : results) EXPECT_TRUE(c.ok) << c.error;
  EXPECT_EQ(server.chat_requests() - before, 4);
  // One warning in all: the rise (the first batch, billed at the listed price, warned of nothing).
  const auto warned = log.lines_with("x its listed (GET /models) price");
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0].find("test/small: billed $0.001000"), std::string::npos) << warned[0];
}

// ---------------------------------------------------------------------------------------------
// 2. Attempts that may have been billed
// ---------------------------------------------------------------------------------------------

// A connection that drops after the request was sent: the server generated (and billed) the
// answer, no id came back; the worst case is booked as possibly billed, with a ledger line.
TEST(PossiblyBilled, AConnectionDroppedAfterSendingIsBookedAtItsWorstCase) {
  // Only the first request, on a fresh connection: on a reused one libcurl re-sends by itself
  // (docs/openrouter-client.md, "Outcomes").
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (attempt == 1 && testing::question_number(body) == 0) return Reply::fault_reply(Reply::Fault::BilledThenReset);
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_dropped");
  o.max_concurrency = 1;
  o.max_cost_usd = 1.0;
  OpenRouterClient client(o);
  const auto results = client.run_batch(make_requests(3));
  server.wait_until_idle();
  int dropped = 0;
  for (const auto& c : results) {
    ASSERT_TRUE(c.ok) << c.error;
    if (c.attempts == 2) {
      ++dropped;
      EXPECT_GT(c.possibly_billed_usd, 0.0);
    }
  }
  ASSERT_EQ(dropped, 1);
  const ModelTotals& t = client.totals().at("test/small");
  EXPECT_EQ(t.dropped, dropped);
  EXPECT_GT(client.possibly_billed_usd(), 0.0);
  EXPECT_GE(client.total_cost_usd() + client.possibly_billed_usd(), server.billed_cost());
  int lines = 0;
  for (const auto& line : read_ledger(o.cache_dir / "ledger.jsonl"))
    if (line.at("status").as_string() == "dropped") {
      ++lines;
      EXPECT_GT(line.at("possibly_billed_usd").as_double(), 0.0);
    }
  EXPECT_EQ(lines, dropped);
}

// A 200 without usage that is retried (an error during generation), and a 200 whose body is cut
// off: both may have been billed; both carried a generation id (in the body, in X-Generation-Id),
// so GET /generation reconciles them: the books then equal the bill.
TEST(PossiblyBilled, AttemptsWithAGenerationIdAreReconciledWithWhatTheServerBooked) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    const int q = testing::question_number(body);
    if (attempt == 1 && q == 0) {
      Reply r = Reply::ok("");
      r.choice_error = json::Object{{"code", 502}, {"message", "provider crashed"}};
      r.omit_usage = true;
      return r;
    }
    if (attempt == 1 && q == 1) return Reply::fault_reply(Reply::Fault::Truncate);
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_reconciled");
  o.max_cost_usd = 1.0;
  OpenRouterClient client(o);
  const auto results = client.run_batch(make_requests(3));
  server.wait_until_idle();
  for (const auto& c : results) ASSERT_TRUE(c.ok) << c.error;
  const ModelTotals& t = client.totals().at("test/small");
  EXPECT_EQ(t.no_usage, 1);
  EXPECT_EQ(t.unreadable, 1);
  EXPECT_GT(t.reconciled_usd, 0.0);
  EXPECT_NEAR(t.possibly_billed_usd, 0.0, 1e-15);
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  EXPECT_NEAR(t.cost_usd + t.reconciled_usd, server.billed_cost(), 1e-12);
  EXPECT_GT(results[0].reconciled_usd, 0.0);
  EXPECT_GT(results[1].reconciled_usd, 0.0);
  EXPECT_EQ(results[2].reconciled_usd, 0.0);
  int reconciled_lines = 0;
  for (const auto& line : read_ledger(o.cache_dir / "ledger.jsonl"))
    reconciled_lines += line.at("status").as_string() == "reconciled";
  EXPECT_EQ(reconciled_lines, 2);
}

// ---------------------------------------------------------------------------------------------
// 3. Free-model daily caps
// ---------------------------------------------------------------------------------------------

// OpenRouter's 429 "free-models-per-day" with a reset hours away: the batch stops at once (not 6
// attempts of 600 s each), naming the reset time and how to resume from the cache.
TEST(FreeModels, ADailyCapStopsTheBatchWithinSecondsNamingTheResetAndTheCache) {
  const std::int64_t reset_ms = (static_cast<std::int64_t>(std::time(nullptr)) + 5 * 3600) * 1000;
  OpenRouterServer server([&](const json::Value& body, int attempt) {
    if (testing::question_number(body) >= 2) return Reply::free_models_per_day(reset_ms);
    return OpenRouterServer::default_policy(body, attempt);
  });
  server.set_models(json::Array{json::Object{{"id", "vendor/model:free"},
                                             {"pricing", json::Object{{"prompt", "0"}, {"completion", "0"}}}}});
  ClientOptions o = fast_options(server, "llm_free_cap");
  o.max_concurrency = 1;
  o.backoff_base_s = 1.0;  // as in real use: only stopping makes this fast
  testing::LogCapture log;
  OpenRouterClient client(o);
  const double started = monotonic_seconds();
  const auto results = client.run_batch(make_requests(20, "vendor/model:free"));
  EXPECT_LT(monotonic_seconds() - started, 5.0);
  EXPECT_TRUE(results[0].ok && results[1].ok);
  EXPECT_EQ(server.chat_requests(), 3);
  for (std::size_t i = 2; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].ok);
    EXPECT_NE(results[i].error.find("daily request limit reached (429)"), std::string::npos) << results[i].error;
    EXPECT_NE(results[i].error.find("free-models-per-day"), std::string::npos) << results[i].error;
    EXPECT_NE(results[i].error.find("The limit resets at 20"), std::string::npos) << results[i].error;
    EXPECT_NE(results[i].error.find("llm-cache.sqlite"), std::string::npos) << results[i].error;
    EXPECT_NE(results[i].error.find("run the same command again after the reset"), std::string::npos);
  }
  // The message alone is enough (no reset header).
  server.set_policy([](const json::Value&, int) {
    Reply r = Reply::error(429, "Rate limit exceeded: free-models-per-day");
    return r;
  });
  o.cache_dir = test::scratch_dir("llm_free_cap_message");
  OpenRouterClient again(o);
  const auto second = again.run_batch(make_requests(5, "vendor/model:free"));
  for (const auto& c : second) {
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("00:00 UTC"), std::string::npos) << c.error;
  }
}

// /key says the key is on the free tier (50 free-model requests a day): a batch planning more
// than is left of them today (after what this client sent) is warned about before it starts.
TEST(FreeModels, PlanningMoreThanTheDailyCapIsWarnedBeforeStarting) {
  OpenRouterServer server;
  server.set_models(json::Array{json::Object{{"id", "vendor/model:free"},
                                             {"pricing", json::Object{{"prompt", "0"}, {"completion", "0"}}}},
                                json::Object{{"id", "test/small"},
                                             {"pricing", json::Object{{"prompt", "0.0000004"}, {"completion", "0"}}}}});
  server.set_key(json::Object{{"label", "k"}, {"limit", nullptr}, {"limit_remaining", nullptr}, {"usage", 0.0},
                              {"is_free_tier", true}});
  testing::LogCapture log;
  OpenRouterClient client(fast_options(server, "llm_free_warning"));
  client.run_batch(make_requests(40, "vendor/model:free"));  // within the cap: no warning
  std::vector<ChatRequest> more = make_requests(20, "vendor/model:free");
  for (auto& r : more) r.messages[0].content += " (again)";
  client.run_batch(more);         // 20 more, 10 left today: warned
  client.run_batch(make_requests(60));  // a paid model: no cap
  const auto warned = log.lines_with("this key can still send to them today");
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0].find("20 requests to free (\":free\") models are planned, more than the 10 this key can"),
            std::string::npos)
      << warned[0];
  EXPECT_NE(warned[0].find("50 a day for a key that never bought credits; 40 sent by this run today"),
            std::string::npos)
      << warned[0];
}

// ---------------------------------------------------------------------------------------------
// 4. "stream": false, and a gateway that streams anyway
// ---------------------------------------------------------------------------------------------

TEST(Streaming, StreamFalseIsSentAndAStreamedAnswerIsReadWithItsCost) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    Reply r = OpenRouterServer::default_policy(body, attempt);
    r.content = "The answer is B, surely.";
    r.stream = true;
    r.cost = 0.000123;
    r.reasoning = "thinking about it";
    return r;
  });
  OpenRouterClient client(fast_options(server, "llm_streamed"));
  ChatRequest request = make_request(0);
  request.logprobs = true;
  request.top_logprobs = 3;
  const auto results = client.run_batch({request, make_request(1)});
  for (const auto& c : results) {
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.content, "The answer is B, surely.");
    EXPECT_EQ(c.reasoning, "thinking about it");
    EXPECT_EQ(c.finish_reason, "stop");
    EXPECT_EQ(c.cost_source, "usage");
    EXPECT_DOUBLE_EQ(c.cost_usd, 0.000123);
    EXPECT_GT(c.prompt_tokens, 0);
    EXPECT_EQ(c.provider, "TestProvider");
    EXPECT_EQ(c.generation_id.rfind("gen-", 0), 0u);
  }
  ASSERT_EQ(results[0].logprobs.size(), 1u);
  EXPECT_EQ(results[0].logprobs[0].top.size(), 3u);
  EXPECT_EQ(client.totals().at("test/small").possibly_billed_usd, 0.0);
  for (const auto& body : server.received_bodies()) {
    ASSERT_TRUE(body.contains("stream"));
    EXPECT_FALSE(body.at("stream").as_bool());
  }
  // The cache key is that of the answer's fields: "stream" is not among them, so the answers
  // cached before it was sent are still found.
  json::Value fields = json::Value::object();
  const json::Value body = request_body(make_request(0));
  for (const auto& [key, value] : body.as_object())
    if (key != "stream") fields.set(key, value);
  fields.set("endpoint", "u");
  EXPECT_EQ(cache_key("u", make_request(0)), sha256_hex(json::dump_canonical(fields)));
}

// ---------------------------------------------------------------------------------------------
// 5. Refusals
// ---------------------------------------------------------------------------------------------

TEST(Refusals, ContentFilterAndMessageRefusalAreRefusalsWithTheirTextAndCachedAsSuch) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    const int q = testing::question_number(body);
    Reply r = OpenRouterServer::default_policy(body, attempt);
    if (q == 0) {
      r.content = "";
      r.finish_reason = "content_filter";
    }
    if (q == 1) {
      r.content = "";
      r.refusal = "I can't help with that.";
    }
    if (q == 2) {
      r.content = "";
      r.refusal = "Streamed refusal.";
      r.stream = true;
    }
    return r;
  });
  ClientOptions o = fast_options(server, "llm_refusals");
  OpenRouterClient client(o);
  auto results = client.run_batch(make_requests(4));
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& c : results) ASSERT_TRUE(c.ok) << c.error;
    ASSERT_TRUE(results[0].refusal.has_value());
    EXPECT_EQ(results[0].refusal->kind, RefusalKind::ContentFilter);
    EXPECT_EQ(results[0].refusal->text, "stopped by the provider's content filter");
    ASSERT_TRUE(results[1].refusal.has_value());
    EXPECT_EQ(results[1].refusal->kind, RefusalKind::ModelRefusal);
    EXPECT_EQ(results[1].refusal->text, "I can't help with that.");
    ASSERT_TRUE(results[2].refusal.has_value());
    EXPECT_EQ(results[2].refusal->text, "Streamed refusal.");
    EXPECT_FALSE(results[3].refusal.has_value());
    // The replay from the cache is the same refusal.
    OpenRouterClient replay(o);
    results = replay.run_batch(make_requests(4));
    EXPECT_TRUE(results[1].cache_hit);
  }
  EXPECT_EQ(client.totals().at("test/small").refused, 3);
  int refused_lines = 0;
  for (const auto& line : read_ledger(o.cache_dir / "ledger.jsonl"))
    refused_lines += line.at("status").as_string() == "refused";
  EXPECT_EQ(refused_lines, 3);
}

// ---------------------------------------------------------------------------------------------
// 6. Values that are not finite
// ---------------------------------------------------------------------------------------------

TEST(NonFinite, ARateLimitResetOfNansOrInfinityIsNoWait) {
  for (const char* value : {"nans", "nan", "inf", "infs", "1e400", "-nan"}) {
    EXPECT_FALSE(retry::parse_reset(value, 1700000000).has_value()) << value;
    EXPECT_FALSE(retry::server_wait({{"x-ratelimit-reset", value}}, 1700000000).has_value()) << value;
    EXPECT_FALSE(retry::server_wait({{"retry-after", value}}, 1700000000).has_value()) << value;
  }
  EXPECT_FALSE(retry::parse_duration("nans").has_value());
  EXPECT_FALSE(retry::server_wait({{"x-ratelimit-reset-requests", "nans"}}, 1700000000).has_value());
  // Over HTTP: the 429 is retried after the usual backoff, not never.
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (attempt == 1) return Reply::error(429, "slow down").with_header("x-ratelimit-reset", "nans");
    return OpenRouterServer::default_policy(body, attempt);
  });
  OpenRouterClient client(fast_options(server, "llm_reset_nans"));
  const double started = monotonic_seconds();
  const auto results = client.run_batch(make_requests(4));
  EXPECT_LT(monotonic_seconds() - started, 5.0);
  for (const auto& c : results) {
    EXPECT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.attempts, 2);
  }
}

TEST(NonFinite, ImplausibleCostsAndTokenCountsAreNotBooked) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    Reply r = OpenRouterServer::default_policy(body, attempt);
    const int q = testing::question_number(body);
    // Python's json writes these; the tolerant reader makes NaN null and Infinity 1e308.
    r.wire = [q](const std::string& text) {
      std::string out = text;
      const std::string cost = q == 0 ? "NaN" : q == 1 ? "Infinity" : "-3.5";
      const std::size_t at = out.find("\"cost\":");
      const std::size_t end = out.find_first_of(",}", at);
      out.replace(at, end - at, "\"cost\":" + cost);
      const std::size_t tokens = out.find("\"prompt_tokens\":");
      const std::size_t tokens_end = out.find_first_of(",}", tokens);
      out.replace(tokens, tokens_end - tokens, "\"prompt_tokens\":1e300");
      return out;
    };
    return r;
  });
  testing::LogCapture log;
  OpenRouterClient client(fast_options(server, "llm_nonfinite_cost"));
  const auto results = client.run_batch(make_requests(3));
  for (const auto& c : results) {
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.cost_source, "pricing");  // the reported cost was no price: /models pricing x tokens
    EXPECT_TRUE(std::isfinite(c.cost_usd));
    EXPECT_EQ(c.prompt_tokens, 0);
  }
  EXPECT_TRUE(std::isfinite(client.total_cost_usd()));
  EXPECT_LT(client.total_cost_usd(), 0.001);
  EXPECT_EQ(log.lines_with("which cannot be a price").size(), 2u);  // Infinity and -3.5; NaN reads as null
}

// ---------------------------------------------------------------------------------------------
// 7. The API key: refused when implausible, redacted only when plausible
// ---------------------------------------------------------------------------------------------

TEST(ApiKey, AnImplausibleKeyIsRefusedUpFrontWithoutShowingIt) {
  OpenRouterServer server;
  for (const std::string& key : std::vector<std::string>{"m", "abc", "has space inside", "tab\tkey-0123456789"}) {
    ClientOptions o = fast_options(server, "llm_key_implausible");
    o.api_key = key;
    try {
      OpenRouterClient client(o);
      FAIL() << "the key '" << key << "' must be refused";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("is not a plausible key"), std::string::npos) << message;
      if (key.size() > 1) {
        EXPECT_EQ(message.find(key), std::string::npos) << message;
      }
    }
  }
  ::setenv("OPENROUTER_API_KEY", "m", 1);
  try {
    resolve_api_key({});
    FAIL() << "a one-character key must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("$OPENROUTER_API_KEY is not a plausible key: it has 1 characters"),
              std::string::npos)
        << e.what();
  }
  ::unsetenv("OPENROUTER_API_KEY");
  EXPECT_EQ(server.chat_requests(), 0);
}

TEST(ApiKey, APlausibleKeyIsRedactedAndUnrelatedTextIsNot) {
  OpenRouterServer server;
  ClientOptions o = fast_options(server, "llm_key_redacted");
  OpenRouterClient client(o);
  testing::LogCapture log;
  log::warn("max_tokens 100, key {}", testing::kTestKey);
  const auto lines = log.lines_with("max_tokens 100");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("key [redacted]"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find(testing::kTestKey), std::string::npos) << lines[0];
}

// ---------------------------------------------------------------------------------------------
// 8. Response size
// ---------------------------------------------------------------------------------------------

// 4 MiB of text in max_tokens (1) tokens: billed within the request's worst case.
Reply oversize_answer() {
  Reply r = Reply::ok(std::string(4 << 20, 'x'));
  r.completion_tokens = 1;
  return r;
}

// A body over --max-response-mib is abandoned as it arrives (not read to its end), its request
// fails without a second attempt, and the billed answer is booked at its worst case, then
// reconciled by its X-Generation-Id.
TEST(ResponseSize, AnOversizeBilledBodyIsAbandonedAndBookedAtItsWorstCase) {
  OpenRouterServer server([](const json::Value& body, int attempt) {
    if (testing::question_number(body) == 0) return oversize_answer();
    return OpenRouterServer::default_policy(body, attempt);
  });
  ClientOptions o = fast_options(server, "llm_oversize");
  o.max_response_mib = 1;
  OpenRouterClient client(o);
  const auto results = client.run_batch(make_requests(2));
  server.wait_until_idle();
  ASSERT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_NE(results[0].error.find("over --max-response-mib 1"), std::string::npos) << results[0].error;
  EXPECT_TRUE(results[1].ok) << results[1].error;
  EXPECT_EQ(server.chat_requests(), 2);
  const ModelTotals& t = client.totals().at("test/small");
  EXPECT_EQ(t.oversize, 1);
  EXPECT_GT(t.reconciled_usd, 0.0);  // the id came in the header
  EXPECT_NEAR(client.total_cost_usd(), server.billed_cost(), 1e-12);
  // Without a generation id the worst case stays booked.
  ClientOptions no_id = o;
  no_id.cache_dir = test::scratch_dir("llm_oversize_no_id");
  test::ServerOptions without_generation;
  without_generation.serve_generation = false;
  OpenRouterServer plain(
      [](const json::Value& body, int attempt) {
        if (testing::question_number(body) == 0) return oversize_answer();
        return OpenRouterServer::default_policy(body, attempt);
      },
      without_generation);
  no_id.base_url = plain.base_url();
  no_id.generation_wait_s = 0.05;
  OpenRouterClient client2(no_id);
  const auto again = client2.run_batch(make_requests(2));
  EXPECT_FALSE(again[0].ok);
  EXPECT_GT(again[0].possibly_billed_usd, 0.0);
  EXPECT_GT(client2.possibly_billed_usd(), 0.0);
  EXPECT_GE(client2.total_cost_usd() + client2.possibly_billed_usd(), plain.billed_cost());
}

}  // namespace
}  // namespace w2s::llm
