// tokenizer.json (byte-level BPE, BPE with byte fallback; added tokens, normalizers,
// pre-tokenizers, post-processors), then encoding and decoding a few texts with it.
#include "fuzz_target.h"
#include "w2s/model.h"

W2S_FUZZ_TARGET(tokenizer_json) {
  const auto tokenizer = w2s::model::Tokenizer::from_files(w2s::fuzz::input_file(input, "tokenizer.json"), std::nullopt);
  for (std::string_view text : {std::string_view("Hello, world! 123"), std::string_view(" \t\n<s></s><|endoftext|>"),
                                std::string_view("ünïcödé ✓ 你好 \xff\xfe"), input.substr(0, 64)}) {
    const auto ids = tokenizer.encode(text);
    for (auto id : ids) W2S_FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size());
    tokenizer.decode(ids);
    if (!ids.empty()) tokenizer.token_string(ids.front());
  }
}
