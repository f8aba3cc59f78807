// Added-token matching stays linear in the text: a 1 MB added token over 1 MB texts (almost
// matching everywhere, matching, and among many other tokens) must finish. CMake gives these
// tests a short TIMEOUT: a quadratic scan (10^12 byte comparisons) would exceed it.
#include <gtest/gtest.h>

#include <cstdio>

#include "assets.h"
#include "w2s/model.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;

constexpr std::size_t kMegabyte = 1 << 20;

// A byte-fallback BPE without merges (every byte its own token) plus the given added tokens.
fs::path write_tokenizer(const std::string& name, const std::vector<std::string>& added) {
  w2s::json::Object vocab = {{"<unk>", 0}};
  for (int b = 0; b < 256; ++b) {
    char token[8];
    std::snprintf(token, sizeof token, "<0x%02X>", b);
    vocab.emplace_back(token, static_cast<std::int64_t>(vocab.size()));
  }
  w2s::json::Value tokens = w2s::json::Value::array();
  for (std::size_t i = 0; i < added.size(); ++i) {
    w2s::json::Value t = w2s::json::Value::object();
    t.set("id", static_cast<std::int64_t>(257 + i));
    t.set("content", added[i]);
    t.set("single_word", false);
    t.set("lstrip", false);
    t.set("rstrip", false);
    t.set("normalized", false);
    t.set("special", true);
    tokens.push_back(std::move(t));
  }
  w2s::json::Value model = w2s::json::Value::object();
  model.set("type", "BPE");
  model.set("unk_token", "<unk>");
  model.set("byte_fallback", true);
  model.set("vocab", std::move(vocab));
  model.set("merges", w2s::json::Value::array());
  w2s::json::Value root = w2s::json::Value::object();
  root.set("added_tokens", std::move(tokens));
  root.set("model", std::move(model));
  const fs::path dir = w2s::test::scratch_dir("tokenizer_limits_" + name);
  w2s::write_file_atomic(dir / "tokenizer.json", w2s::json::dump(root));
  return dir;
}

TEST(TokenizerLimits, MegabyteAddedTokenOnMegabyteTexts) {
  const std::string token(kMegabyte, 'x');
  const Tokenizer tok = Tokenizer::from_dir(write_tokenizer("one", {token}));
  const std::int64_t x = 'x' + 1, y = 'y' + 1;  // byte-fallback ids
  // One byte short of the token everywhere: no match, every byte falls back.
  const auto almost = tok.encode(std::string(kMegabyte - 1, 'x') + "y", false);
  ASSERT_EQ(almost.size(), kMegabyte);
  EXPECT_EQ(almost.front(), x);
  EXPECT_EQ(almost.back(), y);
  // The token, a byte, the token again.
  EXPECT_EQ(tok.encode(token + "y" + token, false), (std::vector<std::int64_t>{257, y, 257}));
  // A text longer than the token: one match, the rest bytes.
  const auto longer = tok.encode(std::string(kMegabyte + 3, 'x'), false);
  ASSERT_EQ(longer.size(), 4u);
  EXPECT_EQ(longer.front(), 257);
}

TEST(TokenizerLimits, ManyAddedTokensOnAMegabyteText) {
  std::vector<std::string> added = {std::string(kMegabyte, 'a')};
  for (int i = 0; i < 20000; ++i) added.push_back("<t" + std::to_string(i) + ">");
  const Tokenizer tok = Tokenizer::from_dir(write_tokenizer("many", added));
  std::string text;
  while (text.size() < kMegabyte) text += "<t123><t19999>aaaa<t7";
  const auto ids = tok.encode(text, false);
  EXPECT_EQ(ids[0], 257 + 1 + 123);
  EXPECT_EQ(ids[1], 257 + 1 + 19999);
  EXPECT_EQ(ids[2], 'a' + 1);
}

}  // namespace
