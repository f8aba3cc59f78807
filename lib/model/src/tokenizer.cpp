// tokenizer.json, following the Hugging Face `tokenizers` pipeline:
//   added-token split -> normalizer -> pre-tokenizer -> BPE model -> post-processor.
// Supported components (anything else is rejected naming the component):
//   normalizer     Prepend, Replace (string pattern), NFC, NFKC, Lowercase, Sequence
//   pre_tokenizer  ByteLevel (GPT-2 regex), Split (regex or string; Isolated / Removed),
//                  Metaspace, Sequence
//   model          BPE (merges as "a b" or ["a", "b"], byte_fallback, unk/fuse_unk, ignore_merges,
//                  continuing_subword_prefix, end_of_word_suffix)
//   post_processor TemplateProcessing (single), ByteLevel, Sequence
// Regexes run through PCRE2 with UTF + UCP (Unicode \p{L}, \s ...); normalisation via ICU.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <simdjson.h>
#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "utf8.h"
#include "w2s/model.h"

namespace w2s::model {

namespace {

// HF's ByteLevel pre-tokenizer regex (tokenizers/src/pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr std::int64_t kBuiltinOffset = 3;  // built-in tokenizers: ids 0-2 are pad, bos, eos

// The built-in word tokenizer's split rule: a run of letters/digits with inner apostrophes
// ("don't", SST-2's "n't"), an apostrophe-led word ("'s"), or one other non-space character.
constexpr const char* kWordPattern = R"([\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*|'[\p{L}\p{N}]+|[^\s\p{L}\p{N}])";

// FNV-1a, 64 bit: a fixed, platform-independent hash of the word's UTF-8 bytes.
std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the rest to U+0100...
struct ByteLevelAlphabet {
  std::string byte_to_utf8[256];
  std::unordered_map<std::uint32_t, unsigned char> codepoint_to_byte;
  ByteLevelAlphabet() {
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const std::uint32_t cp = printable ? static_cast<std::uint32_t>(b) : 256u + extra++;
      byte_to_utf8[b] = utf8::encode(cp);
      codepoint_to_byte[cp] = static_cast<unsigned char>(b);
    }
  }
};
const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet a;
  return a;
}

class Regex {
 public:
  explicit Regex(const std::string& pattern, const std::string& where) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error(where + ": cannot compile regex at offset " + std::to_string(offset) + ": " +
                  reinterpret_cast<char*>(msg));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code_); }

  // Non-empty matches [begin, end) of `text` (valid UTF-8), left to right.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    std::size_t start = 0;
    while (start <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                                 PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        throw Error("tokenizer: regex match failed (PCRE2 error " + std::to_string(rc) + ")");
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const std::size_t b = ov[0], e = ov[1];
      if (e > b) {
        out.emplace_back(b, e);
        start = e;
      } else {
        if (b >= text.size()) break;
        start = b + utf8::sequence_length(static_cast<unsigned char>(text[b]));
      }
    }
    pcre2_match_data_free(md);
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
};

std::string icu_normalize(const std::string& text, bool nfkc) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nfkc ? icu::Normalizer2::getNFKCInstance(status) : icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw Error("tokenizer: ICU normalizer unavailable");
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(text);
  icu::UnicodeString out = n->normalize(in, status);
  if (U_FAILURE(status)) throw Error("tokenizer: ICU normalisation failed");
  std::string s;
  out.toUTF8String(s);
  return s;
}

std::string icu_lowercase(const std::string& text) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
  u.toLower(icu::Locale::getRoot());
  std::string s;
  u.toUTF8String(s);
  return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

const std::string kMetaspace = "\xE2\x96\x81";  // U+2581 '▁'

}  // namespace

struct Tokenizer::Impl {
  enum class Kind { ByteLevel, ByteFallback, Builtin, Words };
  Kind kind = Kind::ByteLevel;

  std::unordered_map<std::string, std::int64_t> vocab;
  std::vector<std::string> id_to_token;
  struct Merge { std::int32_t rank; std::int32_t merged; };
  std::unordered_map<std::uint64_t, Merge> merges;  // by merge_key(left id, right id)
  static std::uint64_t merge_key(std::int64_t left, std::int64_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  std::optional<std::int64_t> unk_id;
  std::string continuing_subword_prefix, end_of_word_suffix;

  struct Added { std::string content; std::int64_t id; bool special, lstrip, rstrip; };
  std::vector<Added> added;
  std::vector<bool> is_special;

  struct NormStep { enum { Prepend, Replace, NFC, NFKC, Lowercase } type; std::string a, b; };
  std::vector<NormStep> normalizer;

  struct PreStep {
    enum { Split, ByteLevelRegex, Metaspace } type = Split;
    std::shared_ptr<Regex> regex;  // Split / ByteLevelRegex
    std::string literal;            // Split with a string pattern
    bool removed = false, invert = false;
    std::string replacement;        // Metaspace
    std::string prepend_scheme = "always";
    bool split = true;
  };
  std::vector<PreStep> pre_tokenizer;
  bool byte_level_map = false;      // map bytes to GPT-2's alphabet before the model
  bool byte_level_prefix_space = false;

  std::vector<std::int64_t> template_prefix, template_suffix;
  bool decoder_strip_leading_space = false;

  std::optional<std::int64_t> bos, eos, pad;

  std::shared_ptr<Regex> word_regex;  // Kind::Words

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> word_cache;

  std::int64_t id_of(const std::string& token) const {
    auto it = vocab.find(token);
    return it == vocab.end() ? -1 : it->second;
  }

  void add_token(const std::string& token, std::int64_t id) {
    vocab[token] = id;
    if (static_cast<std::int64_t>(id_to_token.size()) <= id) id_to_token.resize(id + 1);
    id_to_token[id] = token;
  }

  std::string normalize(std::string s) const {
    for (const auto& n : normalizer) {
      switch (n.type) {
        case NormStep::Prepend: if (!s.empty()) s = n.a + s; break;
        case NormStep::Replace: replace_all(s, n.a, n.b); break;
        case NormStep::NFC: s = icu_normalize(s, false); break;
        case NormStep::NFKC: s = icu_normalize(s, true); break;
        case NormStep::Lowercase: s = icu_lowercase(s); break;
      }
    }
    return s;
  }

  // Splits a normalised piece into words; `first` tells whether it starts the whole input
  // (Metaspace's prepend_scheme "first").
  std::vector<std::string> pre_tokenize(const std::string& text, bool first) const {
    std::vector<std::string> pieces{text};
    for (const auto& step : pre_tokenizer) {
      std::vector<std::string> next;
      for (std::size_t pi = 0; pi < pieces.size(); ++pi) {
        const std::string& p = pieces[pi];
        if (step.type == PreStep::Metaspace) {
          std::string s = p;
          replace_all(s, " ", step.replacement);
          const bool prepend = step.prepend_scheme == "always" || (step.prepend_scheme == "first" && first && pi == 0);
          if (prepend && s.compare(0, step.replacement.size(), step.replacement) != 0) s = step.replacement + s;
          if (!step.split) {
            next.push_back(s);
            continue;
          }
          // MergedWithNext on the replacement: each word starts with '▁'.
          std::size_t start = 0;
          for (std::size_t hit = s.find(step.replacement, 1); hit != std::string::npos;
               hit = s.find(step.replacement, hit + step.replacement.size())) {
            if (hit > start) next.push_back(s.substr(start, hit - start));
            start = hit;
          }
          if (start < s.size()) next.push_back(s.substr(start));
          continue;
        }
        std::vector<std::pair<std::size_t, std::size_t>> matches;
        if (step.regex) {
          matches = step.regex->find_all(p);
        } else {
          for (std::size_t hit = p.find(step.literal); !step.literal.empty() && hit != std::string::npos;
               hit = p.find(step.literal, hit + step.literal.size()))
            matches.emplace_back(hit, hit + step.literal.size());
        }
        // Isolated keeps matches and the gaps between them as words; Removed drops the matches.
        // invert makes the gaps the delimiters instead.
        std::size_t pos = 0;
        auto emit = [&](std::size_t b, std::size_t e, bool is_match) {
          const bool delimiter = step.invert ? !is_match : is_match;
          if (e > b && !(step.removed && delimiter)) next.push_back(p.substr(b, e - b));
        };
        for (auto [b, e] : matches) {
          emit(pos, b, false);
          emit(b, e, true);
          pos = e;
        }
        emit(pos, p.size(), false);
      }
      pieces = std::move(next);
    }
    return pieces;
  }

  const Merge* merge_of(std::int32_t left, std::int32_t right) const {
    auto it = merges.find(merge_key(left, right));
    return it == merges.end() ? nullptr : &it->second;
  }

  // Repeatedly merges the lowest-ranked adjacent pair, leftmost first, as HF's priority queue over
  // (rank, position) does. Symbols form a linked list and candidate pairs a heap, so a word of n
  // symbols costs O(n log n) (a Llama-2-style tokenizer sees a whole text as one word).
  void apply_merges(std::vector<std::int32_t>& symbols) const {
    const std::int64_t n = static_cast<std::int64_t>(symbols.size());
    if (n < 2) return;
    std::vector<std::int64_t> prev(n), next(n);
    for (std::int64_t k = 0; k < n; ++k) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    struct Candidate {
      std::int32_t rank;
      std::int64_t pos;      // the left symbol
      std::int32_t merged;   // what the pair merges into when it was pushed
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    auto push = [&](std::int64_t left) {
      if (left < 0 || next[left] < 0) return;
      if (const Merge* m = merge_of(symbols[left], symbols[next[left]])) queue.push({m->rank, left, m->merged});
    };
    for (std::int64_t k = 0; k + 1 < n; ++k) push(k);
    std::vector<bool> alive(n, true);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      // Entries go stale when a neighbour merged first: skip those whose pair has changed.
      if (!alive[c.pos] || next[c.pos] < 0) continue;
      const Merge* m = merge_of(symbols[c.pos], symbols[next[c.pos]]);
      if (!m || m->rank != c.rank || m->merged != c.merged) continue;
      const std::int64_t right = next[c.pos];
      symbols[c.pos] = c.merged;
      alive[right] = false;
      next[c.pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = c.pos;
      push(prev[c.pos]);
      push(c.pos);
    }
    std::size_t kept = 0;
    for (std::int64_t k = 0; k < n; ++k)
      if (alive[k]) symbols[kept++] = symbols[k];
    symbols.resize(kept);
  }

  void bpe_word(const std::string& word, std::vector<std::int64_t>& out) const {
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto it = word_cache.find(word);
      if (it != word_cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::int64_t> ids;
    if (ignore_merges) {
      if (auto id = id_of(word); id >= 0) ids.push_back(id);
    }
    if (ids.empty()) {
      std::vector<std::int32_t> symbols;
      std::int64_t pending_unk = -1;  // an unknown token not yet emitted (fuse_unk joins a run into one)
      std::size_t i = 0;
      while (i < word.size()) {
        const std::size_t len = std::min(utf8::sequence_length(static_cast<unsigned char>(word[i])), word.size() - i);
        std::string s = word.substr(i, len);
        if (i > 0) s = continuing_subword_prefix + s;
        if (i + len == word.size()) s += end_of_word_suffix;
        i += len;
        if (auto id = id_of(s); id >= 0) {
          if (pending_unk >= 0) symbols.push_back(static_cast<std::int32_t>(pending_unk));
          pending_unk = -1;
          symbols.push_back(static_cast<std::int32_t>(id));
          continue;
        }
        if (byte_fallback) {
          std::vector<std::int32_t> bytes;
          for (unsigned char c : s) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", c);
            const auto id = id_of(name);
            if (id < 0) { bytes.clear(); break; }
            bytes.push_back(static_cast<std::int32_t>(id));
          }
          if (!bytes.empty()) {
            if (pending_unk >= 0) symbols.push_back(static_cast<std::int32_t>(pending_unk));
            pending_unk = -1;
            symbols.insert(symbols.end(), bytes.begin(), bytes.end());
            continue;
          }
        }
        if (unk_id) {
          if (pending_unk >= 0 && !fuse_unk) symbols.push_back(static_cast<std::int32_t>(pending_unk));
          pending_unk = *unk_id;
        }
      }
      if (pending_unk >= 0) symbols.push_back(static_cast<std::int32_t>(pending_unk));
      apply_merges(symbols);
      ids.assign(symbols.begin(), symbols.end());
    }
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      if (word_cache.size() > 100000) word_cache.clear();
      word_cache.emplace(word, ids);
    }
    out.insert(out.end(), ids.begin(), ids.end());
  }

  void encode_piece(const std::string& raw, bool first, std::vector<std::int64_t>& out) const {
    std::string normalized = normalize(raw);
    if (byte_level_prefix_space && !normalized.empty() && normalized[0] != ' ') normalized.insert(0, " ");
    for (const std::string& word : pre_tokenize(normalized, first)) {
      if (!byte_level_map) {
        bpe_word(word, out);
        continue;
      }
      std::string mapped;
      const auto& alphabet = byte_level_alphabet();
      for (unsigned char c : word) mapped += alphabet.byte_to_utf8[c];
      bpe_word(mapped, out);
    }
  }

  std::vector<std::int64_t> encode(std::string_view input, bool add_special_tokens) const {
    std::vector<std::int64_t> ids;
    if (kind == Kind::Builtin) {
      if (add_special_tokens) ids.push_back(*bos);
      for (unsigned char c : input) ids.push_back(c + kBuiltinOffset);
      return ids;
    }
    const std::string text = utf8::sanitize(input);
    if (kind == Kind::Words) {
      if (add_special_tokens) ids.push_back(*bos);
      const std::string lower = icu_lowercase(text);
      const auto buckets = static_cast<std::uint64_t>(id_to_token.size()) - kBuiltinOffset;
      for (auto [b, e] : word_regex->find_all(lower))
        ids.push_back(kBuiltinOffset + static_cast<std::int64_t>(fnv1a64(std::string_view(lower).substr(b, e - b)) % buckets));
      return ids;
    }
    const std::string_view rest = text;
    // Split on added tokens: at each position the longest matching added token wins.
    std::size_t piece_start = 0, pos = 0;
    bool first = true;
    while (pos < rest.size()) {
      const Added* hit = nullptr;
      for (const auto& a : added) {
        if (a.content.size() > (hit ? hit->content.size() : 0) && rest.compare(pos, a.content.size(), a.content) == 0)
          hit = &a;
      }
      if (!hit) {
        ++pos;
        continue;
      }
      std::size_t piece_end = pos, after = pos + hit->content.size();
      if (hit->lstrip)
        while (piece_end > piece_start && std::isspace(static_cast<unsigned char>(rest[piece_end - 1]))) --piece_end;
      if (hit->rstrip)
        while (after < rest.size() && std::isspace(static_cast<unsigned char>(rest[after]))) ++after;
      if (piece_end > piece_start) encode_piece(std::string(rest.substr(piece_start, piece_end - piece_start)), first, ids);
      first = false;
      ids.push_back(hit->id);
      piece_start = pos = after;
    }
    if (rest.size() > piece_start) encode_piece(std::string(rest.substr(piece_start)), first, ids);
    if (add_special_tokens) {
      ids.insert(ids.begin(), template_prefix.begin(), template_prefix.end());
      ids.insert(ids.end(), template_suffix.begin(), template_suffix.end());
    }
    return ids;
  }

  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special) const {
    if (kind == Kind::Words) throw Error("tokenizer: the built-in word tokenizer cannot decode (word hashing is one-way)");
    std::string out;
    for (auto id : ids) {
      if (id < 0 || id >= static_cast<std::int64_t>(id_to_token.size()))
        throw Error("tokenizer: id " + std::to_string(id) + " is outside the vocabulary");
      if (skip_special && is_special[id]) continue;
      if (kind == Kind::Builtin) {
        if (id >= kBuiltinOffset) out.push_back(static_cast<char>(id - kBuiltinOffset));
        continue;
      }
      const std::string& tok = id_to_token[id];
      if (id < static_cast<std::int64_t>(is_special.size()) && is_special[id]) {
        out += tok;
      } else if (kind == Kind::ByteLevel) {
        const auto& alphabet = byte_level_alphabet();
        for (std::size_t i = 0; i < tok.size();) {
          std::uint32_t cp = 0;
          const std::size_t n = utf8::decode_one(tok, i, cp);
          auto it = alphabet.codepoint_to_byte.find(cp);
          if (it != alphabet.codepoint_to_byte.end()) out.push_back(static_cast<char>(it->second));
          else out.append(tok, i, n);
          i += n;
        }
      } else if (tok.size() == 6 && tok.compare(0, 3, "<0x") == 0 && tok[5] == '>') {
        out.push_back(static_cast<char>(std::stoi(tok.substr(3, 2), nullptr, 16)));
      } else {
        std::string t = tok;
        replace_all(t, kMetaspace, " ");
        out += t;
      }
    }
    if (decoder_strip_leading_space && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }
};

namespace {

using Impl = Tokenizer::Impl;

std::string token_content(const json::Value* v) {
  if (!v || v->is_null()) return {};
  if (v->is_string()) return v->as_string();
  if (v->is_object()) return v->get_string("content");
  return {};
}

void parse_normalizer(Impl& t, const json::Value& n, const std::string& where) {
  if (n.is_null()) return;
  const std::string type = n.get_string("type");
  if (type == "Sequence") {
    for (const auto& s : n.at("normalizers").as_array()) parse_normalizer(t, s, where);
  } else if (type == "Prepend") {
    t.normalizer.push_back({Impl::NormStep::Prepend, n.get_string("prepend"), {}});
  } else if (type == "Replace") {
    const json::Value& pattern = n.at("pattern");
    if (!pattern.contains("String"))
      throw Error(where + ": normalizer Replace with a regex pattern is not supported");
    t.normalizer.push_back({Impl::NormStep::Replace, pattern.get_string("String"), n.get_string("content")});
  } else if (type == "NFC") {
    t.normalizer.push_back({Impl::NormStep::NFC, {}, {}});
  } else if (type == "NFKC") {
    t.normalizer.push_back({Impl::NormStep::NFKC, {}, {}});
  } else if (type == "Lowercase") {
    t.normalizer.push_back({Impl::NormStep::Lowercase, {}, {}});
  } else {
    throw Error(where + ": normalizer \"" + type + "\" is not supported (Prepend, Replace, NFC, NFKC, Lowercase, Sequence)");
  }
}

void parse_pre_tokenizer(Impl& t, const json::Value& p, const std::string& where) {
  if (p.is_null()) return;
  const std::string type = p.get_string("type");
  if (type == "Sequence") {
    for (const auto& s : p.at("pretokenizers").as_array()) parse_pre_tokenizer(t, s, where);
  } else if (type == "ByteLevel") {
    t.byte_level_map = true;
    t.byte_level_prefix_space = p.get_bool("add_prefix_space", false);
    if (p.get_bool("use_regex", true)) {
      Impl::PreStep step;
      step.type = Impl::PreStep::ByteLevelRegex;
      step.regex = std::make_shared<Regex>(kGpt2Pattern, where + " ByteLevel");
      t.pre_tokenizer.push_back(std::move(step));
    }
  } else if (type == "Split") {
    Impl::PreStep step;
    step.type = Impl::PreStep::Split;
    const json::Value& pattern = p.at("pattern");
    if (pattern.contains("Regex")) step.regex = std::make_shared<Regex>(pattern.get_string("Regex"), where + " Split");
    else step.literal = pattern.get_string("String");
    const std::string behavior = p.get_string("behavior");
    if (behavior == "Removed") step.removed = true;
    else if (behavior != "Isolated")
      throw Error(where + ": Split behavior \"" + behavior + "\" is not supported (Isolated, Removed)");
    step.invert = p.get_bool("invert", false);
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "Metaspace") {
    Impl::PreStep step;
    step.type = Impl::PreStep::Metaspace;
    step.replacement = p.get_string("replacement", kMetaspace);
    if (p.contains("prepend_scheme")) step.prepend_scheme = p.get_string("prepend_scheme");
    else step.prepend_scheme = p.get_bool("add_prefix_space", true) ? "always" : "never";
    step.split = p.get_bool("split", true);
    t.decoder_strip_leading_space = step.prepend_scheme != "never";
    t.pre_tokenizer.push_back(std::move(step));
  } else {
    throw Error(where + ": pre_tokenizer \"" + type + "\" is not supported (ByteLevel, Split, Metaspace, Sequence)");
  }
}

void parse_post_processor(Impl& t, const json::Value& p, const std::string& where) {
  if (p.is_null()) return;
  const std::string type = p.get_string("type");
  if (type == "Sequence") {
    for (const auto& s : p.at("processors").as_array()) parse_post_processor(t, s, where);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets; ids are unchanged.
  } else if (type == "TemplateProcessing") {
    const json::Value& specials = p.at("special_tokens");
    bool after_sequence = false;
    for (const auto& item : p.at("single").as_array()) {
      if (item.contains("Sequence")) {
        after_sequence = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").get_string("id");
      const json::Value* spec = specials.find(name);
      if (!spec) throw Error(where + ": TemplateProcessing names unknown special token \"" + name + "\"");
      for (const auto& id : spec->at("ids").as_array())
        (after_sequence ? t.template_suffix : t.template_prefix).push_back(id.as_int());
    }
  } else {
    throw Error(where + ": post_processor \"" + type + "\" is not supported (TemplateProcessing, ByteLevel, Sequence)");
  }
}

// Decoding is fixed per kind (byte-level alphabet, or byte fallback + '▁' -> ' '); the decoder
// only tells whether SentencePiece's leading space is stripped.
void parse_decoder(Impl& t, const json::Value& d) {
  if (!d.is_object()) return;
  const std::string type = d.get_string("type");
  if (type == "Sequence") {
    for (const auto& s : d.at("decoders").as_array()) parse_decoder(t, s);
  } else if (type == "Strip") {
    t.decoder_strip_leading_space = d.get_int("start", 0) > 0;
  } else if (type == "Metaspace") {
    t.decoder_strip_leading_space = d.get_string("prepend_scheme", "always") != "never";
  }
}

// A special token of tokenizer_config.json ("<s>" or {"content": "<s>", ...}) as an id. Read with
// simdjson on demand: these files carry numbers like model_max_length = 1e30 written as an
// integer, which a full DOM parse into int64 rejects, and only three fields matter here.
std::optional<std::int64_t> config_token_id(const Impl& t, const std::filesystem::path& path, const char* key) {
  const std::string text = read_file(path);
  simdjson::padded_string padded(text);
  simdjson::ondemand::parser parser;
  std::string content;
  try {
    simdjson::ondemand::document doc = parser.iterate(padded);
    simdjson::ondemand::value v;
    if (doc.find_field_unordered(key).get(v) != simdjson::SUCCESS) return std::nullopt;
    switch (v.type()) {
      case simdjson::ondemand::json_type::string: content = std::string(std::string_view(v.get_string())); break;
      case simdjson::ondemand::json_type::object: {
        std::string_view c;
        if (v.find_field_unordered("content").get_string().get(c) == simdjson::SUCCESS) content = std::string(c);
        break;
      }
      default: return std::nullopt;
    }
  } catch (const simdjson::simdjson_error& e) {
    throw Error(path.string() + ": invalid JSON reading \"" + key + "\": " + e.what());
  }
  if (content.empty()) return std::nullopt;
  const auto id = t.id_of(content);
  if (id < 0) throw Error(path.string() + ": " + key + " \"" + content + "\" is not in the vocabulary");
  return id;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_dir(const std::filesystem::path& model_dir) {
  const auto config = model_dir / "tokenizer_config.json";
  return from_files(model_dir / "tokenizer.json",
                    std::filesystem::exists(config) ? std::optional<std::filesystem::path>(config) : std::nullopt);
}

Tokenizer Tokenizer::from_files(const std::filesystem::path& tokenizer_json,
                                const std::optional<std::filesystem::path>& tokenizer_config) {
  const std::string where = tokenizer_json.string();
  auto build = [&] {
    const json::Value root = json::parse_file(tokenizer_json);
    auto t = std::make_unique<Impl>();
    const json::Value& model = root.at("model");
    if (model.get_string("type") != "BPE")
      throw Error(where + ": tokenizer model \"" + model.get_string("type") + "\" is not supported (BPE)");
    for (const auto& [token, id] : model.at("vocab").as_object()) {
      if (!id.is_int() || id.as_int() < 0 || id.as_int() > 10'000'000)
        throw Error(where + ": vocab id of \"" + token + "\" is not a valid id");
      t->add_token(token, id.as_int());
    }
    t->byte_fallback = model.get_bool("byte_fallback", false);
    t->fuse_unk = model.get_bool("fuse_unk", false);
    t->ignore_merges = model.get_bool("ignore_merges", false);
    t->continuing_subword_prefix = model.get_string("continuing_subword_prefix");
    t->end_of_word_suffix = model.get_string("end_of_word_suffix");
    if (const std::string unk = token_content(model.find("unk_token")); !unk.empty()) {
      if (t->id_of(unk) < 0) throw Error(where + ": unk_token \"" + unk + "\" is not in the vocabulary");
      t->unk_id = t->id_of(unk);
    }
    std::int32_t rank = 0;
    for (const auto& m : model.at("merges").as_array()) {
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.as_string();
        const auto space = s.find(' ');
        if (space == std::string::npos) throw Error(where + ": merge \"" + s + "\" has no space");
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m.at(std::size_t{0}).as_string();
        b = m.at(std::size_t{1}).as_string();
      } else {
        throw Error(where + ": merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
      }
      const auto ia = t->id_of(a), ib = t->id_of(b), im = t->id_of(a + b);
      if (ia < 0 || ib < 0 || im < 0)
        throw Error(where + ": merge \"" + a + " " + b + "\" uses tokens missing from the vocabulary");
      t->merges.emplace(Impl::merge_key(ia, ib), Impl::Merge{rank++, static_cast<std::int32_t>(im)});
    }
    if (const json::Value* added = root.find("added_tokens"); added && added->is_array()) {
      for (const auto& a : added->as_array()) {
        Impl::Added tok{a.get_string("content"), a.get_int("id", -1), a.get_bool("special", false),
                        a.get_bool("lstrip", false), a.get_bool("rstrip", false)};
        if (tok.id < 0 || tok.content.empty()) throw Error(where + ": malformed entry in added_tokens");
        t->add_token(tok.content, tok.id);
        t->added.push_back(std::move(tok));
      }
    }
    t->is_special.assign(t->id_to_token.size(), false);
    for (const auto& a : t->added) t->is_special[a.id] = a.special;

    if (const json::Value* n = root.find("normalizer")) parse_normalizer(*t, *n, where);
    if (const json::Value* p = root.find("pre_tokenizer")) parse_pre_tokenizer(*t, *p, where);
    if (const json::Value* p = root.find("post_processor")) parse_post_processor(*t, *p, where);
    t->kind = t->byte_level_map ? Impl::Kind::ByteLevel : Impl::Kind::ByteFallback;
    if (!t->byte_level_map && !t->byte_fallback)
      throw Error(where + ": BPE without ByteLevel pre-tokenizer or byte_fallback is not supported");
    if (const json::Value* d = root.find("decoder")) parse_decoder(*t, *d);

    if (tokenizer_config) {
      t->bos = config_token_id(*t, *tokenizer_config, "bos_token");
      t->eos = config_token_id(*t, *tokenizer_config, "eos_token");
      t->pad = config_token_id(*t, *tokenizer_config, "pad_token");
    }
    if (!t->pad) t->pad = t->eos;
    return Tokenizer(std::move(t));
  };
  return json::with_origin(where, build);
}

Tokenizer Tokenizer::bytes() {
  auto t = std::make_unique<Impl>();
  t->kind = Impl::Kind::Builtin;
  t->add_token("<pad>", 0);
  t->add_token("<s>", 1);
  t->add_token("</s>", 2);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    if (b > ' ' && b < 0x7f) {
      name[0] = static_cast<char>(b);
      name[1] = 0;
    } else {
      std::snprintf(name, sizeof name, "<0x%02X>", b);
    }
    t->add_token(name, b + kBuiltinOffset);
  }
  t->is_special.assign(t->id_to_token.size(), false);
  t->is_special[0] = t->is_special[1] = t->is_special[2] = true;
  t->pad = 0;
  t->bos = 1;
  t->eos = 2;
  return Tokenizer(std::move(t));
}

Tokenizer Tokenizer::words(std::int64_t vocab_size) {
  if (vocab_size < kBuiltinOffset + 1 || vocab_size > kMaxWordsVocab)
    throw Error("tokenizer: the word tokenizer's vocab size must be in [" + std::to_string(kBuiltinOffset + 1) + ", " +
                std::to_string(kMaxWordsVocab) + "], got " + std::to_string(vocab_size));
  auto t = std::make_unique<Impl>();
  t->kind = Impl::Kind::Words;
  t->word_regex = std::make_shared<Regex>(kWordPattern, "built-in word tokenizer");
  t->add_token("<pad>", 0);
  t->add_token("<s>", 1);
  t->add_token("</s>", 2);
  for (std::int64_t id = kBuiltinOffset; id < vocab_size; ++id) t->add_token("<word:" + std::to_string(id) + ">", id);
  t->is_special.assign(t->id_to_token.size(), false);
  t->is_special[0] = t->is_special[1] = t->is_special[2] = true;
  t->pad = 0;
  t->bos = 1;
  t->eos = 2;
  return Tokenizer(std::move(t));
}

std::vector<std::int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special) const {
  return impl_->decode(ids, skip_special);
}

std::string Tokenizer::token_string(std::int64_t id) const {
  if (id < 0 || id >= static_cast<std::int64_t>(impl_->id_to_token.size()))
    throw Error("tokenizer: id " + std::to_string(id) + " is outside the vocabulary");
  return impl_->id_to_token[id];
}

std::int64_t Tokenizer::vocab_size() const { return static_cast<std::int64_t>(impl_->id_to_token.size()); }

std::string Tokenizer::kind() const {
  switch (impl_->kind) {
    case Impl::Kind::ByteLevel: return "byte-level BPE";
    case Impl::Kind::ByteFallback: return "BPE with byte fallback";
    case Impl::Kind::Builtin: return "built-in bytes";
    case Impl::Kind::Words: return "built-in hashed words";
  }
  return "?";
}

std::optional<std::int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<std::int64_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<std::int64_t> Tokenizer::pad_id() const { return impl_->pad; }

}  // namespace w2s::model
