#include "row_attention.h"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace w2s::model {
namespace {

// Reductions keep one partial per lane, so the compiler vectorizes them without being allowed to
// reorder float sums (-ffast-math), which would also drop its handling of NaN.
constexpr std::int64_t kLanes = 16;

// e^x for x <= 0 (a score minus its row's maximum), written so that a loop of it vectorizes:
// Cephes' expf (range reduction by ln 2 split in two, a degree-7 polynomial, 2^n put into the
// exponent bits; within 1 ulp of e^x at every float in [-87, 0]), and exactly 0 below e^-87,
// where float32 runs out of normal numbers (a masked key's weight, 0 as in ATen's softmax); NaN
// for NaN.
inline float exp_nonpositive(float x) {
  constexpr float kCutoff = -87.0f;
  // Clamped into [cutoff, 0] (a NaN to the cutoff), so the integer conversion below is defined.
  const float clamped = x >= kCutoff ? (x > 0.0f ? 0.0f : x) : kCutoff;
  const float n = __builtin_floorf(clamped * 1.44269504088896341f + 0.5f);
  float r = clamped - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float two_to_n = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  const float below_or_nan = x != x ? x : 0.0f;  // a NaN stays NaN
  return x >= kCutoff ? p * two_to_n : below_or_nan;
}

// scores[j] = q . keys[:, j] for the `count` keys of `block`.
inline void dot_keys(const float* __restrict q, std::int64_t head_dim, const TransposedKeys& block,
                     float* __restrict scores) {
  const float* __restrict k = block.keys;
  const std::int64_t n = block.count;
  for (std::int64_t j = 0; j < n; ++j) scores[j] = q[0] * k[j];
  for (std::int64_t c = 1; c < head_dim; ++c) {
    const float qc = q[c];
    const float* __restrict kc = k + c * n;
    for (std::int64_t j = 0; j < n; ++j) scores[j] += qc * kc[j];
  }
}

// out[c] += weights . values[c, :] for the `count` values of `block`.
inline void add_weighted_values(const float* __restrict weights, std::int64_t head_dim, const TransposedKeys& block,
                                float* __restrict out) {
  const std::int64_t n = block.count, whole = n - n % kLanes;
  for (std::int64_t c = 0; c < head_dim; ++c) {
    const float* __restrict v = block.values + c * n;
    float partial[kLanes] = {};
    for (std::int64_t j = 0; j < whole; j += kLanes)
      for (std::int64_t l = 0; l < kLanes; ++l) partial[l] += weights[j + l] * v[j + l];
    float sum = 0.0f;
    for (std::int64_t j = whole; j < n; ++j) sum += weights[j] * v[j];
    for (std::int64_t l = 0; l < kLanes; ++l) sum += partial[l];
    out[c] += sum;
  }
}

}  // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// One build runs on any x86-64 and uses the widest vectors the machine has.
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
#endif
void attend_rows(const float* queries, std::int64_t rows, std::int64_t head_dim, TransposedKeys prefix,
                 TransposedKeys own, const float* mask, std::int64_t mask_rows, std::int64_t open_keys, float* out,
                 float* scratch) {
  const std::int64_t keys = prefix.count + own.count, whole = keys - keys % kLanes;
  float* __restrict s = scratch;
  for (std::int64_t i = 0; i < rows; ++i) {
    dot_keys(queries + i * head_dim, head_dim, prefix, s);
    dot_keys(queries + i * head_dim, head_dim, own, s + prefix.count);
    const float* __restrict mask_row = mask + (i % mask_rows) * keys;
    for (std::int64_t j = open_keys; j < keys; ++j) s[j] += mask_row[j];

    float lane_max[kLanes];
    std::fill(lane_max, lane_max + kLanes, s[0]);
    for (std::int64_t j = 0; j < whole; j += kLanes)
      for (std::int64_t l = 0; l < kLanes; ++l) lane_max[l] = s[j + l] > lane_max[l] ? s[j + l] : lane_max[l];
    float row_max = lane_max[0];
    for (std::int64_t j = whole; j < keys; ++j) row_max = s[j] > row_max ? s[j] : row_max;
    for (std::int64_t l = 0; l < kLanes; ++l) row_max = lane_max[l] > row_max ? lane_max[l] : row_max;

    float lane_sum[kLanes] = {};
    for (std::int64_t j = 0; j < whole; j += kLanes)
      for (std::int64_t l = 0; l < kLanes; ++l) {
        s[j + l] = exp_nonpositive(s[j + l] - row_max);
        lane_sum[l] += s[j + l];
      }
    float sum = 0.0f;
    for (std::int64_t j = whole; j < keys; ++j) {
      s[j] = exp_nonpositive(s[j] - row_max);
      sum += s[j];
    }
    for (std::int64_t l = 0; l < kLanes; ++l) sum += lane_sum[l];

    float* __restrict o = out + i * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    add_weighted_values(s, head_dim, prefix, o);
    add_weighted_values(s + prefix.count, head_dim, own, o);
    const float inverse = 1.0f / sum;
    for (std::int64_t c = 0; c < head_dim; ++c) o[c] *= inverse;
  }
}

}  // namespace w2s::model
