// In-context experiments on registry datasets (sst2, sciq-binary, boolq-dev-split from the test
// assets): over real HTTP against the OpenRouter-protocol test server with scripted answers, the
// `w2s` commands end to end with their refusals, `--provider local` with stories260K, and weak
// labels taken from a real `w2s train` floor (`--weak-labels-from`).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "icl_http_util.h"

namespace {

using namespace w2s;
namespace fs = std::filesystem;
using test::client_options;
using test::k8b;
using test::kQwen;
using test::ScriptedServer;
using test::shell_quote;

fs::path run_dir(const icl::Config& c) { return c.results_dir / c.run_name; }

// Every record of the contract's shape: dataset identity, letters, class_of_letter, ids.
void expect_registry_record(const results::ResultRecord& r, const icl::Dataset& ds, const std::string& split) {
  EXPECT_EQ(r.dataset.name, ds.name);
  EXPECT_EQ(r.dataset.variant, "");
  EXPECT_EQ(r.dataset.split, split);
  EXPECT_EQ(r.dataset.seed, ds.seed);
  EXPECT_EQ(json::dump(r.extra.at("class_of_letter")), R"({"A":0,"B":1})");
  for (const auto& p : r.predictions) {
    EXPECT_TRUE(p.gold == "A" || p.gold == "B") << p.gold;
    EXPECT_TRUE(p.prediction.empty() || p.prediction == "A" || p.prediction == "B") << p.prediction;
    EXPECT_EQ(p.id.size(), 8u) << p.id;
  }
}

// baseline, gold-sweep and weak-sweep (weak labels once per weak model) on three registry datasets
// over HTTP; the records say the dataset, pair by the training ids, and the curves follow the labels.
TEST(IclRegistry, SweepsOverHttpOnSst2SciqBoolq) {
  for (const char* name : {"sst2", "sciq-binary", "boolq-dev-split"}) {
    SCOPED_TRACE(name);
    const icl::Dataset ds = test::load_registry(name, 40);
    ASSERT_EQ(ds.test.size(), 40u);
    ScriptedServer s(test::all_questions(ds));
    const auto dir = test::scratch_dir(std::string("icl_registry_http_") + name);
    llm::OpenRouterClient client(client_options(s, dir / "cache"));
    icl::Config cfg;
    cfg.dataset_name = name;
    cfg.results_dir = dir / "results";
    cfg.models = {kQwen};
    cfg.pairs = {{k8b, kQwen}};
    cfg.shots = {0, 4, 32};
    if (std::string(name) == "sciq-binary") cfg.score = icl::ScoreMode::Logprobs;
    icl::run_baseline(cfg, ds, client);
    icl::run_gold_sweep(cfg, ds, client);
    icl::run_weak_sweep(cfg, ds, client);
    test::expect_valid_records(run_dir(cfg), 1 + 3 + 1 + 3);

    // The zero-shot request is the formatted test question with the reference system prompt.
    bool seen_first = false;
    for (const auto& body : s.server.received_bodies()) {
      const auto msgs = test::messages_of(body);
      if (msgs.size() == 2 && msgs[1].content == ds.test[0].text) seen_first = true;
      EXPECT_EQ(msgs[0].content, icl::kSystemPrompt);
    }
    EXPECT_TRUE(seen_first);

    const auto base = results::read_record(run_dir(cfg) / "baseline" / (model_slug(kQwen) + ".json"));
    expect_registry_record(base, ds, "test");
    ASSERT_EQ(base.predictions.size(), ds.test.size());
    for (std::size_t i = 0; i < ds.test.size(); ++i) {
      EXPECT_EQ(base.predictions[i].id, ds.test[i].id);
      EXPECT_EQ(base.predictions[i].gold, ds.test[i].answer);
    }
    if (cfg.score == icl::ScoreMode::Logprobs) {
      ASSERT_TRUE(base.metrics.auroc.has_value());
      for (const auto& p : base.predictions) {
        if (!p.probabilities.empty()) {
          EXPECT_EQ(p.probabilities.size(), 2u);
        }
      }
    }

    const auto gold32 = results::read_record(run_dir(cfg) / "gold-sweep" / model_slug(kQwen) / "shots-32.json");
    expect_registry_record(gold32, ds, "test");
    const auto& ids = gold32.extra.at("few_shot").at("ids").as_array();
    ASSERT_EQ(ids.size(), 32u);
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i].as_string(), ds.shot_pool[i].id);

    const auto labels = results::read_record(run_dir(cfg) / "weak-labels" / (model_slug(k8b) + ".json"));
    expect_registry_record(labels, ds, "train");
    EXPECT_EQ(labels.predictions.size(), 32u);
    const auto weak32 = results::read_record(run_dir(cfg) / "weak-sweep" / (model_slug(k8b) + "__" + model_slug(kQwen)) /
                                             "shots-32.json");
    expect_registry_record(weak32, ds, "test");
    EXPECT_EQ(weak32.label_source.kind, "weak");
    EXPECT_EQ(weak32.label_source.model, k8b);
    const auto& shown = weak32.extra.at("few_shot").at("labels").as_array();
    for (std::size_t i = 0; i < shown.size(); ++i) EXPECT_EQ(shown[i].as_string(), labels.predictions[i].prediction);
    // Gold shots help the scripted model more than the weak model's (some wrong) labels.
    EXPECT_GT(gold32.metrics.num_correct, base.metrics.num_correct);
  }
}

// --label-pool full: the weak model labels the whole shot pool and val (ids unique), which a
// shots-only sweep then reuses without requests.
TEST(IclRegistry, LabelPoolFullLabelsStrongHalfAndVal) {
  const icl::Dataset ds = test::load_registry("sst2", 20, 60, 16, 40);
  ScriptedServer s(test::all_questions(ds));
  const auto dir = test::scratch_dir("icl_registry_pool");
  llm::OpenRouterClient client(client_options(s, dir / "cache"));
  icl::Config cfg;
  cfg.dataset_name = "sst2";
  cfg.results_dir = dir / "results";
  cfg.pairs = {{k8b, kQwen}};
  cfg.shots = {0, 2};
  cfg.label_pool = icl::LabelPool::Full;
  icl::run_weak_sweep(cfg, ds, client);
  const auto labels = results::read_record(run_dir(cfg) / "weak-labels" / (model_slug(k8b) + ".json"));
  ASSERT_EQ(labels.predictions.size(), ds.shot_pool.size() + ds.extra_pool.size());
  std::set<std::string> ids;
  for (const auto& p : labels.predictions) ids.insert(p.id);
  std::set<std::string> expected;
  for (const auto& q : ds.shot_pool) expected.insert(q.id);
  for (const auto& q : ds.extra_pool) expected.insert(q.id);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(labels.extra.get_string("label_pool"), "full");
  const int after_full = s.server.chat_requests();
  cfg.label_pool = icl::LabelPool::Shots;
  cfg.shots = {0, 2, 8};
  icl::run_weak_sweep(cfg, ds, client);
  int labelling = 0;
  std::set<std::string> pool_texts;
  for (const auto& q : ds.shot_pool) pool_texts.insert(q.text);
  const auto bodies = s.server.received_bodies();
  for (std::size_t i = static_cast<std::size_t>(after_full); i < bodies.size(); ++i)
    labelling += pool_texts.count(test::messages_of(bodies[i]).back().content) > 0;
  EXPECT_EQ(labelling, 0) << "the full pool's labels are reused";
}

std::string w2s() { return "OPENROUTER_API_KEY=sk-test " + shell_quote(test::w2s_binary().string()); }

std::string common(const ScriptedServer& s, const fs::path& dir) {
  return " --dataset sst2 --n-train 60 --n-val 16 --n-test 40 --test-size 20 --data-dir " +
         shell_quote((test::assets_dir() / "data").string()) + " --base-url " + s.server.base_url() + " --cache-dir " +
         shell_quote((dir / "cache").string()) + " --results-dir " + shell_quote((dir / "results").string()) +
         " --key-check off --no-progress";
}

// The three commands on sst2 through the `w2s` binary, `w2s analyze` on sst2 and TruthfulQA
// records side by side, and every refusal by name.
TEST(IclRegistry, CommandsEndToEndAndRefusals) {
  const icl::Dataset ds = test::load_registry("sst2", 20, 60, 16, 40);
  std::vector<data::Question> questions = test::all_questions(ds);
  const auto tqa = test::load_tqa(20);
  questions.insert(questions.end(), tqa.all.begin(), tqa.all.end());
  ScriptedServer s(questions);
  const auto dir = test::scratch_dir("icl_registry_e2e");
  const std::string c = common(s, dir);
  const std::string models = std::string(" --models ") + k8b + "," + kQwen;
  const std::string pairs = std::string(" --pairs ") + k8b + ":" + kQwen;
  std::string out;
  ASSERT_EQ(test::run_command(w2s() + " baseline --run-name sst2" + models + c, &out), 0) << out;
  ASSERT_EQ(test::run_command(w2s() + " gold-sweep --run-name sst2 --shots 0,4" + models + c, &out), 0) << out;
  ASSERT_EQ(test::run_command(w2s() + " weak-sweep --run-name sst2 --shots 0,4 --label-pool full" + pairs + c, &out), 0)
      << out;
  const fs::path run = dir / "results" / "sst2";
  test::expect_valid_records(run / "weak-labels", 1);
  const auto gold4 = results::read_record(run / "gold-sweep" / model_slug(kQwen) / "shots-4.json");
  EXPECT_EQ(gold4.dataset.name, "sst2");
  EXPECT_EQ(gold4.dataset.seed, 0);  // w2s train's default data seed
  EXPECT_EQ(gold4.config.at("dataset_name").as_string(), "sst2");
  EXPECT_EQ(gold4.config.at("registry").at("n_train").as_int(), 60);
  EXPECT_EQ(gold4.predictions.front().id, ds.test.front().id);

  // TruthfulQA in another run of the same results folder; analysis keeps the two test sets apart.
  const std::string tqa_common = " --test-size 20 --data-dir " + shell_quote((test::assets_dir() / "data").string()) +
                                 " --base-url " + s.server.base_url() + " --cache-dir " +
                                 shell_quote((dir / "cache").string()) + " --results-dir " +
                                 shell_quote((dir / "results").string()) + " --key-check off --no-progress";
  ASSERT_EQ(test::run_command(w2s() + " gold-sweep --run-name tqa --shots 0,4" + models + tqa_common, &out), 0) << out;
  ASSERT_EQ(test::run_command(w2s() + " analyze " + shell_quote((dir / "results").string()) + " --resamples 50 --out " +
                                  shell_quote((dir / "analysis").string()),
                              &out),
            0)
      << out;
  const json::Value analysis = json::parse_file(dir / "analysis" / "analysis.json");
  // Rows per test set label ("sst2, test split, n=20", "truthfulqa mc1-4-local, ..."): two sets,
  // each from one run's records only.
  std::map<std::string, std::set<std::string>> runs_of_test_set;
  for (const auto& row : analysis.at("extra").at("tables").at("icl_accuracy").as_array()) {
    const fs::path file = row.get_string("file");
    runs_of_test_set[row.get_string("test_set")].insert(fs::relative(file, dir / "results").begin()->string());
  }
  ASSERT_EQ(runs_of_test_set.size(), 2u) << json::dump(analysis.at("extra").at("tables").at("icl_accuracy"));
  for (const auto& [label, runs] : runs_of_test_set) {
    EXPECT_EQ(runs, (std::set<std::string>{label.rfind("sst2,", 0) == 0 ? "sst2" : "tqa"})) << label;
    EXPECT_TRUE(label.rfind("sst2,", 0) == 0 || label.rfind("truthfulqa", 0) == 0) << label;
  }
  // One figure folder per test set: sst2's curves are not drawn over TruthfulQA's.
  ASSERT_EQ(test::run_command(w2s() + " plot " + shell_quote((dir / "results").string()) + " --resamples 50 --out " +
                                  shell_quote((dir / "plots").string()),
                              &out),
            0)
      << out;
  std::set<std::string> figure_sets;
  for (const auto& e : fs::directory_iterator(dir / "plots"))
    if (e.is_directory()) figure_sets.insert(e.path().filename().string().substr(0, 4));
  EXPECT_TRUE(figure_sets.count("sst2") && figure_sets.count("trut")) << out;
  ASSERT_EQ(test::run_command(w2s() + " report " + shell_quote((dir / "results").string()) + " --resamples 50 --out " +
                                  shell_quote((dir / "report").string()),
                              &out),
            0)
      << out;
  const std::string html = read_file(dir / "report" / "report.html");
  EXPECT_CONTAINS(html, "sst2, test split, n=20");
  EXPECT_CONTAINS(html, "truthfulqa mc1-4-local, test split, n=20");

  const int sent = s.server.chat_requests();
  auto refused = [&](const std::string& args, int code, const std::string& says) {
    SCOPED_TRACE(args);
    EXPECT_EQ(test::run_command(w2s() + args, &out), code) << out;
    EXPECT_CONTAINS(out, says);
  };
  refused(" baseline --run-name x --dataset sst3" + models + tqa_common, 2, "unknown dataset 'sst3' (known: truthfulqa, anli-r2");
  refused(" baseline --run-name x --dataset jsonl" + models + tqa_common, 1,
          "'jsonl' has no in-context prompt");
  refused(" baseline --run-name x --variant binary-local" + models + c, 2, "--variant is a TruthfulQA option");
  refused(" weak-sweep --run-name x --reference-files" + pairs + c, 2, "--reference-files is a TruthfulQA option");
  refused(" baseline --run-name x --n-train 50" + models + tqa_common, 2, "--n-train is for a registry dataset");
  std::string more_tests = c;
  more_tests.replace(more_tests.find(" --test-size 20"), 15, " --test-size 41");
  refused(" baseline --run-name x" + models + more_tests, 1, "--test-size 41 is more than the 40 test examples of sst2");
  refused(" gold-sweep --run-name x --shots 31" + models + c, 1, "shots 31 is more than the 30 examples of the shot pool");
  const fs::path empty = test::scratch_dir("icl_registry_e2e_empty");
  refused(" baseline --run-name x --dataset boolq-dev-split --data-dir " + shell_quote(empty.string()) + models +
              " --base-url " + s.server.base_url() + " --key-check off",
          1, (empty / "boolq" / "dev.jsonl").string());
  refused(" weak-sweep --run-name x --weak-labels-from " + shell_quote(dir.string()) + pairs + tqa_common, 2,
          "--weak-labels-from needs a registry dataset");
  refused(" weak-sweep --run-name x --shots 4 --weak-labels-from " + shell_quote((dir / "results").string()) + pairs + c, 1,
          "no finished floor stage");
  EXPECT_EQ(s.server.chat_requests(), sent) << "refusals send nothing";
}

bool have_torch_side() { return fs::exists(test::w2s_binary().parent_path() / "w2s-torch"); }

fs::path stories() { return test::assets_dir() / "models" / "hf" / "stories260K-llama"; }

// --provider local with a real pretrained model (stories260K) on sst2 at tiny size.
TEST(IclRegistry, LocalProviderOnSst2) {
  if (!have_torch_side()) GTEST_SKIP() << "a build without libtorch has no --provider local";
  const auto dir = test::scratch_dir("icl_registry_local");
  const std::string model = stories().string();
  const std::string c = " --provider local --threads 1 --max-tokens 2 --score logprobs --dataset sst2 --n-train 40 "
                        "--n-val 8 --n-test 20 --test-size 4 --data-dir " +
                        shell_quote((test::assets_dir() / "data").string()) + " --cache-dir " +
                        shell_quote((dir / "cache").string()) + " --results-dir " +
                        shell_quote((dir / "results").string()) + " --run-name local --no-progress";
  std::string out;
  ASSERT_EQ(test::run_command(shell_quote(test::w2s_binary().string()) + " gold-sweep --shots 0,2 --models " +
                                  shell_quote(model) + c,
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(shell_quote(test::w2s_binary().string()) + " weak-sweep --shots 2 --pairs " +
                                  shell_quote(model + "->" + model) + c,
                              &out),
            0)
      << out;
  const fs::path run = dir / "results" / "local";
  test::expect_valid_records(run, 4);
  const auto r = results::read_record(run / "weak-sweep" / (model_slug(model) + "__" + model_slug(model)) / "shots-2.json");
  EXPECT_EQ(r.dataset.name, "sst2");
  EXPECT_EQ(r.extra.at("providers").get_int("local"), 4);
  EXPECT_EQ(json::dump(r.extra.at("class_of_letter")), R"({"A":0,"B":1})");
  const icl::Dataset ds = test::load_registry("sst2", 4, 40, 8, 20);
  ASSERT_EQ(r.predictions.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(r.predictions[i].id, ds.test[i].id);
}

// Weak labels from a real fine-tuning floor (stories260K on sst2, tiny), taught in context over
// HTTP: the labels are the floor's P(1) >= 0.5 on the strong half, and other data is refused.
TEST(IclRegistry, WeakLabelsFromAFineTuningFloor) {
  if (!have_torch_side()) GTEST_SKIP() << "a build without libtorch has no w2s train";
  const auto dir = test::scratch_dir("icl_registry_from_floor");
  const std::string data_dir = shell_quote((test::assets_dir() / "data").string());
  const std::string sizes = " --n-train 40 --n-val 8 --n-test 20";
  std::string out;
  ASSERT_EQ(test::run_command(shell_quote(test::w2s_binary().string()) + " train --dataset sst2 --data-dir " + data_dir +
                                  sizes + " --weak-model-name " + shell_quote(stories().string()) +
                                  " --strong-model-name " + shell_quote(stories().string()) +
                                  " --max-length 32 --n-epochs 1 --minibatch-size 8 --batch-size 8 --threads 1"
                                  " --s2s-iters 0 --results-dir " +
                                  shell_quote((dir / "ft").string()) + " --run-name ft",
                              &out),
            0)
      << out;
  const fs::path floor = dir / "ft" / "ft" / "sst2" / "floor";
  ASSERT_TRUE(fs::exists(floor / "predictions.jsonl")) << out;
  std::map<std::string, double> p1;
  {
    std::ifstream in(floor / "predictions.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const json::Value row = json::parse(line);
      if (row.get_string("split") == "strong_half") p1[row.get_string("id")] = row.at("soft_pred").as_double();
    }
  }
  const std::string weak = results::read_record(floor / "record.json").evaluated_model;

  const icl::Dataset ds = test::load_registry("sst2", 10, 40, 8, 20);
  ScriptedServer s(test::all_questions(ds));
  const std::string c = " --dataset sst2" + sizes + " --test-size 10 --data-dir " + data_dir + " --base-url " +
                        s.server.base_url() + " --cache-dir " + shell_quote((dir / "cache").string()) +
                        " --results-dir " + shell_quote((dir / "results").string()) + " --key-check off --no-progress";
  const std::string pair = " --pairs " + shell_quote(weak + "->" + kQwen);
  ASSERT_EQ(test::run_command(w2s() + " weak-sweep --run-name icl --shots 0,8 --weak-labels-from " +
                                  shell_quote((dir / "ft" / "ft").string()) + pair + c,
                              &out),
            0)
      << out;
  const auto r = results::read_record(dir / "results" / "icl" / "weak-sweep" /
                                      (model_slug(weak) + "__" + model_slug(kQwen)) / "shots-8.json");
  EXPECT_EQ(r.label_source.kind, "weak");
  EXPECT_EQ(r.label_source.model, weak);
  EXPECT_EQ(r.extra.at("weak_labels_from").get_string("stage"), "floor");
  const auto& labels = r.extra.at("few_shot").at("labels").as_array();
  ASSERT_EQ(labels.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(p1.count(ds.shot_pool[i].id)) << ds.shot_pool[i].id;
    EXPECT_EQ(labels[i].as_string(), p1.at(ds.shot_pool[i].id) >= 0.5 ? "B" : "A");
  }
  EXPECT_FALSE(fs::exists(dir / "results" / "icl" / "weak-labels")) << "no weak model was asked";

  // The same floor labels for a local student: only the student is loaded and asked.
  const std::string local = " --provider local --threads 1 --max-tokens 2 --dataset sst2" + sizes +
                            " --test-size 4 --data-dir " + data_dir + " --cache-dir " +
                            shell_quote((dir / "local-cache").string()) + " --results-dir " +
                            shell_quote((dir / "results").string()) + " --run-name local --no-progress";
  ASSERT_EQ(test::run_command(shell_quote(test::w2s_binary().string()) + " weak-sweep --shots 8 --weak-labels-from " +
                                  shell_quote(floor.string()) + " --pairs " + shell_quote(weak + "->" + stories().string()) +
                                  local,
                              &out),
            0)
      << out;
  const auto local_record = results::read_record(dir / "results" / "local" / "weak-sweep" /
                                                 (model_slug(weak) + "__" + model_slug(stories().string())) / "shots-8.json");
  EXPECT_EQ(json::dump(local_record.extra.at("few_shot").at("labels")), json::dump(r.extra.at("few_shot").at("labels")));
  EXPECT_EQ(local_record.extra.at("providers").get_int("local"), 4);

  const int sent = s.server.chat_requests();
  auto refused = [&](const std::string& args, const std::string& says) {
    SCOPED_TRACE(args);
    EXPECT_EQ(test::run_command(w2s() + args, &out), 1) << out;
    EXPECT_CONTAINS(out, says);
  };
  const std::string from = " --weak-labels-from " + shell_quote(floor.string());
  std::string other_seed = c;
  other_seed += " --data-seed 3";
  refused(" weak-sweep --run-name other --shots 8" + from + pair + other_seed, "data seed 0, here 3");
  std::string other_sizes = c;
  other_sizes.replace(other_sizes.find(" --n-train 40"), 13, " --n-train 44");
  refused(" weak-sweep --run-name other --shots 8" + from + pair + other_sizes, "have no floor prediction on the strong half");
  refused(" weak-sweep --run-name other --shots 8" + from + " --pairs " + k8b + ":" + kQwen + c,
          "the floor's weak model is");
  EXPECT_EQ(s.server.chat_requests(), sent);
}

}  // namespace
