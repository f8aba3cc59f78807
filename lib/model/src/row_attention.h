// A fused CPU attention kernel for queries one row at a time (internal to lib/model; no torch).
#pragma once

#include <cstdint>

namespace w2s::model {

// One key/value head's keys and values, each transposed to [head_dim, count]: a query's scores
// against consecutive keys, and a value coordinate across them, are contiguous.
struct TransposedKeys {
  const float* keys = nullptr;
  const float* values = nullptr;
  std::int64_t count = 0;
};

// For each of `rows` queries [rows, head_dim] (the scale folded in): softmax over the keys of
// `prefix` then of `own` of (q . k + mask), times their values, into out [rows, head_dim].
// The mask row of query i is mask + (i % mask_rows) * (prefix.count + own.count), added to the
// keys from `open_keys` on (the keys before it are open to every query). `scratch` holds
// prefix.count + own.count floats. Float32 throughout, softmax with its row maximum subtracted as
// ATen's is; a NaN query or key makes its row NaN.
void attend_rows(const float* queries, std::int64_t rows, std::int64_t head_dim, TransposedKeys prefix,
                 TransposedKeys own, const float* mask, std::int64_t mask_rows, std::int64_t open_keys, float* out,
                 float* scratch);

}  // namespace w2s::model
