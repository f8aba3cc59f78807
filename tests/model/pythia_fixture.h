// Tiny Pythia-style (GPT-NeoX) model directories for tests, made on the spot: no Pythia files
// ship with the test assets.
#pragma once

#include <cstdint>
#include <filesystem>

#include "w2s/core.h"

namespace w2s::test {

// Writes tokenizer.json + tokenizer_config.json shaped like Pythia's (the GPT-NeoX-20B
// tokenizer): NFC normalizer, byte-level pre-tokenizer / post-processor / decoder, BPE with
// null continuing_subword_prefix, "<|endoftext|>" = 0 and "<|padding|>" = 1 as special tokens,
// and runs of 2 … 24 spaces as non-special, normalized added tokens after the BPE vocabulary
// (the longest run first, as in Pythia). The BPE is GPT-2's first `merges` merges (from the
// shared fake-gpt2-tiny-random tokenizer) with every id shifted by 2.
void write_pythia_style_tokenizer(const std::filesystem::path& dir, int merges = 5000);

// A random GPT-NeoX model (save_pretrained) plus the tokenizer above in `dir`. `config` holds
// the config.json fields to use (model_type and vocab_size are filled in: the tokenizer's
// vocabulary rounded up to a multiple of 128, as Pythia pads it).
void write_tiny_pythia(const std::filesystem::path& dir, json::Value config, std::uint64_t seed);

}  // namespace w2s::test
