// The training dataset registry: the 25 reference datasets of EleutherAI/w2s with their exact
// templates and label rules (spec w2s-training.md §5), plus the local variants.
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

Formatter label_template(std::string (*render)(const json::Value&), const char* label_key = "label") {
  return [render, label_key](const json::Value& row, PyRandom&) { return Labeled{render(row), binary_label(row, label_key)}; };
}

Labeled format_openbookqa(const json::Value& row, PyRandom& rng, bool reference_leak) {
  const int y = coin(rng);
  const auto letters = strings(row.at("choices").at("label"), "choices.label");
  const auto texts = strings(row.at("choices").at("text"), "choices.text");
  if (letters.size() != texts.size()) throw Error("choices.label and choices.text differ in length");
  const std::string& key = text(row, "answerKey");
  const auto it = std::find(letters.begin(), letters.end(), key);
  if (it == letters.end()) throw Error(fmt::format("answerKey \"{}\" is not among choices.label", key));
  const std::size_t correct = static_cast<std::size_t>(it - letters.begin());
  // The reference shows the answer *letter* for a positive and a distractor *text* for a
  // negative, so the label leaks through the answer's form (spec §12 item 5). openbookqa uses the
  // text for both; openbookqa-ref keeps the leak.
  std::string ans = y ? (reference_leak ? key : texts[correct]) : rng.choice(without_index(texts, correct));
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < texts.size(); ++i) lines.push_back(letters[i] + ") " + texts[i]);
  return {fmt::format("Q: {}\n\nChoices:\n{}\n\nAnswer: {}", text(row, "question_stem"), join(lines, "\n"), ans), y};
}

Labeled format_sciq(const json::Value& row, PyRandom& rng, bool with_support) {
  const int y = coin(rng);
  const std::string ans = y ? text(row, "correct_answer")
                            : rng.choice(std::vector<std::string>{text(row, "distractor1"), text(row, "distractor2"),
                                                                  text(row, "distractor3")});
  if (with_support)
    return {fmt::format("Name: Bob\n\nPassage 1:\n{}\n\nQ1: \"{}\" Is the answer \"{}\"?", text(row, "support"),
                        text(row, "question"), ans),
            y};
  return {fmt::format("Q: {} A: {}", text(row, "question"), ans), y};
}

Labeled format_boolq(const json::Value& row, PyRandom&) {
  return {fmt::format("Passage: {}\nQuestion: {}", text(row, "passage"), text(row, "question")),
          binary_label(row, "answer")};
}

std::vector<DatasetSpec> build_specs() {
  using L = Layout;
  auto tt = [](std::string name, std::string source, std::string folder, std::string train, std::string test,
               std::string fields, std::string rule, Formatter f) {
    return DatasetSpec{std::move(name), std::move(source), L::TrainTest, std::move(folder), std::move(train) + ".jsonl",
                       std::move(test) + ".jsonl", std::move(fields), std::move(rule), std::move(f)};
  };
  std::vector<DatasetSpec> s;

  s.push_back(tt("anli-r2", "facebook/anli (train -> train_r2, test -> test_r2)", "anli-r2", "train_r2", "test_r2",
                 "premise, hypothesis, label", "label == 0", [](const json::Value& r, PyRandom&) {
                   return Labeled{fmt::format("Premise: {}\nHypothesis: {}\n\nDoes the premise entail the hypothesis?",
                                              text(r, "premise"), text(r, "hypothesis")),
                                  integer(r, "label") == 0 ? 1 : 0};
                 }));
  s.push_back(tt("cola", "nyu-mll/glue cola (test -> validation)", "cola", "train", "validation", "sentence, label",
                 "label", label_template([](const json::Value& r) { return text(r, "sentence"); })));
  s.push_back(tt("dream", "dream", "dream", "train", "test", "dialogue[], question, choice[], answer", "rand",
                 [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   std::string ans = text(r, "answer");
                   if (!y) {
                     auto distractors = strings(r.at("choice"), "choice");
                     const auto it = std::find(distractors.begin(), distractors.end(), ans);
                     if (it == distractors.end()) throw Error("\"answer\" is not one of \"choice\"");
                     distractors.erase(it);  // list.remove: the first copy only
                     ans = rng.choice(distractors);
                   }
                   return Labeled{fmt::format("{}\n\nQ: {} A: {}", join(strings(r.at("dialogue"), "dialogue"), "\n"),
                                              text(r, "question"), ans),
                                  y};
                 }));
  s.push_back(tt("ethics-deontology", "hendrycks/ethics deontology", "ethics-deontology", "train", "test",
                 "scenario, excuse, label", "label", label_template([](const json::Value& r) {
                   return fmt::format("Q: Is the following a morally valid excuse?\n\n{}\n\n{}\n\nA:",
                                      text(r, "scenario"), text(r, "excuse"));
                 })));
  s.push_back(tt("ethics-justice", "hendrycks/ethics justice", "ethics-justice", "train", "test", "scenario, label",
                 "label", label_template([](const json::Value& r) {
                   return fmt::format("Q: Does this statement exemplify justice?\n\n{}\n\nA:", text(r, "scenario"));
                 })));
  s.push_back(tt("ethics-virtue", "hendrycks/ethics virtue", "ethics-virtue", "train", "test", "scenario, label",
                 "label", label_template([](const json::Value& r) {
                   return fmt::format("Q: Does this behavior match the adjective that follows?\n\n{}\n\nA:",
                                      text(r, "scenario"));
                 })));
  s.push_back(tt("ethics-utilitarianism", "hendrycks/ethics utilitarianism", "ethics-utilitarianism", "train", "test",
                 "baseline, less_pleasant", "rand", [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   std::vector<std::string> choices{text(r, "baseline"), text(r, "less_pleasant")};
                   rng.shuffle(choices);
                   const int correct = choices[0] == text(r, "baseline") ? 0 : 1;
                   const int response = y ? correct : 1 - correct;
                   return Labeled{fmt::format("Which is more pleasant?\n1) {}\n2) {} A: {}", choices[0], choices[1],
                                              response + 1),
                                  y};
                 }));
  s.push_back(tt("mc_taco", "mc_taco (train -> test, test -> validation)", "mc_taco", "test", "validation",
                 "sentence, question, answer, label", "label", label_template([](const json::Value& r) {
                   return fmt::format("{}\n\nGiven the above, {} Is the answer {}?", text(r, "sentence"),
                                      text(r, "question"), text(r, "answer"));
                 })));
  s.push_back(tt("hellaswag", "Rowan/hellaswag (test -> validation)", "hellaswag", "train", "validation",
                 "ctx, endings[], label", "rand", [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   const auto endings = strings(r.at("endings"), "endings");
                   const std::size_t correct = checked_index(integer(r, "label"), endings.size(), "label");
                   const std::string ans = y ? endings[correct] : rng.choice(without_index(endings, correct));
                   return Labeled{fmt::format("Context:\n{}\n\nContinuations:\n\n{}\n\nQ: Is \"{}\" the best continuation?",
                                              text(r, "ctx"), join(endings, "\n"), ans),
                                  y};
                 }));
  s.push_back(tt("multirc", "super_glue multirc (test -> validation)", "multirc", "train", "validation",
                 "paragraph, question, answer, label", "label", label_template([](const json::Value& r) {
                   return fmt::format("Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "paragraph"),
                                      text(r, "question"), text(r, "answer"));
                 })));
  s.push_back(tt("openbookqa", "allenai/openbookqa (answer text for positives and negatives)", "openbookqa", "train",
                 "test", "question_stem, choices{text[], label[]}, answerKey", "rand",
                 [](const json::Value& r, PyRandom& rng) { return format_openbookqa(r, rng, false); }));
  s.push_back(tt("paws", "paws labeled_final", "paws", "train", "test", "sentence1, sentence2, label", "label",
                 label_template([](const json::Value& r) {
                   return fmt::format("Sent 1: {}\nSent 2: {}\n\nQ: Are these sentences semantically equivalent?",
                                      text(r, "sentence1"), text(r, "sentence2"));
                 })));
  s.push_back(tt("piqa", "piqa (test -> validation)", "piqa", "train", "validation", "goal, sol1, sol2, label", "rand",
                 [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   const bool second_is_right = integer(r, "label") != 0;
                   const std::string& ans = (y != 0) == second_is_right ? text(r, "sol2") : text(r, "sol1");
                   return Labeled{fmt::format("Q: {} A: {}", text(r, "goal"), ans), y};
                 }));
  s.push_back(tt("quail", "quail (test -> validation)", "quail", "train", "validation",
                 "context, question, answers[], correct_answer_id", "rand", [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   const auto answers = strings(r.at("answers"), "answers");
                   const std::size_t correct = checked_index(integer(r, "correct_answer_id"), answers.size(),
                                                             "correct_answer_id");
                   const std::string ans = y ? answers[correct] : rng.choice(without_index(answers, correct));
                   return Labeled{fmt::format("Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "context"),
                                              text(r, "question"), ans),
                                  y};
                 }));
  s.push_back(tt("quartz", "allenai/quartz", "quartz", "train", "test", "para, question, choices{text[], label[]}, answerKey",
                 "rand", [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   const auto letters = strings(r.at("choices").at("label"), "choices.label");
                   const auto texts = strings(r.at("choices").at("text"), "choices.text");
                   const auto it = std::find(letters.begin(), letters.end(), text(r, "answerKey"));
                   if (it == letters.end() || texts.size() != 2 || letters.size() != 2)
                     throw Error("expected two choices with answerKey among choices.label");
                   const std::size_t correct = static_cast<std::size_t>(it - letters.begin());
                   return Labeled{fmt::format("Passage:\n{}\n\nQ: \"{}\" Is the answer \"{}\"?", text(r, "para"),
                                              text(r, "question"), texts[y ? correct : 1 - correct]),
                                  y};
                 }));
  s.push_back(tt("social_i_qa", "social_i_qa (test -> validation)", "social_i_qa", "train", "validation",
                 "context, question, answerA, answerB, answerC, label (1-3)", "rand",
                 [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   const std::vector<std::string> answers{text(r, "answerA"), text(r, "answerB"), text(r, "answerC")};
                   const std::size_t correct = checked_index(integer(r, "label") - 1, 3, "label - 1");
                   const std::string ans = y ? answers[correct] : rng.choice(without_index(answers, correct));
                   return Labeled{fmt::format("Context:\n{}\n\nQuestion: \"{}\"\n\nChoices:\n{}\n{}\n{}\n\nIs the answer "
                                              "\"{}\"?",
                                              text(r, "context"), text(r, "question"), answers[0], answers[1],
                                              answers[2], ans),
                                  y};
                 }));
  const Formatter sst2_sentence = label_template([](const json::Value& r) { return text(r, "sentence"); });
  s.push_back(DatasetSpec{"sst2", "stanfordnlp/sst2 (test -> validation) = GLUE SST-2 train / dev TSV", L::Sst2Tsv,
                          "sst2", "train.tsv", "dev.tsv", "sentence, label", "label", sst2_sentence});
  s.push_back(tt("wic", "super_glue wic (test -> validation)", "wic", "train", "validation",
                 "sentence1, sentence2, word, label", "label", label_template([](const json::Value& r) {
                   return fmt::format("Sentence 1:\n{}\n\nSentence 2:\n{}\n\nQ: Does \"{}\" have the same meaning in "
                                      "the above sentences?",
                                      text(r, "sentence1"), text(r, "sentence2"), text(r, "word"));
                 })));
  s.push_back(tt("twitter-sentiment", "EleutherAI/twitter-sentiment", "twitter-sentiment", "train", "test",
                 "text, label", "label", label_template([](const json::Value& r) { return text(r, "text"); })));
  s.push_back(DatasetSpec{"sciq", "allenai/sciq, all splits pooled, 3000-row test pool", L::PooledSciq, "sciq", "", "",
                          "question, correct_answer, distractor1-3", "rand",
                          [](const json::Value& r, PyRandom& rng) { return format_sciq(r, rng, false); }});
  s.push_back(DatasetSpec{"sciq_with_support", "allenai/sciq, all splits pooled, 3000-row test pool", L::PooledSciq,
                          "sciq", "", "", "support, question, correct_answer, distractor1-3", "rand",
                          [](const json::Value& r, PyRandom& rng) { return format_sciq(r, rng, true); }});
  s.push_back(tt("anthropic_hh", "Anthropic/hh-rlhf", "anthropic_hh", "train", "test", "chosen, rejected", "rand",
                 [](const json::Value& r, PyRandom& rng) {
                   const int y = coin(rng);
                   return Labeled{text(r, y ? "chosen" : "rejected"), y};
                 }));
  s.push_back(tt("cosmos_qa", "cosmos_qa (test -> validation)", "cosmos_qa", "train", "validation",
                 "context, question, answer0-3, label", "rand; 0 when the true answer is \"None of the above choices .\"",
                 [](const json::Value& r, PyRandom& rng) {
                   const std::vector<std::string> answers{text(r, "answer0"), text(r, "answer1"), text(r, "answer2"),
                                                          text(r, "answer3")};
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
                   return Labeled{fmt::format("Context: {}\nQuestion: {}\nAnswer: {}", text(r, "context"),
                                              text(r, "question"), ans),
                                  y};
                 }));
  s.push_back(tt("boolq", "boolq (test -> validation)", "boolq", "train", "validation", "passage, question, answer",
                 "int(answer)", format_boolq));
  s.push_back(tt("amazon_polarity", "amazon_polarity", "amazon_polarity", "train", "test", "title, content, label",
                 "label", label_template([](const json::Value& r) {
                   return fmt::format("{} {}", text(r, "title"), text(r, "content"));
                 })));

  // Variants and local datasets.
  s.push_back(tt("openbookqa-ref", "allenai/openbookqa with the reference's answer-letter leak (spec §12.5)",
                 "openbookqa", "train", "test", "question_stem, choices{text[], label[]}, answerKey", "rand",
                 [](const json::Value& r, PyRandom& rng) { return format_openbookqa(r, rng, true); }));
  s.push_back(DatasetSpec{"boolq-dev-split", "BoolQ dev.jsonl split 50/25/25 (train/val/test)", L::BoolqDevSplit,
                          "boolq", "dev.jsonl", "", "passage, question, answer", "int(answer)", format_boolq});
  s.push_back(DatasetSpec{"sciq-binary", "SciQ binarized (openai/weak-to-strong rows), split by question",
                          L::SciqBinary, "sciq", "sciq_binary_w2s.jsonl", "", "question, answer, label", "label",
                          [](const json::Value& r, PyRandom&) {
                            return Labeled{fmt::format("Q: {} A: {}", text(r, "question"), text(r, "answer")),
                                           binary_label(r, "label")};
                          }});
  s.push_back(DatasetSpec{"sst2-demo", "24,000 rows of GLUE SST-2 train / GLUE dev, built into w2s (the main job's data)",
                          L::Sst2Tsv, "sst2-demo", "train.tsv", "dev.tsv", "sentence, label", "label", sst2_sentence});
  s.push_back(DatasetSpec{"jsonl", "your file: --dataset-file TRAIN.jsonl[,TEST.jsonl]", L::UserJsonl, "", "", "",
                          "text, label", "label",
                          [](const json::Value& r, PyRandom&) { return Labeled{text(r, "text"), binary_label(r, "label")}; }});
  return s;
}

}  // namespace

const std::vector<DatasetSpec>& dataset_specs() {
  static const std::vector<DatasetSpec> specs = build_specs();
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
