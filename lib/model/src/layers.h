// The layers architectures share (internal to lib/model; includes torch): the LoRA-capable
// linear layer, embeddings, RMSNorm and LayerNorm, rotary position embeddings, the attention
// core with its mask and KV cache, and the two MLP shapes (gated SiLU, two-layer GELU).
//
// Written by hand because libtorch 1.13 has no scaled_dot_product_attention or RMSNorm (on
// libtorch 2 attention uses the fused kernel where its numerics are the same; torch_compat.h).
// Numerics follow Hugging Face transformers: RMSNorm, softmax and RoPE in float32 (float64 for
// a float64 model), RoPE in the rotate_half layout, GQA as if each key/value head were repeated.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// How an RMSNorm applies its weight. Llama: weight * normed cast to the model dtype. Gemma:
// normed * (1 + weight) in float32, then cast (its weights are stored zero-centred).
enum class RmsNormWeight { Scale, OnePlus };

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps, RmsNormWeight kind = RmsNormWeight::Scale) : eps_(eps), kind_(kind) {
    weight = register_parameter("weight", torch::ones({dim}));
  }
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
  RmsNormWeight kind_;
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

// How the inverse frequencies are derived (HF's rope types). Others (yarn, dynamic, ...) are refused.
enum class RopeType { Default, Linear, Llama3, LongRope };
const char* rope_type_name(RopeType type);

// The rotary settings of config.json, in the format of transformers 4 (rope_theta, rope_scaling,
// partial_rotary_factor at the top level) or of transformers 5 (rope_parameters: rope_type,
// rope_theta and the type's fields).
struct RopeParameters {
  double theta = 10000.0;
  RopeType type = RopeType::Default;
  double factor = 1.0;                                   // linear, llama3
  double low_freq_factor = 0.0, high_freq_factor = 0.0;  // llama3
  std::int64_t original_max_position_embeddings = 0;     // llama3, longrope
  std::vector<double> short_factor, long_factor;         // longrope: per-frequency divisors
  double attention_factor = 1.0;                         // longrope: scale of cos and sin
  double partial_rotary_factor = 1.0;                    // the fraction of each head rotated
};

// Reads the rotary settings from `config` (config.json, or the text_config of a multimodal one).
// `default_theta` is the family's rope_theta default. `layer_type` selects the entry of
// rope_parameters keyed by layer type (transformers 5's per-layer form, Gemma 3); without it that
// form is refused. An entry without rope_theta takes `default_theta` (the caller's base for that
// layer type), not the top-level rope_theta. Fields a type needs are required; unknown types are refused by name. Both
// formats given with different values are refused (there is no silent preference).
RopeParameters read_rope_parameters(const json::Value& config, double default_theta, const std::string& origin,
                                    std::string_view layer_type = {});

// The types of attention layer transformers distinguishes (config.json layer_types).
enum class LayerAttention { Full, Sliding };
// config.json's layer_types ("full_attention" / "sliding_attention", one per layer); nullopt when
// absent or null. Throws naming the key for another type or a length other than `layers`.
std::optional<std::vector<LayerAttention>> read_layer_types(const json::Value& config, std::int64_t layers,
                                                            const std::string& origin);

// Rotary embeddings on the first `dims` features of each head (all of them for Llama, a
// fraction for GPT-NeoX). Holds the inverse frequencies as the float32 buffer "inv_freq".
// longrope: frequencies divided by short_factor while every position is below
// original_max_position_embeddings, by long_factor once one is not (as HF switches per forward),
// and cos/sin scaled by attention_factor.
class RotaryImpl : public torch::nn::Module {
 public:
  RotaryImpl(std::int64_t dims, const RopeParameters& rope);
  // cos/sin for positions [B, T] in `dtype` (computed in float32, or float64).
  RotaryTables tables(const torch::Tensor& positions, torch::Dtype dtype) const;
  // longrope: the factors of a forward pass follow its largest position, so a row's tables depend
  // on the rows batched with it.
  bool depends_on_batch() const { return long_inv_freq.defined(); }
  torch::Tensor inv_freq, long_inv_freq;  // long_inv_freq: longrope only

 private:
  std::int64_t original_max_positions_ = 0;
  double attention_factor_ = 1.0;
};
TORCH_MODULE(Rotary);

// x [B, heads, T, D] with its first tables.cos.size(-1) features rotated, the rest passed through.
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

// Additive mask [B, 1, T, S] in float32 from the key mask [B, S] (S = past + T): 0 where query i
// (slot past + i) may attend to key j (causal over slots, key real, and fewer than `window`
// real tokens apart when given), the lowest float elsewhere. Rows of pad queries keep finite
// values (no NaN).
torch::Tensor attention_bias(const torch::Tensor& key_mask, std::int64_t past, std::int64_t t,
                             const std::optional<std::int64_t>& window);

// What differs between families' attention cores.
struct AttentionOptions {
  bool sliding = false;                // use inputs.sliding_mask (a sliding-window layer)
  std::optional<double> scale;         // of q k^T; default 1 / sqrt(D)
  std::optional<double> logit_softcap; // Gemma 2: scores = cap * tanh(scores / cap), before the mask
};

// softmax(q k^T * scale + mask) v for q [B, H, T, D] and k, v [B, KV, T, D] after appending k, v to
// layer `layer`'s KV cache (when decoding), each key/value head serving H / KV query heads; scores
// and softmax in float32 (float64 for a float64 model). Returns the heads merged: [B, T, H * D].
// By hand: the scale folded into q, the query heads of a key/value head stacked as rows ([B, KV,
// H / KV * T, D]) instead of repeating the keys, softcap, mask and softmax in place on the one
// score tensor; a cache's shared prefix is multiplied once for every row of the batch. Without
// gradients, on CPU in float32, heads of up to 32 dimensions and no softcap go through attend_rows
// instead (row_attention.h: each query's scores, softmax and weighted values in cache, where
// libtorch's products over so few dimensions cost more than the arithmetic). On libtorch 2
// (torch_compat.h) other layers without a shared prefix or softcap use its fused kernel.
torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const LayerInputs& inputs,
                             std::int64_t layer, const AttentionOptions& options = {});

// ---------------------------------------------------------------------------------------------
// MLPs
// ---------------------------------------------------------------------------------------------

// The MLP activations as Hugging Face names them in hidden_act / hidden_activation /
// activation_function: "silu"; "gelu" is exact (erf); "gelu_new", "gelu_fast" and
// "gelu_pytorch_tanh" are the tanh approximation.
enum class Activation { Silu, GeluExact, GeluTanh };
// Throws w2s::Error naming `origin` for any other name.
Activation activation_named(const std::string& name, const std::string& origin);
torch::Tensor activate(const torch::Tensor& x, Activation activation);

// down_proj(act(gate_proj(x)) * up_proj(x)): SiLU (Llama family), tanh GELU (Gemma's GeGLU).
class GatedMLPImpl : public torch::nn::Module {
 public:
  GatedMLPImpl(std::int64_t hidden, std::int64_t intermediate, bool bias, Activation activation = Activation::Silu);
  torch::Tensor forward(const torch::Tensor& x) { return down_proj(activate(gate_proj(x), activation_) * up_proj(x)); }
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(GatedMLP);

// out(gelu(in(x))) with both linear layers biased, registered under the family's names
// (GPT-2: c_fc, c_proj; GPT-NeoX: dense_h_to_4h, dense_4h_to_h).
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(std::int64_t hidden, std::int64_t intermediate, Activation activation, const std::string& in_name,
                  const std::string& out_name);
  torch::Tensor forward(const torch::Tensor& x) { return out(activate(in(x), activation_)); }
  LoraLinear in{nullptr}, out{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(FeedForward);

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

// The usual decoder-only stack, which every family here is: token embeddings (plus learned
// positions, GPT-2), the layers, a final norm, and the head (untied, or the token embeddings).
// An architecture's build() registers the modules under its names and fills one in; each
// LayerModule has forward(x, inputs, layer index). Gemma's additions: embeddings scaled by a
// constant rounded to the model dtype, rotary tables of its own for sliding-window layers, and
// soft-capped logits.
template <class LayerModule, class NormModule>
class DecoderStack final : public Decoder {
 public:
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& position_ids) override {
    torch::Tensor x = positions ? tokens(ids) + positions(position_ids) : tokens(ids);
    if (embed_scale) x = x * torch::scalar_tensor(*embed_scale, x.options());  // HF: the scale in the model dtype
    return x;
  }
  void rotary_tables(const torch::Tensor& position_ids, torch::Dtype dtype, LayerInputs& inputs) const override {
    if (rotary) inputs.rotary = rotary->tables(position_ids, dtype);
    if (sliding_rotary) inputs.sliding_rotary = sliding_rotary->tables(position_ids, dtype);
  }
  bool rotary_depends_on_batch() const override {
    return (rotary && rotary->depends_on_batch()) || (sliding_rotary && sliding_rotary->depends_on_batch());
  }
  torch::Tensor layer(std::int64_t i, const torch::Tensor& x, const LayerInputs& inputs) override {
    return layers[i]->forward(x, inputs, i);
  }
  torch::Tensor final_norm(const torch::Tensor& x) override { return norm(x); }
  torch::Tensor lm_head(const torch::Tensor& h) override {
    const torch::Tensor logits = head ? head(h) : torch::nn::functional::linear(h, tokens->weight);
    return final_logit_softcap ? torch::tanh(logits / *final_logit_softcap) * *final_logit_softcap : logits;
  }

  Embedding tokens{nullptr}, positions{nullptr};  // positions: learned ones only
  std::vector<LayerModule> layers;
  NormModule norm{nullptr};
  Rotary rotary{nullptr};
  Rotary sliding_rotary{nullptr};  // sliding-window layers' own (Gemma 3); none: they use `rotary`
  OutputHead head{nullptr};        // none: tied to `tokens`
  std::optional<double> embed_scale, final_logit_softcap;
};

}  // namespace w2s::model
