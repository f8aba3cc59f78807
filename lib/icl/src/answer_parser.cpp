// Answer parsers. `reference` is the reference's extract_answer_letter (docs/reference-behaviour.md §7)
// bit for bit; `strict` accepts only an option letter of the item in a few unambiguous forms.
//
// Python's `re` on str patterns is Unicode-aware: \s is str.isspace(), \w is str.isalnum() or
// "_", and strip() removes str.isspace() characters. PCRE2 in UTF + UCP mode gives the same \w
// (\p{L}, \p{N}, "_") and so the same \b; its \s differs from Python's on U+001C..U+001F, so the
// patterns spell Python's whitespace set out as kPySpace.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "w2s/icl.h"
#include "w2s/utf8.h"

namespace w2s::icl {
namespace {

// Exactly the characters for which Python 3.11's str.isspace() is true.
#define W2S_PY_SPACE \
  "[\\t\\n\\x{0b}\\f\\r\\x{1c}-\\x{1f} \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"

class Regex {
 public:
  explicit Regex(const char* pattern, uint32_t extra_options = 0) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | extra_options, &error, &offset, nullptr));
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw Error(std::string("answer parser: bad pattern at offset ") + std::to_string(offset) + ": " +
                  reinterpret_cast<const char*>(message));
    }
  }

  // Leftmost match in `text`; returns false when there is none. `groups` receives the capture
  // groups 0..n (unset groups as empty optionals).
  bool search(std::string_view text, std::vector<std::optional<std::string_view>>* groups = nullptr) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), &pcre2_match_data_free);
    // Input is valid UTF-8 (made so by valid_utf8), so the per-call check can be skipped.
    int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                         PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) throw Error("answer parser: PCRE2 match error " + std::to_string(rc));
    if (groups) {
      uint32_t count = pcre2_get_ovector_count(match.get());
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
      groups->assign(count, std::nullopt);
      for (uint32_t i = 0; i < count && static_cast<int>(i) < rc; ++i)
        if (ov[2 * i] != PCRE2_UNSET) (*groups)[i] = text.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    }
    return true;
  }

 private:
  std::unique_ptr<pcre2_code, decltype(&pcre2_code_free)> code_{nullptr, &pcre2_code_free};
};

std::string_view py_strip(std::string_view text) {
  static const Regex strip("\\A" W2S_PY_SPACE "*+(.*?)" W2S_PY_SPACE "*+\\z", PCRE2_DOTALL);
  std::vector<std::optional<std::string_view>> g;
  strip.search(text, &g);
  return g[1].value_or(std::string_view{});
}

}  // namespace

const options::NameTable<ParserKind>& names_of(ParserKind) {
  static const options::NameTable<ParserKind> names{
      "parser", {{ParserKind::Strict, "strict"}, {ParserKind::Reference, "reference"}}};
  return names;
}

std::string parse_answer_reference(std::string_view completion) {
  static const Regex rule1("(?:answer|Answer|ANSWER)(?:" W2S_PY_SPACE "+is)?(?:" W2S_PY_SPACE
                           "*:)?" W2S_PY_SPACE "*([A-Z])");
  static const Regex rule2("^([A-Z])(?:\\)|\\.|" W2S_PY_SPACE "|$)");
  static const Regex rule3("\\b([A-Z])\\)(?:" W2S_PY_SPACE "|$)");
  static const Regex rule5("\\p{Lu}");

  // Completions arrive as JSON strings and so are valid UTF-8; anything else is made valid
  // (U+FFFD for invalid bytes), so the parsers never fail on bytes.
  const std::string valid = valid_utf8(completion);
  const std::string_view text = py_strip(valid);
  std::vector<std::optional<std::string_view>> g;
  for (const Regex* rule : {&rule1, &rule2, &rule3})
    if (rule->search(text, &g)) return std::string(*g[1]);
  // Rule 4 (one character, isalpha() and isupper()) returns what rule 5 would.
  if (rule5.search(text, &g)) return std::string(*g[0]);
  return "";
}

std::string parse_answer_strict(std::string_view completion, const std::vector<std::string>& letters) {
  static const Regex form(
      "\\A(?<phrase>(?:\\*\\*|__)?(?i:(?:the\\s+)?(?:(?:correct|best|final|right)\\s+)?answer(?:\\s+is)?)"
      "(?:\\*\\*|__)?\\s*:?(?:\\*\\*|__)?\\s*)?"
      "(?<open>\\*\\*|\\*|__|`)?"
      "(?:\\((?<paren>[A-Z])\\)|(?<letter>[A-Z])(?<punct>[).:])?)"
      "(?(<open>)\\k<open>)"
      "(?<rest>.*)\\z",
      PCRE2_DOTALL);
  // What may follow the letter token: nothing, or a full stop, then the end or a new line.
  static const Regex ends_line("\\A[.!]?[^\\S\\n]*(?:\\n|\\z)");
  // Text after a space on the same line.
  static const Regex same_line_text("\\A[.!]?[^\\S\\n]+\\S");

  const std::string valid = valid_utf8(completion);
  const std::string_view text = py_strip(valid);
  std::vector<std::optional<std::string_view>> g(8);
  if (!form.search(text, &g)) return "";
  // Group numbers follow the pattern: 1 phrase, 2 open, 3 paren, 4 letter, 5 punct, 6 rest.
  const bool phrase = g[1].has_value();
  const bool punctuated = g[3].has_value() || g[5].has_value();
  const std::string letter(g[3] ? *g[3] : *g[4]);
  const std::string_view rest = g[6].value_or(std::string_view{});
  const bool ok = ends_line.search(rest) || ((phrase || punctuated) && same_line_text.search(rest));
  if (!ok) return "";
  for (const auto& l : letters)
    if (l == letter) return letter;
  return "";
}

std::string parse_answer(ParserKind parser, std::string_view completion, const std::vector<std::string>& letters) {
  return parser == ParserKind::Strict ? parse_answer_strict(completion, letters)
                                      : parse_answer_reference(completion);
}

}  // namespace w2s::icl
