#include "w2s/utf8.h"

namespace w2s {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid there; then `prefix` is
// the length of the maximal subpart to replace (the WHATWG decoder's rule).
std::size_t valid_sequence(std::string_view s, std::size_t i, std::size_t& prefix) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = byte(0);
  prefix = 1;
  if (lead < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const unsigned char c = byte(k);
    if (c < lo || c > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
    prefix = k + 1;
  }
  return need + 1;
}

}  // namespace

std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t prefix = 0;
    if (const std::size_t n = valid_sequence(bytes, i, prefix); n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += prefix;
    }
  }
  return out;
}

}  // namespace w2s
