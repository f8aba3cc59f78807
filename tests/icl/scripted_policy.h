// A scripted "model" for the icl tests: answers a TruthfulQA chat request with the gold letter
// with a probability that depends on the model and on how many of the few-shot labels in the
// prompt are correct, so accuracy curves move with the number of shots and the label source.
// Deterministic: every draw comes from sha256 of the model and the question.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "w2s/data.h"
#include "w2s/llm.h"

namespace w2s::test {

class ScriptedModels {
 public:
  explicit ScriptedModels(const data::TruthfulQa& dataset);
  // Any questions (a registry dataset's in-context questions: icl::Dataset's test, shot and extra pools).
  explicit ScriptedModels(const std::vector<data::Question>& questions);

  // The completion text for a chat request (system, N user/assistant shots, the question).
  std::string answer(const std::string& model, const std::vector<llm::Message>& messages) const;
  // The same from a /chat/completions JSON body.
  std::string answer(const json::Value& body) const;

  // Base accuracy of a model id ("8b" 0.55, "70b" 0.7, "qwen" 0.8, otherwise 0.6).
  static double skill(const std::string& model);

 private:
  std::map<std::string, data::Question> by_text_;  // a copy: servers outlive datasets
};

// Uniform in [0, 1) from sha256(text).
double hash_unit(const std::string& text);

// llm::Provider that answers in-process with ScriptedModels; counts requests. Requests whose
// question text is in `fail_texts` come back failed.
class ScriptedProvider : public llm::Provider {
 public:
  explicit ScriptedProvider(const data::TruthfulQa& dataset) : models_(dataset) {}
  explicit ScriptedProvider(const std::vector<data::Question>& questions) : models_(questions) {}
  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result = {}) override;
  int request_count = 0;
  int batches = 0;
  std::vector<std::string> fail_texts;
  std::vector<llm::ChatRequest> seen;

 private:
  ScriptedModels models_;
};

// A small synthetic TruthfulQA-like dataset (4 options, letters A-D) for unit tests.
data::TruthfulQa synthetic_dataset(int n_train, int n_test);

}  // namespace w2s::test
