// tokenizer.json files shaped like the real ones of each model family, made on the spot: the
// real files are not available offline. Each mirrors its family's components exactly
// (normalizer, pre-tokenizer, BPE options, added tokens with their flags, post-processor,
// decoder) over a small vocabulary: GPT-2's first merges (byte-level families) or those merges
// turned into SentencePiece '▁' pieces (byte-fallback families).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace w2s::test {

struct TokenizerFamily {
  std::string name;
  std::filesystem::path file;        // tokenizer.json
  std::vector<std::string> added;    // the added tokens' contents (for the corpus)
};

// Writes one tokenizer.json per family under dir/<name>/ and returns them: gpt2-original (GPT-2's
// file with no model type), llama2, llama3, mistral-v0.3, qwen2.5, gemma2, gemma3, phi3, smollm2,
// deepseek-v3, plus files that exercise the remaining components (Split behaviours and invert,
// Metaspace schemes, Digits, Punctuation, Whitespace, UnicodeScripts, normalizers, decoders,
// RobertaProcessing, continuing_subword_prefix, end_of_word_suffix, single_word / lstrip /
// rstrip / normalized added tokens).
std::vector<TokenizerFamily> write_tokenizer_families(const std::filesystem::path& dir);

}  // namespace w2s::test
