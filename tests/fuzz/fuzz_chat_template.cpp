// Chat templates from tokenizer_config.json, through the public chat-template API (whichever
// renderer is behind it): the input is the template, rendered for a few conversations, one of
// them made of the input's own lines.
#include <algorithm>

#include "fuzz_target.h"
#include "w2s/model.h"

W2S_FUZZ_TARGET(chat_template) {
  const auto chat_template = w2s::model::parse_chat_template(std::string(input), {{"bos_token", "<s>"}, {"eos_token", "</s>"}}, "fuzz input");
  std::vector<w2s::llm::Message> lines;
  std::size_t start = 0;
  while (start < input.size() && lines.size() < 8) {
    const auto end = std::min(input.find('\n', start), input.size());
    lines.push_back({lines.size() % 2 ? "assistant" : "user", std::string(input.substr(start, end - start))});
    start = end + 1;
  }
  for (const std::vector<w2s::llm::Message>& messages :
       {std::vector<w2s::llm::Message>{{"user", "What is 2 + 2?"}},
        std::vector<w2s::llm::Message>{{"system", "Answer with a letter."}, {"user", "A) yes B) no"}, {"assistant", "A"},
                                       {"user", "And now?"}},
        lines}) {
    for (bool generation_prompt : {true, false}) {
      try {
        w2s::model::render_chat(chat_template, messages, {}, generation_prompt);
      } catch (const w2s::Error&) {  // the template's own raise_exception, for one conversation
      }
    }
  }
}
