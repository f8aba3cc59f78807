// Incremental decoding through the KV cache, for the tests that compare it with a full forward.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "w2s/model_torch.h"

namespace w2s::test {

// The logits of `ids` [B, T] computed piece by piece (lengths `pieces`, summing to T) through one
// KV cache, concatenated along the sequence: equal to lm->forward(ids) when the cache is right.
inline torch::Tensor forward_in_pieces(model::CausalLM& lm, const torch::Tensor& ids,
                                       std::initializer_list<std::int64_t> pieces) {
  model::KVCache cache;
  std::vector<torch::Tensor> logits;
  std::int64_t pos = 0;
  for (std::int64_t len : pieces) {
    const torch::Tensor mask = torch::ones({ids.size(0), pos + len}, torch::kLong);
    logits.push_back(lm->forward(ids.slice(1, pos, pos + len), mask, &cache));
    pos += len;
  }
  return torch::cat(logits, 1);
}

}  // namespace w2s::test
