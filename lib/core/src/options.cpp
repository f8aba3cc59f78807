// Command-line text → values for the options field lists (w2s/options.h).
#include "w2s/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace w2s::options {

bool parse_bool(std::string_view text) {
  for (const char* yes : {"true", "1", "yes", "on"})
    if (text == yes) return true;
  for (const char* no : {"false", "0", "no", "off"})
    if (text == no) return false;
  throw Error(fmt::format("expected true or false, got '{}'", text));
}

std::int64_t parse_integer(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE) throw Error(fmt::format("expected an integer, got '{}'", text));
  return v;
}

double parse_number(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw Error(fmt::format("expected a number, got '{}'", text));
  return v;
}

}  // namespace w2s::options
