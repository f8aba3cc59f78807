// tokenizer.json, following the Hugging Face `tokenizers` pipeline (tokenizers/src/tokenizer/mod.rs):
//   added tokens on the raw text -> normalizer -> added tokens on the normalized text ->
//   pre-tokenizer -> BPE model -> post-processor;  decode: ids -> token strings -> decoder chain.
// Supported components (anything else is refused naming the component):
//   normalizer     NFC, NFD, NFKC, NFKD (ICU), Lowercase, Strip, StripAccents, Prepend,
//                  Replace (string or regex), Sequence
//   pre_tokenizer  ByteLevel (add_prefix_space, use_regex), Split (string or regex; Removed,
//                  Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert), Metaspace
//                  (prepend_scheme always/first/never, split), Digits, Punctuation, Whitespace,
//                  WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit, UnicodeScripts, Sequence
//   model          BPE (also a `model` without `type` that has merges, as GPT-2's original file);
//                  merges as "a b" or ["a", "b"], byte_fallback, unk_token/fuse_unk, ignore_merges,
//                  continuing_subword_prefix, end_of_word_suffix
//   post_processor TemplateProcessing (single), RobertaProcessing, BertProcessing, ByteLevel, Sequence
//   decoder        ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence
// Added tokens get the ids Hugging Face assigns them (the file's ids must agree) and are matched
// leftmost-longest with an Aho-Corasick automaton, with single_word / lstrip / rstrip /
// normalized as added_vocabulary.rs applies them. Regexes run through PCRE2 with UTF + UCP;
// character classes (White_Space, numeric, punctuation, scripts) and normalisation via ICU.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <simdjson.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "utf8.h"
#include "w2s/model.h"
#include "w2s/utf8.h"

namespace w2s::model {

namespace {

// HF's ByteLevel pre-tokenizer regex (tokenizers/src/pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// HF's Whitespace pre-tokenizer: words and runs of other non-space characters.
constexpr const char* kWhitespacePattern = R"(\w+|[^\w\s]+)";

constexpr std::int64_t kBuiltinOffset = 3;  // built-in tokenizers: ids 0-2 are pad, bos, eos

// Ids index dense tables: an id beyond the entries a file declares (plus room for holes) or
// beyond 2^24 is a corrupt file, not a vocabulary (real ones go to ~262k).
constexpr std::int64_t kMaxId = std::int64_t{1} << 24;
constexpr std::int64_t kIdSlack = 65536;

// The built-in word tokenizer's split rule: a run of letters/digits with inner apostrophes
// ("don't", SST-2's "n't"), an apostrophe-led word ("'s"), or one other non-space character.
constexpr const char* kWordPattern = R"([\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*|'[\p{L}\p{N}]+|[^\s\p{L}\p{N}])";

const std::string kMetaspace = "\xE2\x96\x81";  // U+2581 '▁'

// FNV-1a, 64 bit: a fixed, platform-independent hash of the word's UTF-8 bytes.
std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Characters, as Rust's char methods and regex classes (which HF uses) define them.
// ---------------------------------------------------------------------------------------------
bool is_whitespace(std::uint32_t c) { return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE); }
bool is_numeric(std::uint32_t c) {  // char::is_numeric: Nd, Nl, No
  const auto t = u_charType(static_cast<UChar32>(c));
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}
bool is_mark(std::uint32_t c) {
  const auto t = u_charType(static_cast<UChar32>(c));
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK;
}
// HF's is_punc: ASCII punctuation (which includes $+<=>^`|~) or Unicode P*.
bool is_punctuation(std::uint32_t c) {
  return (c < 0x80 && std::ispunct(static_cast<int>(c))) || u_ispunct(static_cast<UChar32>(c));
}
// regex's Unicode \w: Alphabetic, M, Nd, Pc, Join_Control.
bool is_word_character(std::uint32_t c) {
  const auto t = u_charType(static_cast<UChar32>(c));
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_ALPHABETIC) || is_mark(c) ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION ||
         u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_JOIN_CONTROL);
}

std::uint32_t first_code_point(std::string_view s) {
  std::uint32_t cp = 0;
  utf8::decode_one(s, 0, cp);
  return cp;
}
std::uint32_t last_code_point(std::string_view s) {
  std::size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return first_code_point(s.substr(i));
}

// Start of the run of whitespace that ends `s` (s.size() when none).
std::size_t trailing_space_start(std::string_view s) {
  std::size_t start = s.size();
  while (start > 0) {
    std::size_t i = start - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    if (!is_whitespace(first_code_point(s.substr(i)))) break;
    start = i;
  }
  return start;
}
// Length of the run of whitespace that starts `s`.
std::size_t leading_space_length(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8::decode_one(s, i, cp);
    if (!is_whitespace(cp)) break;
    i += n;
  }
  return i;
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

// Non-overlapping occurrences of a literal, left to right.
std::vector<std::pair<std::size_t, std::size_t>> find_literal(std::string_view text, std::string_view literal) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  if (literal.empty()) return out;
  for (std::size_t hit = text.find(literal); hit != std::string_view::npos; hit = text.find(literal, hit + literal.size()))
    out.emplace_back(hit, hit + literal.size());
  return out;
}

std::string replace_matches(std::string_view s, const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                            std::string_view with) {
  std::string out;
  std::size_t pos = 0;
  for (auto [b, e] : matches) {
    out.append(s.substr(pos, b - pos));
    out.append(with);
    pos = e;
  }
  out.append(s.substr(pos));
  return out;
}

std::string icu_normalize(const std::string& text, const std::string& form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = form == "NFC"    ? icu::Normalizer2::getNFCInstance(status)
                              : form == "NFD"  ? icu::Normalizer2::getNFDInstance(status)
                              : form == "NFKC" ? icu::Normalizer2::getNFKCInstance(status)
                                               : icu::Normalizer2::getNFKDInstance(status);
  if (U_FAILURE(status)) throw Error("tokenizer: ICU normalizer " + form + " unavailable");
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(text);
  icu::UnicodeString out = n->normalize(in, status);
  if (U_FAILURE(status)) throw Error("tokenizer: ICU normalisation failed");
  std::string s;
  out.toUTF8String(s);
  return s;
}

// The whole text lowercased (Unicode, root locale, with context such as a final sigma): the
// built-in word tokenizer's rule.
std::string icu_lowercase(const std::string& text) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
  u.toLower(icu::Locale::getRoot());
  std::string s;
  u.toUTF8String(s);
  return s;
}

// Each character lowercased on its own, as Rust's char::to_lowercase (HF's Lowercase normalizer):
// full mappings (İ -> i̇), but no context (a final Σ becomes σ, not ς).
std::string lowercase_chars(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8::decode_one(text, i, cp);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(std::tolower(static_cast<int>(cp))));
    } else {
      icu::UnicodeString u(static_cast<UChar32>(cp));
      u.toLower(icu::Locale::getRoot());
      u.toUTF8String(out);
    }
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splitting, as NormalizedString::split: the pattern's matches and the gaps between them cover
// the text; the behaviour decides which become pieces.
// ---------------------------------------------------------------------------------------------
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior behavior_named(const std::string& name, const std::string& where) {
  if (name == "Removed") return Behavior::Removed;
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  if (name == "Contiguous") return Behavior::Contiguous;
  throw Error(where + ": split behavior \"" + name +
              "\" is not supported (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

struct Span {
  std::size_t begin, end;
  bool is_match;
};

std::vector<Span> cover(std::size_t size, const std::vector<std::pair<std::size_t, std::size_t>>& matches) {
  std::vector<Span> spans;
  std::size_t pos = 0;
  for (auto [b, e] : matches) {
    if (b > pos) spans.push_back({pos, b, false});
    spans.push_back({b, e, true});
    pos = e;
  }
  if (pos < size) spans.push_back({pos, size, false});
  return spans;
}

// A character pattern: every matching character is a match of its own.
std::vector<std::pair<std::size_t, std::size_t>> find_chars(std::string_view text, bool (*predicate)(std::uint32_t)) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8::decode_one(text, i, cp);
    if (predicate(cp)) out.emplace_back(i, i + n);
    i += n;
  }
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> apply_behavior(std::vector<Span> spans, Behavior behavior, bool invert) {
  if (invert)
    for (auto& s : spans) s.is_match = !s.is_match;
  std::vector<Span> kept;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::Removed:
      for (const auto& s : spans)
        if (!s.is_match) kept.push_back(s);
      break;
    case Behavior::Isolated: kept = spans; break;
    case Behavior::Contiguous:
      for (const auto& s : spans) {
        if (s.is_match == previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previous_match = s.is_match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previous_match = s.is_match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) kept.back().begin = it->begin;
        else kept.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const auto& s : kept)
    if (s.end > s.begin) out.emplace_back(s.begin, s.end);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Aho-Corasick over the added tokens, leftmost-longest as HF's aho_corasick MatchKind. Linear in
// the text and the tokens' total length for ordinary token sets (a 1 MB token included). A match
// is final once no longer match can still start at or before it, so only text after a match
// that a longer token's prefix covered is read twice (a token that is a prefix of another).
// ---------------------------------------------------------------------------------------------
class TokenMatcher {
 public:
  struct Match {
    std::size_t begin, end;
    std::size_t pattern;
  };

  explicit TokenMatcher(const std::vector<std::string>& patterns) {
    nodes_.push_back({});
    for (std::size_t p = 0; p < patterns.size(); ++p) {
      if (patterns[p].empty()) continue;
      std::int32_t at = 0;
      for (unsigned char c : patterns[p]) {
        std::int32_t next = child(at, c);
        if (next < 0) {
          next = static_cast<std::int32_t>(nodes_.size());
          Node n;
          n.byte = c;
          n.depth = nodes_[at].depth + 1;
          n.next_sibling = nodes_[at].first_child;
          nodes_.push_back(n);
          nodes_[at].first_child = next;
        }
        at = next;
      }
      if (nodes_[at].pattern < 0) nodes_[at].pattern = static_cast<std::int64_t>(p);  // first of equal patterns
    }
    // Failure links breadth-first; `output` is the nearest node on the failure chain (itself
    // included) that ends a pattern: the longest pattern ending at a position.
    std::vector<std::int32_t> queue{0};
    for (std::size_t qi = 0; qi < queue.size(); ++qi) {
      const std::int32_t at = queue[qi];
      for (std::int32_t c = nodes_[at].first_child; c >= 0; c = nodes_[c].next_sibling) {
        std::int32_t f = nodes_[at].fail;
        if (at == 0) {
          nodes_[c].fail = 0;
        } else {
          while (f > 0 && child(f, nodes_[c].byte) < 0) f = nodes_[f].fail;
          const std::int32_t g = child(f, nodes_[c].byte);
          nodes_[c].fail = g >= 0 ? g : 0;
        }
        nodes_[c].output = nodes_[c].pattern >= 0 ? c : nodes_[nodes_[c].fail].output;
        queue.push_back(c);
      }
    }
  }

  bool empty() const { return nodes_.size() == 1; }

  // The leftmost-longest match starting at or after `from`.
  std::optional<Match> next(std::string_view text, std::size_t from) const {
    std::int32_t state = 0;
    std::optional<Match> best;
    for (std::size_t p = from; p < text.size(); ++p) {
      const unsigned char c = static_cast<unsigned char>(text[p]);
      std::int32_t g;
      while ((g = child(state, c)) < 0 && state > 0) state = nodes_[state].fail;
      state = g >= 0 ? g : 0;
      if (const std::int32_t o = nodes_[state].output; o > 0) {
        const std::size_t begin = p + 1 - nodes_[o].depth;
        if (!best || begin < best->begin || (begin == best->begin && p + 1 > best->end))
          best = Match{begin, p + 1, static_cast<std::size_t>(nodes_[o].pattern)};
      }
      // No match in progress can start at or before the best one's start: it is final.
      if (best && p + 1 - nodes_[state].depth > best->begin) return best;
    }
    return best;
  }

 private:
  struct Node {
    std::int32_t first_child = -1, next_sibling = -1, fail = 0, output = 0;
    std::int64_t pattern = -1;
    std::size_t depth = 0;
    unsigned char byte = 0;
  };
  std::int32_t child(std::int32_t at, unsigned char c) const {
    for (std::int32_t k = nodes_[at].first_child; k >= 0; k = nodes_[k].next_sibling)
      if (nodes_[k].byte == c) return k;
    return -1;
  }
  std::vector<Node> nodes_;
};

// A piece of the text on its way through the pipeline: its text, whether it starts at the
// original text's first character (Metaspace's prepend_scheme "first"), and the id of the added
// token it is, if it is one.
struct Piece {
  std::string text;
  bool at_origin = false;
  std::optional<std::int64_t> token;
};

}  // namespace

struct Tokenizer::Impl {
  enum class Kind { Json, Builtin, Words };
  Kind kind = Kind::Json;

  // --- model (BPE) ---
  std::unordered_map<std::string, std::int64_t> vocab;  // the model's vocabulary
  std::vector<std::string> id_to_token;                  // model and added tokens by id
  struct Merge { std::int32_t rank; std::int32_t merged; };
  std::unordered_map<std::uint64_t, Merge> merges;  // by merge_key(left id, right id)
  static std::uint64_t merge_key(std::int64_t left, std::int64_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  std::optional<std::int64_t> unk_id;
  std::string continuing_subword_prefix, end_of_word_suffix;

  // --- added tokens ---
  struct Added {
    std::string content;
    bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = true;
    bool operator==(const Added&) const = default;
  };
  std::unordered_map<std::string, std::int64_t> added_ids;  // content -> id
  std::unordered_map<std::int64_t, Added> added_by_id;
  std::unordered_set<std::string> special_contents;
  std::optional<TokenMatcher> raw_matcher, normalized_matcher;
  std::vector<std::int64_t> raw_ids, normalized_ids;  // pattern index -> id
  // What decode sees of a normalized added token: its normalized text, as HF's decoder cache
  // (simple_id_to_token) gives it, so that "<TOK>" lowercased decodes as "<tok>".
  std::unordered_map<std::int64_t, std::string> decoded_as;

  // --- normalizer ---
  struct Normalize {
    enum Type { Unicode, Lowercase, Strip, StripAccents, Prepend, Replace } type;
    std::string form;            // Unicode: NFC / NFD / NFKC / NFKD
    bool left = false, right = false;  // Strip
    std::string text;            // Prepend / Replace: the literal pattern
    std::shared_ptr<Regex> regex;      // Replace with a regex pattern
    std::string content;         // Replace
  };
  std::vector<Normalize> normalizer;

  // --- pre-tokenizer ---
  struct PreTokenize {
    enum Type { Split, ByteLevel, Metaspace, UnicodeScripts } type = Split;
    // Split: one of regex / literal / char predicate
    std::shared_ptr<Regex> regex;
    std::string literal;
    bool (*predicate)(std::uint32_t) = nullptr;
    std::uint32_t delimiter = 0;  // CharDelimiterSplit
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    // ByteLevel
    bool add_prefix_space = false;
    // Metaspace
    std::string replacement;
    enum class Prepend { Always, First, Never } prepend = Prepend::Always;
    bool split = true;
  };
  std::vector<PreTokenize> pre_tokenizer;

  // --- post-processor ---
  std::vector<std::int64_t> template_prefix, template_suffix;

  // --- decoder ---
  struct Decode {
    enum Type { ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace } type;
    std::string content;               // Strip (one character) / Replace
    std::int64_t start = 0, stop = 0;  // Strip
    std::string pattern;               // Replace (literal)
    std::shared_ptr<Regex> regex;      // Replace (regex)
    std::string replacement;           // Metaspace
    bool prepend = true;               // Metaspace: prepend_scheme != never
  };
  std::optional<std::vector<Decode>> decoder;  // none: tokens joined with spaces

  std::optional<std::int64_t> bos, eos, pad;

  std::shared_ptr<Regex> word_regex;  // Kind::Words

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> word_cache;

  // token_to_id as HF: added tokens first, then the model's vocabulary.
  std::int64_t id_of(const std::string& token) const {
    if (auto it = added_ids.find(token); it != added_ids.end()) return it->second;
    auto it = vocab.find(token);
    return it == vocab.end() ? -1 : it->second;
  }
  std::int64_t model_id_of(const std::string& token) const {
    auto it = vocab.find(token);
    return it == vocab.end() ? -1 : it->second;
  }

  void set_token(const std::string& token, std::int64_t id) {
    if (static_cast<std::int64_t>(id_to_token.size()) <= id) id_to_token.resize(id + 1);
    id_to_token[id] = token;
  }


  std::string normalize(std::string s) const {
    for (const auto& n : normalizer) {
      switch (n.type) {
        case Normalize::Unicode: s = icu_normalize(s, n.form); break;
        case Normalize::Lowercase: s = lowercase_chars(s); break;
        case Normalize::Strip: {
          std::size_t b = 0, e = s.size();
          if (n.left) b = leading_space_length(s);
          if (n.right && b < e) e = b + trailing_space_start(std::string_view(s).substr(b));
          s = s.substr(b, e - b);
          break;
        }
        case Normalize::StripAccents: {
          std::string out;
          for (std::size_t i = 0; i < s.size();) {
            std::uint32_t cp = 0;
            const std::size_t len = utf8::decode_one(s, i, cp);
            if (!is_mark(cp)) out.append(s, i, len);
            i += len;
          }
          s = std::move(out);
          break;
        }
        case Normalize::Prepend: if (!s.empty()) s = n.text + s; break;
        case Normalize::Replace:
          s = replace_matches(s, n.regex ? n.regex->find_all(s) : find_literal(s, n.text), n.content);
          break;
      }
    }
    return s;
  }

  // One pre-tokenizer step on one piece; appends the resulting pieces to `out`.
  void pre_tokenize_piece(const PreTokenize& step, const Piece& piece, std::vector<Piece>& out) const {
    auto emit = [&](const std::string& text, const std::vector<std::pair<std::size_t, std::size_t>>& ranges) {
      for (auto [b, e] : ranges) out.push_back({text.substr(b, e - b), piece.at_origin && b == 0, std::nullopt});
    };
    const std::string& p = piece.text;
    switch (step.type) {
      case PreTokenize::Split: {
        std::vector<std::pair<std::size_t, std::size_t>> matches;
        if (step.regex) matches = step.regex->find_all(p);
        else if (step.predicate) matches = find_chars(p, step.predicate);
        else matches = find_literal(p, step.literal);
        emit(p, apply_behavior(cover(p.size(), matches), step.behavior, step.invert));
        return;
      }
      case PreTokenize::ByteLevel: {
        std::string s = p;
        if (step.add_prefix_space && s[0] != ' ') s.insert(0, " ");
        std::vector<std::pair<std::size_t, std::size_t>> ranges{{0, s.size()}};
        if (step.regex) ranges = apply_behavior(cover(s.size(), step.regex->find_all(s)), Behavior::Isolated, false);
        const auto& alphabet = byte_level_alphabet();
        for (auto [b, e] : ranges) {
          std::string mapped;
          for (std::size_t i = b; i < e; ++i) mapped += alphabet.byte_to_utf8[static_cast<unsigned char>(s[i])];
          out.push_back({std::move(mapped), piece.at_origin && b == 0, std::nullopt});
        }
        return;
      }
      case PreTokenize::Metaspace: {
        std::string s = replace_matches(p, find_literal(p, " "), step.replacement);
        const bool starts = s.compare(0, step.replacement.size(), step.replacement) == 0;
        if (!starts && (step.prepend == PreTokenize::Prepend::Always ||
                        (step.prepend == PreTokenize::Prepend::First && piece.at_origin)))
          s.insert(0, step.replacement);
        if (!step.split) {
          out.push_back({std::move(s), piece.at_origin, std::nullopt});
          return;
        }
        emit(s, apply_behavior(cover(s.size(), find_literal(s, step.replacement)), Behavior::MergedWithNext, false));
        return;
      }
      case PreTokenize::UnicodeScripts: {
        // A piece per run of one script; spaces join either side; Hiragana, Katakana and 'ー'
        // count as Han (pre_tokenizers/unicode_scripts/pre_tokenizer.rs).
        std::vector<std::size_t> cuts;
        std::optional<int> last;
        for (std::size_t i = 0; i < p.size();) {
          std::uint32_t cp = 0;
          const std::size_t n = utf8::decode_one(p, i, cp);
          std::optional<int> script;  // nullopt: Any (a space)
          if (cp != ' ') {
            UErrorCode status = U_ZERO_ERROR;
            int s = uscript_getScript(static_cast<UChar32>(cp), &status);
            if (cp == 0x30FC || s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA) s = USCRIPT_HAN;
            script = s;
          }
          if (script && last != script) cuts.push_back(i);
          if (script) last = script;
          i += n;
        }
        cuts.push_back(p.size());
        std::vector<std::pair<std::size_t, std::size_t>> ranges;
        for (std::size_t k = 0; k + 1 < cuts.size(); ++k) ranges.emplace_back(cuts[k], cuts[k + 1]);
        emit(p, ranges);
        return;
      }
    }
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

  // BPE::merge_word then merge_all (models/bpe/model.rs).
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
      if (auto id = model_id_of(word); id >= 0) ids.push_back(id);
    }
    if (ids.empty()) {
      std::vector<std::int32_t> symbols;
      // An unknown character not yet emitted: fuse_unk extends it over a run of unknowns. As in
      // HF, byte-fallback tokens do not flush it.
      std::int64_t pending_unk = -1;
      std::size_t i = 0;
      while (i < word.size()) {
        const std::size_t len = std::min(utf8::sequence_length(static_cast<unsigned char>(word[i])), word.size() - i);
        std::string s = word.substr(i, len);
        if (i > 0) s = continuing_subword_prefix + s;
        if (i + len == word.size()) s += end_of_word_suffix;
        i += len;
        if (auto id = model_id_of(s); id >= 0) {
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
            const auto id = model_id_of(name);
            if (id < 0) { bytes.clear(); break; }
            bytes.push_back(static_cast<std::int32_t>(id));
          }
          if (!bytes.empty()) {
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

  // AddedVocabulary::find_matches: splits `piece` at the added tokens `matcher` finds.
  void split_added(const Piece& piece, const TokenMatcher& matcher, const std::vector<std::int64_t>& ids,
                   std::vector<Piece>& out) const {
    const std::string_view s = piece.text;
    auto push = [&](std::size_t b, std::size_t e, std::optional<std::int64_t> token) {
      if (e > b) out.push_back({std::string(s.substr(b, e - b)), piece.at_origin && b == 0, token});
    };
    std::size_t start_offset = 0;
    for (std::size_t from = 0; from < s.size();) {
      const auto m = matcher.next(s, from);
      if (!m) break;
      from = m->end;
      std::size_t start = m->begin, stop = m->end;
      const std::int64_t id = ids[m->pattern];
      const Added& token = added_by_id.at(id);
      if (token.single_word) {
        const bool start_space = start == 0 || !is_word_character(last_code_point(s.substr(0, start)));
        const bool stop_space = stop == s.size() || !is_word_character(first_code_point(s.substr(stop)));
        if (!start_space || !stop_space) continue;
      }
      if (token.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
      if (token.rstrip) stop += leading_space_length(s.substr(stop));
      if (start_offset < start) push(start_offset, start, std::nullopt);
      out.push_back({std::string(s.substr(start, stop - start)), piece.at_origin && start == 0, id});
      start_offset = stop;
    }
    if (start_offset < s.size()) push(start_offset, s.size(), std::nullopt);
  }

  std::vector<std::int64_t> encode(std::string_view input, bool add_special_tokens) const {
    std::vector<std::int64_t> ids;
    if (kind == Kind::Builtin) {
      if (add_special_tokens) ids.push_back(*bos);
      for (unsigned char c : input) ids.push_back(c + kBuiltinOffset);
      return ids;
    }
    const std::string text = valid_utf8(input);
    if (kind == Kind::Words) {
      if (add_special_tokens) ids.push_back(*bos);
      const std::string lower = icu_lowercase(text);
      const auto buckets = static_cast<std::uint64_t>(id_to_token.size()) - kBuiltinOffset;
      for (auto [b, e] : word_regex->find_all(lower))
        ids.push_back(kBuiltinOffset + static_cast<std::int64_t>(fnv1a64(std::string_view(lower).substr(b, e - b)) % buckets));
      return ids;
    }
    // Added tokens on the raw text, then the normalizer and the normalized added tokens on the
    // rest (AddedVocabulary::extract_and_normalize).
    std::vector<Piece> pieces;
    const Piece whole{text, true, std::nullopt};
    if (raw_matcher->empty()) pieces.push_back(whole);
    else split_added(whole, *raw_matcher, raw_ids, pieces);
    std::vector<Piece> normalized;
    for (auto& piece : pieces) {
      if (piece.token) {
        normalized.push_back(std::move(piece));
        continue;
      }
      Piece n{normalize(piece.text), piece.at_origin, std::nullopt};
      if (n.text.empty()) continue;
      if (normalized_matcher->empty()) normalized.push_back(std::move(n));
      else split_added(n, *normalized_matcher, normalized_ids, normalized);
    }
    pieces = std::move(normalized);
    for (const auto& step : pre_tokenizer) {
      std::vector<Piece> next;
      for (auto& piece : pieces) {
        if (piece.token) next.push_back(std::move(piece));
        else pre_tokenize_piece(step, piece, next);
      }
      pieces = std::move(next);
    }
    for (const auto& piece : pieces) {
      if (piece.token) ids.push_back(*piece.token);
      else bpe_word(piece.text, ids);
    }
    if (add_special_tokens) {
      ids.insert(ids.begin(), template_prefix.begin(), template_prefix.end());
      ids.insert(ids.end(), template_suffix.begin(), template_suffix.end());
    }
    return ids;
  }

  // The decoder chain over token strings (decoders/*.rs decode_chain).
  static std::vector<std::string> decode_chain(const Decode& d, std::vector<std::string> tokens) {
    switch (d.type) {
      case Decode::ByteLevel: {
        const auto& alphabet = byte_level_alphabet();
        std::string bytes;
        for (const auto& t : tokens) {
          std::string mapped;
          bool all_mapped = true;
          for (std::size_t i = 0; i < t.size() && all_mapped;) {
            std::uint32_t cp = 0;
            const std::size_t n = utf8::decode_one(t, i, cp);
            auto it = alphabet.codepoint_to_byte.find(cp);
            if (it == alphabet.codepoint_to_byte.end()) all_mapped = false;
            else mapped.push_back(static_cast<char>(it->second));
            i += n;
          }
          bytes += all_mapped ? mapped : t;
        }
        return {valid_utf8(bytes)};
      }
      case Decode::ByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
          if (pending.empty()) return;
          if (valid_utf8(pending) == pending) out.push_back(pending);
          else
            for (std::size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
          pending.clear();
        };
        for (auto& t : tokens) {
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
              std::isxdigit(static_cast<unsigned char>(t[4]))) {
            pending.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
            continue;
          }
          flush();
          out.push_back(std::move(t));
        }
        flush();
        return out;
      }
      case Decode::Fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        return {all};
      }
      case Decode::Strip: {
        for (auto& t : tokens) {
          std::size_t b = 0, e = t.size();
          for (std::int64_t k = 0; k < d.start && t.compare(b, d.content.size(), d.content) == 0; ++k)
            b += d.content.size();
          for (std::int64_t k = 0; k < d.stop && e >= b + d.content.size() &&
                                   t.compare(e - d.content.size(), d.content.size(), d.content) == 0;
               ++k)
            e -= d.content.size();
          t = t.substr(b, e - b);
        }
        return tokens;
      }
      case Decode::Replace:
        for (auto& t : tokens) t = replace_matches(t, d.regex ? d.regex->find_all(t) : find_literal(t, d.pattern), d.content);
        return tokens;
      case Decode::Metaspace:
        for (std::size_t i = 0; i < tokens.size(); ++i)
          tokens[i] = replace_matches(tokens[i], find_literal(tokens[i], d.replacement), i == 0 && d.prepend ? "" : " ");
        return tokens;
    }
    return tokens;
  }

  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special) const {
    if (kind == Kind::Words) throw Error("tokenizer: the built-in word tokenizer cannot decode (word hashing is one-way)");
    if (kind == Kind::Builtin) {
      std::string out;
      for (auto id : ids) {
        if (id < 0 || id >= static_cast<std::int64_t>(id_to_token.size()))
          throw Error("tokenizer: id " + std::to_string(id) + " is outside the vocabulary");
        if (id >= kBuiltinOffset) out.push_back(static_cast<char>(id - kBuiltinOffset));
      }
      return valid_utf8(out);
    }
    // Ids without a token are left out, as HF's decode does (a model's embedding may be padded
    // beyond the tokenizer's vocabulary).
    std::vector<std::string> tokens;
    for (auto id : ids) {
      if (id < 0 || id >= static_cast<std::int64_t>(id_to_token.size()) || id_to_token[id].empty()) continue;
      const auto normalized = decoded_as.find(id);
      const std::string& token = normalized != decoded_as.end() ? normalized->second : id_to_token[id];
      if (skip_special && special_contents.count(token)) continue;  // by text, as HF
      tokens.push_back(token);
    }
    if (!decoder) {
      std::string out;
      for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
      return out;
    }
    for (const auto& d : *decoder) tokens = decode_chain(d, std::move(tokens));
    std::string out;
    for (const auto& t : tokens) out += t;
    return valid_utf8(out);
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

// A Split / Replace pattern: {"String": s} or {"Regex": r}.
void read_pattern(const json::Value& pattern, const std::string& where, std::string& literal,
                  std::shared_ptr<Regex>& regex) {
  if (const json::Value* r = pattern.find("Regex")) regex = std::make_shared<Regex>(r->as_string(), where);
  else if (const json::Value* s = pattern.find("String")) literal = s->as_string();
  else throw Error(where + ": pattern is neither {\"String\": ...} nor {\"Regex\": ...}");
}

void parse_normalizer(Impl& t, const json::Value& n, const std::string& where) {
  if (n.is_null()) return;
  const std::string type = n.get_string("type");
  const std::string here = where + ": normalizer " + type;
  Impl::Normalize step{};
  if (type == "Sequence") {
    for (const auto& s : n.at("normalizers").as_array()) parse_normalizer(t, s, where);
    return;
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.type = Impl::Normalize::Unicode;
    step.form = type;
  } else if (type == "Lowercase") {
    step.type = Impl::Normalize::Lowercase;
  } else if (type == "Strip") {
    step.type = Impl::Normalize::Strip;
    step.left = n.get_bool("strip_left", true);
    step.right = n.get_bool("strip_right", true);
  } else if (type == "StripAccents") {
    step.type = Impl::Normalize::StripAccents;
  } else if (type == "Prepend") {
    step.type = Impl::Normalize::Prepend;
    step.text = n.at("prepend").as_string();
  } else if (type == "Replace") {
    step.type = Impl::Normalize::Replace;
    read_pattern(n.at("pattern"), here, step.text, step.regex);
    step.content = n.at("content").as_string();
  } else {
    throw Error(where + ": normalizer \"" + type +
                "\" is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, Sequence)");
  }
  t.normalizer.push_back(std::move(step));
}

void parse_pre_tokenizer(Impl& t, const json::Value& p, const std::string& where) {
  if (p.is_null()) return;
  const std::string type = p.get_string("type");
  const std::string here = where + ": pre_tokenizer " + type;
  using Step = Impl::PreTokenize;
  auto split_on = [&](bool (*predicate)(std::uint32_t), Behavior behavior) {
    Step step;
    step.predicate = predicate;
    step.behavior = behavior;
    t.pre_tokenizer.push_back(std::move(step));
  };
  if (type == "Sequence") {
    for (const auto& s : p.at("pretokenizers").as_array()) parse_pre_tokenizer(t, s, where);
  } else if (type == "ByteLevel") {
    Step step;
    step.type = Step::ByteLevel;
    step.add_prefix_space = p.get_bool("add_prefix_space", true);
    if (p.get_bool("use_regex", true)) step.regex = std::make_shared<Regex>(kGpt2Pattern, here);
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "Split") {
    Step step;
    read_pattern(p.at("pattern"), here, step.literal, step.regex);
    step.behavior = behavior_named(p.at("behavior").as_string(), here);
    step.invert = p.get_bool("invert", false);
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "Metaspace") {
    Step step;
    step.type = Step::Metaspace;
    step.replacement = p.get_string("replacement", kMetaspace);
    if (step.replacement.empty() || utf8::sequence_length(static_cast<unsigned char>(step.replacement[0])) != step.replacement.size())
      throw Error(here + ": replacement must be one character");
    if (const json::Value* scheme = p.find("prepend_scheme"); scheme && !scheme->is_null()) {
      const std::string s = scheme->as_string();
      if (s == "always") step.prepend = Step::Prepend::Always;
      else if (s == "first") step.prepend = Step::Prepend::First;
      else if (s == "never") step.prepend = Step::Prepend::Never;
      else throw Error(here + ": prepend_scheme \"" + s + "\" is not one of always, first, never");
    } else {
      step.prepend = p.get_bool("add_prefix_space", true) ? Step::Prepend::Always : Step::Prepend::Never;
    }
    step.split = p.get_bool("split", true);
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "Digits") {
    split_on(is_numeric, p.get_bool("individual_digits", false) ? Behavior::Isolated : Behavior::Contiguous);
  } else if (type == "Punctuation") {
    split_on(is_punctuation, behavior_named(p.get_string("behavior", "Isolated"), here));
  } else if (type == "Whitespace") {
    Step step;
    step.regex = std::make_shared<Regex>(kWhitespacePattern, here);
    step.behavior = Behavior::Removed;
    step.invert = true;
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "WhitespaceSplit") {
    split_on(is_whitespace, Behavior::Removed);
  } else if (type == "BertPreTokenizer") {
    split_on(is_whitespace, Behavior::Removed);
    split_on(is_punctuation, Behavior::Isolated);
  } else if (type == "CharDelimiterSplit") {
    Step step;
    step.literal = p.at("delimiter").as_string();
    if (step.literal.empty() || utf8::sequence_length(static_cast<unsigned char>(step.literal[0])) != step.literal.size())
      throw Error(here + ": delimiter must be one character");
    step.behavior = Behavior::Removed;
    t.pre_tokenizer.push_back(std::move(step));
  } else if (type == "UnicodeScripts") {
    Step step;
    step.type = Step::UnicodeScripts;
    t.pre_tokenizer.push_back(std::move(step));
  } else {
    throw Error(where + ": pre_tokenizer \"" + type +
                "\" is not supported (ByteLevel, Split, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, "
                "BertPreTokenizer, CharDelimiterSplit, UnicodeScripts, Sequence)");
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
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    // <cls> $A <sep>; cls and sep are [token, id].
    t.template_prefix.push_back(p.at("cls").at(std::size_t{1}).as_int());
    t.template_suffix.push_back(p.at("sep").at(std::size_t{1}).as_int());
  } else {
    throw Error(where + ": post_processor \"" + type +
                "\" is not supported (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
  }
}

void parse_decoder(std::vector<Impl::Decode>& chain, const json::Value& d, const std::string& where) {
  const std::string type = d.get_string("type");
  const std::string here = where + ": decoder " + type;
  Impl::Decode step{};
  if (type == "Sequence") {
    for (const auto& s : d.at("decoders").as_array()) parse_decoder(chain, s, where);
    return;
  } else if (type == "ByteLevel") {
    step.type = Impl::Decode::ByteLevel;
  } else if (type == "ByteFallback") {
    step.type = Impl::Decode::ByteFallback;
  } else if (type == "Fuse") {
    step.type = Impl::Decode::Fuse;
  } else if (type == "Strip") {
    step.type = Impl::Decode::Strip;
    step.content = d.at("content").as_string();
    if (step.content.empty() || utf8::sequence_length(static_cast<unsigned char>(step.content[0])) != step.content.size())
      throw Error(here + ": content must be one character");
    step.start = d.get_int("start", 0);
    step.stop = d.get_int("stop", 0);
  } else if (type == "Replace") {
    step.type = Impl::Decode::Replace;
    read_pattern(d.at("pattern"), here, step.pattern, step.regex);
    step.content = d.at("content").as_string();
  } else if (type == "Metaspace") {
    step.type = Impl::Decode::Metaspace;
    step.replacement = d.get_string("replacement", kMetaspace);
    if (const json::Value* scheme = d.find("prepend_scheme"); scheme && !scheme->is_null())
      step.prepend = scheme->as_string() != "never";
    else
      step.prepend = d.get_bool("add_prefix_space", true);
  } else {
    throw Error(where + ": decoder \"" + type +
                "\" is not supported (ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence)");
  }
  chain.push_back(std::move(step));
}

void parse_model(Impl& t, const json::Value& model, const std::string& where) {
  // HF reads a model without "type" as the first kind its fields fit, BPE first (GPT-2's
  // original tokenizer.json has none); one with merges is BPE.
  const json::Value* type = model.find("type");
  if (type ? type->as_string() != "BPE" : !model.contains("merges"))
    throw Error(where + ": tokenizer model \"" + (type ? type->as_string() : std::string("without type or merges")) +
                "\" is not supported (BPE; Unigram, WordPiece and WordLevel are not)");
  if (const json::Value* dropout = model.find("dropout"); dropout && !dropout->is_null() && dropout->as_double() != 0.0)
    throw Error(where + ": model.dropout " + std::to_string(dropout->as_double()) +
                " is not supported (BPE dropout makes the ids random)");
  const auto& entries = model.at("vocab").as_object();
  const std::int64_t bound = std::min<std::int64_t>(kMaxId, static_cast<std::int64_t>(entries.size()) + kIdSlack);
  for (const auto& [token, id] : entries) {
    if (!id.is_int() || id.as_int() < 0 || id.as_int() >= bound)
      throw Error(where + ": model.vocab[\"" + valid_utf8(token) + "\"] is not an id in [0, " + std::to_string(bound) +
                  ") (the vocabulary has " + std::to_string(entries.size()) + " entries)");
    t.vocab[token] = id.as_int();
    t.set_token(token, id.as_int());
  }
  t.byte_fallback = model.get_bool("byte_fallback", false);
  t.fuse_unk = model.get_bool("fuse_unk", false);
  t.ignore_merges = model.get_bool("ignore_merges", false);
  t.continuing_subword_prefix = model.get_string("continuing_subword_prefix");
  t.end_of_word_suffix = model.get_string("end_of_word_suffix");
  if (const std::string unk = token_content(model.find("unk_token")); !unk.empty()) {
    if (t.model_id_of(unk) < 0) throw Error(where + ": model.unk_token \"" + unk + "\" is not in the vocabulary");
    t.unk_id = t.model_id_of(unk);
  }
  std::int32_t rank = 0;
  for (const auto& m : model.at("merges").as_array()) {
    std::string a, b;
    if (m.is_string()) {
      const std::string& s = m.as_string();
      const auto space = s.find(' ');
      if (space == std::string::npos) throw Error(where + ": model.merges[" + std::to_string(rank) + "] \"" + s + "\" has no space");
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2) {
      a = m.at(std::size_t{0}).as_string();
      b = m.at(std::size_t{1}).as_string();
    } else {
      throw Error(where + ": model.merges[" + std::to_string(rank) + "] is neither \"a b\" nor [a, b]");
    }
    // The merged token drops the continuing-subword prefix's length from b (BpeBuilder::build).
    const std::size_t prefix = t.continuing_subword_prefix.size();
    if (b.size() < prefix)
      throw Error(where + ": model.merges[" + std::to_string(rank) + "] \"" + a + " " + b +
                  "\" is shorter than continuing_subword_prefix");
    const auto ia = t.model_id_of(a), ib = t.model_id_of(b), im = t.model_id_of(a + b.substr(prefix));
    if (ia < 0 || ib < 0 || im < 0)
      throw Error(where + ": model.merges[" + std::to_string(rank) + "] \"" + a + " " + b +
                  "\" uses tokens missing from the vocabulary");
    // A repeated pair takes its last rank, as HF's map collected from the list does.
    t.merges.insert_or_assign(Impl::merge_key(ia, ib), Impl::Merge{rank++, static_cast<std::int32_t>(im)});
  }
}

// added_tokens, given the ids HF gives them (AddedVocabulary::add_tokens: the model's id of the
// same content, else the next id after the vocabulary and the tokens added so far). HF ignores
// the file's id and warns; w2s refuses a file whose ids disagree, as the model was trained on them.
void parse_added_tokens(Impl& t, const json::Value& list, const std::string& where) {
  const auto model_size = static_cast<std::int64_t>(t.vocab.size());
  std::vector<Impl::Added> special, classic;  // in the order given
  std::optional<std::int64_t> max_added;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json::Value& a = list.at(i);
    const std::string key = "added_tokens[" + std::to_string(i) + "]";
    Impl::Added token;
    token.content = a.at("content").as_string();
    token.special = a.get_bool("special", false);
    token.single_word = a.get_bool("single_word", false);
    token.lstrip = a.get_bool("lstrip", false);
    token.rstrip = a.get_bool("rstrip", false);
    token.normalized = a.get_bool("normalized", !token.special);
    if (token.content.empty()) throw Error(where + ": " + key + ".content is empty");
    const json::Value& file_id = a.at("id");
    if (token.special && t.special_contents.insert(token.content).second) special.push_back(token);
    // An entry equal to one added before is ignored (its content can only have that one id).
    const auto same = t.added_ids.find(token.content);
    if (same == t.added_ids.end() || !(t.added_by_id.at(same->second) == token)) {
      std::int64_t id = t.id_of(token.content);
      if (id < 0) id = !max_added ? model_size : (*max_added >= model_size || model_size == 0 ? *max_added + 1 : model_size);
      t.added_ids[token.content] = id;
      t.added_by_id[id] = token;
      max_added = std::max(max_added.value_or(id), id);
      t.set_token(token.content, id);
      if (!t.special_contents.count(token.content)) classic.push_back(token);
    }
    const std::int64_t assigned = t.id_of(token.content);
    if (!file_id.is_int() || file_id.as_int() != assigned)
      throw Error(where + ": " + key + ".id " + json::dump(file_id) + " of \"" + valid_utf8(token.content) +
                  "\" is not the id Hugging Face tokenizers gives it (" + std::to_string(assigned) +
                  ": the model's id of that text, else the next one after the vocabulary and earlier added tokens)");
  }
  // Two automata: tokens matched on the raw text and, by their normalized text, on the
  // normalized text.
  std::vector<std::string> raw, normalized;
  for (const auto* group : {&special, &classic}) {
    for (const auto& token : *group) {
      if (token.normalized) {
        normalized.push_back(t.normalize(token.content));
        t.normalized_ids.push_back(t.id_of(token.content));
        if (normalized.back() != token.content) t.decoded_as[t.normalized_ids.back()] = normalized.back();
      } else {
        raw.push_back(token.content);
        t.raw_ids.push_back(t.id_of(token.content));
      }
    }
  }
  t.raw_matcher.emplace(raw);
  t.normalized_matcher.emplace(normalized);
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
    parse_model(*t, root.at("model"), where);
    if (const json::Value* n = root.find("normalizer")) parse_normalizer(*t, *n, where);
    static const json::Value kNone = json::Value::array();
    const json::Value* added = root.find("added_tokens");
    parse_added_tokens(*t, added && !added->is_null() ? *added : kNone, where);
    if (const json::Value* p = root.find("pre_tokenizer")) parse_pre_tokenizer(*t, *p, where);
    if (const json::Value* p = root.find("post_processor")) parse_post_processor(*t, *p, where);
    for (auto id : t->template_prefix)
      if (id < 0 || id >= static_cast<std::int64_t>(t->id_to_token.size()))
        throw Error(where + ": post_processor adds id " + std::to_string(id) + ", which has no token");
    for (auto id : t->template_suffix)
      if (id < 0 || id >= static_cast<std::int64_t>(t->id_to_token.size()))
        throw Error(where + ": post_processor adds id " + std::to_string(id) + ", which has no token");
    if (const json::Value* d = root.find("decoder"); d && !d->is_null()) {
      t->decoder.emplace();
      parse_decoder(*t->decoder, *d, where);
    }
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
  t->set_token("<pad>", 0);
  t->set_token("<s>", 1);
  t->set_token("</s>", 2);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    if (b > ' ' && b < 0x7f) {
      name[0] = static_cast<char>(b);
      name[1] = 0;
    } else {
      std::snprintf(name, sizeof name, "<0x%02X>", b);
    }
    t->set_token(name, b + kBuiltinOffset);
  }
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
  t->set_token("<pad>", 0);
  t->set_token("<s>", 1);
  t->set_token("</s>", 2);
  for (std::int64_t id = kBuiltinOffset; id < vocab_size; ++id) t->set_token("<word:" + std::to_string(id) + ">", id);
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
    case Impl::Kind::Json:
      for (const auto& step : impl_->pre_tokenizer)
        if (step.type == Impl::PreTokenize::ByteLevel) return "byte-level BPE";
      return impl_->byte_fallback ? "BPE with byte fallback" : "BPE";
    case Impl::Kind::Builtin: return "built-in bytes";
    case Impl::Kind::Words: return "built-in hashed words";
  }
  return "?";
}

std::optional<std::int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<std::int64_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<std::int64_t> Tokenizer::pad_id() const { return impl_->pad; }

}  // namespace w2s::model
