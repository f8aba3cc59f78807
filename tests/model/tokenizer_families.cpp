#include "tokenizer_families.h"

#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "assets.h"
#include "w2s/core.h"

namespace w2s::test {

namespace {

namespace fs = std::filesystem;
using json::Value;

const std::string kSpace = "\xE2\x96\x81";  // '▁'

// HF's tokenizer regexes, as the families' files carry them.
const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kQwenPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kDeepSeekCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
const char* kDeepSeekPattern =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Characters the byte-fallback vocabularies know as pieces of their own (others fall back to bytes).
const char* kExtraCharacters = "éèêëàâäöüßçñåøœæ日本語中文字한국어의テキストのはкириллцаΑαβγδΣσςשלוםمرحبا";

Value object(std::initializer_list<std::pair<const char*, Value>> fields) {
  Value v = Value::object();
  for (const auto& [k, x] : fields) v.set(k, x);
  return v;
}

struct Added {
  std::string content;
  bool special = true, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

const Value& gpt2() {
  static const Value v = json::parse_file(assets_dir() / "models" / "hf" / "fake-gpt2-tiny-random" / "tokenizer.json");
  return v;
}

// GPT-2's bytes_to_unicode(), inverted: a byte-level token's bytes.
std::map<std::string, unsigned char> byte_level_chars() {
  std::map<std::string, unsigned char> out;
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const std::uint32_t cp = printable ? static_cast<std::uint32_t>(b) : 256u + extra++;
    std::string s;
    if (cp < 0x80) s.push_back(static_cast<char>(cp));
    else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    out[s] = static_cast<unsigned char>(b);
  }
  return out;
}

std::string byte_level_of(std::string_view bytes) {
  static const auto chars = byte_level_chars();
  std::map<unsigned char, std::string> inverse;
  for (const auto& [s, b] : chars) inverse[b] = s;
  std::string out;
  for (unsigned char c : bytes) out += inverse[c];
  return out;
}

// The bytes of a byte-level token, or nullopt when they are not valid UTF-8 text.
std::optional<std::string> text_of_byte_level(const std::string& token) {
  static const auto chars = byte_level_chars();
  std::string bytes;
  for (std::size_t i = 0; i < token.size();) {
    const std::size_t n = static_cast<unsigned char>(token[i]) < 0x80 ? 1 : 2;
    bytes.push_back(static_cast<char>(chars.at(token.substr(i, n))));
    i += n;
  }
  // Valid UTF-8 only (a cut multi-byte character cannot be a SentencePiece piece).
  for (std::size_t i = 0; i < bytes.size();) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > bytes.size()) return std::nullopt;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(bytes[i + k]) & 0xC0) != 0x80) return std::nullopt;
    i += n;
  }
  return bytes;
}

struct Bpe {
  json::Object vocab;
  std::set<std::string> known;
  Value merges = Value::array();
  void add(const std::string& token) {
    if (known.insert(token).second) vocab.emplace_back(token, static_cast<std::int64_t>(vocab.size()));
  }
  std::int64_t size() const { return static_cast<std::int64_t>(vocab.size()); }
};

Value merge_entry(const std::string& a, const std::string& b, bool pairs) {
  if (!pairs) return a + " " + b;
  Value m = Value::array();
  m.push_back(a);
  m.push_back(b);
  return m;
}

// `leading` tokens first, then GPT-2's 256 byte symbols and its first `merges` merges, then
// `whole_words` (byte-level text of whole words that the merges do not reach: ignore_merges).
Bpe byte_level_bpe(const std::vector<std::string>& leading, int merges, bool pairs,
                   const std::vector<std::string>& whole_words = {}) {
  Bpe bpe;
  for (const auto& t : leading) bpe.add(t);
  std::vector<std::string> by_id(256 + static_cast<std::size_t>(merges));
  for (const auto& [token, id] : gpt2().at("model").at("vocab").as_object())
    if (id.as_int() < 256 + merges) by_id[static_cast<std::size_t>(id.as_int())] = token;
  for (const auto& t : by_id) bpe.add(t);
  for (int i = 0; i < merges; ++i) {
    const std::string m = gpt2().at("model").at("merges").at(static_cast<std::size_t>(i)).as_string();
    const auto space = m.find(' ');
    bpe.merges.push_back(merge_entry(m.substr(0, space), m.substr(space + 1), pairs));
  }
  for (const auto& w : whole_words) bpe.add(byte_level_of(w));
  return bpe;
}

// SentencePiece-style: `leading` tokens, <0x00>…<0xFF>, '▁', ASCII and kExtraCharacters, then
// GPT-2's first merges as text pieces (' ' -> '▁'; merges of cut characters left out).
Bpe sentencepiece_bpe(const std::vector<std::string>& leading, int merges) {
  Bpe bpe;
  for (const auto& t : leading) bpe.add(t);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    bpe.add(name);
  }
  bpe.add(kSpace);
  for (char c = '!'; c <= '~'; ++c) bpe.add(std::string(1, c));
  const std::string extra = kExtraCharacters;
  for (std::size_t i = 0; i < extra.size();) {
    const unsigned char c = static_cast<unsigned char>(extra[i]);
    const std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    bpe.add(extra.substr(i, n));
    i += n;
  }
  auto piece = [](const std::string& byte_level) -> std::optional<std::string> {
    auto text = text_of_byte_level(byte_level);
    if (!text) return std::nullopt;
    std::string out;
    for (char c : *text) out += c == ' ' ? kSpace : std::string(1, c);
    return out;
  };
  std::set<std::pair<std::string, std::string>> seen;
  for (int i = 0; i < merges; ++i) {
    const std::string m = gpt2().at("model").at("merges").at(static_cast<std::size_t>(i)).as_string();
    const auto space = m.find(' ');
    const auto a = piece(m.substr(0, space)), b = piece(m.substr(space + 1));
    if (!a || !b || !bpe.known.count(*a) || !bpe.known.count(*b) || !seen.insert({*a, *b}).second) continue;
    bpe.add(*a + *b);
    bpe.merges.push_back(*a + " " + *b);
  }
  return bpe;
}

// added_tokens with the ids HF gives them: the vocabulary's id, else the next after it.
Value added_tokens(const Bpe& bpe, const std::vector<Added>& tokens) {
  std::map<std::string, std::int64_t> ids;
  for (const auto& [t, id] : bpe.vocab) ids[t] = id.as_int();
  std::int64_t next = bpe.size();
  Value out = Value::array();
  for (const auto& a : tokens) {
    std::int64_t id;
    if (auto it = ids.find(a.content); it != ids.end()) id = it->second;
    else ids[a.content] = id = next++;
    out.push_back(object({{"id", id},
                          {"content", a.content},
                          {"single_word", a.single_word},
                          {"lstrip", a.lstrip},
                          {"rstrip", a.rstrip},
                          {"normalized", a.normalized},
                          {"special", a.special}}));
  }
  return out;
}

std::int64_t id_in(const Value& added, const std::string& content) {
  for (const auto& a : added.as_array())
    if (a.get_string("content") == content) return a.get_int("id");
  throw Error("fixture: no added token " + content);
}

// Moves the vocabulary and merges out of `bpe`: give its added tokens their ids first.
Value bpe_model(Bpe& bpe, std::initializer_list<std::pair<const char*, Value>> options) {
  Value m = object({{"type", "BPE"},
                    {"dropout", nullptr},
                    {"unk_token", nullptr},
                    {"continuing_subword_prefix", nullptr},
                    {"end_of_word_suffix", nullptr},
                    {"fuse_unk", false},
                    {"byte_fallback", false},
                    {"ignore_merges", false}});
  for (const auto& [k, v] : options) m.set(k, v);
  m.set("vocab", std::move(bpe.vocab));
  m.set("merges", std::move(bpe.merges));
  return m;
}

Value byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return object({{"type", "ByteLevel"},
                 {"add_prefix_space", add_prefix_space},
                 {"trim_offsets", trim_offsets},
                 {"use_regex", use_regex}});
}

Value split(Value pattern, const char* behavior, bool invert = false) {
  return object({{"type", "Split"}, {"pattern", std::move(pattern)}, {"behavior", behavior}, {"invert", invert}});
}
Value regex(const std::string& r) { return object({{"Regex", r}}); }
Value literal(const std::string& s) { return object({{"String", s}}); }
Value sequence(const char* type, const char* key, std::vector<Value> items) {
  return object({{"type", type}, {key, Value(json::Array(items.begin(), items.end()))}});
}

// TemplateProcessing "<bos> $A" (and "<bos> $A <bos> $B").
Value bos_template(const std::string& bos, std::int64_t id) {
  Value special = Value::object();
  special.set(bos, object({{"id", bos}, {"ids", Value(json::Array{Value(id)})}, {"tokens", Value(json::Array{Value(bos)})}}));
  auto token = [&](int type_id) { return object({{"SpecialToken", object({{"id", bos}, {"type_id", type_id}})}}); };
  auto seq = [](const char* id, int type_id) { return object({{"Sequence", object({{"id", id}, {"type_id", type_id}})}}); };
  return object({{"type", "TemplateProcessing"},
                 {"single", Value(json::Array{token(0), seq("A", 0)})},
                 {"pair", Value(json::Array{token(0), seq("A", 0), token(1), seq("B", 1)})},
                 {"special_tokens", std::move(special)}});
}

Value llama_decoder(bool strip_leading_space) {
  std::vector<Value> steps = {object({{"type", "Replace"}, {"pattern", literal(kSpace)}, {"content", " "}}),
                              object({{"type", "ByteFallback"}}), object({{"type", "Fuse"}})};
  if (strip_leading_space) steps.push_back(object({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}));
  return sequence("Sequence", "decoders", steps);
}

Value llama_normalizer() {
  return sequence("Sequence", "normalizers",
                  {object({{"type", "Prepend"}, {"prepend", kSpace}}),
                   object({{"type", "Replace"}, {"pattern", literal(" ")}, {"content", kSpace}})});
}

Value metaspace(const char* type, const char* scheme, bool split_words) {
  return object({{"type", type}, {"replacement", kSpace}, {"prepend_scheme", scheme}, {"split", split_words}});
}

struct Writer {
  fs::path dir;
  std::vector<TokenizerFamily> families;
  void write(const std::string& name, Value added, Value normalizer, Value pre_tokenizer, Value post_processor,
             Value decoder, Value model) {
    std::vector<std::string> contents;
    for (const auto& a : added.as_array()) contents.push_back(a.get_string("content"));
    Value t = object({{"version", "1.0"},
                      {"truncation", nullptr},
                      {"padding", nullptr},
                      {"added_tokens", std::move(added)},
                      {"normalizer", std::move(normalizer)},
                      {"pre_tokenizer", std::move(pre_tokenizer)},
                      {"post_processor", std::move(post_processor)},
                      {"decoder", std::move(decoder)},
                      {"model", std::move(model)}});
    const fs::path file = dir / name / "tokenizer.json";
    write_file_atomic(file, json::dump(t) + "\n");
    families.push_back({name, file, contents});
  }
};

std::vector<Added> specials(const std::vector<std::string>& contents) {
  std::vector<Added> out;
  for (const auto& c : contents) out.push_back({c});
  return out;
}

}  // namespace

std::vector<TokenizerFamily> write_tokenizer_families(const fs::path& dir) {
  Writer w{dir, {}};

  {  // GPT-2 as first saved (2020): the model has no "type" and no byte_fallback / ignore_merges.
    Value model = Value::object();
    for (const auto& [k, v] : gpt2().at("model").as_object())
      if (k != "type" && k != "byte_fallback" && k != "ignore_merges") model.set(k, v);
    w.write("gpt2-original", gpt2().at("added_tokens"), nullptr, gpt2().at("pre_tokenizer"), gpt2().at("post_processor"),
            gpt2().at("decoder"), std::move(model));
  }
  {  // Llama-2: SentencePiece normalizer, no pre-tokenizer, byte fallback, fused unknowns.
    Bpe bpe = sentencepiece_bpe({"<unk>", "<s>", "</s>"}, 4000);
    Value added = added_tokens(bpe, specials({"<unk>", "<s>", "</s>"}));
    w.write("llama2", added, llama_normalizer(), nullptr, bos_template("<s>", 1), llama_decoder(true),
            bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}}));
  }
  {  // Llama-3.x: Split regex + ByteLevel without regex, ignore_merges, BOS template.
    Bpe bpe = byte_level_bpe({}, 3000, false, {" question", " answer", " truthful", "ness", " misconception", "1234"});
    Value added = added_tokens(bpe, specials({"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                               "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                               "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
                                               "<|python_tag|>"}));
    const std::int64_t bos = id_in(added, "<|begin_of_text|>");
    w.write("llama3", added, nullptr,
            sequence("Sequence", "pretokenizers", {split(regex(kLlama3Pattern), "Isolated"), byte_level(false, true, false)}),
            sequence("Sequence", "processors", {byte_level(true, false, true), bos_template("<|begin_of_text|>", bos)}),
            byte_level(true, true, true), bpe_model(bpe, {{"ignore_merges", true}}));
  }
  {  // Mistral v0.3: Metaspace (prepend_scheme first, no split), control tokens in the vocabulary.
    const std::vector<std::string> control = {"<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]",
                                              "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
                                              "[/TOOL_RESULTS]", "[control_8]"};
    Bpe bpe = sentencepiece_bpe(control, 4000);
    Value added = added_tokens(bpe, specials(control));
    w.write("mistral-v0.3", added, nullptr, metaspace("Metaspace", "first", false), bos_template("<s>", 1),
            sequence("Sequence", "decoders",
                     {metaspace("Metaspace", "first", false), object({{"type", "ByteFallback"}}), object({{"type", "Fuse"}})}),
            bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}}));
  }
  {  // Qwen2.5 / Qwen3: NFC, Split regex (single digits) + ByteLevel, non-special tool tokens.
    Bpe bpe = byte_level_bpe({}, 3000, true);
    std::vector<Added> tokens = specials({"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                                          "<|object_ref_end|>", "<|vision_start|>", "<|fim_prefix|>"});
    for (const char* t : {"<tool_call>", "</tool_call>", "<think>", "</think>"}) tokens.push_back({t, false, false});
    Value added = added_tokens(bpe, tokens);
    w.write("qwen2.5", added, object({{"type", "NFC"}}),
            sequence("Sequence", "pretokenizers", {split(regex(kQwenPattern), "Isolated"), byte_level(false, false, false)}),
            byte_level(false, false, false), byte_level(false, false, false), bpe_model(bpe, {}));
  }
  {  // Gemma-2: spaces replaced by '▁', no pre-tokenizer, byte fallback; whitespace runs added.
    const std::vector<std::string> control = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"};
    for (const char* name : {"gemma2", "gemma3"}) {
      const bool gemma3 = std::string(name) == "gemma3";
      Bpe bpe = sentencepiece_bpe(control, 4000);
      std::vector<Added> tokens = specials(control);
      if (gemma3)
        for (const char* t : {"<start_of_image>", "<end_of_image>"}) tokens.push_back({t});
      for (const char* t : {"\t\t", "\n\n\n", "<unused0>"}) tokens.push_back({t, false, false});
      Value added = added_tokens(bpe, tokens);
      w.write(name, added, object({{"type", "Replace"}, {"pattern", literal(" ")}, {"content", kSpace}}),
              gemma3 ? split(literal(" "), "MergedWithPrevious") : Value(nullptr), bos_template("<bos>", 2),
              llama_decoder(false), bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}}));
    }
  }
  {  // Phi-3: Llama-2's pipeline; chat tokens that strip the whitespace on their right.
    Bpe bpe = sentencepiece_bpe({"<unk>", "<s>", "</s>"}, 4000);
    std::vector<Added> tokens = specials({"<unk>", "<s>", "</s>", "<|endoftext|>"});
    for (const char* t : {"<|assistant|>", "<|placeholder1|>", "<|system|>", "<|end|>", "<|user|>"})
      tokens.push_back({t, true, false, false, true});
    Value added = added_tokens(bpe, tokens);
    w.write("phi3", added, llama_normalizer(), nullptr, bos_template("<s>", 1), llama_decoder(true),
            bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}}));
  }
  {  // SmolLM2: single digits, then GPT-2's ByteLevel; its special tokens lead the vocabulary.
    const std::vector<std::string> control = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>"};
    Bpe bpe = byte_level_bpe(control, 3000, true);
    Value added = added_tokens(bpe, specials(control));
    w.write("smollm2", added, nullptr,
            sequence("Sequence", "pretokenizers",
                     {object({{"type", "Digits"}, {"individual_digits", true}}), byte_level(false, true, true)}),
            byte_level(false, true, true), byte_level(false, true, true), bpe_model(bpe, {}));
  }
  {  // DeepSeek-V3 / R1: three Splits (digit triples, CJK runs, words) + ByteLevel; normalized tokens.
    Bpe bpe = byte_level_bpe({}, 3000, false);
    std::vector<Added> tokens;
    for (const char* t : {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"}) tokens.push_back({t, true, true});
    for (const char* t : {"<think>", "</think>", "<｜User｜>", "<｜Assistant｜>"}) tokens.push_back({t, false, true});
    Value added = added_tokens(bpe, tokens);
    const std::int64_t bos = id_in(added, "<｜begin▁of▁sentence｜>");
    w.write("deepseek-v3", added, sequence("Sequence", "normalizers", {}),
            sequence("Sequence", "pretokenizers",
                     {split(regex(R"(\p{N}{1,3})"), "Isolated"), split(regex(kDeepSeekCjk), "Isolated"),
                      split(regex(kDeepSeekPattern), "Isolated"), byte_level(false, true, false)}),
            bos_template("<｜begin▁of▁sentence｜>", bos), byte_level(true, true, true), bpe_model(bpe, {}));
  }

  // Components no family above uses, over a byte-fallback vocabulary.
  auto sp_model = [](Bpe& bpe) { return bpe_model(bpe, {{"unk_token", "<unk>"}, {"byte_fallback", true}}); };
  const std::vector<std::string> base = {"<unk>", "<s>", "</s>"};
  struct SplitCase {
    const char* name;
    Value pattern;
    const char* behavior;
    bool invert;
  };
  const std::vector<SplitCase> splits = {
      {"split-removed-inverted", regex(R"(\p{L}+|\p{N}+)"), "Removed", true},
      {"split-isolated-inverted", regex("[aeiou]"), "Isolated", true},
      {"split-merged-previous", regex(R"(\s+)"), "MergedWithPrevious", false},
      {"split-merged-next", literal(" "), "MergedWithNext", false},
      {"split-contiguous", regex(R"(\p{P})"), "Contiguous", false},
  };
  for (const auto& c : splits) {
    Bpe bpe = sentencepiece_bpe(base, 2000);
    Value added = added_tokens(bpe, specials(base));
    w.write(c.name, added, nullptr,
            sequence("Sequence", "pretokenizers",
                     {split(c.pattern, c.behavior, c.invert), metaspace("Metaspace", "always", true)}),
            nullptr, sequence("Sequence", "decoders", {metaspace("Metaspace", "always", true), object({{"type", "ByteFallback"}})}),
            sp_model(bpe));
  }
  for (const char* scheme : {"always", "never"}) {
    Bpe bpe = sentencepiece_bpe(base, 2000);
    Value added = added_tokens(bpe, specials(base));
    w.write(std::string("metaspace-") + scheme, added, nullptr,
            metaspace("Metaspace", scheme, true), bos_template("<s>", 1),
            sequence("Sequence", "decoders", {object({{"type", "ByteFallback"}}), metaspace("Metaspace", scheme, true)}),
            sp_model(bpe));
  }
  {  // Normalizers, Whitespace / Digits / Punctuation, RobertaProcessing, no decoder (joined by spaces).
    Bpe bpe = sentencepiece_bpe(base, 2000);
    Value added = added_tokens(bpe, specials(base));
    w.write("normalizers-whitespace-digits", added,
            sequence("Sequence", "normalizers",
                     {object({{"type", "NFKD"}}), object({{"type", "StripAccents"}}), object({{"type", "Lowercase"}}),
                      object({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}),
                      object({{"type", "Replace"}, {"pattern", regex(R"(\s+)")}, {"content", " "}})}),
            sequence("Sequence", "pretokenizers",
                     {object({{"type", "Whitespace"}}), object({{"type", "Digits"}, {"individual_digits", false}}),
                      object({{"type", "Punctuation"}, {"behavior", "Contiguous"}})}),
            object({{"type", "RobertaProcessing"},
                    {"sep", Value(json::Array{Value("</s>"), Value(2)})},
                    {"cls", Value(json::Array{Value("<s>"), Value(1)})},
                    {"trim_offsets", true},
                    {"add_prefix_space", false}}),
            nullptr, sp_model(bpe));
  }
  {  // UnicodeScripts, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit, NFD / NFKC, Prepend;
     // a Strip decoder at both ends.
    Bpe bpe = sentencepiece_bpe(base, 2000);
    Value added = added_tokens(bpe, specials(base));
    w.write("scripts-bert-delimiter", added,
            sequence("Sequence", "normalizers",
                     {object({{"type", "NFKC"}}), object({{"type", "NFD"}}), object({{"type", "Prepend"}, {"prepend", "~"}})}),
            sequence("Sequence", "pretokenizers",
                     {object({{"type", "WhitespaceSplit"}}), object({{"type", "UnicodeScripts"}}),
                      object({{"type", "CharDelimiterSplit"}, {"delimiter", "e"}}), object({{"type", "BertPreTokenizer"}})}),
            bos_template("<s>", 1),
            sequence("Sequence", "decoders",
                     {object({{"type", "ByteFallback"}}), object({{"type", "Fuse"}}),
                      object({{"type", "Strip"}, {"content", "~"}, {"start", 2}, {"stop", 0}})}),
            sp_model(bpe));
  }
  {  // continuing_subword_prefix "##": each merge of GPT-2's as a word start (a, ##b -> ab) and
     // inside a word (##a, ##b -> ##ab); words split on whitespace, unknown characters fused.
    Bpe bpe;
    for (const auto& t : base) bpe.add(t);
    Bpe pieces = sentencepiece_bpe({}, 3000);
    for (const auto& [token, id] : pieces.vocab) {
      if (token.rfind("<0x", 0) == 0 || token.find(kSpace) != std::string::npos) continue;
      const unsigned char lead = static_cast<unsigned char>(token[0]);
      const std::size_t char_length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (token.size() == char_length) {  // the single characters
        bpe.add(token);
        bpe.add("##" + token);
      }
    }
    for (const auto& m : pieces.merges.as_array()) {
      const std::string s = m.as_string();
      const std::string a = s.substr(0, s.find(' ')), b = s.substr(s.find(' ') + 1);
      if (!bpe.known.count(a) || !bpe.known.count("##" + b) || !bpe.known.count("##" + a)) continue;
      bpe.add(a + b);
      bpe.add("##" + a + b);
      bpe.merges.push_back(a + " ##" + b);
      bpe.merges.push_back("##" + a + " ##" + b);
    }
    Value added = added_tokens(bpe, specials(base));
    w.write("continuing-subword-prefix", added, nullptr, object({{"type", "WhitespaceSplit"}}), nullptr, nullptr,
            bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"continuing_subword_prefix", "##"}}));
  }
  {  // end_of_word_suffix "</w>": each merge of GPT-2's inside a word (a, b -> ab) and at its end
     // (a, b</w> -> ab</w>); words split on whitespace.
    Bpe bpe;
    for (const auto& t : base) bpe.add(t);
    Bpe pieces = sentencepiece_bpe({}, 3000);
    for (const auto& [token, id] : pieces.vocab) {
      const unsigned char lead = static_cast<unsigned char>(token[0]);
      const std::size_t char_length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (token.rfind("<0x", 0) != 0 && token.find(kSpace) == std::string::npos && token.size() == char_length) {
        bpe.add(token);
        bpe.add(token + "</w>");
      }
    }
    for (const auto& m : pieces.merges.as_array()) {
      const std::string s = m.as_string();
      const std::string a = s.substr(0, s.find(' ')), b = s.substr(s.find(' ') + 1);
      if (!bpe.known.count(a) || !bpe.known.count(b) || !bpe.known.count(b + "</w>")) continue;
      bpe.add(a + b);
      bpe.add(a + b + "</w>");
      bpe.merges.push_back(a + " " + b);
      bpe.merges.push_back(a + " " + b + "</w>");
    }
    Value added = added_tokens(bpe, specials(base));
    w.write("end-of-word-suffix", added, nullptr, object({{"type", "WhitespaceSplit"}}), nullptr, nullptr,
            bpe_model(bpe, {{"unk_token", "<unk>"}, {"end_of_word_suffix", "</w>"}}));
  }
  {  // Added-token flags on a SentencePiece pipeline: lstrip / rstrip (Unicode whitespace),
     // single_word, normalized tokens matched by their normalized text, overlapping tokens.
    Bpe bpe = sentencepiece_bpe(base, 2000);
    std::vector<Added> tokens = specials(base);
    tokens.push_back({"<L>", true, false, true, false});
    tokens.push_back({"<R>", true, false, false, true});
    tokens.push_back({"<LR>", true, false, true, true});
    tokens.push_back({"word", false, false, false, false, true});
    tokens.push_back({"<norm>", false, true});
    tokens.push_back({"the", false, true, false, false, true});
    tokens.push_back({"<|long", true});
    tokens.push_back({"<|longer|>", true});
    tokens.push_back({"ab", false, true, true, true});
    Value added = added_tokens(bpe, tokens);
    w.write("added-flags", added, llama_normalizer(), nullptr, bos_template("<s>", 1),
            llama_decoder(true), bpe_model(bpe, {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}}));
  }
  {  // The same flags on a byte-level pipeline with a Lowercase normalizer: "<TOK>" (normalized)
     // is matched as "<tok>".
    Bpe bpe = byte_level_bpe({}, 2000, false);
    std::vector<Added> tokens = {{"<|endoftext|>"}, {"<TOK>", false, true}, {"<L>", true, false, true, false},
                                 {"<R>", true, false, false, true}, {"Word", false, true, false, false, true}};
    Value added = added_tokens(bpe, tokens);
    w.write("added-flags-byte-level", added,
            sequence("Sequence", "normalizers", {object({{"type", "NFC"}}), object({{"type", "Lowercase"}})}),
            byte_level(true, true, true), byte_level(true, true, true), byte_level(true, true, true), bpe_model(bpe, {}));
  }
  return w.families;
}

}  // namespace w2s::test
