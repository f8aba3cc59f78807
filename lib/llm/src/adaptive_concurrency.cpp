#include "adaptive_concurrency.h"

#include <algorithm>

namespace w2s::llm {

AdaptiveConcurrency::AdaptiveConcurrency(int min_window, int max_window, bool enabled, double calm_s)
    : min_(std::clamp(min_window, 1, std::max(1, max_window))),
      max_(std::max(1, max_window)),
      enabled_(enabled),
      calm_s_(calm_s),
      window_(max_) {}

void AdaptiveConcurrency::on_congestion(double now_s) {
  if (!enabled_) return;
  successes_since_raise_ = 0;
  if (now_s - last_halving_s_ < calm_s_) return;
  last_halving_s_ = now_s;
  window_ = std::max(min_, window_ / 2);
}

void AdaptiveConcurrency::on_success() {
  if (!enabled_ || window_ >= max_) return;
  if (++successes_since_raise_ >= kSuccessesPerStep) {
    successes_since_raise_ = 0;
    window_ = std::min(max_, window_ + 1);
  }
}

}  // namespace w2s::llm
