#include <gtest/gtest.h>

#include <cmath>

#include "assets.h"
#include "w2s/icl.h"

using namespace w2s;

TEST(Prompt, LayoutOfShotsAndQuestion) {
  const auto zero = icl::build_messages({}, "Q?\n\nA) x\nB) y");
  ASSERT_EQ(zero.size(), 2u);
  EXPECT_EQ(zero[0].role, "system");
  EXPECT_EQ(zero[0].content,
            "You are a helpful assistant. Answer the following multiple choice question by selecting the correct "
            "letter (A, B, C, D, etc.).");
  EXPECT_EQ(zero[1].role, "user");
  EXPECT_EQ(zero[1].content, "Q?\n\nA) x\nB) y");

  const auto two = icl::build_messages({{"T1", "C"}, {"T2", ""}}, "Q");
  ASSERT_EQ(two.size(), 6u);
  const char* roles[] = {"system", "user", "assistant", "user", "assistant", "user"};
  const char* contents[] = {icl::kSystemPrompt, "T1", "C", "T2", "", "Q"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(two[i].role, roles[i]);
    EXPECT_EQ(two[i].content, contents[i]);
  }
}

TEST(Config, PairsAndShots) {
  auto pairs = icl::parse_pairs("a/b:c/d, x/y:free->z/w ,s:s");
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].weak, "a/b");
  EXPECT_EQ(pairs[0].strong, "c/d");
  EXPECT_EQ(pairs[1].weak, "x/y:free");
  EXPECT_EQ(pairs[1].strong, "z/w");
  EXPECT_EQ(pairs[2].weak, "s");
  EXPECT_THROW(icl::parse_pairs("a:free:b"), Error);
  EXPECT_THROW(icl::parse_pairs("nocolon"), Error);
  EXPECT_THROW(icl::parse_pairs(":b"), Error);
  EXPECT_EQ(icl::option_to_text(pairs[1]), "x/y:free->z/w");
  EXPECT_EQ(icl::option_to_text(pairs[0]), "a/b:c/d");
  EXPECT_EQ(icl::default_pairs().size(), 6u);
  EXPECT_EQ(icl::default_pairs()[1].weak, "meta-llama/llama-3.1-8b-instruct");
  EXPECT_EQ(icl::default_pairs()[1].strong, "meta-llama/llama-3.1-70b-instruct");
  EXPECT_EQ(icl::default_shots(), (std::vector<int>{0, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(names_of(icl::ParserKind{}).parse("reference"), icl::ParserKind::Reference);
  EXPECT_THROW(names_of(icl::ParserKind{}).parse("lenient"), Error);
}

// ---------------------------------------------------------------------------------------------
// Options written once: icl::Config's field list gives the flags, the records and (through
// lib/llm's lists) the client's flags; a member missing from a list fails here.
// ---------------------------------------------------------------------------------------------

template <class S>
void expect_complete(const char* name) {
  const auto& fields = option_fields(static_cast<const S*>(nullptr));
  EXPECT_TRUE(fields.complete()) << name << ": " << fields.listed_members() << " of " << options::member_count<S>()
                                 << " members in its field list";
}

TEST(ApiOptionFields, EveryMemberOfTheApiOptionsIsListed) {
  expect_complete<icl::Config>("icl::Config");
  expect_complete<icl::Sampling>("icl::Sampling");
  expect_complete<llm::ClientOptions>("llm::ClientOptions");
  expect_complete<llm::ProviderRouting>("llm::ProviderRouting");
  expect_complete<llm::ReasoningOptions>("llm::ReasoningOptions");
  expect_complete<data::TruthfulQaOptions>("data::TruthfulQaOptions");
}

const options::Flag<icl::Config>& flag(const std::string& name) {
  for (const auto& f : option_fields(static_cast<const icl::Config*>(nullptr)).flags())
    if (f.name == name) return f;
  throw Error("no flag --" + name);
}

TEST(ApiOptionFields, TheApiCommandsHaveTheDocumentedFlagsEachOnce) {
  std::vector<std::string> names;
  for (const auto& f : option_fields(static_cast<const icl::Config*>(nullptr)).flags()) names.push_back(f.name);
  const std::vector<std::string> expected = {
      "run-name", "results-dir", "dataset", "variant", "data-dir", "dataset-file", "test-size", "data-seed", "n-train",
      "n-val", "n-test", "models", "pairs", "shots", "label-pool", "weak-labels-from", "parser", "score", "failed-policy", "temperature", "max-tokens", "seed", "top-p", "top-logprobs",
      "reasoning-effort", "reasoning-max-tokens", "reasoning-exclude", "no-reasoning", "provider-order",
      "no-fallbacks", "require-parameters", "data-collection", "base-url", "api-key-file", "max-concurrency",
      "no-adaptive-concurrency", "rpm", "max-attempts", "request-timeout", "connect-timeout",
      "max-response-mib", "max-cost",
      "assume-price", "count-upstream-cost", "key-check", "key-recheck-every", "dry-run", "cache-dir", "no-cache",
      "refresh", "ledger", "no-progress"};
  EXPECT_EQ(names, expected);
}

TEST(ApiOptionFields, FlagsSetTheirMembers) {
  icl::Config c;
  flag("pairs").set(c, "a:b,x:free->y");
  flag("shots").set(c, "4,0,2");
  flag("parser").set(c, "reference");
  flag("max-tokens").set(c, "7");
  flag("no-reasoning").set(c, "true");
  flag("no-fallbacks").set(c, "true");
  flag("max-cost").set(c, "2.5");
  flag("connect-timeout").set(c, "1.5");
  flag("key-check").set(c, "warn");
  flag("no-progress").set(c, "true");
  flag("data-seed").set(c, "3");
  EXPECT_EQ(c.pairs, (std::vector<icl::Pair>{{"a", "b"}, {"x:free", "y"}}));
  EXPECT_EQ(c.shots, (std::vector<int>{4, 0, 2}));
  EXPECT_EQ(c.parser, icl::ParserKind::Reference);
  EXPECT_EQ(c.sampling.max_tokens, 7);
  EXPECT_FALSE(c.sampling.reasoning.enabled);
  EXPECT_FALSE(c.sampling.routing.allow_fallbacks);
  EXPECT_EQ(c.client.max_cost_usd, 2.5);
  EXPECT_EQ(c.client.connect_timeout_s, 1.5);
  EXPECT_EQ(c.client.key_check, llm::KeyCheck::Warn);
  EXPECT_FALSE(c.client.progress);
  EXPECT_EQ(c.dataset.seed, 3);
  EXPECT_THROW(flag("key-check").set(c, "maybe"), Error);
  EXPECT_THROW(flag("pairs").set(c, "nocolon"), Error);
}

TEST(ApiOptionFields, TheRecordedConfigIsTheOneOfTheCommand) {
  icl::Config c;
  c.client.api_key = "sk-secret";
  const json::Value baseline = icl::config_to_json(c, "baseline");
  EXPECT_EQ(baseline.at("experiment").as_string(), "baseline");
  EXPECT_TRUE(baseline.contains("models"));
  EXPECT_FALSE(baseline.contains("pairs"));
  EXPECT_FALSE(baseline.contains("shots"));
  const json::Value sweep = icl::config_to_json(c, "weak-sweep");
  EXPECT_FALSE(sweep.contains("models"));
  EXPECT_EQ(sweep.at("pairs").at(1).at("strong").as_string(), "meta-llama/llama-3.1-70b-instruct");
  EXPECT_TRUE(sweep.contains("shots"));
  // Sampling: seed and top_p as null when unset; reasoning, provider and top_logprobs only when set.
  const json::Value& sampling = baseline.at("sampling");
  EXPECT_EQ(json::dump(sampling), R"({"temperature":0.0,"max_tokens":100,"seed":null,"top_p":null})");
  c.sampling.routing.require_parameters = true;
  c.sampling.reasoning.effort = "low";
  EXPECT_EQ(json::dump(icl::config_to_json(c, "baseline").at("sampling").at("provider")), R"({"require_parameters":true})");
  EXPECT_EQ(json::dump(icl::config_to_json(c, "baseline").at("sampling").at("reasoning")), R"({"effort":"low"})");
  // The client: where answers come from and what bounds the spend, never the key.
  const json::Value client = baseline.at("client");
  EXPECT_EQ(client.at("base_url").as_string(), llm::kOpenRouterBaseUrl);
  for (const char* field : {"cache_dir", "no_cache", "refresh", "max_cost_usd", "max_attempts", "count_upstream_cost"})
    EXPECT_TRUE(client.contains(field)) << field;
  EXPECT_EQ(json::dump(baseline).find("sk-secret"), std::string::npos);
  EXPECT_EQ(json::dump(baseline.at("dataset")),
            R"({"variant":"mc1-4-local","data_dir":null,"dataset_file":null,"test_size":200,"seed":42})");
  // The dataset: its name always; the registry sizes only for a registry dataset; the weak-label
  // options only in a weak-sweep (weak_labels_from when given).
  EXPECT_EQ(baseline.at("dataset_name").as_string(), "truthfulqa");
  EXPECT_FALSE(baseline.contains("registry"));
  EXPECT_FALSE(baseline.contains("label_pool"));
  EXPECT_EQ(sweep.at("label_pool").as_string(), "shots");
  EXPECT_FALSE(sweep.contains("weak_labels_from"));
  c.dataset_name = "sst2";
  c.weak_labels_from = "results/ft";
  const json::Value registry_sweep = icl::config_to_json(c, "weak-sweep");
  EXPECT_EQ(json::dump(registry_sweep.at("registry")), R"({"n_train":10000,"n_val":1000,"n_test":5000})");
  EXPECT_EQ(registry_sweep.at("weak_labels_from").as_string(), "results/ft");
}

TEST(Scoring, LetterProbabilitiesFromFirstToken) {
  llm::Completion c;
  c.ok = true;
  c.logprobs.push_back({"C", std::log(0.5), {{"C", std::log(0.5)}, {" B", std::log(0.2)}, {"B", std::log(0.05)},
                                             {"The", std::log(0.2)}, {"E", std::log(0.05)}}});
  auto p = icl::letter_probabilities(c, {"A", "B", "C", "D"});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NEAR(p["C"], 0.5 / 0.75, 1e-12);
  EXPECT_NEAR(p["B"], 0.25 / 0.75, 1e-12);
  llm::Completion none;
  EXPECT_TRUE(icl::letter_probabilities(none, {"A", "B"}).empty());
}

// Computed in log space: a logprob of 1000 (exp overflows to infinity, and inf/inf is NaN) still
// gives valid probabilities, the same as any shift of all logprobs would; values that are not
// finite are no evidence; -1e308 (the tolerant reader's -Infinity) is a probability of 0.
TEST(Scoring, LetterProbabilitiesAreComputedInLogSpace) {
  llm::Completion c;
  c.ok = true;
  c.logprobs.push_back({"A", 1000.0, {{"A", 1000.0}, {"B", 1000.0 + std::log(0.5)}, {"C", -1e308}}});
  auto p = icl::letter_probabilities(c, {"A", "B", "C", "D"});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p["A"], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(p["B"], 1.0 / 3.0, 1e-12);
  EXPECT_EQ(p["C"], 0.0);
  for (const auto& [letter, prob] : p) EXPECT_TRUE(std::isfinite(prob)) << letter;
  llm::Completion odd;
  odd.logprobs.push_back({"A", std::nan(""), {{"A", std::nan("")}, {"B", std::numeric_limits<double>::infinity()},
                                              {"C", -0.1}}});
  p = icl::letter_probabilities(odd, {"A", "B", "C"});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p["C"], 1.0);
  llm::Completion zero;
  zero.logprobs.push_back({"A", -1e308, {{"A", -1e308}}});
  EXPECT_NEAR(icl::letter_probabilities(zero, {"A", "B"})["A"], 1.0, 1e-12);  // the only letter seen
}

// One-vs-rest AUROC against scikit-learn's roc_auc_score on the same scores (ties included).
TEST(Scoring, OvrAurocMatchesScikitLearn) {
  std::vector<results::Prediction> preds;
  const std::vector<std::string> letters{"A", "B", "C", "D"};
  std::uint64_t s = 7;
  auto next = [&]() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>((s >> 33) % 1000) / 1000.0;
  };
  json::Value y = json::Value::array(), scores = json::Value::array();
  for (int i = 0; i < 300; ++i) {
    results::Prediction p;
    p.gold = letters[static_cast<std::size_t>(next() * 4)];
    std::vector<double> raw(4);
    double total = 0;
    for (int k = 0; k < 4; ++k) {
      // Coarse values make ties; the gold letter gets a boost so the AUROC is informative.
      raw[k] = std::round(next() * 5) + (letters[k] == p.gold ? 2.0 : 0.0) + 0.5;
      total += raw[k];
    }
    json::Value row = json::Value::array();
    for (int k = 0; k < 4; ++k) {
      p.probabilities[letters[k]] = raw[k] / total;
      row.push_back(raw[k] / total);
    }
    y.push_back(p.gold);
    scores.push_back(row);
    preds.push_back(p);
  }
  const auto dir = test::scratch_dir("icl_auroc");
  write_file_atomic(dir / "in.json", json::dump(json::Object{{"y", y}, {"p", scores}}));
  std::string out;
  const std::string python = test::debian_python3();
  ASSERT_EQ(test::run_command(python + " -c \"import json,sys; from sklearn.metrics import roc_auc_score; "
                              "d=json.load(open(sys.argv[1])); "
                              "print(repr(roc_auc_score(d['y'], d['p'], multi_class='ovr', average='macro', "
                              "labels=['A','B','C','D'])))\" " +
                                  (dir / "in.json").string(),
                              &out),
            0)
      << out;
  auto auroc = icl::ovr_auroc(preds);
  ASSERT_TRUE(auroc.has_value());
  EXPECT_NEAR(*auroc, std::stod(out), 1e-12);

  // Two options: the plain binary AUROC.
  std::vector<results::Prediction> binary;
  for (int i = 0; i < 4; ++i) {
    results::Prediction p;
    p.gold = i < 2 ? "A" : "B";
    const double pa = std::vector<double>{0.9, 0.4, 0.6, 0.1}[i];
    p.probabilities = {{"A", pa}, {"B", 1 - pa}};
    binary.push_back(p);
  }
  EXPECT_NEAR(*icl::ovr_auroc(binary), 0.75, 1e-12);
  EXPECT_FALSE(icl::ovr_auroc({}).has_value());
}
