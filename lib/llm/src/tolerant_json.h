// Tolerant reading of a response body that a strict JSON parser rejects. Servers send, in a 200
// that was billed: a byte-order mark; keep-alive whitespace or SSE comment lines
// (": OPENROUTER PROCESSING") before the JSON; an SSE "data: " prefix; JavaScript comments;
// Python's NaN / Infinity / -Infinity; bytes after the JSON value (a second object, an HTML
// error page, NULs). Each of these is repaired; a body cut off before its JSON value ends is not
// (its answer may be cut off too).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "w2s/core.h"

namespace w2s::llm {

struct TolerantRead {
  json::Value value;
  std::vector<std::string> repairs;  // what was repaired, for the log ("byte-order mark", ...)
};

// nullopt when no JSON value can be recovered (empty, truncated, or still invalid after repair).
std::optional<TolerantRead> read_json_tolerantly(std::string_view text);

}  // namespace w2s::llm
