// Response bodies of an OpenAI-compatible server: strict JSON, then the tolerant reader that repairs
// what servers send in billed 200s (BOM, SSE prefixes, comments, NaN, trailing bytes), then the
// completion, usage and cost, and /models price lists read from whatever came out.
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
  bool strict = true;
  try {
    read_as_server_body(w2s::json::parse(input));
  } catch (const w2s::Error&) {
    strict = false;
  }
  const auto tolerant = w2s::llm::read_json_tolerantly(input);
  // What the strict parser reads, the tolerant reader reads too, without repairs.
  if (strict) W2S_FUZZ_CHECK(tolerant && tolerant->repairs.empty());
  if (tolerant) read_as_server_body(tolerant->value);
}
