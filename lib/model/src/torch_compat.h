// What differs between the libtorch versions w2s builds with: Debian 12's 1.13 and current
// Debian's 2.x. Everything version-dependent lives here (internal to lib/model; includes torch).
#pragma once

#include <torch/torch.h>

#include <limits>
#include <optional>

namespace w2s::model::compat {

// The lowest finite value of a half-precision dtype (float32's otherwise).
inline double lowest_finite(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case torch::kFloat16: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

// softmax(q k^T * scale + mask) v by libtorch's fused kernel (scaled_dot_product_attention: flash
// or memory-efficient kernels on CUDA, a blocked one on CPU; softmax accumulated in float32 for
// half-precision inputs), for q [B, H, T, D], k and v [B, KV, S, D] with H a multiple of KV (each
// key/value head serving H / KV query heads, without copies), and the additive float32 mask
// [B, 1, T, S]. Returns [B, H, T, D], or nullopt where this libtorch has no such kernel (1.x):
// the caller computes it by hand.
inline std::optional<torch::Tensor> fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                    const torch::Tensor& v, const torch::Tensor& mask, double scale) {
#if TORCH_VERSION_MAJOR >= 2
  // The mask in the queries' dtype, kept finite: a row without any key left (a pad query) must not
  // turn NaN, since its keys and values are read, with weight 0, by the later tokens.
  // (float32's lowest is finite in float64 too; only half precision needs the clamp).
  const torch::Tensor bias =
      mask.scalar_type() == q.scalar_type() ? mask : mask.clamp_min(lowest_finite(q.scalar_type())).to(q.scalar_type());
  return at::scaled_dot_product_attention(q, k, v, bias, 0.0, false, scale, q.size(1) != k.size(1));
#else
  (void)q, (void)k, (void)v, (void)mask, (void)scale;
  return std::nullopt;
#endif
}

}  // namespace w2s::model::compat
