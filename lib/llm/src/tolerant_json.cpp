#include "tolerant_json.h"

#include <algorithm>
#include <cctype>

namespace w2s::llm {
namespace {

void note(std::vector<std::string>& repairs, const char* what) {
  if (std::find(repairs.begin(), repairs.end(), what) == repairs.end()) repairs.push_back(what);
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Skips what may come before the JSON value: a BOM, whitespace, SSE comment lines, "data:".
std::string_view skip_preamble(std::string_view text, std::vector<std::string>& repairs) {
  if (starts_with(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);
    note(repairs, "byte-order mark");
  }
  for (;;) {
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    text.remove_prefix(first);
    if (text.front() == ':') {  // an SSE comment line (keep-alive)
      const std::size_t eol = text.find('\n');
      text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
      note(repairs, "keep-alive comment lines before the JSON");
    } else if (starts_with(text, "//") || starts_with(text, "/*")) {
      const bool line = text[1] == '/';
      const std::size_t end = line ? text.find('\n') : text.find("*/");
      if (end == std::string_view::npos) return {};
      text.remove_prefix(line ? end + 1 : end + 2);
      note(repairs, "comments");
    } else if (starts_with(text, "data:")) {
      text.remove_prefix(5);
      note(repairs, "SSE \"data:\" prefix");
    } else {
      return text;
    }
  }
}

// Bare words a JSON value may not hold but Python's json.dumps writes.
struct NonFinite {
  std::string_view word;
  std::string_view json;
};
constexpr NonFinite kNonFinite[] = {
    {"-Infinity", "-1e308"}, {"Infinity", "1e308"}, {"-NaN", "null"}, {"NaN", "null"}};

}  // namespace

std::optional<TolerantRead> read_json_tolerantly(std::string_view text) {
  TolerantRead out;
  text = skip_preamble(text, out.repairs);
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return std::nullopt;

  // Copy the first JSON value, dropping comments and replacing non-finite numbers, up to the
  // bracket that closes it.
  std::string clean;
  clean.reserve(text.size());
  std::vector<char> open;
  bool in_string = false;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      clean += c;
      if (c == '\\' && i + 1 < text.size()) clean += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      clean += c;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && (text[i + 1] == '/' || text[i + 1] == '*')) {
      const bool line = text[i + 1] == '/';
      const std::size_t end = line ? text.find('\n', i) : text.find("*/", i + 2);
      if (end == std::string_view::npos && !line) return std::nullopt;
      i = end == std::string_view::npos ? text.size() - 1 : (line ? end : end + 1);
      clean += ' ';
      note(out.repairs, "comments");
      continue;
    }
    bool replaced = false;
    for (const auto& nf : kNonFinite) {
      if (text.substr(i, nf.word.size()) != nf.word) continue;
      clean += nf.json;
      i += nf.word.size() - 1;
      replaced = true;
      note(out.repairs, "NaN / Infinity");
      break;
    }
    if (replaced) continue;
    clean += c;
    if (c == '{' || c == '[') open.push_back(c == '{' ? '}' : ']');
    if (c == '}' || c == ']') {
      if (open.empty() || open.back() != c) return std::nullopt;
      open.pop_back();
      if (open.empty()) break;
    }
  }
  if (!open.empty() || i >= text.size()) return std::nullopt;  // cut off before the value ended
  const std::string_view rest = text.substr(i + 1);
  if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos) note(out.repairs, "bytes after the JSON value");
  try {
    out.value = json::parse(clean, "response");
  } catch (const Error&) {
    return std::nullopt;
  }
  return out;
}

}  // namespace w2s::llm
