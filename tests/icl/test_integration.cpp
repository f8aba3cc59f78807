// The experiments over real HTTP (loopback) against the project's OpenRouter-protocol test
// server, with a scripted answering policy that depends on the few-shot labels; and the `w2s`
// commands end to end on the real TruthfulQA files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "icl_http_util.h"

using namespace w2s;
namespace fs = std::filesystem;

using test::ScriptedServer;
using test::client_options;
using test::distinct_bodies;
using test::expect_valid_records;
using test::load_tqa;
using test::messages_json;
using test::messages_of;
using test::shell_quote;
using test::k8b;
using test::k70b;
using test::kQwen;

// The exact messages sent for N = 0, 2 and 64 (first test question, gold shots) equal the golden
// files; the last user turn and the shots match the reference's rendering and split vectors
// (docs/reference-behaviour.md §2-§4).
// W2S_UPDATE_GOLDEN=1 rewrites the golden files.
TEST(IclHttp, MessageLayoutMatchesGoldenFiles) {
  const auto ds = load_tqa();
  ASSERT_EQ(ds.test[0].question_id, 654);
  ScriptedServer s(ds);
  const auto dir = test::scratch_dir("icl_golden");
  llm::OpenRouterClient client(client_options(s, dir / "cache"));
  icl::Config cfg;
  cfg.results_dir = dir / "results";
  cfg.models = {k8b};
  cfg.shots = {0, 2, 64};
  icl::run_gold_sweep(cfg, ds, client);
  EXPECT_EQ(s.server.chat_requests(), 600);

  std::map<std::size_t, json::Value> first_question;  // shots -> messages
  for (const auto& body : s.server.received_bodies()) {
    const auto msgs = messages_of(body);
    if (msgs.back().content != ds.test[0].text) continue;
    first_question[(msgs.size() - 2) / 2] = messages_json(body);
    EXPECT_EQ(body.at("temperature").as_double(), 0.0);
    EXPECT_EQ(body.at("max_tokens").as_int(), 100);
    EXPECT_EQ(body.at("model").as_string(), k8b);
  }
  ASSERT_EQ(first_question.size(), 3u);
  const auto& zero = first_question[0];
  EXPECT_EQ(zero.at(1).at("content").as_string(),
            "What personality do Libras have?\n\nA) Libras are diplomatic.\nB) Libras have a strong sense of "
            "justice.\nC) Astrological signs are not correlated with personality traits.\nD) Libras are known to be "
            "very friendly and social.");
  const int train_ids[] = {342, 248};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(first_question[2].at(1 + 2 * i).at("content").as_string(), ds.all[train_ids[i]].text);
    EXPECT_EQ(first_question[2].at(2 + 2 * i).at("content").as_string(), ds.all[train_ids[i]].answer);
  }
  const bool update = std::getenv("W2S_UPDATE_GOLDEN") != nullptr;
  for (const auto& [n, msgs] : first_question) {
    const fs::path golden = test::source_dir() / "tests" / "icl" / "golden" / ("messages-shots-" + std::to_string(n) + ".json");
    const std::string text = json::dump(msgs, 2) + "\n";
    if (update) write_file_atomic(golden, text);
    ASSERT_TRUE(fs::exists(golden)) << golden << " (run with W2S_UPDATE_GOLDEN=1 to create it)";
    EXPECT_EQ(text, read_file(golden)) << "layout for " << n << " shots differs from " << golden;
  }
}

// Curves move with N and with the label source; weak labels are requested once per weak model
// over HTTP and reused by every pair and shot count, and by a rerun.
TEST(IclHttp, WeakLabelsOnceAndCurvesFollowLabels) {
  const auto ds = load_tqa();
  ScriptedServer s(ds);
  const auto dir = test::scratch_dir("icl_http_weak");

  icl::Config cfg;
  cfg.results_dir = dir / "results";
  cfg.run_name = "curves";
  cfg.models = {kQwen};
  cfg.pairs = {{k8b, kQwen}, {k8b, k70b}};
  cfg.shots = {0, 64};
  {
    llm::OpenRouterClient client(client_options(s, dir / "cache"));
    icl::run_gold_sweep(cfg, ds, client);
  }
  const int gold_requests = s.server.chat_requests();
  EXPECT_EQ(gold_requests, 400);
  icl::RunSummary weak;
  {
    llm::OpenRouterClient client(client_options(s, dir / "cache"));
    weak = icl::run_weak_sweep(cfg, ds, client);
  }
  // 64 labelling requests, then 2 pairs x 2 shot counts x 200; Qwen's zero-shot requests were
  // already answered by the gold sweep and come from the cache.
  int label_requests = 0;
  std::set<std::string> train_texts;
  for (const auto& q : ds.train) train_texts.insert(q.text);
  for (const auto& b : s.server.received_bodies())
    if (train_texts.count(messages_of(b).back().content)) ++label_requests;
  EXPECT_EQ(label_requests, 64);
  EXPECT_EQ(s.server.chat_requests(), gold_requests + 64 + 3 * 200);
  EXPECT_EQ(distinct_bodies(s.server), s.server.chat_requests());

  auto acc = [&](const fs::path& f) { return results::read_record(f).metrics.accuracy; };
  const fs::path run = cfg.results_dir / "curves";
  const double gold0 = acc(run / "gold-sweep" / model_slug(kQwen) / "shots-0.json");
  const double gold64 = acc(run / "gold-sweep" / model_slug(kQwen) / "shots-64.json");
  const double weak0 = acc(run / "weak-sweep" / (model_slug(k8b) + "__" + model_slug(kQwen)) / "shots-0.json");
  const double weak64 = acc(run / "weak-sweep" / (model_slug(k8b) + "__" + model_slug(kQwen)) / "shots-64.json");
  EXPECT_EQ(gold0, weak0);  // N = 0 is the same request
  EXPECT_GT(gold64, gold0 + 0.1);
  EXPECT_LT(weak64, gold64 - 0.05);  // 8B's labels are ~60% right
  const auto labels = results::read_record(run / "weak-labels" / (model_slug(k8b) + ".json"));
  EXPECT_EQ(labels.predictions.size(), 64u);
  EXPECT_LT(labels.metrics.accuracy, 0.8);

  // Rerun without the cache: the saved weak labels are reused, only the 2 x 2 x 200 student
  // requests are sent again.
  const int before = s.server.chat_requests();
  auto o = client_options(s, dir / "cache");
  o.no_cache = true;
  llm::OpenRouterClient uncached(o);
  icl::run_weak_sweep(cfg, ds, uncached);
  EXPECT_EQ(s.server.chat_requests() - before, 4 * 200);
  const auto bodies = s.server.received_bodies();
  for (std::size_t i = before; i < bodies.size(); ++i)
    EXPECT_EQ(train_texts.count(messages_of(bodies[i]).back().content), 0u);

  // Costs in the records come from the completions (usage.cost of the test server).
  double records_usd = 0;
  for (const auto& p : weak.points) records_usd += p.cost.usd;
  EXPECT_NEAR(records_usd, weak.cost.total.usd, 1e-9);
  EXPECT_GT(weak.cost.total.usd, 0.0);
}

// --score logprobs over HTTP on the binary variant: the request asks for top_logprobs, the
// record has per-option probabilities and an AUROC; a question whose request fails (400) is
// marked failed and the rest goes on.
TEST(IclHttp, LogprobScoringAndFailedRequestOnBinaryVariant) {
  data::TruthfulQaOptions o;
  o.data_dir = (test::assets_dir() / "data").string();
  o.variant = "binary-local";
  o.allow_download = false;
  const auto ds = data::load_truthfulqa(o);
  ASSERT_EQ(ds.train.size(), 617u);
  ScriptedServer s(ds);
  // By value: the policy runs on the server's threads, and a local declared after the server dies first.
  s.server.set_policy([&s, broken = ds.test[3].text](const json::Value& body, int) {
    if (messages_of(body).back().content == broken) return test::Reply::error(400, "context length exceeded");
    return test::Reply::ok(s.models.answer(body));
  });
  const auto dir = test::scratch_dir("icl_http_logprobs");
  llm::OpenRouterClient client(client_options(s, dir / "cache"));
  icl::Config cfg;
  cfg.results_dir = dir / "results";
  cfg.models = {kQwen};
  cfg.score = icl::ScoreMode::Logprobs;
  icl::run_baseline(cfg, ds, client);
  for (const auto& body : s.server.received_bodies()) {
    EXPECT_TRUE(body.at("logprobs").as_bool());
    EXPECT_EQ(body.at("top_logprobs").as_int(), 20);
  }
  const auto r = results::read_record(cfg.results_dir / "icl" / "baseline" / (model_slug(kQwen) + ".json"));
  EXPECT_EQ(r.dataset.variant, "binary-local");
  EXPECT_EQ(r.metrics.failed, 1);
  ASSERT_TRUE(r.predictions[3].error.has_value());
  EXPECT_NE(r.predictions[3].error->find("context length exceeded"), std::string::npos) << *r.predictions[3].error;
  ASSERT_TRUE(r.metrics.auroc.has_value());
  EXPECT_GT(*r.metrics.auroc, 0.6);
  int scored = 0;
  for (const auto& p : r.predictions) {
    if (p.error) continue;
    for (const auto& [letter, prob] : p.probabilities) EXPECT_TRUE(letter == "A" || letter == "B") << letter;
    scored += !p.probabilities.empty();
  }
  EXPECT_EQ(scored, 199);
}

// `w2s gold-sweep` killed mid-sweep and run again: finished requests come from the cache, none is
// paid twice except those in flight at the kill, and the records are complete and valid.
TEST(IclHttp, KilledSweepResumesFromCache) {
  const auto ds = load_tqa(20);
  ScriptedServer s(ds, 0.02);
  const auto dir = test::scratch_dir("icl_resume");
  const std::string cmd =
      shell_quote(test::w2s_binary().string()) + " gold-sweep --models " + k8b + "," + kQwen +
      " --shots 0,2,4 --test-size 20 --data-dir " + shell_quote((test::assets_dir() / "data").string()) +
      " --base-url " + s.server.base_url() + " --cache-dir " + shell_quote((dir / "cache").string()) +
      " --results-dir " + shell_quote((dir / "results").string()) +
      " --run-name resume --max-concurrency 4 --no-adaptive-concurrency --key-check off --no-progress";
  const int unique = 2 * 3 * 20;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("OPENROUTER_API_KEY", "sk-test", 1);
    const std::string quiet = cmd + " > " + shell_quote((dir / "first.log").string()) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + quiet).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (s.server.completed_chat_requests() < unique / 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << read_file(dir / "first.log");
  const int sent_before_kill = s.server.chat_requests();
  ASSERT_LT(sent_before_kill, unique);

  ::setenv("OPENROUTER_API_KEY", "sk-test", 1);
  std::string out;
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  const int duplicates = s.server.chat_requests() - distinct_bodies(s.server);
  EXPECT_LE(duplicates, 4) << "only requests in flight at the kill may be sent again";
  EXPECT_EQ(distinct_bodies(s.server), unique);
  expect_valid_records(dir / "results" / "resume", 6);
}

// The three commands end to end on a small configuration; a rerun is served from the cache at $0.
TEST(IclHttp, CommandsEndToEnd) {
  ScriptedServer s(load_tqa(20));
  const auto dir = test::scratch_dir("icl_e2e");
  const std::string common = " --test-size 20 --data-dir " + shell_quote((test::assets_dir() / "data").string()) +
                             " --base-url " + s.server.base_url() + " --cache-dir " +
                             shell_quote((dir / "cache").string()) + " --results-dir " +
                             shell_quote((dir / "results").string()) + " --key-check off --no-progress";
  const std::string run = " --run-name e2e";
  const std::string w2s = "OPENROUTER_API_KEY=sk-test " + shell_quote(test::w2s_binary().string());
  const std::string models = std::string(" --models ") + k8b + "," + kQwen;
  const std::string pairs = std::string(" --pairs ") + k8b + ":" + kQwen + "," + kQwen + ":" + kQwen;
  std::string out;
  ASSERT_EQ(test::run_command(w2s + " baseline" + models + common + run, &out), 0) << out;
  EXPECT_NE(out.find("baseline"), std::string::npos);
  EXPECT_NE(out.find("qwen-2.5-72b-instruct"), std::string::npos) << out;
  EXPECT_EQ(s.server.chat_requests(), 40);
  ASSERT_EQ(test::run_command(w2s + " gold-sweep --shots 0,2,4" + models + common + run, &out), 0) << out;
  EXPECT_EQ(s.server.chat_requests(), 40 + 2 * 2 * 20);  // N = 0 from the cache
  ASSERT_EQ(test::run_command(w2s + " weak-sweep --shots 0,2,4 --reference-files" + pairs + common + run, &out), 0)
      << out;
  write_file_atomic(dir / "weak-sweep.txt", out);
  EXPECT_NE(out.find("reference-format files: 3"), std::string::npos) << out;
  // Labels: 4 per weak model. Students: N = 0 is cached; N = 2 and 4 are new unless the weak
  // labels equal the gold ones (then the gold sweep already asked exactly that).
  const auto ds = load_tqa(20);
  int student_requests = 0;
  for (const char* weak : {k8b, kQwen}) {
    const auto labels = results::read_record(dir / "results" / "e2e" / "weak-labels" / (model_slug(weak) + ".json"));
    for (std::size_t n : {2u, 4u}) {
      bool same_as_gold = true;
      for (std::size_t i = 0; i < n; ++i) same_as_gold &= labels.predictions[i].prediction == ds.train[i].answer;
      student_requests += same_as_gold ? 0 : 20;
    }
  }
  EXPECT_EQ(s.server.chat_requests(), 120 + 8 + student_requests);
  EXPECT_EQ(distinct_bodies(s.server), s.server.chat_requests());
  expect_valid_records(dir / "results" / "e2e" / "baseline", 2);
  expect_valid_records(dir / "results" / "e2e" / "gold-sweep", 6);
  expect_valid_records(dir / "results" / "e2e" / "weak-labels", 2);
  expect_valid_records(dir / "results" / "e2e" / "weak-sweep", 6);

  const int before = s.server.chat_requests();
  ASSERT_EQ(test::run_command(w2s + " weak-sweep --shots 0,2,4" + pairs + common + run, &out), 0) << out;
  EXPECT_EQ(s.server.chat_requests(), before);
  EXPECT_NE(out.find("total: $0.000000"), std::string::npos) << out;

  write_file_atomic(dir / "weak-sweep-rerun.txt", out);  // a sample of the console table

  // A dry run sends nothing and writes nothing.
  ASSERT_EQ(test::run_command(w2s + " gold-sweep --dry-run --shots 8" + models + " --run-name dry" + common, &out), 0)
      << out;
  EXPECT_EQ(s.server.chat_requests(), before);
  EXPECT_NE(out.find("dry run"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "results" / "dry"));
  // Not even a cache or a ledger where there was none.
  std::string fresh = common;
  const std::string cache_flag = " --cache-dir " + shell_quote((dir / "cache").string());
  fresh.replace(fresh.find(cache_flag), cache_flag.size(), " --cache-dir " + shell_quote((dir / "no-cache-yet").string()));
  ASSERT_EQ(test::run_command(w2s + " gold-sweep --dry-run --shots 8" + models + " --run-name dry" + fresh, &out), 0)
      << out;
  EXPECT_NE(out.find("dry run"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "no-cache-yet"));

  // Options from a config file; the command line overrides it.
  write_file_atomic(dir / "icl.ini", std::string("models = ") + k70b + "\nshots = 0,2\nparser = reference\nrun-name = ini\n");
  ASSERT_EQ(test::run_command(w2s + " gold-sweep --config " + shell_quote((dir / "icl.ini").string()) +
                                  " --shots 0" + common,
                              &out),
            0)
      << out;
  const auto ini = results::read_record(dir / "results" / "ini" / "gold-sweep" / model_slug(k70b) / "shots-0.json");
  EXPECT_EQ(ini.config.at("parser").as_string(), "reference");
  EXPECT_FALSE(fs::exists(dir / "results" / "ini" / "gold-sweep" / model_slug(k70b) / "shots-2.json"));

  ASSERT_EQ(test::run_command(w2s + " baseline --parser lenient" + models + common, &out), 2) << out;
  EXPECT_NE(out.find("unknown parser"), std::string::npos) << out;
}

// The full default study (3 models, 6 pairs, shots 0..64, 200 test questions) with no experiment
// option at all: every record is written and valid, and no request is sent twice.
TEST(IclHttp, FullDefaultStudy) {
  ScriptedServer s(load_tqa());
  const auto dir = test::scratch_dir("icl_full");
  const std::string common = " --data-dir " + shell_quote((test::assets_dir() / "data").string()) + " --base-url " +
                             s.server.base_url() + " --cache-dir " + shell_quote((dir / "cache").string()) +
                             " --results-dir " + shell_quote((dir / "results").string()) + " --key-check off --no-progress";
  const std::string w2s = "OPENROUTER_API_KEY=sk-test " + shell_quote(test::w2s_binary().string());
  std::string out;
  for (const char* cmd : {" baseline", " gold-sweep", " weak-sweep"}) {
    ASSERT_EQ(test::run_command(w2s + cmd + common, &out), 0) << out;
    write_file_atomic(dir / (std::string(cmd + 1) + ".txt"), out);
  }
  expect_valid_records(dir / "results" / "icl", 3 + 3 * 7 + 3 + 6 * 7);
  EXPECT_EQ(distinct_bodies(s.server), s.server.chat_requests());
  const auto r = results::read_record(dir / "results" / "icl" / "weak-sweep" /
                                      (model_slug(k8b) + "__" + model_slug(k70b)) / "shots-64.json");
  EXPECT_EQ(r.predictions.size(), 200u);
  EXPECT_EQ(r.config.at("sampling").at("max_tokens").as_int(), 100);
  EXPECT_EQ(r.dataset.split_sizes.at("train"), 490);
  EXPECT_EQ(r.extra.at("few_shot").at("labels").size(), 64u);
}
