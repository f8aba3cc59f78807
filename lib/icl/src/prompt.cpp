// The prompt layout of the in-context experiment (docs/reference-behaviour.md §5). Every request the
// experiments send (weak labelling, gold and weak shots, baselines) is built here.
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
