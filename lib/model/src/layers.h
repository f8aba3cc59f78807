// The layers architectures share (internal to lib/model; includes torch): the LoRA-capable
// linear layer, embeddings, RMSNorm and LayerNorm, rotary position embeddings, the attention
// core with its mask and KV cache, and the two MLP shapes (gated SiLU, two-layer GELU).
//
// Written by hand because libtorch 1.13 has no scaled_dot_product_attention or RMSNorm.
// Numerics follow Hugging Face transformers: RMSNorm, softmax and RoPE in float32 (float64 for
// a float64 model), RoPE in the rotate_half layout, GQA by repeating each key/value head.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>

#include "decoder.h"
#include "w2s/model_torch.h"

namespace w2s::model {

// Norms, softmax and RoPE run in float32, or float64 for a float64 model (gradient checks).
torch::Dtype compute_dtype(torch::Dtype model_dtype);

// Trainable parameters (LoRA, head) are float32, or float64 for a float64 model (used by the
// finite-difference gradient checks).
inline torch::Dtype trainable_dtype(torch::Dtype base) {
  return base == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// True for parameter names that belong to LoRA branches rather than the base model.
inline bool is_lora_parameter(const std::string& name) {
  return name.find("lora_A.") != std::string::npos || name.find("lora_B.") != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// Linear layers, embeddings, norms
// ---------------------------------------------------------------------------------------------

// A linear layer y = x W^T + b with an optional LoRA branch (x A^T B^T · alpha/r). The base weight
// stays in the model dtype; A and B (peft's lora_A / lora_B names) are float32 and computed in
// float32, then added in the output dtype. Every linear layer of a transformer body is one of
// these, so apply_lora can adapt any of them; output heads are not.
class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(std::int64_t in, std::int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  void add_lora(const LoraConfig& config);
  bool has_lora() const { return !lora_A.is_empty(); }

  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};
  double scale = 0.0;
  double dropout = 0.0;
};
TORCH_MODULE(LoraLinear);

// An untied output head: logits = h W^T, never adapted by LoRA.
class OutputHeadImpl : public torch::nn::Module {
 public:
  OutputHeadImpl(std::int64_t hidden, std::int64_t vocab) { weight = register_parameter("weight", torch::empty({vocab, hidden})); }
  torch::Tensor forward(const torch::Tensor& h) { return torch::nn::functional::linear(h, weight); }
  torch::Tensor weight;
};
TORCH_MODULE(OutputHead);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(std::int64_t n, std::int64_t dim) { weight = register_parameter("weight", torch::empty({n, dim})); }
  torch::Tensor forward(const torch::Tensor& ids) { return torch::nn::functional::embedding(ids, weight); }
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// LayerNorm with weight and bias (GPT-2, GPT-NeoX), in the model dtype.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(std::int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm);

// ---------------------------------------------------------------------------------------------
// Rotary position embeddings
// ---------------------------------------------------------------------------------------------

// config.json's rope_scaling (HF's variants of the inverse frequencies).
struct RopeScaling {
  std::string type = "default";  // "default" | "linear" | "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;                          // llama3 only
  double high_freq_factor = 4.0;                         // llama3 only
  std::int64_t original_max_position_embeddings = 8192;  // llama3 only
};
// Reads config.json's rope_scaling object (rope_type or type, factor, llama3's fields); absent
// (nullptr) or null: default. Throws w2s::Error for other types (yarn, dynamic, ...).
RopeScaling read_rope_scaling(const json::Value* rope_scaling, const std::string& origin);

// Rotary embeddings on the first `dims` features of each head (all of them for Llama, a
// fraction for GPT-NeoX). Holds the inverse frequencies as the float32 buffer "inv_freq".
class RotaryImpl : public torch::nn::Module {
 public:
  RotaryImpl(std::int64_t dims, double theta, const RopeScaling& scaling);
  // cos/sin for positions [B, T] in `dtype` (computed in float32, or float64).
  RotaryTables tables(const torch::Tensor& positions, torch::Dtype dtype) const;
  torch::Tensor inv_freq;
};
TORCH_MODULE(Rotary);

// x [B, heads, T, D] with its first tables.cos.size(-1) features rotated, the rest passed through.
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

// Additive mask [B, 1, T, S] in float32 from the key mask [B, S] (S = past + T): 0 where query i
// (absolute index past + i) may attend to key j (causal, key real, and q - k < window when given),
// the lowest float elsewhere. Rows of pad queries keep finite values (no NaN).
torch::Tensor attention_bias(const torch::Tensor& key_mask, std::int64_t past, std::int64_t t,
                             const std::optional<std::int64_t>& window);

// softmax(q k^T / sqrt(D) + mask) v for q [B, H, T, D] and k, v [B, KV, T, D] after appending k, v to
// layer `layer`'s KV cache (when decoding) and repeating each key/value head H / KV times;
// scores in float32. Returns the heads merged: [B, T, H * D].
torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const LayerInputs& inputs,
                             std::int64_t layer);

// ---------------------------------------------------------------------------------------------
// MLPs
// ---------------------------------------------------------------------------------------------

// down_proj(silu(gate_proj(x)) * up_proj(x)) (Llama family).
class GatedMLPImpl : public torch::nn::Module {
 public:
  GatedMLPImpl(std::int64_t hidden, std::int64_t intermediate, bool bias);
  torch::Tensor forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(GatedMLP);

// GELU as Hugging Face names it in hidden_act / activation_function: "gelu" is exact (erf);
// "gelu_new", "gelu_fast" and "gelu_pytorch_tanh" are the tanh approximation.
enum class Gelu { Exact, Tanh };
// Throws w2s::Error naming `origin` for any other name.
Gelu gelu_named(const std::string& hidden_act, const std::string& origin);

// out(gelu(in(x))) with both linear layers biased, registered under the family's names
// (GPT-2: c_fc, c_proj; GPT-NeoX: dense_h_to_4h, dense_4h_to_h).
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(std::int64_t hidden, std::int64_t intermediate, Gelu gelu, const std::string& in_name,
                  const std::string& out_name);
  torch::Tensor forward(const torch::Tensor& x);
  LoraLinear in{nullptr}, out{nullptr};

 private:
  Gelu gelu_;
};
TORCH_MODULE(FeedForward);

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

// The usual decoder-only stack, which every family here is: token embeddings (plus learned
// positions, GPT-2), the layers, a final norm, and the head (untied, or the token embeddings).
// An architecture's build() registers the modules under its names and fills one in; each
// LayerModule has forward(x, inputs, layer index).
template <class LayerModule, class NormModule>
class DecoderStack final : public Decoder {
 public:
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& position_ids) override {
    return positions ? tokens(ids) + positions(position_ids) : tokens(ids);
  }
  RotaryTables rotary_tables(const torch::Tensor& position_ids, torch::Dtype dtype) const override {
    return rotary ? rotary->tables(position_ids, dtype) : RotaryTables{};
  }
  torch::Tensor layer(std::int64_t i, const torch::Tensor& x, const LayerInputs& inputs) override {
    return layers[i]->forward(x, inputs, i);
  }
  torch::Tensor final_norm(const torch::Tensor& x) override { return norm(x); }
  torch::Tensor lm_head(const torch::Tensor& h) override {
    return head ? head(h) : torch::nn::functional::linear(h, tokens->weight);
  }

  Embedding tokens{nullptr}, positions{nullptr};  // positions: learned ones only
  std::vector<LayerModule> layers;
  NormModule norm{nullptr};
  Rotary rotary{nullptr};
  OutputHead head{nullptr};  // none: tied to `tokens`
};

}  // namespace w2s::model
