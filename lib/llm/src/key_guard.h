// The key guard: GET /key (OpenRouter, and servers that speak its protocol) before a batch and
// again every N billed requests during it. Other runs on the same key spend from the same limit,
// so a long batch re-reads what is left and stops dispatching (or warns, per --key-check) when
// the worst case of what is still to send no longer fits.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "http.h"
#include "w2s/llm.h"

namespace w2s::llm {

class KeyGuard {
 public:
  KeyGuard(const http::Endpoint& endpoint, KeyCheck mode, int recheck_every);

  // GET /key; nullopt when the endpoint does not serve it (then it is not asked again). Throws
  // w2s::Error on 401.
  std::optional<KeyInfo> key_info();

  // Before a batch: when the key's remaining limit is below `worst_usd`, throws (stop) or warns.
  // The estimate is computed only when the check will be made.
  void check_before_batch(const std::function<double()>& worst_usd);

  // During a batch. start_batch() resets the count of billed requests; count_billed() adds one.
  void start_batch() { billed_since_check_ = 0; }
  void count_billed() { ++billed_since_check_; }
  // When a re-check is due, GET /key again. Returns why dispatching must stop ("" to go on).
  // `still_open` gives the worst case (USD) and number of requests queued, waiting or in flight.
  std::string recheck_if_due(const std::function<std::pair<double, std::size_t>()>& still_open);

  // Whether the endpoint speaks OpenRouter's protocol: openrouter.ai, or a server that answers
  // GET /key (asked at most once).
  bool speaks_openrouter();

 private:
  const http::Endpoint& endpoint_;
  KeyCheck mode_;
  int recheck_every_;
  std::optional<bool> has_key_endpoint_;
  int billed_since_check_ = 0;
  bool warned_ = false;
};

}  // namespace w2s::llm
