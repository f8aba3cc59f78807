// The forward pass of one architecture (internal to lib/model; includes torch).
//
// CausalLMImpl drives every architecture the same way:
//   x = embed(ids, positions);  x = layer(i, x, inputs) for every layer;  h = final_norm(x);
//   logits = lm_head(h)
// and collects hidden states, the attention mask and the KV cache itself. Every family here
// builds a DecoderStack (layers.h); a family of another shape implements Decoder itself.
#pragma once

#include <torch/torch.h>

#include "w2s/model_torch.h"

namespace w2s::model {

// Rotary cos/sin for one forward pass, [B, 1, T, rotary dims] in the model dtype.
struct RotaryTables {
  torch::Tensor cos, sin;
};

// What every layer of one forward pass shares.
struct LayerInputs {
  torch::Tensor mask;          // [B, 1, T, past + T] float32 additive causal attention mask (0 or lowest)
  torch::Tensor sliding_mask;  // the same within config.sliding_window; undefined without one
  RotaryTables rotary;         // undefined for models without rotary positions
  RotaryTables sliding_rotary;  // sliding-window layers' own (Gemma 3), else undefined
  KVCache* cache = nullptr;    // keys/values of earlier positions (decoding), or none
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Token (and learned position) embeddings [B, T, H]. positions: [B, T] int64, the index of
  // each token among its row's real tokens.
  virtual torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& positions) = 0;
  // Fills the rotary cos/sin every layer of one forward pass shares into `inputs`; none by default.
  virtual void rotary_tables(const torch::Tensor& /*positions*/, torch::Dtype /*dtype*/, LayerInputs& /*inputs*/) const {}
  // Whether a row's rotary tables depend on the other rows of its batch (longrope); none by default.
  virtual bool rotary_depends_on_batch() const { return false; }
  // Layer `index` (0-based) on the residual stream x [B, T, H].
  virtual torch::Tensor layer(std::int64_t index, const torch::Tensor& x, const LayerInputs& inputs) = 0;
  virtual torch::Tensor final_norm(const torch::Tensor& x) = 0;
  // Vocabulary logits [B, T, V] of final-normed hidden states (in the model dtype).
  virtual torch::Tensor lm_head(const torch::Tensor& hidden) = 0;
};

}  // namespace w2s::model
