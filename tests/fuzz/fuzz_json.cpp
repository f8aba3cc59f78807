// The one JSON reader (simdjson underneath) and writer of lib/core: what parses is written back and
// re-read to the same value, and the writer's text is the same for the same value.
#include "fuzz_target.h"
#include "w2s/core.h"

W2S_FUZZ_TARGET(json) {
  const w2s::json::Value value = w2s::json::parse(input);
  const std::string text = w2s::json::dump(value);
  const w2s::json::Value again = w2s::json::parse(text);
  W2S_FUZZ_CHECK(again == value);
  W2S_FUZZ_CHECK(w2s::json::dump(again) == text);
  W2S_FUZZ_CHECK(w2s::json::parse(w2s::json::dump(value, 2)) == value);
}
