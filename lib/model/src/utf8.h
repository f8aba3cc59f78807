// UTF-8 helpers of the tokenizer (internal header); making bytes valid UTF-8 is
// w2s::valid_utf8 (w2s/utf8.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace w2s::model::utf8 {

// Length of the sequence a lead byte announces (1 for ASCII, continuation and invalid bytes).
inline std::size_t sequence_length(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF7) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC0) return 2;
  return 1;
}

inline std::string encode(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// Decodes the code point at s[i] (valid UTF-8 assumed, else the byte itself); returns its length.
inline std::size_t decode_one(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const unsigned char lead = static_cast<unsigned char>(s[i]);
  std::size_t n = sequence_length(lead);
  if (i + n > s.size()) n = 1;
  if (n == 1) {
    cp = lead;
    return 1;
  }
  cp = lead & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return n;
}

}  // namespace w2s::model::utf8
