// w2s UTF-8: text that w2s writes (JSON files, console output of model text) is valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace w2s {

// `bytes` with each maximal invalid UTF-8 subsequence (a cut multi-byte character, a stray
// Latin-1 byte, an overlong form, a surrogate) replaced by U+FFFD, as WHATWG's decoder, Python's
// errors="replace" and Rust's String::from_utf8_lossy do; valid text comes back unchanged. The
// JSON writer (json::dump) passes every string and key through it.
std::string valid_utf8(std::string_view bytes);

}  // namespace w2s
