// The model_type table: which architecture (src/architectures/<family>.cpp) runs a config.json.
#include <array>

#include "architecture.h"

namespace w2s::model {

// Defined in src/architectures/.
const Architecture& llama_family();
const Architecture& gpt2();
const Architecture& gpt_neox();
const Architecture& qwen3();
const Architecture& gemma2();
const Architecture& gemma3();
const Architecture& phi3();

namespace {

struct Entry {
  std::string_view model_type;
  const Architecture& (*architecture)();
};

constexpr std::array kArchitectures = {
    Entry{"llama", llama_family},
    Entry{"mistral", llama_family},
    Entry{"qwen2", llama_family},
    Entry{"gpt2", gpt2},
    Entry{"gpt_neox", gpt_neox},
    Entry{"qwen3", qwen3},
    Entry{"gemma2", gemma2},
    Entry{"gemma3_text", gemma3},
    Entry{"gemma3", gemma3},  // the language model of the multimodal checkpoint
    Entry{"phi3", phi3},
};

}  // namespace

std::vector<std::string> supported_model_types() {
  std::vector<std::string> out;
  for (const Entry& e : kArchitectures) out.emplace_back(e.model_type);
  return out;
}

const Architecture& architecture_for(std::string_view model_type, std::string_view origin) {
  std::string supported;
  for (const Entry& e : kArchitectures) {
    if (e.model_type == model_type) return e.architecture();
    supported += (supported.empty() ? "" : ", ") + std::string(e.model_type);
  }
  throw Error(std::string(origin) + ": model_type \"" + std::string(model_type) + "\" is not supported (supported: " +
              supported + ")");
}

}  // namespace w2s::model
