// Response bodies of an OpenAI-compatible server: strict JSON, then the tolerant reader that repairs
// what servers send in billed 200s (BOM, SSE prefixes, comments, NaN, trailing bytes), then the
// completion, usage and cost, and /models price lists read from whatever came out.
#include <optional>

#include "fuzz_target.h"
#include "internal.h"
#include "tolerant_json.h"
#include "w2s/core.h"

namespace {
void read_as_server_body(const w2s::json::Value& body) {
  w2s::llm::Completion completion;
  try {
    w2s::llm::detail::parse_completion(body, completion);
  } catch (const w2s::Error&) {
  }
  try {
    w2s::llm::detail::parse_models(body);
    w2s::llm::detail::parse_model_ids(body);
  } catch (const w2s::Error&) {
  }
}
}  // namespace

W2S_FUZZ_TARGET(response_body) {
  std::optional<w2s::json::Value> strict;
  try {
    strict = w2s::json::parse(input);
  } catch (const w2s::Error&) {
  }
  if (strict) read_as_server_body(*strict);
  const auto tolerant = w2s::llm::read_json_tolerantly(input);
  // A body the strict parser reads as an object or array (a body's shape), the tolerant reader reads
  // too, to the same value and without repairs.
  if (strict && (strict->is_object() || strict->is_array()))
    W2S_FUZZ_CHECK(tolerant && tolerant->repairs.empty() && tolerant->value == *strict);
  if (tolerant) read_as_server_body(tolerant->value);
}
