// The training dataset registry: the 25 reference datasets of EleutherAI/w2s with their exact
// templates and label rules (docs/reference-behaviour.md §15), plus the local variants.
//
// "rand" datasets: hard_label = int(rng.random() < 0.5); a negative shows a wrong answer drawn
// with rng.choice(distractors). The draws happen in the same order as the reference's so the
// same rows and seed give the same labels.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "training.h"

namespace w2s::data::detail {
namespace {

const std::string& text(const json::Value& row, const char* key) {
  const json::Value& v = row.at(key);
  if (!v.is_string()) throw Error(fmt::format("field \"{}\" is {}, expected a string", key, type_name(v.type())));
  return v.as_string();
}

// An integer field, also accepting a bool or a numeric string (HF stores some labels as "1").
std::int64_t integer(const json::Value& row, const char* key) {
  const json::Value& v = row.at(key);
  if (v.is_bool()) return v.as_bool() ? 1 : 0;
  if (v.is_string()) {
    const std::string& s = v.as_string();
    try {
      std::size_t used = 0;
      const long long x = std::stoll(s, &used);
      if (used == s.size()) return x;
    } catch (const std::exception&) {
    }
    throw Error(fmt::format("field \"{}\" is \"{}\", expected an integer", key, s));
  }
  return v.as_int();
}

int binary_label(const json::Value& row, const char* key) {
  const std::int64_t y = integer(row, key);
  if (y != 0 && y != 1)
    throw Error(fmt::format("field \"{}\" is {}, expected 0 or 1 (an unlabelled split?)", key, y));
  return static_cast<int>(y);
}

std::vector<std::string> strings(const json::Value& v, const char* what) {
  std::vector<std::string> out;
  for (const auto& x : v.as_array()) {
    if (!x.is_string()) throw Error(fmt::format("\"{}\" must be a list of strings", what));
    out.push_back(x.as_string());
  }
  return out;
}

int coin(PyRandom& rng) { return rng.random() < 0.5 ? 1 : 0; }

// Every entry of `xs` except position `skip`.
std::vector<std::string> without_index(const std::vector<std::string>& xs, std::size_t skip) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (i != skip) out.push_back(xs[i]);
  return out;
}

std::size_t checked_index(std::int64_t i, std::size_t n, const char* key) {
  if (i < 0 || static_cast<std::size_t>(i) >= n)
    throw Error(fmt::format("field \"{}\" = {} is not an index into {} answers", key, i, n));
  return static_cast<std::size_t>(i);
}

std::string join(const std::vector<std::string>& xs, const char* sep) { return fmt::format("{}", fmt::join(xs, sep)); }

// ---- one formatter per dataset (reference-behaviour.md §15) ----------------------------------
// "label" datasets show a template and read the label; "rand" ones draw the label from the
// split's formatting generator and show a wrong answer for a negative.

Labeled format_anli_r2(const json::Value& r, PyRandom&) {
  return {fmt::format("Premise: {}\nHypothesis: {}\n\nDoes the premise entail the hypothesis?", text(r, "premise"),
                      text(r, "hypothesis")),
          integer(r, "label") == 0 ? 1 : 0};
}

Labeled format_cola(const json::Value& r, PyRandom&) { return {text(r, "sentence"), binary_label(r, "label")}; }

Labeled format_dream(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  std::string ans = text(r, "answer");
  if (!y) {
    auto distractors = strings(r.at("choice"), "choice");
    const auto it = std::find(distractors.begin(), distractors.end(), ans);
    if (it == distractors.end()) throw Error("\"answer\" is not one of \"choice\"");
    distractors.erase(it);  // list.remove: the first copy only
    ans = rng.choice(distractors);
  }
  return {fmt::format("{}\n\nQ: {} A: {}", join(strings(r.at("dialogue"), "dialogue"), "\n"), text(r, "question"), ans),
          y};
}

Labeled format_ethics_deontology(const json::Value& r, PyRandom&) {
  return {fmt::format("Q: Is the following a morally valid excuse?\n\n{}\n\n{}\n\nA:", text(r, "scenario"),
                      text(r, "excuse")),
          binary_label(r, "label")};
}

Labeled format_ethics_justice(const json::Value& r, PyRandom&) {
  return {fmt::format("Q: Does this statement exemplify justice?\n\n{}\n\nA:", text(r, "scenario")),
          binary_label(r, "label")};
}

Labeled format_ethics_virtue(const json::Value& r, PyRandom&) {
  return {fmt::format("Q: Does this behavior match the adjective that follows?\n\n{}\n\nA:", text(r, "scenario")),
          binary_label(r, "label")};
}

Labeled format_ethics_utilitarianism(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  std::vector<std::string> choices{text(r, "baseline"), text(r, "less_pleasant")};
  rng.shuffle(choices);
  const int correct = choices[0] == text(r, "baseline") ? 0 : 1;
  const int response = y ? correct : 1 - correct;
  return {fmt::format("Which is more pleasant?\n1) {}\n2) {} A: {}", choices[0], choices[1], response + 1), y};
}

Labeled format_mc_taco(const json::Value& r, PyRandom&) {
  return {fmt::format("{}\n\nGiven the above, {} Is the answer {}?", text(r, "sentence"), text(r, "question"),
                      text(r, "answer")),
          binary_label(r, "label")};
}

Labeled format_hellaswag(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const auto endings = strings(r.at("endings"), "endings");
  const std::size_t correct = checked_index(integer(r, "label"), endings.size(), "label");
  const std::string ans = y ? endings[correct] : rng.choice(without_index(endings, correct));
  return {fmt::format("Context:\n{}\n\nContinuations:\n\n{}\n\nQ: Is \"{}\" the best continuation?", text(r, "ctx"),
                      join(endings, "\n"), ans),
          y};
}

Labeled format_multirc(const json::Value& r, PyRandom&) {
  return {fmt::format("Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "paragraph"), text(r, "question"),
                      text(r, "answer")),
          binary_label(r, "label")};
}

// The reference shows the answer *letter* for a positive and a distractor *text* for a negative,
// so the label leaks through the answer's form (reference quirk #5). openbookqa uses the text for
// both; openbookqa-ref keeps the leak.
Labeled format_openbookqa_choices(const json::Value& row, PyRandom& rng, bool reference_leak) {
  const int y = coin(rng);
  const auto letters = strings(row.at("choices").at("label"), "choices.label");
  const auto texts = strings(row.at("choices").at("text"), "choices.text");
  if (letters.size() != texts.size()) throw Error("choices.label and choices.text differ in length");
  const std::string& key = text(row, "answerKey");
  const auto it = std::find(letters.begin(), letters.end(), key);
  if (it == letters.end()) throw Error(fmt::format("answerKey \"{}\" is not among choices.label", key));
  const std::size_t correct = static_cast<std::size_t>(it - letters.begin());
  std::string ans = y ? (reference_leak ? key : texts[correct]) : rng.choice(without_index(texts, correct));
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < texts.size(); ++i) lines.push_back(letters[i] + ") " + texts[i]);
  return {fmt::format("Q: {}\n\nChoices:\n{}\n\nAnswer: {}", text(row, "question_stem"), join(lines, "\n"), ans), y};
}

Labeled format_openbookqa(const json::Value& r, PyRandom& rng) { return format_openbookqa_choices(r, rng, false); }

Labeled format_openbookqa_ref(const json::Value& r, PyRandom& rng) { return format_openbookqa_choices(r, rng, true); }

Labeled format_paws(const json::Value& r, PyRandom&) {
  return {fmt::format("Sent 1: {}\nSent 2: {}\n\nQ: Are these sentences semantically equivalent?", text(r, "sentence1"),
                      text(r, "sentence2")),
          binary_label(r, "label")};
}

Labeled format_piqa(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const bool second_is_right = integer(r, "label") != 0;
  const std::string& ans = (y != 0) == second_is_right ? text(r, "sol2") : text(r, "sol1");
  return {fmt::format("Q: {} A: {}", text(r, "goal"), ans), y};
}

Labeled format_quail(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const auto answers = strings(r.at("answers"), "answers");
  const std::size_t correct = checked_index(integer(r, "correct_answer_id"), answers.size(), "correct_answer_id");
  const std::string ans = y ? answers[correct] : rng.choice(without_index(answers, correct));
  return {fmt::format("Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "context"), text(r, "question"), ans),
          y};
}

Labeled format_quartz(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const auto letters = strings(r.at("choices").at("label"), "choices.label");
  const auto texts = strings(r.at("choices").at("text"), "choices.text");
  const auto it = std::find(letters.begin(), letters.end(), text(r, "answerKey"));
  if (it == letters.end() || texts.size() != 2 || letters.size() != 2)
    throw Error("expected two choices with answerKey among choices.label");
  const std::size_t correct = static_cast<std::size_t>(it - letters.begin());
  return {fmt::format("Passage:\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "para"), text(r, "question"),
                      texts[y ? correct : 1 - correct]),
          y};
}

Labeled format_social_i_qa(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const std::vector<std::string> answers{text(r, "answerA"), text(r, "answerB"), text(r, "answerC")};
  const std::size_t correct = checked_index(integer(r, "label") - 1, 3, "label - 1");
  const std::string ans = y ? answers[correct] : rng.choice(without_index(answers, correct));
  return {fmt::format("Context:\n{}\n\nQuestion: \"{}\"\n\nChoices:\n{}\n{}\n{}\n\nIs the answer \"{}\"?",
                      text(r, "context"), text(r, "question"), answers[0], answers[1], answers[2], ans),
          y};
}

Labeled format_sst2(const json::Value& r, PyRandom&) { return {text(r, "sentence"), binary_label(r, "label")}; }

Labeled format_wic(const json::Value& r, PyRandom&) {
  return {fmt::format("Sentence 1:\n{}\n\nSentence 2:\n{}\n\nQ: Does \"{}\" have the same meaning in the above sentences?",
                      text(r, "sentence1"), text(r, "sentence2"), text(r, "word")),
          binary_label(r, "label")};
}

Labeled format_twitter_sentiment(const json::Value& r, PyRandom&) {
  return {text(r, "text"), binary_label(r, "label")};
}

// sciq: the right answer for a positive, one of the three distractors for a negative.
std::string sciq_answer(const json::Value& r, PyRandom& rng, int y) {
  return y ? text(r, "correct_answer")
           : rng.choice(std::vector<std::string>{text(r, "distractor1"), text(r, "distractor2"), text(r, "distractor3")});
}

Labeled format_sciq(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  return {fmt::format("Q: {} A: {}", text(r, "question"), sciq_answer(r, rng, y)), y};
}

Labeled format_sciq_with_support(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  const std::string ans = sciq_answer(r, rng, y);
  return {fmt::format("Name: Bob\n\nPassage 1:\n{}\n\nQ1: \"{}\" Is the answer \"{}\"?", text(r, "support"),
                      text(r, "question"), ans),
          y};
}

Labeled format_anthropic_hh(const json::Value& r, PyRandom& rng) {
  const int y = coin(rng);
  return {text(r, y ? "chosen" : "rejected"), y};
}

Labeled format_cosmos_qa(const json::Value& r, PyRandom& rng) {
  const std::vector<std::string> answers{text(r, "answer0"), text(r, "answer1"), text(r, "answer2"), text(r, "answer3")};
  const std::string& truth = answers[checked_index(integer(r, "label"), 4, "label")];
  // No draw for these rows, exactly like the reference.
  const int y = truth.find("None of the above choices .") != std::string::npos ? 0 : coin(rng);
  std::string ans = truth;
  if (!y) {
    std::vector<std::string> others;
    for (const auto& a : answers)
      if (a != truth) others.push_back(a);
    ans = rng.choice(others);
  }
  return {fmt::format("Context: {}\nQuestion: {}\nAnswer: {}", text(r, "context"), text(r, "question"), ans), y};
}

Labeled format_boolq(const json::Value& r, PyRandom&) {
  return {fmt::format("Passage: {}\nQuestion: {}", text(r, "passage"), text(r, "question")), binary_label(r, "answer")};
}

Labeled format_amazon_polarity(const json::Value& r, PyRandom&) {
  return {fmt::format("{} {}", text(r, "title"), text(r, "content")), binary_label(r, "label")};
}

Labeled format_sciq_binary(const json::Value& r, PyRandom&) {
  return {fmt::format("Q: {} A: {}", text(r, "question"), text(r, "answer")), binary_label(r, "label")};
}

Labeled format_user_jsonl(const json::Value& r, PyRandom&) { return {text(r, "text"), binary_label(r, "label")}; }

}  // namespace

// ---- the registry ------------------------------------------------------------------------------
// Adding a dataset: a format_<dataset> function above and a row here (docs/data.md lists them).
const std::vector<DatasetSpec>& dataset_specs() {
  using L = Layout;
  // name, source (split map), layout, folder, train file, test file, fields read, label rule, formatter
  static const std::vector<DatasetSpec> specs = {
      {"anli-r2", "facebook/anli (train -> train_r2, test -> test_r2)", L::TrainTest, "anli-r2", "train_r2.jsonl",
       "test_r2.jsonl", "premise, hypothesis, label", "label == 0", format_anli_r2},
      {"cola", "nyu-mll/glue cola (test -> validation)", L::TrainTest, "cola", "train.jsonl", "validation.jsonl",
       "sentence, label", "label", format_cola},
      {"dream", "dream", L::TrainTest, "dream", "train.jsonl", "test.jsonl", "dialogue[], question, choice[], answer",
       "rand", format_dream},
      {"ethics-deontology", "hendrycks/ethics deontology", L::TrainTest, "ethics-deontology", "train.jsonl",
       "test.jsonl", "scenario, excuse, label", "label", format_ethics_deontology},
      {"ethics-justice", "hendrycks/ethics justice", L::TrainTest, "ethics-justice", "train.jsonl", "test.jsonl",
       "scenario, label", "label", format_ethics_justice},
      {"ethics-virtue", "hendrycks/ethics virtue", L::TrainTest, "ethics-virtue", "train.jsonl", "test.jsonl",
       "scenario, label", "label", format_ethics_virtue},
      {"ethics-utilitarianism", "hendrycks/ethics utilitarianism", L::TrainTest, "ethics-utilitarianism", "train.jsonl",
       "test.jsonl", "baseline, less_pleasant", "rand", format_ethics_utilitarianism},
      {"mc_taco", "mc_taco (train -> test, test -> validation)", L::TrainTest, "mc_taco", "test.jsonl",
       "validation.jsonl", "sentence, question, answer, label", "label", format_mc_taco},
      {"hellaswag", "Rowan/hellaswag (test -> validation)", L::TrainTest, "hellaswag", "train.jsonl", "validation.jsonl",
       "ctx, endings[], label", "rand", format_hellaswag},
      {"multirc", "super_glue multirc (test -> validation)", L::TrainTest, "multirc", "train.jsonl", "validation.jsonl",
       "paragraph, question, answer, label", "label", format_multirc},
      {"openbookqa", "allenai/openbookqa (answer text for positives and negatives)", L::TrainTest, "openbookqa",
       "train.jsonl", "test.jsonl", "question_stem, choices{text[], label[]}, answerKey", "rand", format_openbookqa},
      {"paws", "paws labeled_final", L::TrainTest, "paws", "train.jsonl", "test.jsonl", "sentence1, sentence2, label",
       "label", format_paws},
      {"piqa", "piqa (test -> validation)", L::TrainTest, "piqa", "train.jsonl", "validation.jsonl",
       "goal, sol1, sol2, label", "rand", format_piqa},
      {"quail", "quail (test -> validation)", L::TrainTest, "quail", "train.jsonl", "validation.jsonl",
       "context, question, answers[], correct_answer_id", "rand", format_quail},
      {"quartz", "allenai/quartz", L::TrainTest, "quartz", "train.jsonl", "test.jsonl",
       "para, question, choices{text[], label[]}, answerKey", "rand", format_quartz},
      {"social_i_qa", "social_i_qa (test -> validation)", L::TrainTest, "social_i_qa", "train.jsonl", "validation.jsonl",
       "context, question, answerA, answerB, answerC, label (1-3)", "rand", format_social_i_qa},
      {"sst2", "stanfordnlp/sst2 (test -> validation) = GLUE SST-2 train / dev TSV", L::Sst2Tsv, "sst2", "train.tsv",
       "dev.tsv", "sentence, label", "label", format_sst2},
      {"wic", "super_glue wic (test -> validation)", L::TrainTest, "wic", "train.jsonl", "validation.jsonl",
       "sentence1, sentence2, word, label", "label", format_wic},
      {"twitter-sentiment", "EleutherAI/twitter-sentiment", L::TrainTest, "twitter-sentiment", "train.jsonl",
       "test.jsonl", "text, label", "label", format_twitter_sentiment},
      {"sciq", "allenai/sciq, all splits pooled, 3000-row test pool", L::PooledSciq, "sciq", "", "",
       "question, correct_answer, distractor1-3", "rand", format_sciq},
      {"sciq_with_support", "allenai/sciq, all splits pooled, 3000-row test pool", L::PooledSciq, "sciq", "", "",
       "support, question, correct_answer, distractor1-3", "rand", format_sciq_with_support},
      {"anthropic_hh", "Anthropic/hh-rlhf", L::TrainTest, "anthropic_hh", "train.jsonl", "test.jsonl",
       "chosen, rejected", "rand", format_anthropic_hh},
      {"cosmos_qa", "cosmos_qa (test -> validation)", L::TrainTest, "cosmos_qa", "train.jsonl", "validation.jsonl",
       "context, question, answer0-3, label", "rand; 0 when the true answer is \"None of the above choices .\"",
       format_cosmos_qa},
      {"boolq", "boolq (test -> validation)", L::TrainTest, "boolq", "train.jsonl", "validation.jsonl",
       "passage, question, answer", "int(answer)", format_boolq},
      {"amazon_polarity", "amazon_polarity", L::TrainTest, "amazon_polarity", "train.jsonl", "test.jsonl",
       "title, content, label", "label", format_amazon_polarity},

      // Variants and local datasets.
      {"openbookqa-ref", "allenai/openbookqa with the reference's answer-letter leak (reference quirk #5)", L::TrainTest,
       "openbookqa", "train.jsonl", "test.jsonl", "question_stem, choices{text[], label[]}, answerKey", "rand",
       format_openbookqa_ref},
      {"boolq-dev-split", "BoolQ dev.jsonl split 50/25/25 (train/val/test)", L::BoolqDevSplit, "boolq", "dev.jsonl", "",
       "passage, question, answer", "int(answer)", format_boolq},
      {"sciq-binary", "SciQ binarized (openai/weak-to-strong rows), split by question", L::SciqBinary, "sciq",
       "sciq_binary_w2s.jsonl", "", "question, answer, label", "label", format_sciq_binary},
      {"sst2-demo", "24,000 rows of GLUE SST-2 train / GLUE dev, built into w2s (the main job's data)", L::Sst2Tsv,
       "sst2-demo", "train.tsv", "dev.tsv", "sentence, label", "label", format_sst2},
      {"jsonl", "your file: --dataset-file TRAIN.jsonl[,TEST.jsonl]", L::UserJsonl, "", "", "", "text, label", "label",
       format_user_jsonl},
  };
  return specs;
}

const DatasetSpec& find_dataset_spec(const std::string& name) {
  for (const auto& s : dataset_specs())
    if (s.name == name) return s;
  std::vector<std::string> names;
  for (const auto& s : dataset_specs()) names.push_back(s.name);
  throw Error(fmt::format("unknown training dataset '{}' (known: {})", name, fmt::join(names, ", ")));
}

}  // namespace w2s::data::detail

namespace w2s::data {

std::vector<std::string> training_dataset_names() {
  std::vector<std::string> names;
  for (const auto& s : detail::dataset_specs()) names.push_back(s.name);
  return names;
}

std::vector<TrainingDatasetInfo> training_dataset_info() {
  std::vector<TrainingDatasetInfo> out;
  for (const auto& s : detail::dataset_specs()) {
    std::string files;
    switch (s.layout) {
      case detail::Layout::TrainTest:
      case detail::Layout::Sst2Tsv: files = s.folder + "/" + s.train_file + ", " + s.folder + "/" + s.test_file; break;
      case detail::Layout::PooledSciq: files = "sciq/train.jsonl, sciq/validation.jsonl, sciq/test.jsonl"; break;
      case detail::Layout::BoolqDevSplit:
      case detail::Layout::SciqBinary: files = s.folder + "/" + s.train_file; break;
      case detail::Layout::UserJsonl: files = "--dataset-file TRAIN.jsonl[,TEST.jsonl]"; break;
    }
    out.push_back({s.name, s.source, files, s.fields, s.label_rule});
  }
  return out;
}

TextExample format_training_row(const std::string& name, const json::Value& row, PyRandom& rng) {
  detail::Labeled l = detail::find_dataset_spec(name).format(row, rng);
  return TextExample{sha1_hex(l.txt).substr(0, 8), std::move(l.txt), l.label};
}

}  // namespace w2s::data
