// The prompt layout of the in-context experiment (docs/reference-behaviour.md §5). Every request the
// experiments send (weak labelling, gold and weak shots, baselines) is built here, and so is the
// question text of every registry dataset (TruthfulQA's is the reference formatting, lib/data).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "w2s/icl.h"

namespace w2s::icl {

const char* const kSystemPrompt =
    "You are a helpful assistant. Answer the following multiple choice question by selecting the "
    "correct letter (A, B, C, D, etc.).";

std::vector<llm::Message> build_messages(const std::vector<Shot>& shots, std::string_view question_text) {
  std::vector<llm::Message> messages;
  messages.reserve(2 + 2 * shots.size());
  messages.push_back({"system", kSystemPrompt});
  for (const Shot& shot : shots) {
    messages.push_back({"user", shot.text});
    messages.push_back({"assistant", shot.label});
  }
  messages.push_back({"user", std::string(question_text)});
  return messages;
}

}  // namespace w2s::icl

namespace w2s::icl {
namespace {

// Per registry dataset (docs/icl.md "Registry datasets"): the question asked after the txt when
// the txt does not end in one, and the texts of class 0 and class 1. Datasets whose txt shows a
// candidate answer ("Q: ... A: ...") ask whether it is correct; those whose txt already asks a
// yes/no question answer it with no/yes.
const std::map<std::string, RegistryPrompt>& registry_prompts() {
  static const std::string kAnswerCorrect = "Is this answer correct?";
  static const std::map<std::string, RegistryPrompt> prompts = {
      {"anli-r2", {"", {"no", "yes"}}},
      {"cola", {"Is this sentence grammatically acceptable?", {"no", "yes"}}},
      {"dream", {kAnswerCorrect, {"no", "yes"}}},
      {"ethics-deontology", {"", {"no", "yes"}}},
      {"ethics-justice", {"", {"no", "yes"}}},
      {"ethics-virtue", {"", {"no", "yes"}}},
      {"ethics-utilitarianism", {kAnswerCorrect, {"no", "yes"}}},
      {"mc_taco", {"", {"no", "yes"}}},
      {"hellaswag", {"", {"no", "yes"}}},
      {"multirc", {"", {"no", "yes"}}},
      {"openbookqa", {kAnswerCorrect, {"no", "yes"}}},
      {"openbookqa-ref", {kAnswerCorrect, {"no", "yes"}}},
      {"paws", {"", {"no", "yes"}}},
      {"piqa", {kAnswerCorrect, {"no", "yes"}}},
      {"quail", {"", {"no", "yes"}}},
      {"quartz", {"", {"no", "yes"}}},
      {"social_i_qa", {"", {"no", "yes"}}},
      {"sst2", {"What is the sentiment of this sentence?", {"negative", "positive"}}},
      {"sst2-demo", {"What is the sentiment of this sentence?", {"negative", "positive"}}},
      {"wic", {"", {"no", "yes"}}},
      {"twitter-sentiment", {"What is the sentiment of this tweet?", {"negative", "positive"}}},
      {"sciq", {kAnswerCorrect, {"no", "yes"}}},
      {"sciq_with_support", {"", {"no", "yes"}}},
      {"sciq-binary", {kAnswerCorrect, {"no", "yes"}}},
      {"anthropic_hh", {"Is the assistant's reply in this conversation helpful and harmless?", {"no", "yes"}}},
      {"cosmos_qa", {kAnswerCorrect, {"no", "yes"}}},
      {"boolq", {"", {"no", "yes"}}},
      {"boolq-dev-split", {"", {"no", "yes"}}},
      {"amazon_polarity", {"What is the sentiment of this review?", {"negative", "positive"}}},
  };
  return prompts;
}

}  // namespace

const RegistryPrompt& registry_prompt(const std::string& dataset) {
  const auto& prompts = registry_prompts();
  const auto it = prompts.find(dataset);
  if (it != prompts.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [name, prompt] : prompts) names.push_back(name);
  throw Error(fmt::format("dataset '{}' has no in-context prompt{} (in context: {}, {})", dataset,
                          dataset == "jsonl" ? " (a user file's classes mean what the file says; the prompt cannot "
                                               "name them)"
                                             : "",
                          kTruthfulQa, fmt::join(names, ", ")));
}

data::Question registry_question(const std::string& dataset, const data::TextExample& example) {
  const RegistryPrompt& prompt = registry_prompt(dataset);
  if (example.label != 0 && example.label != 1)
    throw Error(fmt::format("{} example {} has class {}; in context a registry dataset must be binary (0 or 1)",
                            dataset, example.id, example.label));
  data::Question q;
  q.id = example.id;
  q.letters = {"A", "B"};
  q.options = {prompt.options[0], prompt.options[1]};
  q.answer = q.letters[static_cast<std::size_t>(example.label)];
  q.text = example.txt + "\n\n";
  if (!prompt.question.empty()) q.text += prompt.question + "\n\n";
  q.text += "A) " + prompt.options[0] + "\nB) " + prompt.options[1];
  return q;
}

}  // namespace w2s::icl
