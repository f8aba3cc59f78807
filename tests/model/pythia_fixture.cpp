#include "pythia_fixture.h"

#include <string>

#include "assets.h"
#include "w2s/model_torch.h"

namespace w2s::test {

namespace {

json::Value added_token(std::int64_t id, const std::string& content, bool special) {
  json::Value t = json::Value::object();
  t.set("id", id);
  t.set("content", content);
  t.set("single_word", false);
  t.set("lstrip", false);
  t.set("rstrip", false);
  t.set("normalized", !special);
  t.set("special", special);
  return t;
}

json::Value byte_level(const char* type) {
  json::Value v = json::Value::object();
  v.set("type", type);
  v.set("add_prefix_space", false);
  v.set("trim_offsets", true);
  v.set("use_regex", true);
  return v;
}

}  // namespace

void write_pythia_style_tokenizer(const std::filesystem::path& dir, int merges) {
  const json::Value gpt2 =
      json::parse_file(assets_dir() / "models" / "hf" / "fake-gpt2-tiny-random" / "tokenizer.json").at("model");
  json::Object vocab = {{"<|endoftext|>", 0}, {"<|padding|>", 1}};
  for (const auto& [token, id] : gpt2.at("vocab").as_object())
    if (id.as_int() < 256) vocab.emplace_back(token, id.as_int() + 2);  // the 256 byte symbols
  json::Value kept = json::Value::array();
  for (int i = 0; i < merges; ++i) {
    const std::string merge = gpt2.at("merges").at(static_cast<std::size_t>(i)).as_string();
    const auto space = merge.find(' ');
    vocab.emplace_back(merge.substr(0, space) + merge.substr(space + 1), static_cast<std::int64_t>(vocab.size()));
    kept.push_back(merge);
  }
  json::Value added = json::Value::array();
  added.push_back(added_token(0, "<|endoftext|>", true));
  added.push_back(added_token(1, "<|padding|>", true));
  for (int spaces = 24; spaces >= 2; --spaces)
    added.push_back(added_token(static_cast<std::int64_t>(vocab.size()) + 24 - spaces, std::string(spaces, ' '), false));

  json::Value model = json::Value::object();
  model.set("type", "BPE");
  model.set("dropout", nullptr);
  model.set("unk_token", nullptr);
  model.set("continuing_subword_prefix", nullptr);
  model.set("end_of_word_suffix", nullptr);
  model.set("fuse_unk", false);
  model.set("vocab", std::move(vocab));
  model.set("merges", std::move(kept));
  json::Value normalizer = json::Value::object();
  normalizer.set("type", "NFC");
  json::Value tok = json::Value::object();
  tok.set("version", "1.0");
  tok.set("truncation", nullptr);
  tok.set("padding", nullptr);
  tok.set("added_tokens", std::move(added));
  tok.set("normalizer", std::move(normalizer));
  tok.set("pre_tokenizer", byte_level("ByteLevel"));
  tok.set("post_processor", byte_level("ByteLevel"));
  tok.set("decoder", byte_level("ByteLevel"));
  tok.set("model", std::move(model));
  write_file_atomic(dir / "tokenizer.json", json::dump(tok) + "\n");
  write_file_atomic(dir / "tokenizer_config.json",
                    R"({"add_prefix_space": false, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",)"
                    R"( "unk_token": "<|endoftext|>", "tokenizer_class": "GPTNeoXTokenizer"})"
                    "\n");
}

void write_tiny_pythia(const std::filesystem::path& dir, json::Value config, std::uint64_t seed) {
  std::filesystem::create_directories(dir);
  write_pythia_style_tokenizer(dir);
  const std::int64_t ids = model::Tokenizer::from_dir(dir).vocab_size();
  config.set("model_type", "gpt_neox");
  config.set("vocab_size", (ids + 127) / 128 * 128);
  model::CausalLM model = model::random_causal_lm(model::parse_model_config(config, "write_tiny_pythia"), seed);
  model::save_pretrained(model, dir);
}

}  // namespace w2s::test
