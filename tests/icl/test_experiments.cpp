// Experiment logic against an in-process scripted provider (no HTTP): layouts, nested prefixes,
// weak labels computed once and reused, deduplication, failure policy, record validity.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "assets.h"
#include "scripted_policy.h"
#include "w2s/icl.h"

using namespace w2s;
namespace fs = std::filesystem;

namespace {

icl::Config small_config(const fs::path& dir) {
  icl::Config c;
  c.results_dir = dir;
  c.run_name = "unit";
  c.models = {"meta-llama/llama-3.1-8b-instruct", "qwen/qwen-2.5-72b-instruct"};
  c.pairs = {{"meta-llama/llama-3.1-8b-instruct", "qwen/qwen-2.5-72b-instruct"},
             {"meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-70b-instruct"},
             {"qwen/qwen-2.5-72b-instruct", "qwen/qwen-2.5-72b-instruct"}};
  c.shots = {0, 2, 4};
  return c;
}

void expect_valid(const fs::path& file) {
  ASSERT_TRUE(fs::exists(file)) << file;
  const auto problems = results::validate(json::parse_file(file));
  EXPECT_TRUE(problems.empty()) << file << ": " << (problems.empty() ? "" : problems.front());
}

// Shots of a request: (user text, assistant label) pairs between the system prompt and the question.
std::vector<std::pair<std::string, std::string>> shots_of(const llm::ChatRequest& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 1; i + 1 < r.messages.size(); i += 2) out.emplace_back(r.messages[i].content, r.messages[i + 1].content);
  return out;
}

}  // namespace

TEST(Experiments, BaselineWritesOneValidRecordPerModel) {
  const auto dir = test::scratch_dir("icl_baseline");
  const auto ds = test::synthetic_dataset(10, 30);
  test::ScriptedProvider provider(ds);
  auto cfg = small_config(dir);
  const auto summary = icl::run_baseline(cfg, ds, provider);
  ASSERT_EQ(summary.points.size(), 2u);
  EXPECT_EQ(provider.batches, 1);
  EXPECT_EQ(provider.request_count, 60);
  for (const auto& model : cfg.models) {
    const fs::path file = dir / "unit" / "baseline" / (model_slug(model) + ".json");
    expect_valid(file);
    const auto r = results::read_record(file);
    EXPECT_EQ(r.kind, results::Kind::Baseline);
    EXPECT_EQ(r.evaluated_model, model);
    EXPECT_EQ(r.predictions.size(), 30u);
    EXPECT_EQ(r.metrics.n, 30);
    EXPECT_EQ(r.dataset.split, "test");
    EXPECT_EQ(r.dataset.split_sizes.at("train"), 10);
    EXPECT_EQ(r.config.at("experiment").as_string(), "baseline");
    EXPECT_EQ(r.config.at("parser").as_string(), "strict");
    EXPECT_NEAR(r.cost.total.usd, 0.03, 1e-9);
    EXPECT_EQ(r.cost.total.requests, 30);
    EXPECT_EQ(r.cost.by_model.at(model).requests, 30);
    int correct = 0;
    for (std::size_t i = 0; i < r.predictions.size(); ++i) {
      const auto& p = r.predictions[i];
      EXPECT_EQ(p.id, std::to_string(ds.test[i].question_id));
      EXPECT_EQ(p.gold, ds.test[i].answer);
      ASSERT_TRUE(p.raw_completion.has_value());
      EXPECT_EQ(p.prediction, icl::parse_answer_strict(*p.raw_completion, ds.test[i].letters));
      correct += p.correct;
    }
    EXPECT_EQ(r.metrics.num_correct, correct);
    EXPECT_DOUBLE_EQ(r.metrics.accuracy, correct / 30.0);
  }
  EXPECT_NEAR(summary.cost.total.usd, 0.06, 1e-9);
  const std::string table = icl::format_summary(summary);
  EXPECT_NE(table.find("llama-3.1-8b-instruct"), std::string::npos);
  EXPECT_NE(table.find("total: $0.060000"), std::string::npos) << table;
}

TEST(Experiments, GoldSweepUsesNestedPrefixesOfTrain) {
  const auto dir = test::scratch_dir("icl_gold");
  const auto ds = test::synthetic_dataset(10, 20);
  test::ScriptedProvider provider(ds);
  auto cfg = small_config(dir);
  cfg.models = {"m/one"};
  cfg.shots = {8, 0, 4, 2, 4};  // as given on the command line: run sorted, each once
  const icl::RunSummary summary = icl::run_gold_sweep(cfg, ds, provider);
  ASSERT_EQ(provider.request_count, 80);
  ASSERT_EQ(summary.points.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(summary.points[i].shots, std::vector<int>({0, 2, 4, 8})[i]);
  std::set<std::size_t> shot_counts;
  for (const auto& r : provider.seen) {
    const auto shots = shots_of(r);
    shot_counts.insert(shots.size());
    for (std::size_t i = 0; i < shots.size(); ++i) {
      EXPECT_EQ(shots[i].first, ds.train[i].text);
      EXPECT_EQ(shots[i].second, ds.train[i].answer);
    }
    EXPECT_EQ(r.temperature, 0.0);
    EXPECT_EQ(r.max_tokens, 100);
    EXPECT_FALSE(r.logprobs);
  }
  EXPECT_EQ(shot_counts, (std::set<std::size_t>{0, 2, 4, 8}));
  for (int n : cfg.shots) {
    const fs::path file = dir / "unit" / "gold-sweep" / "m_one" / ("shots-" + std::to_string(n) + ".json");
    expect_valid(file);
    const auto r = results::read_record(file);
    EXPECT_EQ(*r.shots, n);
    EXPECT_EQ(r.label_source.kind, "gold");
    EXPECT_EQ(r.extra.at("few_shot").at("ids").size(), static_cast<std::size_t>(n));
  }
  cfg.shots = std::vector<int>{0, 11};
  EXPECT_THROW(icl::run_gold_sweep(cfg, ds, provider), Error);
}

TEST(Experiments, WeakLabelsAreComputedOnceAndReused) {
  const auto dir = test::scratch_dir("icl_weak");
  const auto ds = test::synthetic_dataset(12, 20);
  test::ScriptedProvider provider(ds);
  auto cfg = small_config(dir);
  cfg.parser = icl::ParserKind::Reference;
  const auto summary = icl::run_weak_sweep(cfg, ds, provider);

  // Two weak models label train[0:4] once each, in one batch.
  std::set<std::string> train_texts;
  for (int i = 0; i < 12; ++i) train_texts.insert(ds.train[i].text);
  int label_requests = 0;
  std::map<std::string, std::vector<std::string>> weak_answers;
  for (const auto& r : provider.seen)
    if (train_texts.count(r.messages.back().content)) {
      ++label_requests;
      EXPECT_EQ(r.messages.size(), 2u);
    }
  EXPECT_EQ(label_requests, 8);
  EXPECT_EQ(provider.batches, 2);

  // The student sees the weak model's parsed zero-shot answers, verbatim, as labels.
  test::ScriptedModels models(ds);
  for (const auto& pair : cfg.pairs) {
    const auto labels_record = results::read_record(dir / "unit" / "weak-labels" / (model_slug(pair.weak) + ".json"));
    EXPECT_EQ(labels_record.kind, results::Kind::WeakLabels);
    EXPECT_EQ(labels_record.dataset.split, "train");
    ASSERT_EQ(labels_record.predictions.size(), 4u);
    for (int n : cfg.shots) {
      const fs::path file = dir / "unit" / "weak-sweep" / (model_slug(pair.weak) + "__" + model_slug(pair.strong)) /
                            ("shots-" + std::to_string(n) + ".json");
      expect_valid(file);
      const auto r = results::read_record(file);
      EXPECT_EQ(r.evaluated_model, pair.strong);
      EXPECT_EQ(r.label_source.kind, "weak");
      EXPECT_EQ(r.label_source.model, pair.weak);
      const auto& labels = r.extra.at("few_shot").at("labels");
      ASSERT_EQ(labels.size(), static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        const std::string expected =
            icl::parse_answer_reference(models.answer(pair.weak, icl::build_messages({}, ds.train[i].text)));
        EXPECT_EQ(labels.at(i).as_string(), expected);
        EXPECT_EQ(labels.at(i).as_string(), labels_record.predictions[i].prediction);
      }
    }
  }
  // Students' requests carry those labels (prefixes of train, nested across N).
  for (const auto& r : provider.seen) {
    const auto shots = shots_of(r);
    for (std::size_t i = 0; i < shots.size(); ++i) EXPECT_EQ(shots[i].first, ds.train[i].text);
  }
  // 3 pairs x 3 shot counts x 20 questions; the zero-shot requests of the two Qwen students are
  // identical and sent once.
  EXPECT_EQ(provider.request_count, 8 + 3 * 3 * 20 - 20);
  EXPECT_EQ(summary.cost.total.requests, provider.request_count);

  // A rerun reuses the saved labels: no labelling request.
  test::ScriptedProvider again(ds);
  icl::run_weak_sweep(cfg, ds, again);
  EXPECT_EQ(again.batches, 1);
  for (const auto& r : again.seen) EXPECT_EQ(train_texts.count(r.messages.back().content), 0u);

  // A different parser changes the labels: they are computed again.
  test::ScriptedProvider strict(ds);
  cfg.parser = icl::ParserKind::Strict;
  icl::run_weak_sweep(cfg, ds, strict);
  EXPECT_EQ(strict.batches, 2);
}

TEST(Experiments, FailedRequestsAreMarkedAndCountedByPolicy) {
  const auto dir = test::scratch_dir("icl_failed");
  const auto ds = test::synthetic_dataset(4, 20);
  test::ScriptedProvider provider(ds);
  provider.fail_texts = {ds.test[0].text, ds.test[5].text};
  auto cfg = small_config(dir);
  cfg.models = {"m/x"};
  icl::run_baseline(cfg, ds, provider);
  const fs::path file = dir / "unit" / "baseline" / "m_x.json";
  expect_valid(file);
  auto wrong = results::read_record(file);
  EXPECT_EQ(wrong.metrics.failed, 2);
  EXPECT_EQ(wrong.metrics.n, 20);
  ASSERT_TRUE(wrong.predictions[0].error.has_value());
  EXPECT_NE(wrong.predictions[0].error->find("scripted failure"), std::string::npos);
  EXPECT_FALSE(wrong.predictions[0].correct);
  EXPECT_DOUBLE_EQ(wrong.metrics.accuracy, wrong.metrics.num_correct / 20.0);
  EXPECT_EQ(wrong.cost.total.failed_requests, 2);

  cfg.failed_policy = icl::FailedPolicy::Exclude;
  test::ScriptedProvider p2(ds);
  p2.fail_texts = provider.fail_texts;
  icl::run_baseline(cfg, ds, p2);
  auto excluded = results::read_record(file);
  EXPECT_EQ(excluded.metrics.num_correct, wrong.metrics.num_correct);
  EXPECT_DOUBLE_EQ(excluded.metrics.accuracy, excluded.metrics.num_correct / 18.0);
  EXPECT_EQ(excluded.metrics.extra.at("failed_policy").as_string(), "exclude");
}

TEST(Experiments, ReferenceAndStrictParsersOnScriptedArtefacts) {
  const auto dir = test::scratch_dir("icl_parsers");
  const auto ds = test::synthetic_dataset(4, 200);
  auto cfg = small_config(dir);
  cfg.models = {"m/x"};
  test::ScriptedProvider p1(ds);
  icl::run_baseline(cfg, ds, p1);
  const auto strict = results::read_record(dir / "unit" / "baseline" / "m_x.json");
  cfg.parser = icl::ParserKind::Reference;
  test::ScriptedProvider p2(ds);
  icl::run_baseline(cfg, ds, p2);
  const auto reference = results::read_record(dir / "unit" / "baseline" / "m_x.json");
  int refusals = 0;
  for (std::size_t i = 0; i < strict.predictions.size(); ++i) {
    const auto& s = strict.predictions[i];
    const auto& r = reference.predictions[i];
    ASSERT_EQ(*s.raw_completion, *r.raw_completion);
    if (*s.raw_completion == "I cannot answer that.") {
      ++refusals;
      EXPECT_EQ(s.prediction, "");
      EXPECT_EQ(r.prediction, "I");
    } else {
      EXPECT_EQ(s.prediction, r.prediction) << *s.raw_completion;
    }
  }
  EXPECT_GT(refusals, 0);
  EXPECT_EQ(strict.metrics.parse_failures, refusals);
  EXPECT_EQ(reference.metrics.parse_failures, 0);
  EXPECT_EQ(strict.metrics.num_correct, reference.metrics.num_correct);
  ASSERT_TRUE(strict.metrics.accuracy_answered.has_value());
  EXPECT_DOUBLE_EQ(*strict.metrics.accuracy_answered, strict.metrics.num_correct / (200.0 - refusals));
}

namespace {
// Answers with first-token logprobs favouring the gold letter for half of the questions.
class LogprobProvider : public llm::Provider {
 public:
  explicit LogprobProvider(const data::TruthfulQa& ds) {
    for (const auto& q : ds.all) gold_[q.text] = q.answer;
  }
  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result) override {
    std::vector<llm::Completion> out;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      EXPECT_TRUE(requests[i].logprobs);
      EXPECT_EQ(requests[i].top_logprobs, 20);
      const std::string& gold = gold_.at(requests[i].messages.back().content);
      const bool knows = test::hash_unit(requests[i].messages.back().content) < 0.5;
      llm::Completion c;
      c.ok = true;
      c.content = knows ? gold : "B";
      llm::TokenLogprob first{c.content, std::log(0.6), {}};
      first.top = {{c.content, std::log(0.6)}, {" " + gold, std::log(knows ? 0.1 : 0.3)}, {"I", std::log(0.1)}};
      c.logprobs = {first};
      if (on_result) on_result(i, c);
      out.push_back(c);
    }
    return out;
  }

 private:
  std::map<std::string, std::string> gold_;
};
}  // namespace

TEST(Experiments, LogprobScoringRecordsProbabilitiesAndAuroc) {
  const auto dir = test::scratch_dir("icl_logprobs");
  const auto ds = test::synthetic_dataset(4, 60);
  auto cfg = small_config(dir);
  cfg.models = {"m/x"};
  cfg.score = icl::ScoreMode::Logprobs;
  LogprobProvider provider(ds);
  icl::run_baseline(cfg, ds, provider);
  const fs::path file = dir / "unit" / "baseline" / "m_x.json";
  expect_valid(file);
  const auto r = results::read_record(file);
  ASSERT_TRUE(r.metrics.auroc.has_value());
  EXPECT_GT(*r.metrics.auroc, 0.5);
  EXPECT_TRUE(r.metrics.extra.contains("ece"));
  for (const auto& p : r.predictions) {
    ASSERT_FALSE(p.probabilities.empty());
    ASSERT_TRUE(p.score.has_value());
    double total = 0;
    for (const auto& [letter, prob] : p.probabilities) total += prob;
    EXPECT_NEAR(total, 1.0, 1e-12);
    EXPECT_DOUBLE_EQ(*p.score, p.probabilities.at(p.prediction));
  }
}

TEST(Experiments, DryRunWritesNothing) {
  const auto dir = test::scratch_dir("icl_dry");
  const auto ds = test::synthetic_dataset(4, 10);
  auto cfg = small_config(dir);
  cfg.client.dry_run = true;
  test::ScriptedProvider provider(ds);
  icl::run_baseline(cfg, ds, provider);
  EXPECT_EQ(provider.seen.size(), 20u);
  EXPECT_FALSE(fs::exists(dir / "unit"));
}

TEST(Experiments, ReferenceFormatFiles) {
  const auto dir = test::scratch_dir("icl_reference_files");
  const auto ds = test::synthetic_dataset(6, 10);
  auto cfg = small_config(dir);
  test::ScriptedProvider provider(ds);
  const fs::path out = dir / "reference";
  auto base = icl::write_reference_files(icl::run_baseline(cfg, ds, provider), ds, out);
  auto gold = icl::write_reference_files(icl::run_gold_sweep(cfg, ds, provider), ds, out);
  auto weak = icl::write_reference_files(icl::run_weak_sweep(cfg, ds, provider), ds, out);
  ASSERT_EQ(base.size(), 3u);  // 2 per-model files + the combined one
  ASSERT_EQ(gold.size(), 1u);
  ASSERT_EQ(weak.size(), 4u);  // weak_sweep + one w2s file per pair

  const auto b = json::parse_file(out / "weak_labels" / "meta-llama_llama-3.1-8b-instruct_baseline.json");
  const auto record = results::read_record(dir / "unit" / "baseline" / "meta-llama_llama-3.1-8b-instruct.json");
  std::vector<std::string> keys;
  for (const auto& [k, v] : b.as_object()) keys.push_back(k);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 6),
            (std::vector<std::string>{"timestamp", "model", "model_name", "dataset", "few_shot", "results"}));
  EXPECT_EQ(b.at("dataset"), json::parse(R"({"name":"TruthfulQA","test_size":10,"train_size":6})"));
  EXPECT_EQ(b.at("results").at("num_total").as_int(), 10);
  EXPECT_DOUBLE_EQ(b.at("results").at("accuracy").as_double(), record.metrics.accuracy);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_EQ(b.at("results").at("predictions").at(i).as_string(), record.predictions[i].prediction);
  EXPECT_EQ(b.at("timestamp").as_string().size(), 15u);  // %Y%m%d_%H%M%S

  const auto g = json::parse_file(gold[0]);
  EXPECT_EQ(g.at("experiment").as_string(), "gold_labels_sweep");
  EXPECT_EQ(g.at("num_shots_list"), json::parse("[0,2,4]"));
  EXPECT_EQ(g.at("models").at("qwen/qwen-2.5-72b-instruct").at("results").size(), 3u);
  EXPECT_FALSE(g.at("models").at("qwen/qwen-2.5-72b-instruct").at("results").at(0).contains("predictions"));

  const auto w = json::parse_file(weak[0]);
  EXPECT_EQ(w.at("experiment").as_string(), "weak_labels_sweep");
  const auto& pair = w.at("model_pairs").at("meta-llama/llama-3.1-8b-instruct -> qwen/qwen-2.5-72b-instruct");
  EXPECT_EQ(pair.at("strong_model_name").as_string(), "qwen-2.5-72b-instruct");
  EXPECT_EQ(pair.at("results").at(2).at("num_few_shot").as_int(), 4);
  EXPECT_EQ(pair.at("results").at(2).at("predictions").size(), 10u);
  const auto w2s = json::parse_file(weak[1]);
  EXPECT_EQ(w2s.at("experiment").as_string(), "weak_to_strong_sweep");
  EXPECT_EQ(w2s.at("weak_labels_train").size(), 4u);
  EXPECT_EQ(weak[1].filename().string().rfind("w2s_meta-llama_llama-3.1-8b-instruct_to_qwen_qwen-2.5-72b-instruct_", 0), 0u);
}

namespace {

// The scripted models, except that `no_letter` never answers with an option letter and
// `cut_off` spends max_tokens on reasoning and is cut off before any answer.
class UnusableLabelsProvider : public test::ScriptedProvider {
 public:
  using ScriptedProvider::ScriptedProvider;
  std::string no_letter = "tiny/no-letter", cut_off = "think/cut-off";
  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result = {}) override {
    std::vector<llm::Completion> out = ScriptedProvider::run_batch(requests);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (requests[i].model == no_letter) out[i].content = "Well, that depends on how you look at it.";
      if (requests[i].model == cut_off) {
        out[i].content = "";
        out[i].reasoning = "Let me weigh each option carefully";
        out[i].finish_reason = "length";
      }
      if (on_result) on_result(i, out[i]);
    }
    return out;
  }
};

}  // namespace

// Issue 21.5: weak labels that are mostly unusable stop the sweep before the first student
// request, naming the cause and the fix; nothing is sent for the students.
TEST(Experiments, MostlyUnusableWeakLabelsStopBeforeAnyStudentRequest) {
  const auto ds = test::synthetic_dataset(12, 20);
  struct Case {
    std::string weak, cause, fix;
  };
  for (const Case& k : {Case{"tiny/no-letter", "8 without an option letter", "use --score logprobs"},
                        Case{"think/cut-off", "8 cut off at --max-tokens", "raise --max-tokens"}}) {
    const auto dir = test::scratch_dir("icl_unusable_labels");
    UnusableLabelsProvider provider(ds);
    auto cfg = small_config(dir);
    cfg.pairs = {{k.weak, "qwen/qwen-2.5-72b-instruct"}};
    cfg.shots = {0, 8};
    try {
      icl::run_weak_sweep(cfg, ds, provider);
      ADD_FAILURE() << k.weak << ": the sweep went on";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_CONTAINS(what, "stopped before the first student request");
      EXPECT_CONTAINS(what, "8 of the 8 labels of the weak model " + k.weak + " are unusable");
      EXPECT_CONTAINS(what, k.cause);
      EXPECT_CONTAINS(what, k.fix);
      EXPECT_CONTAINS(what, "50%");
    }
    EXPECT_EQ(provider.batches, 1);  // the labelling batch only
    for (const auto& r : provider.seen) EXPECT_EQ(r.model, k.weak);
    EXPECT_FALSE(fs::exists(dir / "unit" / "weak-sweep"));
    // The rerun reuses the saved labels and stops again, still before any student request.
    UnusableLabelsProvider again(ds);
    EXPECT_THROW(icl::run_weak_sweep(cfg, ds, again), Error);
    EXPECT_EQ(again.request_count, 0);
  }
}

// Issue 21.4: a rerun under the same --run-name on another test set (another --test-size) is
// refused before any request, and the earlier records stay as they were.
TEST(Experiments, AnotherTestSetUnderTheSameRunNameIsRefused) {
  const auto dir = test::scratch_dir("icl_run_name_collision");
  const auto ds = test::synthetic_dataset(10, 30);
  auto cfg = small_config(dir);
  cfg.models = {"m/x"};
  test::ScriptedProvider provider(ds);
  icl::run_baseline(cfg, ds, provider);
  const fs::path file = dir / "unit" / "baseline" / "m_x.json";
  const std::string before = read_file(file);

  const auto smaller = test::synthetic_dataset(10, 20);
  test::ScriptedProvider again(smaller);
  cfg.shots = {2};
  for (auto run : {icl::run_baseline, icl::run_gold_sweep}) {
    try {
      run(cfg, smaller, again);
      ADD_FAILURE() << "a run on another test set was not refused";
    } catch (const Error& e) {
      EXPECT_CONTAINS(std::string(e.what()), "run 'unit' already holds records of another test set");
      EXPECT_CONTAINS(std::string(e.what()), "30 test questions (--test-size), now 20");
      EXPECT_CONTAINS(std::string(e.what()), "--run-name");
    }
  }
  EXPECT_EQ(again.request_count, 0);
  EXPECT_EQ(read_file(file), before);
  // The same test set under the same name goes on; another run name is another folder.
  test::ScriptedProvider same(ds);
  EXPECT_NO_THROW(icl::run_baseline(cfg, ds, same));
  cfg.run_name = "unit-20";
  EXPECT_NO_THROW(icl::run_baseline(cfg, smaller, again));
}
