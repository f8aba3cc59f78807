#include "scripted_policy.h"

#include <algorithm>
#include <cstdlib>

namespace w2s::test {

double hash_unit(const std::string& text) {
  const std::string h = sha256_hex(text);
  return static_cast<double>(std::strtoul(h.substr(0, 8).c_str(), nullptr, 16)) / 4294967296.0;
}

ScriptedModels::ScriptedModels(const data::TruthfulQa& dataset) : ScriptedModels(dataset.all) {}

ScriptedModels::ScriptedModels(const std::vector<data::Question>& questions) {
  for (const auto& q : questions) by_text_[q.text] = q;
}

double ScriptedModels::skill(const std::string& model) {
  if (model.find("8b") != std::string::npos) return 0.55;
  if (model.find("70b") != std::string::npos) return 0.7;
  if (model.find("qwen") != std::string::npos) return 0.8;
  return 0.6;
}

std::string ScriptedModels::answer(const std::string& model, const std::vector<llm::Message>& messages) const {
  const std::string& question = messages.back().content;
  auto it = by_text_.find(question);
  if (it == by_text_.end()) return "I do not know this question.";
  const data::Question& q = it->second;
  // Each correct shot helps, each wrong one hurts.
  int correct = 0, wrong = 0;
  for (std::size_t i = 1; i + 1 < messages.size(); i += 2) {
    auto shot = by_text_.find(messages[i].content);
    if (shot == by_text_.end()) continue;
    (messages[i + 1].content == shot->second.answer ? correct : wrong)++;
  }
  const double p = std::clamp(skill(model) + 0.004 * correct - 0.004 * wrong, 0.05, 0.97);
  std::string letter = q.answer;
  if (hash_unit(model + "|" + question) >= p) {
    const std::size_t gold = std::find(q.letters.begin(), q.letters.end(), q.answer) - q.letters.begin();
    const std::size_t shift = 1 + static_cast<std::size_t>(hash_unit("wrong|" + model + question) * (q.letters.size() - 1));
    letter = q.letters[(gold + shift) % q.letters.size()];
  }
  // Answer styles: mostly the bare letter, sometimes prose (parser artefacts).
  const int style = static_cast<int>(hash_unit("style|" + model + question) * 20);
  if (style == 0) return "I cannot answer that.";
  if (style == 1) return "The answer is " + letter;
  if (style == 2) {
    const std::size_t i = std::find(q.letters.begin(), q.letters.end(), letter) - q.letters.begin();
    return letter + ") " + q.options[i];
  }
  return letter;
}

std::string ScriptedModels::answer(const json::Value& body) const {
  std::vector<llm::Message> messages;
  for (const auto& m : body.at("messages").as_array())
    messages.push_back({m.at("role").as_string(), m.at("content").as_string()});
  return answer(body.at("model").as_string(), messages);
}

std::vector<llm::Completion> ScriptedProvider::run_batch(const std::vector<llm::ChatRequest>& requests,
                                                         const llm::ResultCallback& on_result) {
  ++batches;
  std::vector<llm::Completion> out;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    seen.push_back(r);
    ++request_count;
    llm::Completion c;
    const std::string& question = r.messages.back().content;
    if (std::find(fail_texts.begin(), fail_texts.end(), question) != fail_texts.end()) {
      c.ok = false;
      c.error = "HTTP 400: scripted failure";
      c.http_status = 400;
      c.attempts = 1;
    } else {
      c.ok = true;
      c.content = models_.answer(r.model, r.messages);
      c.prompt_tokens = 10 * static_cast<std::int64_t>(r.messages.size());
      c.completion_tokens = 1;
      c.cost_usd = 0.001;
      c.cost_source = "usage";
      c.provider = "Scripted";
      c.generation_id = "gen-" + std::to_string(request_count);
      c.attempts = 1;
    }
    if (on_result) on_result(i, c);
    out.push_back(std::move(c));
  }
  return out;
}

data::TruthfulQa synthetic_dataset(int n_train, int n_test) {
  data::TruthfulQa ds;
  ds.variant = "synthetic";
  ds.sources = {{"synthetic.jsonl", std::string(64, '0')}};
  ds.seed = 42;
  const std::vector<std::string> letters{"A", "B", "C", "D"};
  for (int i = 0; i < n_train + n_test; ++i) {
    data::Question q;
    q.question_id = i;
    q.letters = letters;
    q.options = {"first " + std::to_string(i), "second", "third", "fourth"};
    q.answer = letters[static_cast<std::size_t>(hash_unit("gold" + std::to_string(i)) * 4)];
    q.text = "Question " + std::to_string(i) + "?\n\nA) first " + std::to_string(i) + "\nB) second\nC) third\nD) fourth";
    ds.all.push_back(q);
  }
  // Split order differs from id order, as in the real data.
  for (int i = 0; i < n_test; ++i) ds.test.push_back(ds.all[n_train + n_test - 1 - i]);
  for (int i = 0; i < n_train; ++i) ds.train.push_back(ds.all[i]);
  return ds;
}

}  // namespace w2s::test
