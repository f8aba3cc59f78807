// The in-context commands against servers that answer the way today's reasoning models and
// providers do (issue 12), over real HTTP: what the records, the console and the exit code say.
#include <gtest/gtest.h>

#include <algorithm>

#include "icl_http_util.h"

using namespace w2s;
namespace fs = std::filesystem;

namespace {

using test::k8b;
using test::kQwen;
using test::load_tqa;
using test::Reply;
using test::ScriptedServer;
using test::w2s_command;

results::ResultRecord baseline_record(const fs::path& dir, const std::string& model) {
  return results::read_record(dir / "results" / "run" / "baseline" / (model_slug(model) + ".json"));
}

// 1. A reasoning model that spends max_tokens thinking: every prediction says so, the metrics
// count it, the console and the end of the command say what to do; the reasoning options are sent
// and recorded.
TEST(IclResponses, AnswersCutOffByReasoningAreCountedAndExplained) {
  ScriptedServer s(load_tqa(20));
  s.server.set_policy([](const json::Value& body, int) {
    return Reply::cut_off_while_reasoning("Let me consider each option in turn. Option A says", body.at("max_tokens").as_int());
  });
  const auto dir = test::scratch_dir("icl_reasoning_cut_off");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b + " --max-tokens 50 --reasoning-effort low",
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "20 answers were cut off at max_tokens by reasoning — raise --max-tokens or set --reasoning");
  const auto r = baseline_record(dir, k8b);
  ASSERT_EQ(r.predictions.size(), 20u);
  for (const auto& p : r.predictions) {
    EXPECT_EQ(p.finish_reason, "length");
    EXPECT_EQ(p.reasoning, "Let me consider each option in turn. Option A says");
    EXPECT_EQ(p.reasoning_tokens, 50);
    EXPECT_EQ(p.prediction, "");
  }
  EXPECT_EQ(r.metrics.parse_failures, 20);
  EXPECT_EQ(r.metrics.extra.get_int("truncated"), 20);
  EXPECT_EQ(r.metrics.extra.get_int("cut_off_by_reasoning"), 20);
  EXPECT_EQ(r.config.at("sampling").at("reasoning").at("effort").as_string(), "low");
  for (const auto& body : s.server.received_bodies()) EXPECT_EQ(body.at("reasoning").at("effort").as_string(), "low");
  test::expect_valid_records(dir / "results", 1);

  // --no-reasoning is sent as enabled: false, and excludes the other reasoning options.
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + kQwen + " --no-reasoning",
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  EXPECT_FALSE(s.server.received_bodies().back().at("reasoning").at("enabled").as_bool());
  EXPECT_FALSE(baseline_record(dir, kQwen).config.at("sampling").at("reasoning").at("enabled").as_bool());
  EXPECT_EQ(test::run_command(w2s_command("baseline --no-reasoning --reasoning-effort high", s.server.base_url(), dir),
                              &out),
            2);  // an option error (issue 21.11)
  EXPECT_CONTAINS(out, "--no-reasoning excludes");
}

// 2. Content as a list of typed parts: the text part is the answer, the thinking part (which
// names another letter) is kept as reasoning and never parsed.
TEST(IclResponses, TextPartsAreTheAnswerAndThinkingPartsAreKeptBesideIt) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds);
  s.server.set_policy([&](const json::Value& body, int) {
    Reply r;
    r.content_parts = json::Array{
        json::Object{{"type", "thinking"},
                     {"thinking", json::Array{json::Object{{"type", "text"}, {"text", "Answer: E looks tempting."}}}}},
        json::Object{{"type", "text"}, {"text", s.models.answer(body)}}};
    return r;
  });
  const auto dir = test::scratch_dir("icl_content_parts");
  llm::OpenRouterClient client(test::client_options(s, dir / "cache"));
  icl::Config cfg;
  cfg.results_dir = dir / "results";
  cfg.run_name = "run";
  cfg.models = {kQwen};
  icl::run_baseline(cfg, ds, client);
  const auto r = baseline_record(dir, kQwen);
  int answered = 0;
  for (std::size_t i = 0; i < r.predictions.size(); ++i) {
    const auto& p = r.predictions[i];
    ASSERT_TRUE(p.raw_completion && p.reasoning);
    EXPECT_EQ(*p.reasoning, "Answer: E looks tempting.");
    EXPECT_EQ(p.raw_completion->find("tempting"), std::string::npos) << *p.raw_completion;
    EXPECT_EQ(p.prediction, icl::parse_answer_strict(*p.raw_completion, ds.test[i].letters));
    answered += !p.prediction.empty();
  }
  EXPECT_GT(answered, 15);  // the scripted answers are mostly parseable; "" was every answer before
}

// 5. A server that allows at most 5 top_logprobs: --score logprobs still scores every question
// (one automatic retry with 5, then 5 for every request), and the config records it.
TEST(IclResponses, LogprobScoringAgainstAServerThatCapsTopLogprobs) {
  test::ServerOptions so;
  so.max_top_logprobs = 5;
  ScriptedServer s(load_tqa(20), 0.0, so);
  const auto dir = test::scratch_dir("icl_top_logprobs_cap");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --score logprobs --max-concurrency 1 --models ") + kQwen,
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "allows at most top_logprobs 5");
  EXPECT_EQ(s.server.chat_requests(), 21);
  const auto r = baseline_record(dir, kQwen);
  EXPECT_EQ(r.metrics.failed, 0);
  ASSERT_TRUE(r.metrics.auroc.has_value());
  EXPECT_EQ(r.config.at("sampling").at("top_logprobs").as_int(), 5);
  EXPECT_EQ(r.config.at("sampling").at("top_logprobs_requested").as_int(), 20);
  for (const auto& p : r.predictions) EXPECT_FALSE(p.probabilities.empty());

  // --top-logprobs asks for fewer from the start.
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --score logprobs --top-logprobs 3 --models ") + k8b,
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  EXPECT_EQ(s.server.received_bodies().back().at("top_logprobs").as_int(), 3);
  const auto three = baseline_record(dir, k8b);
  EXPECT_EQ(three.config.at("sampling").at("top_logprobs").as_int(), 3);
  EXPECT_FALSE(three.config.at("sampling").contains("top_logprobs_requested"));
}

// 5. A server that returns no logprobs (many providers drop the parameter): every answer falls back
// to its text, and the record and the console say so instead of passing it off as logprob scoring.
TEST(IclResponses, LogprobScoringWithoutLogprobsFallsBackToTextAndSaysSo) {
  ScriptedServer s(load_tqa(20));
  s.server.set_policy([&](const json::Value& body, int) {
    Reply r = Reply::ok(s.models.answer(body));
    if (body.at("model").as_string() == kQwen) r.logprobs = json::Value(nullptr);
    return r;
  });
  const auto dir = test::scratch_dir("icl_logprobs_missing");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --score logprobs --models ") + kQwen + "," + k8b,
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  EXPECT_CONTAINS(out, std::string("--score logprobs: ") + kQwen + " returned no logprobs for 20 of 20 answers");
  EXPECT_EQ(out.find(std::string("--score logprobs: ") + k8b), std::string::npos) << out;

  const auto missing = baseline_record(dir, kQwen);
  EXPECT_EQ(missing.metrics.extra.get_int("logprobs_missing"), 20);
  EXPECT_FALSE(missing.metrics.auroc.has_value());
  for (const auto& p : missing.predictions) {
    EXPECT_EQ(p.scored_by, "text-no-logprobs");
    EXPECT_TRUE(p.probabilities.empty());
    EXPECT_FALSE(p.prediction.empty());  // the text parser answered
  }
  const auto scored = baseline_record(dir, k8b);
  EXPECT_EQ(scored.metrics.extra.get_int("logprobs_missing"), 0);
  for (const auto& p : scored.predictions) EXPECT_EQ(p.scored_by, "logprobs");
  test::expect_valid_records(dir / "results", 2);

  // Text scoring records nothing of the kind.
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + kQwen, s.server.base_url(), dir), &out),
            0)
      << out;
  EXPECT_EQ(out.find("returned no logprobs"), std::string::npos) << out;
  const auto text = baseline_record(dir, kQwen);
  EXPECT_FALSE(text.metrics.extra.contains("logprobs_missing"));
  for (const auto& p : text.predictions) EXPECT_FALSE(p.scored_by.has_value());
}

// 7. A model id the endpoint does not list (a short alias, a typo) stops the command before any
// request, with the closest listed ids; the help shows real ids.
TEST(IclResponses, AnUnknownModelIdStopsTheCommandWithASuggestion) {
  ScriptedServer s(load_tqa(20));
  const auto dir = test::scratch_dir("icl_unknown_model");
  std::string out;
  EXPECT_EQ(test::run_command(w2s_command("weak-sweep --shots 0,2 --pairs 8B:70B", s.server.base_url(), dir), &out), 1)
      << out;
  EXPECT_CONTAINS(out, "'8B' (did you mean meta-llama/llama-3.1-8b-instruct?)");
  EXPECT_EQ(s.server.chat_requests(), 0);
  EXPECT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b + ",qwen/qwen-2.5-72b-instuct",
                                          s.server.base_url(), dir),
                              &out),
            1)
      << out;
  EXPECT_CONTAINS(out, "'qwen/qwen-2.5-72b-instuct' (did you mean qwen/qwen-2.5-72b-instruct?)");
  EXPECT_EQ(s.server.chat_requests(), 0);
  EXPECT_FALSE(fs::exists(dir / "results" / "run"));

  ASSERT_EQ(test::run_command(test::shell_quote(test::w2s_binary().string()) + " weak-sweep --help", &out), 0) << out;
  EXPECT_CONTAINS(out, "meta-llama/llama-3.1-8b-instruct:qwen/qwen-2.5-72b-instruct");
  EXPECT_EQ(out.find("8B:"), std::string::npos) << out;
}

// 4. An evaluation point whose requests failed (here: every request of one model refused with 400)
// is marked failed in its record, said so on the console, and left out of `w2s analyze` with a
// note; the other model's point is analysed as usual.
TEST(IclResponses, AFailedEvaluationPointIsMarkedAndLeftOutOfTheAnalysis) {
  ScriptedServer s(load_tqa(20));
  s.server.set_policy([&](const json::Value& body, int) {
    if (body.at("model").as_string() == kQwen) return Reply::error(400, "this model is not available to your key");
    return Reply::ok(s.models.answer(body));
  });
  const auto dir = test::scratch_dir("icl_failed_point");
  std::string out;
  EXPECT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b + "," + kQwen, s.server.base_url(), dir),
                              &out),
            3)
      << out;
  EXPECT_CONTAINS(out, "1 evaluation point(s) failed");
  const auto failed = baseline_record(dir, kQwen);
  ASSERT_TRUE(failed.failure.has_value());
  EXPECT_CONTAINS(*failed.failure, "20 of 20 requests failed for good (first: bad request (400): this model is not available to your key");
  EXPECT_FALSE(baseline_record(dir, k8b).failure.has_value());
  test::expect_valid_records(dir / "results", 2);

  ASSERT_EQ(test::run_command(test::shell_quote(test::w2s_binary().string()) + " analyze " +
                                  test::shell_quote((dir / "results" / "run").string()) + " --resamples 0",
                              &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "note: left out " + (dir / "results" / "run" / "baseline" / (model_slug(kQwen) + ".json")).string() +
                           ": the evaluation point failed (20 of 20");
  const std::string csv = w2s::read_file(dir / "results" / "run" / "analysis" / "icl_accuracy.csv");
  EXPECT_CONTAINS(csv, k8b);
  EXPECT_EQ(csv.find(kQwen), std::string::npos) << csv;
}

// 6. An unreachable endpoint stops the command at once with the URL and the error, exit 1, and
// writes no record.
TEST(IclResponses, AnUnreachableEndpointStopsTheCommand) {
  const auto dir = test::scratch_dir("icl_unreachable");
  const std::string url = "http://127.0.0.1:" + std::to_string(test::refused_port()) + "/api/v1";
  std::string out;
  EXPECT_EQ(test::run_command(w2s_command("baseline", url, dir), &out), 1) << out;
  EXPECT_CONTAINS(out, "cannot reach " + url + "/chat/completions");
  EXPECT_CONTAINS(out, "Connection refused");
  EXPECT_FALSE(fs::exists(dir / "results" / "run"));
}

// 6. A weak model whose labelling requests fail: the sweep stops before any strong-model request
// (it would show the student empty labels), says how to resume, and resumes once the cause is gone.
TEST(IclResponses, AWeakSweepNeverBuildsPromptsFromFailedWeakLabels) {
  ScriptedServer s(load_tqa(20));
  s.server.set_policy([&](const json::Value& body, int) {
    if (body.at("model").as_string() == k8b && test::messages_of(body).size() == 2)
      return Reply::error(400, "model is overloaded with invalid requests");
    return Reply::ok(s.models.answer(body));
  });
  const auto dir = test::scratch_dir("icl_failed_weak_labels");
  const std::string sweep =
      w2s_command(std::string("weak-sweep --shots 0,2,4 --pairs ") + k8b + ":" + kQwen, s.server.base_url(), dir);
  std::string out;
  EXPECT_EQ(test::run_command(sweep, &out), 1) << out;
  EXPECT_CONTAINS(out, "weak-sweep stopped: 4 of the 4 labelling requests of the weak model " + std::string(k8b) + " failed");
  EXPECT_CONTAINS(out, "run the same command again");
  for (const auto& body : s.server.received_bodies()) EXPECT_EQ(body.at("model").as_string(), k8b);
  EXPECT_TRUE(fs::exists(dir / "results" / "run" / "weak-labels" / (model_slug(k8b) + ".json")));

  s.server.set_policy([&](const json::Value& body, int) { return Reply::ok(s.models.answer(body)); });
  ASSERT_EQ(test::run_command(sweep, &out), 0) << out;
  int student_requests = 0;
  for (const auto& body : s.server.received_bodies()) student_requests += body.at("model").as_string() == kQwen;
  EXPECT_GE(student_requests, 20);  // shots 0 at least; 2 and 4 too unless labels equal the gold ones
}

// 6. Any run with failed requests exits non-zero (3), with its records written.
TEST(IclResponses, ARunWithFailedRequestsExitsWithThree) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds);
  // By value: the policy runs on the server's threads, and a local declared after the server dies
  // first (ThreadSanitizer reported the race when `broken` was a local captured by reference).
  s.server.set_policy([&s, broken = ds.test[5].text](const json::Value& body, int) {
    if (test::messages_of(body).back().content == broken) return Reply::error(400, "context length exceeded");
    return Reply::ok(s.models.answer(body));
  });
  const auto dir = test::scratch_dir("icl_failed_exit");
  std::string out;
  EXPECT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b, s.server.base_url(), dir), &out), 3)
      << out;
  EXPECT_CONTAINS(out, "1 request(s) failed");
  EXPECT_EQ(baseline_record(dir, k8b).metrics.failed, 1);
}

// Refusals (content filter, message.refusal, moderation 403) are their own outcome: in the
// predictions with text and category, counted as refused (not unparsed, not failed) in the
// metrics and the console's "refused" column; the run does not exit as failed.
TEST(IclResponses, RefusalsAreCountedApartFromUnparsedAnswers) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds);
  s.server.set_policy([&](const json::Value& body, int) {
    const std::string question = test::messages_of(body).back().content;
    Reply r = Reply::ok(s.models.answer(body));
    if (question == ds.test[0].text) {
      r.content = "";
      r.finish_reason = "content_filter";
    }
    if (question == ds.test[1].text) {
      r.content = "";
      r.refusal = "I won't answer that.";
    }
    if (question == ds.test[2].text)
      return Reply::error(403, "Input flagged", json::Object{{"reasons", json::Array{"harassment"}},
                                                             {"flagged_input", "..."}});
    if (question == ds.test[3].text) r.content = "no letter here";
    return r;
  });
  const auto dir = test::scratch_dir("icl_refusals");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b, s.server.base_url(), dir), &out), 0)
      << out;
  EXPECT_CONTAINS(out, "unparsed refused cut off");
  const auto r = baseline_record(dir, k8b);
  EXPECT_EQ(r.metrics.extra.get_int("refused"), 3);
  EXPECT_EQ(r.metrics.failed, 0);
  // Unparsed: the answers without a letter (the scripted model has its own besides question 3);
  // the refusals, whose prediction is "" too, are not among them.
  const auto unparsed = std::count_if(r.predictions.begin(), r.predictions.end(), [](const auto& p) {
    return !p.refusal && !p.error && p.prediction.empty();
  });
  EXPECT_GE(unparsed, 1);
  EXPECT_EQ(r.metrics.parse_failures, unparsed);
  std::map<std::string, results::Prediction> by_id;
  for (const auto& p : r.predictions) by_id[p.id] = p;
  const auto& filtered = by_id.at(std::to_string(ds.test[0].question_id));
  EXPECT_EQ(filtered.refusal_category, "content_filter");
  EXPECT_EQ(filtered.prediction, "");
  EXPECT_FALSE(filtered.correct);
  EXPECT_EQ(by_id.at(std::to_string(ds.test[1].question_id)).refusal, "I won't answer that.");
  EXPECT_EQ(by_id.at(std::to_string(ds.test[1].question_id)).refusal_category, "refusal");
  const auto& moderated = by_id.at(std::to_string(ds.test[2].question_id));
  EXPECT_EQ(moderated.refusal_category, "moderation");
  EXPECT_NE(moderated.refusal->find("harassment"), std::string::npos) << *moderated.refusal;
  EXPECT_FALSE(by_id.at(std::to_string(ds.test[3].question_id)).refusal.has_value());
  EXPECT_EQ(by_id.at(std::to_string(ds.test[3].question_id)).prediction, "");
  test::expect_valid_records(dir / "results", 1);
}

// Attempts whose answer never came (a 200 without usage that was retried) are reconciled by their
// generation id; the record and the console keep that money apart from the answers' cost.
TEST(IclResponses, ReconciledAttemptsAreShownApartFromTheAnswersCost) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds);
  s.server.set_policy([&](const json::Value& body, int attempt) {
    Reply r = Reply::ok(s.models.answer(body));
    if (attempt == 1 && test::messages_of(body).back().content == ds.test[0].text) {
      r.choice_error = json::Object{{"code", 502}, {"message", "provider crashed"}};
      r.omit_usage = true;
    }
    return r;
  });
  const auto dir = test::scratch_dir("icl_reconciled");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b, s.server.base_url(), dir), &out), 0)
      << out;
  const auto r = baseline_record(dir, k8b);
  EXPECT_GT(r.cost.total.reconciled_usd, 0.0);
  EXPECT_EQ(r.cost.total.possibly_billed_usd, 0.0);
  EXPECT_NEAR(r.cost.total.usd + r.cost.total.reconciled_usd, s.server.billed_cost(), 1e-12);
  EXPECT_CONTAINS(out, "money apart from the answers' cost: reconciled $");
  test::expect_valid_records(dir / "results", 1);
}

// 7. The record of a rerun served from the cache keeps this run's spend ($0) and says what the
// replayed answers cost when they were first paid.
TEST(IclResponses, ARecordAfterACacheReplaySaysWhatTheAnswersCost) {
  ScriptedServer s(load_tqa(20));
  const auto dir = test::scratch_dir("icl_replay_cost");
  const std::string baseline = w2s_command(std::string("baseline --models ") + k8b, s.server.base_url(), dir);
  std::string out;
  ASSERT_EQ(test::run_command(baseline, &out), 0) << out;
  const auto first = baseline_record(dir, k8b);
  ASSERT_GT(first.cost.total.usd, 0.0);
  EXPECT_EQ(first.cost.total.replayed_usd, 0.0);
  ASSERT_EQ(test::run_command(baseline, &out), 0) << out;
  const auto replay = baseline_record(dir, k8b);
  EXPECT_EQ(replay.cost.total.usd, 0.0);
  EXPECT_EQ(replay.cost.total.cache_hits, 20);
  EXPECT_NEAR(replay.cost.total.replayed_usd, first.cost.total.usd, 1e-12);
  EXPECT_NEAR(replay.cost.by_model.at(k8b).replayed_usd, first.cost.total.usd, 1e-12);
  EXPECT_CONTAINS(out, "the answers served from the cache cost $");
  EXPECT_EQ(s.server.chat_requests(), 20);
}

// 8. Bring-your-own-key: the upstream charge is in the records, and in the cost with
// --count-upstream-cost.
TEST(IclResponses, ByokUpstreamCostIsRecordedAndCountedWhenAsked) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds);
  s.server.set_policy([&](const json::Value& body, int) {
    Reply r = Reply::ok(s.models.answer(body)).with_cost(0.00001);
    r.byok = true;
    r.upstream_cost = 0.0004;
    return r;
  });
  const auto dir = test::scratch_dir("icl_byok");
  std::string out;
  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --models ") + k8b, s.server.base_url(), dir), &out), 0)
      << out;
  const auto plain = baseline_record(dir, k8b);
  EXPECT_NEAR(plain.cost.total.upstream_usd, 20 * 0.0004, 1e-12);
  EXPECT_NEAR(plain.cost.total.usd, 20 * 0.00001, 1e-12);
  EXPECT_FALSE(plain.config.at("client").at("count_upstream_cost").as_bool());

  ASSERT_EQ(test::run_command(w2s_command(std::string("baseline --count-upstream-cost --no-cache --models ") + kQwen,
                                          s.server.base_url(), dir),
                              &out),
            0)
      << out;
  const auto counted = baseline_record(dir, kQwen);
  EXPECT_NEAR(counted.cost.total.usd, 20 * (0.00001 + 0.0004), 1e-12);
  EXPECT_NEAR(counted.cost.total.upstream_usd, 20 * 0.0004, 1e-12);
  EXPECT_TRUE(counted.config.at("client").at("count_upstream_cost").as_bool());
}

}  // namespace
