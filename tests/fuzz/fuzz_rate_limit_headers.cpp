// Rate-limit headers of a 429 / 503: "name: value" lines, every form servers send. Whatever the
// headers say, the wait is a finite number of seconds, never negative.
#include <cmath>

#include "fuzz_target.h"
#include "rate_limit_headers.h"
#include "w2s/core.h"

namespace retry = w2s::llm::retry;

W2S_FUZZ_TARGET(rate_limit_headers) {
  const std::time_t now = 1764431675;  // a fixed clock: the same input always takes the same path
  retry::HeaderMap headers;
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      std::string name = w2s::ascii_lower(std::string(line.substr(0, colon)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      retry::is_rate_limit_header(name);
      headers[name] = std::string(value);
    }
    start = end + 1;
  }
  if (const auto wait = retry::server_wait(headers, now))
    W2S_FUZZ_CHECK(std::isfinite(wait->seconds) && wait->seconds >= 0);
  for (const auto& [name, value] : headers) {
    if (const auto s = retry::parse_retry_after(value, now)) W2S_FUZZ_CHECK(std::isfinite(*s) && *s >= 0);
    std::string form;
    if (const auto s = retry::parse_reset(value, now, &form)) W2S_FUZZ_CHECK(std::isfinite(*s) && *s >= 0);
    if (const auto s = retry::parse_duration(value)) W2S_FUZZ_CHECK(std::isfinite(*s) && *s >= 0);
  }
}
