// The training dataset registry and pipeline (docs/reference-behaviour.md §13, §15).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "assets.h"
#include "w2s/data.h"

namespace fs = std::filesystem;
using namespace w2s::data;
using w2s::json::parse;

namespace {




// Formats `row` `times` times with one shared PyRandom(0), as the pipeline does for a split.
std::vector<std::pair<std::string, int>> format_repeatedly(const std::string& name, const std::string& row, int times) {
  w2s::PyRandom rng(0);
  const auto v = parse(row);
  std::vector<std::pair<std::string, int>> out;
  for (int i = 0; i < times; ++i) {
    const auto e = format_training_row(name, v, rng);
    out.emplace_back(e.txt, e.label);
  }
  return out;
}

using Outputs = std::vector<std::pair<std::string, int>>;

std::set<std::string> texts(const std::vector<TextExample>& xs) {
  std::set<std::string> s;
  for (const auto& x : xs) s.insert(x.txt);
  return s;
}

int positives(const std::vector<TextExample>& xs) {
  int n = 0;
  for (const auto& x : xs) n += x.label;
  return n;
}

TrainingDataOptions shared_options(const std::string& name) {
  TrainingDataOptions o;
  o.name = name;
  o.data_dir = (w2s::test::assets_dir() / "data").string();
  o.allow_download = false;
  return o;
}

}  // namespace

TEST(TrainingRegistry, HasTheReferenceDatasetsAndLocalVariants) {
  const auto names = training_dataset_names();
  for (const char* n : {"anli-r2", "cola", "dream", "ethics-deontology", "ethics-justice", "ethics-virtue",
                        "ethics-utilitarianism", "mc_taco", "hellaswag", "multirc", "openbookqa", "paws", "piqa",
                        "quail", "quartz", "social_i_qa", "sst2", "wic", "twitter-sentiment", "sciq",
                        "sciq_with_support", "anthropic_hh", "cosmos_qa", "boolq", "amazon_polarity", "openbookqa-ref",
                        "boolq-dev-split", "sciq-binary", "sst2-demo", "jsonl"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(names.size(), 30u);
  EXPECT_EQ(training_dataset_info().size(), names.size());
}

// Expected outputs of the rand templates come from the reference formatters run under CPython
// 3.11 with random.Random(0) on the same rows.
TEST(TrainingRegistry, RandTemplatesDrawLikeTheReference) {
  EXPECT_EQ(format_repeatedly("dream",
                              R"({"dialogue": ["M: Hi.", "W: Hello."], "question": "Who spoke first?",
                                  "choice": ["The man.", "The woman.", "Nobody."], "answer": "The man."})",
                              4),
            (Outputs{{"M: Hi.\nW: Hello.\n\nQ: Who spoke first? A: Nobody.", 0},
                     {"M: Hi.\nW: Hello.\n\nQ: Who spoke first? A: The man.", 1},
                     {"M: Hi.\nW: Hello.\n\nQ: Who spoke first? A: Nobody.", 0},
                     {"M: Hi.\nW: Hello.\n\nQ: Who spoke first? A: The man.", 1}}));
  EXPECT_EQ(format_repeatedly("ethics-utilitarianism", R"({"baseline": "I ate cake.", "less_pleasant": "I ate dirt."})", 4),
            (Outputs{{"Which is more pleasant?\n1) I ate cake.\n2) I ate dirt. A: 2", 0},
                     {"Which is more pleasant?\n1) I ate cake.\n2) I ate dirt. A: 1", 1},
                     {"Which is more pleasant?\n1) I ate cake.\n2) I ate dirt. A: 1", 1},
                     {"Which is more pleasant?\n1) I ate cake.\n2) I ate dirt. A: 2", 0}}));
  const std::string obqa = R"({"question_stem": "The sun is a", "answerKey": "A",
                              "choices": {"text": ["star", "planet", "moon"], "label": ["A", "B", "C"]}})";
  const std::string stem = "Q: The sun is a\n\nChoices:\nA) star\nB) planet\nC) moon\n\nAnswer: ";
  // openbookqa shows the answer text for positives (leak fixed); openbookqa-ref keeps the letter.
  EXPECT_EQ(format_repeatedly("openbookqa", obqa, 2), (Outputs{{stem + "moon", 0}, {stem + "star", 1}}));
  EXPECT_EQ(format_repeatedly("openbookqa-ref", obqa, 2), (Outputs{{stem + "moon", 0}, {stem + "A", 1}}));

  // cosmos_qa: a "None of the above" truth forces label 0 without drawing.
  w2s::PyRandom rng(0);
  const w2s::json::Value none = parse(R"({"context": "C.", "question": "Q?", "answer0": "a", "answer1": "None of the above choices .",
                               "answer2": "b", "answer3": "c", "label": 1})");
  w2s::json::Value other = none;
  other.set("label", 0);
  Outputs got;
  for (const w2s::json::Value* row : std::vector<const w2s::json::Value*>{&none, &other, &none, &other}) {
    const auto e = format_training_row("cosmos_qa", *row, rng);
    got.emplace_back(e.txt, e.label);
  }
  EXPECT_EQ(got, (Outputs{{"Context: C.\nQuestion: Q?\nAnswer: b", 0}, {"Context: C.\nQuestion: Q?\nAnswer: b", 0},
                          {"Context: C.\nQuestion: Q?\nAnswer: a", 0}, {"Context: C.\nQuestion: Q?\nAnswer: a", 1}}));
}

TEST(TrainingRegistry, LabelTemplates) {
  w2s::PyRandom rng(0);
  auto one = [&](const char* name, const char* row) { return format_training_row(name, parse(row), rng); };
  auto e = one("anli-r2", R"({"premise": "P.", "hypothesis": "H.", "label": 0})");
  EXPECT_EQ(e.txt, "Premise: P.\nHypothesis: H.\n\nDoes the premise entail the hypothesis?");
  EXPECT_EQ(e.label, 1);
  EXPECT_EQ(one("anli-r2", R"({"premise": "P.", "hypothesis": "H.", "label": 2})").label, 0);
  e = one("boolq", R"({"passage": "Pa.", "question": "q", "answer": true, "title": "t"})");
  EXPECT_EQ(e.txt, "Passage: Pa.\nQuestion: q");
  EXPECT_EQ(e.label, 1);
  EXPECT_EQ(e.id, w2s::sha1_hex(e.txt).substr(0, 8));
  e = one("wic", R"({"sentence1": "S1", "sentence2": "S2", "word": "bank", "label": 0})");
  EXPECT_EQ(e.txt, "Sentence 1:\nS1\n\nSentence 2:\nS2\n\nQ: Does \"bank\" have the same meaning in the above sentences?");
  e = one("mc_taco", R"({"sentence": "S.", "question": "how long?", "answer": "1 hour", "label": 1})");
  EXPECT_EQ(e.txt, "S.\n\nGiven the above, how long? Is the answer 1 hour?");
  e = one("amazon_polarity", R"({"title": "Great", "content": "Works.", "label": 1})");
  EXPECT_EQ(e.txt, "Great Works.");
  e = one("sciq-binary", R"({"question": "Q?", "answer": "A", "label": 0})");
  EXPECT_EQ(e.txt, "Q: Q? A: A");
  EXPECT_EQ(e.label, 0);
  // Labels must be 0/1; HF's string labels ("2") are read as integers.
  EXPECT_CONTAINS(w2s::test::error_of([&] { one("cola", R"({"sentence": "x", "label": -1})"); }), "expected 0 or 1");
  e = one("hellaswag", R"({"ctx": "C", "endings": ["e0", "e1", "e2", "e3"], "label": "2"})");
  EXPECT_EQ(e.txt.rfind("Context:\nC\n\nContinuations:\n\ne0\ne1\ne2\ne3\n\nQ: Is \"e", 0), 0u) << e.txt;
  EXPECT_EQ(e.label, 0);  // Random(0).random() = 0.844...: a negative, so not the true ending e2
  EXPECT_EQ(e.txt.find("\"e2\""), std::string::npos);
  EXPECT_CONTAINS(w2s::test::error_of([&] { one("quail", R"({"context": "c", "question": "q", "answers": ["a"],
                                                  "correct_answer_id": 3})"); }),
                  "correct_answer_id");
  EXPECT_CONTAINS(w2s::test::error_of([&] { one("nope", "{}"); }), "unknown training dataset 'nope'");
}

TEST(TrainingPipeline, BalancesTakesNAndReportsShortSplits) {
  const fs::path dir = w2s::test::scratch_dir("train_jsonl");
  std::string train, test;
  for (int i = 0; i < 400; ++i)  // 300 positives, 100 negatives
    train += R"({"text": "train )" + std::to_string(i) + R"(", "label": )" + (i % 4 ? "1" : "0") + "}\n";
  train += "{\"text\": \"\", \"label\": 0}\n";  // empty texts are dropped
  for (int i = 0; i < 60; ++i) test += R"({"text": "test )" + std::to_string(i) + R"(", "label": )" + (i % 2 ? "1" : "0") + "}\n";
  w2s::test::write_text(dir / "train.jsonl", train);
  w2s::test::write_text(dir / "test.jsonl", test);

  TrainingDataOptions o;
  o.name = "jsonl";
  o.dataset_file = (dir / "train.jsonl").string() + "," + (dir / "test.jsonl").string();
  o.n_train = 150;
  o.n_val = 20;
  o.n_test = 100;
  const auto d = load_training_data(o);
  EXPECT_EQ(d.val.size(), 20u);
  EXPECT_EQ(d.train.size(), 150u);
  EXPECT_EQ(d.test.size(), 60u);
  EXPECT_EQ(positives(d.test), 30);
  // The balanced pool has 100 + 100; the first 170 are taken.
  EXPECT_NEAR(positives(d.train) + positives(d.val), 85, 15);
  ASSERT_EQ(d.notices.size(), 1u);
  EXPECT_CONTAINS(d.notices[0], "asked for 100 test examples, have 60");
  ASSERT_EQ(d.sources.size(), 2u);

  // Larger n: everything after balancing (200), with a notice.
  o.n_train = 1000;
  const auto all = load_training_data(o);
  EXPECT_EQ(all.train.size() + all.val.size(), 200u);
  EXPECT_EQ(positives(all.train) + positives(all.val), 100);
  EXPECT_EQ(all.notices.size(), 2u);

  // Deterministic for a seed; a different seed changes the order.
  const auto again = load_training_data(o);
  for (std::size_t i = 0; i < all.train.size(); ++i) EXPECT_EQ(all.train[i].id, again.train[i].id);
  o.seed = 1;
  const auto other = load_training_data(o);
  EXPECT_EQ(texts(other.train).size() + texts(other.val).size(), 200u);
  EXPECT_NE(other.val[0].txt + other.val[1].txt, all.val[0].txt + all.val[1].txt);
}

TEST(TrainingPipeline, TrainNeverContainsTestTexts) {
  const fs::path dir = w2s::test::scratch_dir("train_overlap");
  std::string train, test;
  for (int i = 0; i < 100; ++i) train += R"({"text": "s)" + std::to_string(i) + R"(", "label": )" + std::to_string(i % 2) + "}\n";
  for (int i = 0; i < 20; ++i) test += R"({"text": "s)" + std::to_string(i) + R"(", "label": )" + std::to_string(i % 2) + "}\n";
  w2s::test::write_text(dir / "train.jsonl", train);
  w2s::test::write_text(dir / "test.jsonl", test);
  TrainingDataOptions o;
  o.name = "jsonl";
  o.dataset_file = (dir / "train.jsonl").string() + "," + (dir / "test.jsonl").string();
  const auto d = load_training_data(o);
  EXPECT_EQ(d.test.size(), 20u);
  EXPECT_EQ(d.train.size() + d.val.size(), 80u);
  const auto test_texts = texts(d.test);
  for (const auto& e : d.train) EXPECT_FALSE(test_texts.count(e.txt)) << e.txt;
  bool noticed = false;
  for (const auto& n : d.notices) noticed |= n.find("dropped 20 train+val rows") != std::string::npos;
  EXPECT_TRUE(noticed);

  // A single file: 20% is held out as test.
  o.dataset_file = (dir / "train.jsonl").string();
  const auto held = load_training_data(o);
  EXPECT_EQ(held.test.size(), 20u);
  EXPECT_EQ(held.train.size() + held.val.size(), 80u);
}

TEST(TrainingPipeline, UserJsonlErrorsNameTheProblem) {
  const fs::path dir = w2s::test::scratch_dir("train_jsonl_errors");
  std::string rows;
  for (int i = 0; i < 20; ++i) rows += R"({"text": "s)" + std::to_string(i) + R"(", "label": )" + std::to_string(i % 2) + "}\n";
  TrainingDataOptions o;
  o.name = "jsonl";
  o.dataset_file = (dir / "train.jsonl").string() + "," + (dir / "test.jsonl").string();
  w2s::test::write_text(dir / "train.jsonl", rows + R"({"text": "bad", "label": 2})" + "\n");
  w2s::test::write_text(dir / "test.jsonl", rows);
  std::string msg = w2s::test::error_of([&] { load_training_data(o); });
  EXPECT_CONTAINS(msg, (dir / "train.jsonl").string() + ":21");
  EXPECT_CONTAINS(msg, "expected 0 or 1");
  w2s::test::write_text(dir / "train.jsonl", rows);
  w2s::test::write_text(dir / "test.jsonl", "");
  msg = w2s::test::error_of([&] { load_training_data(o); });
  EXPECT_CONTAINS(msg, "(test split): no examples (of 0 rows read)");
  w2s::test::write_text(dir / "test.jsonl", R"({"text": "only", "label": 1})" "\n");
  msg = w2s::test::error_of([&] { load_training_data(o); });
  EXPECT_CONTAINS(msg, "only one class");
}

TEST(TrainingPipeline, HuggingFaceExportLayoutAndErrors) {
  const fs::path dir = w2s::test::scratch_dir("train_hf");
  std::string rows;
  for (int i = 0; i < 30; ++i)
    rows += R"({"para": "P)" + std::to_string(i) +
            R"(", "question": "Q?", "choices": {"text": ["more", "less"], "label": ["A", "B"]}, "answerKey": "B"})" + "\n";
  w2s::test::write_text(dir / "quartz/train.jsonl", rows);
  TrainingDataOptions o;
  o.name = "quartz";
  o.data_dir = dir.string();
  o.n_train = 10;
  o.n_val = 4;
  o.n_test = 6;
  std::string msg = w2s::test::error_of([&] { load_training_data(o); });
  EXPECT_CONTAINS(msg, (dir / "quartz/test.jsonl").string());
  EXPECT_CONTAINS(msg, "para, question, choices");

  w2s::test::write_text(dir / "quartz/test.jsonl", rows);
  const auto d = load_training_data(o);
  EXPECT_EQ(d.train.size(), 10u);
  EXPECT_EQ(d.val.size(), 4u);
  EXPECT_EQ(d.test.size(), 6u);
  for (const auto& e : d.test) EXPECT_EQ(e.txt.find("Passage:\nP"), 0u);

  w2s::test::write_text(dir / "quartz/test.jsonl", rows + R"({"para": "P", "question": "Q?", "answerKey": "B"})" + "\n");
  msg = w2s::test::error_of([&] { load_training_data(o); });
  EXPECT_CONTAINS(msg, (dir / "quartz/test.jsonl").string() + ":31: ");
  EXPECT_CONTAINS(msg, "choices");
}

TEST(TrainingPipeline, WeakStrongHalves) {
  std::vector<TextExample> train;
  for (int i = 0; i < 101; ++i) train.push_back({std::to_string(i), "t" + std::to_string(i), i % 2});
  const auto h = split_weak_strong(train);
  EXPECT_EQ(h.strong.size(), 51u);
  EXPECT_EQ(h.weak.size(), 50u);
  std::set<std::string> ids;
  for (const auto& e : h.weak) ids.insert(e.id);
  for (const auto& e : h.strong) EXPECT_TRUE(ids.insert(e.id).second);
  EXPECT_EQ(ids.size(), 101u);
  const auto again = split_weak_strong(train);
  EXPECT_EQ(again.weak[0].id, h.weak[0].id);
  EXPECT_NE(split_weak_strong(train, 7).weak[0].id + split_weak_strong(train, 7).weak[1].id, h.weak[0].id + h.weak[1].id);
}

TEST(LocalTrainingData, Sst2) {
  auto o = shared_options("sst2");
  const auto d = load_training_data(o);
  EXPECT_EQ(d.val.size(), 1000u);
  EXPECT_EQ(d.train.size(), 10000u);
  EXPECT_EQ(d.test.size(), 856u);  // dev: 428 negatives, 444 positives
  EXPECT_EQ(positives(d.test), 428);
  // Balanced pool, then the first 11000: close to, not exactly, half positive.
  EXPECT_NEAR(positives(d.train) + positives(d.val), 5500, 150);
  const auto t = texts(d.test);
  for (const auto& e : d.train) EXPECT_FALSE(t.count(e.txt));
  for (const auto& e : d.val) EXPECT_FALSE(t.count(e.txt));
  ASSERT_EQ(d.sources.size(), 2u);
  EXPECT_EQ(d.sources[1].sha256, "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0");
  EXPECT_CONTAINS(d.notices.back(), "asked for 5000 test examples, have 856");
}

TEST(LocalTrainingData, BoolqDevSplit) {
  auto o = shared_options("boolq-dev-split");
  const auto d = load_training_data(o);
  // 3270 rows -> 1635 / 817 / 818 raw, each balanced separately.
  EXPECT_EQ(positives(d.train) * 2, static_cast<int>(d.train.size()));
  EXPECT_EQ(positives(d.val) * 2, static_cast<int>(d.val.size()));
  EXPECT_EQ(positives(d.test) * 2, static_cast<int>(d.test.size()));
  EXPECT_GT(d.train.size(), 1000u);
  EXPECT_LT(d.train.size(), 1635u);
  EXPECT_GT(d.val.size(), 450u);
  EXPECT_GT(d.test.size(), 450u);
  const auto t = texts(d.test);
  for (const auto& e : d.train) EXPECT_FALSE(t.count(e.txt));
  EXPECT_EQ(d.notices.size(), 3u);
  EXPECT_EQ(d.train[0].txt.rfind("Passage: ", 0), 0u);
}

TEST(LocalTrainingData, SciqBinarySplitsByQuestion) {
  auto o = shared_options("sciq-binary");
  o.n_train = 4000;
  o.n_val = 500;
  o.n_test = 1000;
  const auto d = load_training_data(o);
  EXPECT_EQ(d.train.size(), 4000u);
  EXPECT_EQ(d.val.size(), 500u);
  EXPECT_EQ(d.test.size(), 1000u);
  EXPECT_NEAR(positives(d.test), 500, 50);
  auto question_of = [](const std::string& txt) { return txt.substr(0, txt.rfind(" A: ")); };
  std::set<std::string> test_questions;
  for (const auto& e : d.test) test_questions.insert(question_of(e.txt));
  for (const auto& e : d.train) EXPECT_FALSE(test_questions.count(question_of(e.txt))) << e.txt;
  EXPECT_TRUE(d.notices.empty());
}

// Every registry entry's formatter and description, pinned: one row holding every field any
// template reads, formatted 5 times with one PyRandom(0) (label 1, then label 0), errors
// included. The values were computed before the registry became one format_<dataset> function
// per entry; a change here changes the examples (and so the stage keys) of that dataset.
namespace {

std::string universal_row(int label) {
  return fmt::format(R"({{"premise": "P.", "hypothesis": "H.", "sentence": "S.", "label": {0},
      "dialogue": ["M: Hi.", "W: Hello."], "question": "Q?", "choice": ["A1", "A2", "A3"], "answer": "A1",
      "scenario": "Sc.", "excuse": "Ex.", "baseline": "B.", "less_pleasant": "L.", "ctx": "C.",
      "endings": ["e0", "e1", "e2", "e3"], "paragraph": "Pg.", "question_stem": "Qs?",
      "choices": {{"text": ["t0", "t1"], "label": ["A", "B"]}}, "answerKey": "B", "sentence1": "S1.",
      "sentence2": "S2.", "goal": "G.", "sol1": "s1", "sol2": "s2", "context": "Cx.", "answers": ["a0", "a1", "a2"],
      "correct_answer_id": 2, "para": "Pa.", "answerA": "aA", "answerB": "aB", "answerC": "aC", "word": "w",
      "text": "T.", "support": "Su.", "correct_answer": "ca", "distractor1": "d1", "distractor2": "d2",
      "distractor3": "d3", "chosen": "Ch.", "rejected": "Re.", "answer0": "x0", "answer1": "x1", "answer2": "x2",
      "answer3": "x3", "passage": "Ps.", "title": "Ti.", "content": "Co."}})",
                     label);
}

std::string formatter_fingerprint(const std::string& name) {
  std::string out;
  for (int label : {1, 0}) {
    w2s::PyRandom rng(0);
    const auto row = parse(universal_row(label));
    for (int i = 0; i < 5; ++i) {
      try {
        const auto e = format_training_row(name, row, rng);
        out += e.id + "\t" + e.txt + "\t" + std::to_string(e.label) + "\n";
      } catch (const w2s::Error& e) {
        out += std::string("error: ") + e.what() + "\n";
      }
    }
  }
  for (const auto& info : training_dataset_info())
    if (info.name == name) out += info.source + "|" + info.files + "|" + info.fields + "|" + info.label_rule + "\n";
  return w2s::sha256_hex(out).substr(0, 16);
}

}  // namespace

TEST(TrainingRegistry, EveryFormatterAndDescriptionIsPinned) {
  const std::map<std::string, std::string> pinned = {
      {"anli-r2", "ac288c24d3c3af44"},
      {"cola", "fd1e1e762598c654"},
      {"dream", "011e0b6e34e92c88"},
      {"ethics-deontology", "91b4fb5eaadaac05"},
      {"ethics-justice", "92b1b8d7adfca474"},
      {"ethics-virtue", "a07983a1511b471e"},
      {"ethics-utilitarianism", "031f868a0435e5c8"},
      {"mc_taco", "41eee072aacc4046"},
      {"hellaswag", "54e263699a254fed"},
      {"multirc", "4336a79d0ad2490b"},
      {"openbookqa", "4f3014b0fa143808"},
      {"paws", "9cf43ed33c74ccb0"},
      {"piqa", "533604ead8e3ac52"},
      {"quail", "77fcd7eee95a3a07"},
      {"quartz", "c70e558212fa36a3"},
      {"social_i_qa", "5845eecadd2e7d92"},
      {"sst2", "22a3a029b248bd0a"},
      {"wic", "3c8b64e4c8dc8db6"},
      {"twitter-sentiment", "ff18ef3161a8cb53"},
      {"sciq", "340824afaf09df6c"},
      {"sciq_with_support", "93369616f48eb5b1"},
      {"anthropic_hh", "2ec0f4a74a8fc11f"},
      {"cosmos_qa", "779f9667f44c3f0f"},
      {"boolq", "99510ba176299e2d"},
      {"amazon_polarity", "da9bb4ccbd3afd8d"},
      {"openbookqa-ref", "66c8800922e207ed"},  // description: "reference quirk #5" (was "spec §12.5")
      {"boolq-dev-split", "4dac05b3c39e420a"},
      {"sciq-binary", "22c49d58ae8a09db"},
      {"sst2-demo", "a60747b1a6700911"},
      {"jsonl", "b437670a29feeeab"},
  };
  std::string computed;
  for (const auto& name : training_dataset_names()) {
    const std::string value = formatter_fingerprint(name);
    computed += fmt::format("      {{\"{}\", \"{}\"}},\n", name, value);
    const auto it = pinned.find(name);
    if (it == pinned.end()) {
      ADD_FAILURE() << "no pin for " << name;
      continue;
    }
    EXPECT_EQ(value, it->second) << name;
  }
  if (HasFailure()) std::cout << "computed pins:\n" << computed;
}
