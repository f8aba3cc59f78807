// A chat completion that arrived as a server-sent event stream although the request said
// "stream": false (some gateways stream whatever they are asked): `data: {chunk}` lines with
// `choices[0].delta`, comment lines (`: OPENROUTER PROCESSING`) and `event:` / `id:` lines between
// them, `data: [DONE]` at the end, usage (with cost) in the last chunk (docs/openrouter-client.md,
// "Response shapes").
#pragma once

#include <optional>
#include <string_view>

#include "w2s/core.h"

namespace w2s::llm {

// Whether the body is an event stream: its first line that is not blank or a comment starts with
// "data:" and it holds more than one data line (one alone is a body with an SSE prefix, which the
// tolerant reader takes).
bool is_event_stream(std::string_view body);

// The chunks put together into the body of a chat.completion: id, model, provider, created and
// usage from the chunks; one choice whose message holds the concatenated delta content,
// reasoning and refusal, whose logprobs.content holds every chunk's tokens and whose
// finish_reason (and error) is the last one sent. A top-level "error" in any chunk (an error
// after streaming started) is kept as the body's "error". nullopt when a data line is not JSON,
// no chunk has choices or an error, or the stream was cut off (no finish_reason, [DONE] or error).
std::optional<json::Value> assemble_event_stream(std::string_view body);

}  // namespace w2s::llm
