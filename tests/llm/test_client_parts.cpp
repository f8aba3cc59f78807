// The client's named parts on their own: the budget, adaptive concurrency, the price list, the
// key guard and the cost reconciler (the last two against the test server).
#include <gtest/gtest.h>

#include <set>

#include "adaptive_concurrency.h"
#include "budget.h"
#include "cost_reconciler.h"
#include "key_guard.h"
#include "llm_test_util.h"
#include "model_ids.h"
#include "price_list.h"

namespace w2s::llm {
namespace {

TEST(BudgetUnit, ReservationsAndPossiblyBilledCountAgainstTheCap) {
  Budget budget(1.0);
  EXPECT_TRUE(budget.allows(1.0));  // exactly the cap fits
  budget.reserve(0.6);
  EXPECT_TRUE(budget.allows(0.4));
  EXPECT_FALSE(budget.allows(0.41));
  budget.release(0.6);
  budget.charge("m", 0.5, "usage");
  budget.charge_possibly_billed("m", 0.3, Budget::Unseen::TimedOut);
  EXPECT_TRUE(budget.allows(0.2));
  EXPECT_FALSE(budget.allows(0.21));
  EXPECT_NE(budget.refusal(0.21).find("budget cap reached: --max-cost $1.0000, spent $0.5000"), std::string::npos);
  const ModelTotals& t = budget.totals().at("m");
  EXPECT_DOUBLE_EQ(t.cost_usd, 0.5);
  EXPECT_DOUBLE_EQ(t.cost_from_usage, 0.5);
  EXPECT_EQ(t.timed_out, 1);
  EXPECT_DOUBLE_EQ(t.possibly_billed_usd, 0.3);
  EXPECT_DOUBLE_EQ(budget.possibly_billed(), 0.3);
  EXPECT_DOUBLE_EQ(budget.spent(), 0.5);  // the reported cost stays what the server confirmed
}

TEST(BudgetUnit, UnpricedRequestsAreSentUntilTheSpendReachesTheCap) {
  Budget budget(1.0);
  budget.reserve(5.0);  // reservations do not matter to requests that cannot be reserved for
  EXPECT_TRUE(budget.allows(0.0));
  budget.charge("m", 1.0, "generation");
  EXPECT_FALSE(budget.allows(0.0));
  Budget uncapped(std::nullopt);
  uncapped.charge("m", 1e9, "usage");
  EXPECT_TRUE(uncapped.allows(1e9));
}

TEST(BudgetUnit, CountsRequestsCacheHitsFailuresAndTokens) {
  Budget budget(std::nullopt);
  Completion sent;
  sent.ok = true;
  sent.prompt_tokens = 10;
  sent.completion_tokens = 2;
  Completion replay = sent;
  replay.cache_hit = true;
  Completion failed;
  budget.count("m", sent);
  budget.count("m", replay);
  budget.count("m", failed);
  budget.charge("m", 0.0, "none");
  const ModelTotals& t = budget.totals().at("m");
  EXPECT_EQ(t.requests, 2);
  EXPECT_EQ(t.cache_hits, 1);
  EXPECT_EQ(t.failed, 1);
  EXPECT_EQ(t.prompt_tokens, 10);  // the replay's tokens were not paid here
  EXPECT_EQ(t.completion_tokens, 2);
  EXPECT_EQ(t.cost_unknown, 1);
}

TEST(AdaptiveConcurrencyUnit, HalvesOncePerBurstAndGrowsByOnePerFiftySuccesses) {
  AdaptiveConcurrency aimd(4, 32, true, 1.0);
  EXPECT_EQ(aimd.window(), 32u);
  aimd.on_congestion(10.0);
  EXPECT_EQ(aimd.window(), 16u);
  aimd.on_congestion(10.5);  // the same burst
  EXPECT_EQ(aimd.window(), 16u);
  aimd.on_congestion(11.0);
  aimd.on_congestion(12.0);
  aimd.on_congestion(13.0);
  EXPECT_EQ(aimd.window(), 4u);  // never below the minimum
  for (int i = 0; i < 49; ++i) aimd.on_success();
  EXPECT_EQ(aimd.window(), 4u);
  aimd.on_success();
  EXPECT_EQ(aimd.window(), 5u);
  aimd.on_congestion(20.0);  // congestion also restarts the count of successes
  for (int i = 0; i < 40; ++i) aimd.on_success();
  aimd.on_congestion(20.5);
  for (int i = 0; i < 10; ++i) aimd.on_success();
  EXPECT_EQ(aimd.window(), 4u);
  for (int i = 0; i < 50 * 40; ++i) aimd.on_success();
  EXPECT_EQ(aimd.window(), 32u);  // never above the maximum
}

TEST(AdaptiveConcurrencyUnit, DisabledKeepsTheMaximum) {
  AdaptiveConcurrency fixed(4, 32, false, 1.0);
  fixed.on_congestion(1.0);
  EXPECT_EQ(fixed.window(), 32u);
}

TEST(PriceListUnit, WorstCaseBoundsThePromptByBytesAndTheCompletionByMaxTokens) {
  int loads = 0;
  PriceList prices([&] {
    ++loads;
    return ModelList{true, "", {"p"}, {{"p", Pricing{0.001, 0.01, 0.5, 1000, 300}}}};
  });
  ChatRequest r = make_request(7, "p", 20);
  std::int64_t bytes = 0;
  for (const auto& m : r.messages) bytes += static_cast<std::int64_t>(m.content.size()) + 4;
  EXPECT_DOUBLE_EQ(prices.worst_case_usd(r), bytes * 0.001 + 20 * 0.01 + 0.5);
  r.max_tokens.reset();  // then the model's max_completion_tokens
  EXPECT_DOUBLE_EQ(prices.worst_case_usd(r), bytes * 0.001 + 300 * 0.01 + 0.5);
  EXPECT_EQ(PriceList::completion_bound(r, Pricing{0, 0, 0, 1000, 0}, 200), 800);  // context left
  EXPECT_EQ(PriceList::completion_bound(r, Pricing{}, 200), 4096);
  EXPECT_EQ(prices.worst_case_usd(make_request(1, "unpriced")), 0.0);
  EXPECT_EQ(loads, 1);  // fetched once

  std::map<std::string, ModelEstimate> estimate;
  prices.add_estimate(estimate, make_request(1, "p", 20), false);
  prices.add_estimate(estimate, make_request(2, "p", 20), true);
  prices.add_estimate(estimate, make_request(3, "unpriced", 7), false);
  const ModelEstimate& e = estimate.at("p");
  EXPECT_EQ(e.requests, 2);
  EXPECT_EQ(e.cached, 1);
  const std::int64_t tokens = estimate_prompt_tokens(make_request(1, "p", 20));
  EXPECT_DOUBLE_EQ(e.max_cost_usd, tokens * 0.001 + 20 * 0.01 + 0.5);
  EXPECT_DOUBLE_EQ(e.prompt_cost_usd, tokens * 0.001 + 0.5);
  EXPECT_FALSE(estimate.at("unpriced").priced);
  EXPECT_EQ(estimate.at("unpriced").max_completion_tokens, 7);
  const ChatRequest a = make_request(1, "p", 20), b = make_request(3, "unpriced", 7);
  EXPECT_DOUBLE_EQ(prices.estimated_upper_bound_usd({&a, &b}), e.max_cost_usd);
}

TEST(PriceListUnit, AnAssumedPriceBoundsOnlyTheModelsWithoutOne) {
  PriceList prices([] { return ModelList{true, "", {"p", "unpriced"}, {{"p", Pricing{0.001, 0.01, 0.0, 0, 0}}}}; },
                   Pricing{0.002, 0.004, 0.0, 0, 0});
  const ChatRequest unpriced = make_request(7, "unpriced", 20), priced = make_request(7, "p", 20);
  std::int64_t bytes = 0;
  for (const auto& m : unpriced.messages) bytes += static_cast<std::int64_t>(m.content.size()) + 4;
  EXPECT_DOUBLE_EQ(prices.worst_case_usd(unpriced), bytes * 0.002 + 20 * 0.004);
  EXPECT_DOUBLE_EQ(prices.worst_case_usd(priced), bytes * 0.001 + 20 * 0.01);
  EXPECT_EQ(prices.find("unpriced"), nullptr);  // the endpoint's prices stay the endpoint's
  Completion c;
  c.prompt_tokens = 100;
  c.completion_tokens = 10;
  EXPECT_DOUBLE_EQ(prices.assumed_cost("unpriced", c), 100 * 0.002 + 10 * 0.004);
  EXPECT_EQ(prices.assumed_cost("p", c), 0.0);
  std::map<std::string, ModelEstimate> estimate;
  prices.add_estimate(estimate, unpriced, false);
  prices.add_estimate(estimate, priced, false);
  EXPECT_TRUE(estimate.at("unpriced").priced && estimate.at("unpriced").price_assumed);
  EXPECT_TRUE(estimate.at("p").priced && !estimate.at("p").price_assumed);
}

// What the server bills confirms a model's price, or raises it: the worst case follows the highest
// price billed; a rise of more than 1 % unconfirms the price until an answer shows no further rise.
TEST(PriceListUnit, BilledCostsConfirmOrRaiseAModelsPrice) {
  PriceList prices([] { return ModelList{true, "", {"p"}, {{"p", Pricing{0.001, 0.01, 0.0, 0, 0}}}}; });
  const ChatRequest r = make_request(7, "p", 20);
  const double listed = prices.worst_case_usd(r);
  EXPECT_FALSE(prices.confirmed("p"));
  EXPECT_EQ(prices.observe("p", 100, 10, 100 * 0.001 + 10 * 0.01), std::nullopt);  // as listed
  EXPECT_TRUE(prices.confirmed("p"));
  EXPECT_DOUBLE_EQ(prices.price_factor("p"), 1.0);
  EXPECT_EQ(prices.observe("p", 100, 10, 0.1), std::nullopt);  // cheaper (cached tokens): no change
  EXPECT_DOUBLE_EQ(prices.price_factor("p"), 1.0);
  const std::optional<double> risen = prices.observe("p", 100, 10, 3 * 0.2);
  ASSERT_TRUE(risen.has_value());
  EXPECT_DOUBLE_EQ(*risen, 3.0);
  EXPECT_FALSE(prices.confirmed("p"));
  EXPECT_DOUBLE_EQ(prices.worst_case_usd(r), 3 * listed);
  EXPECT_EQ(prices.observe("p", 50, 5, 3 * 0.1), std::nullopt);  // the new price again: confirmed
  EXPECT_TRUE(prices.confirmed("p"));
  EXPECT_EQ(prices.observe("p", 50, 5, 3.01 * 0.1), std::nullopt);  // within 1 %: raised, not warned
  EXPECT_TRUE(prices.confirmed("p"));
  EXPECT_DOUBLE_EQ(prices.price_factor("p"), 3.01);
  // A model without a price to compare with: confirmed by its first billed cost, factor 1.
  EXPECT_FALSE(prices.observe("q", 10, 1, 1.0).has_value());
  EXPECT_TRUE(prices.confirmed("q"));
  EXPECT_DOUBLE_EQ(prices.price_factor("q"), 1.0);
}

TEST(BudgetUnit, ReconciliationMovesAWorstCaseToWhatWasBooked) {
  Budget budget(1.0);
  budget.charge_possibly_billed("m", 0.4, Budget::Unseen::Dropped);
  budget.charge_possibly_billed("m", 0.2, Budget::Unseen::NoUsage);
  EXPECT_FALSE(budget.allows(0.5));
  budget.reconcile("m", 0.4, 0.05);
  EXPECT_DOUBLE_EQ(budget.possibly_billed(), 0.2);
  EXPECT_DOUBLE_EQ(budget.spent(), 0.05);
  EXPECT_TRUE(budget.allows(0.5));
  const ModelTotals& t = budget.totals().at("m");
  EXPECT_EQ(t.dropped, 1);
  EXPECT_EQ(t.no_usage, 1);
  EXPECT_DOUBLE_EQ(t.reconciled_usd, 0.05);
  EXPECT_DOUBLE_EQ(t.possibly_billed_usd, 0.2);
  EXPECT_DOUBLE_EQ(t.cost_usd, 0.0);  // the answers' cost stays apart
}

TEST(ModelIdsUnit, SuggestionsForAliasesAndTypos) {
  const std::set<std::string> listed = {"meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-70b-instruct",
                                        "qwen/qwen-2.5-72b-instruct", "openai/gpt-4o-mini"};
  EXPECT_EQ(closest_model_ids("70B", listed), std::vector<std::string>{"meta-llama/llama-3.1-70b-instruct"});
  EXPECT_EQ(closest_model_ids("meta-llama/llama-3.1-8b-instuct", listed).front(), "meta-llama/llama-3.1-8b-instruct");
  EXPECT_EQ(closest_model_ids("qwen-2.5-72b-instruct", listed), std::vector<std::string>{"qwen/qwen-2.5-72b-instruct"});
  EXPECT_TRUE(closest_model_ids("anthropic/claude-opus", listed).empty());

  EXPECT_EQ(unknown_model_ids_message({"openai/gpt-4o-mini"}, listed, "http://x/models"), "");
  const std::string message =
      unknown_model_ids_message({"8B", "openai/gpt-4o-mini", "8B", "nobody/none"}, listed, "http://x/models");
  EXPECT_EQ(message,
            "unknown model ids (not among the 4 models http://x/models lists): '8B' (did you mean "
            "meta-llama/llama-3.1-8b-instruct?); 'nobody/none' (no close match). Nothing was sent");
}

struct GuardFixture {
  explicit GuardFixture(OpenRouterServer& server, const std::string& name, KeyCheck mode, int every)
      : options(fast_options(server, name)),
        endpoint(options.base_url, testing::kTestKey, options),
        guard(endpoint, mode, every) {}
  ClientOptions options;
  http::Endpoint endpoint;
  KeyGuard guard;
};

TEST(KeyGuardUnit, RechecksEveryNBilledRequestsAndStopsWhenTheRestNoLongerFits) {
  test::ServerOptions so;
  so.key_limit = 1.0;
  OpenRouterServer server({}, so);
  GuardFixture f(server, "llm_key_guard", KeyCheck::Stop, 3);
  f.guard.check_before_batch([] { return 0.5; });
  EXPECT_EQ(server.key_requests(), 1);
  f.guard.start_batch();
  const auto still_open = [] { return std::pair<double, std::size_t>{2.0, 7}; };
  f.guard.count_billed();
  f.guard.count_billed();
  EXPECT_EQ(f.guard.recheck_if_due(still_open), "");  // not due yet
  EXPECT_EQ(server.key_requests(), 1);
  f.guard.count_billed();
  const std::string stop = f.guard.recheck_if_due(still_open);
  EXPECT_EQ(server.key_requests(), 2);
  EXPECT_NE(stop.find("key limit nearly reached: GET /key reports $1.000000 remaining, below the worst case "
                      "$2.000000 of the 7 requests"),
            std::string::npos)
      << stop;
  EXPECT_THROW(f.guard.check_before_batch([] { return 1.5; }), Error);
}

TEST(KeyGuardUnit, WarnModeWarnsAndOffModeNeverAsks) {
  test::ServerOptions so;
  so.key_limit = 1.0;
  OpenRouterServer server({}, so);
  GuardFixture warn(server, "llm_key_guard_warn", KeyCheck::Warn, 1);
  warn.guard.check_before_batch([] { return 5.0; });  // warns, does not throw
  warn.guard.count_billed();
  EXPECT_EQ(warn.guard.recheck_if_due([] { return std::pair<double, std::size_t>{5.0, 1}; }), "");
  EXPECT_EQ(server.key_requests(), 2);
  GuardFixture off(server, "llm_key_guard_off", KeyCheck::Off, 1);
  off.guard.check_before_batch([] { return 5.0; });
  off.guard.count_billed();
  EXPECT_EQ(off.guard.recheck_if_due([] { return std::pair<double, std::size_t>{5.0, 1}; }), "");
  EXPECT_EQ(server.key_requests(), 2);
  EXPECT_TRUE(off.guard.speaks_openrouter());  // it answers GET /key
}

TEST(CostReconcilerUnit, WaitsForGenerationRecordsThatAppearLate) {
  test::ServerOptions so;
  so.generation_not_found_first = 2;
  OpenRouterServer server([](const json::Value&, int) { return test::Reply::ok("C").with_cost(0.0042); }, so);
  ClientOptions o = fast_options(server, "llm_reconciler");
  o.max_concurrency = 1;
  OpenRouterClient client(o);
  auto answered = client.run_batch({make_request(1), make_request(2)});  // records now exist on the server
  o.generation_wait_s = 0.5;
  http::Endpoint endpoint(o.base_url, testing::kTestKey, o);
  KeyGuard guard(endpoint, KeyCheck::Off, 0);
  CostReconciler reconciler(endpoint, guard);
  EXPECT_TRUE(reconciler.can_reconcile());
  Completion a = answered[0], b = answered[1], missing;
  missing.generation_id = "gen-never";
  for (Completion* c : {&a, &b, &missing}) {
    c->cost_usd = 0.0;
    c->cost_source = "none";
  }
  reconciler.fill_costs({&a, &b, &missing});
  EXPECT_EQ(a.cost_source, "generation");
  EXPECT_DOUBLE_EQ(a.cost_usd, 0.0042);
  EXPECT_EQ(b.cost_source, "generation");
  EXPECT_EQ(missing.cost_source, "none");
  EXPECT_TRUE(reconciler.can_reconcile());  // some were found: the endpoint serves /generation
}

TEST(CostReconcilerUnit, AServerThatNeverAnswersIsNotAskedAgain) {
  test::ServerOptions so;
  so.serve_generation = false;
  OpenRouterServer server({}, so);
  ClientOptions o = fast_options(server, "llm_reconciler_absent");
  o.generation_wait_s = 0.05;
  http::Endpoint endpoint(o.base_url, testing::kTestKey, o);
  KeyGuard guard(endpoint, KeyCheck::Off, 0);
  CostReconciler reconciler(endpoint, guard);
  Completion c;
  c.generation_id = "gen-1";
  c.cost_source = "none";
  reconciler.fill_costs({&c});
  EXPECT_EQ(c.cost_source, "none");
  EXPECT_FALSE(reconciler.can_reconcile());
}

}  // namespace
}  // namespace w2s::llm
