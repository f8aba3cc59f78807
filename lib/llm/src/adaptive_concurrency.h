// Adaptive concurrency (AIMD, as inspect_ai's --adaptive-connections): the window of requests in
// flight starts at the maximum, halves on a rate limit (429) or the in-flight spending 402 (at
// most once per `calm_s`, so that one burst of 429s halves it once), never goes below the
// minimum, and grows by one per 50 successes back to the maximum.
#pragma once

#include <cstddef>

namespace w2s::llm {

class AdaptiveConcurrency {
 public:
  static constexpr int kSuccessesPerStep = 50;

  // enabled = false: the window stays at max_window.
  AdaptiveConcurrency(int min_window, int max_window, bool enabled, double calm_s);

  std::size_t window() const { return static_cast<std::size_t>(window_); }
  void on_congestion(double now_s);
  void on_success();

 private:
  int min_;
  int max_;
  bool enabled_;
  double calm_s_;
  int window_;
  int successes_since_raise_ = 0;
  double last_halving_s_ = -1e9;
};

}  // namespace w2s::llm
