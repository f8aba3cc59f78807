// Gemma 2 (transformers: Gemma2ForCausalLM), e.g. gemma-2-2b, a usual small weak model.
//
//   model.embed_tokens -> model.layers.N {self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
//   input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
//   post_feedforward_layernorm} -> model.norm -> lm_head (tied by default)
//
// What differs from Llama, all as modeling_gemma2.py does it:
//   * embeddings times sqrt(hidden_size), that constant rounded to the model dtype first;
//   * RMSNorm scaling by (1 + weight), computed in float32 and then cast (weights stored around 0);
//   * a norm before and after both attention and MLP:
//       x = x + post_attention_layernorm(attn(input_layernorm(x)))
//       x = x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x)))
//   * GeGLU MLP: down(gelu_tanh(gate(x)) * up(x)) (hidden_activation);
//   * attention scores scaled by query_pre_attn_scalar^-0.5 (not head_dim^-0.5) and soft-capped,
//     cap * tanh(s / cap) with attn_logit_softcapping, before the mask;
//   * sliding-window attention on every other layer (layers 0, 2, ...; or as layer_types lists);
//   * final logits soft-capped with final_logit_softcapping.
#include <algorithm>
#include <cmath>

#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

struct Gemma2Options {
  RopeParameters rope;
  bool attention_bias = false;
  Activation activation = Activation::GeluTanh;
  double query_pre_attn_scalar = 256.0;
  std::optional<double> attn_logit_softcapping, final_logit_softcapping;
  std::vector<LayerAttention> layer_types;
};

std::optional<double> optional_positive(const json::Value& c, std::string_view key, double fallback,
                                        const std::string& origin) {
  const json::Value* v = c.find(key);
  if (v && v->is_null()) return std::nullopt;  // an explicit null turns the capping off
  const double x = v ? v->as_double() : fallback;
  if (!(x > 0.0)) throw Error(origin + ": " + std::string(key) + " must be positive or null");
  return x;
}

Gemma2Options read_options(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  Gemma2Options o;
  o.rope = read_rope_parameters(c, 10000.0, origin);
  if (o.rope.type == RopeType::LongRope) throw Error(origin + ": rope type \"longrope\" is not supported for gemma2");
  if (o.rope.partial_rotary_factor != 1.0)
    throw Error(origin + ": partial_rotary_factor is not supported for gemma2 (it rotates whole heads)");
  o.attention_bias = c.get_bool("attention_bias", false);
  o.activation = activation_named(m.hidden_act, origin);
  if (o.activation == Activation::Silu) throw Error(origin + ": hidden_activation \"silu\" is not supported for gemma2");
  o.query_pre_attn_scalar = c.get_double("query_pre_attn_scalar", 256.0);
  if (!(o.query_pre_attn_scalar > 0.0)) throw Error(origin + ": query_pre_attn_scalar must be positive");
  o.attn_logit_softcapping = optional_positive(c, "attn_logit_softcapping", 50.0, origin);
  o.final_logit_softcapping = optional_positive(c, "final_logit_softcapping", 30.0, origin);
  if (auto listed = read_layer_types(c, m.num_hidden_layers, origin)) {
    o.layer_types = std::move(*listed);
  } else {
    for (std::int64_t i = 0; i < m.num_hidden_layers; ++i)
      o.layer_types.push_back(i % 2 == 0 ? LayerAttention::Sliding : LayerAttention::Full);
  }
  return o;
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const Gemma2Options& o, bool sliding)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    options_.sliding = sliding;
    options_.scale = 1.0 / std::sqrt(o.query_pre_attn_scalar);
    options_.logit_softcap = o.attn_logit_softcapping;
    q_proj = register_module("q_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, o.attention_bias));
    k_proj = register_module("k_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    v_proj = register_module("v_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, o.attention_bias));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const torch::Tensor q = q_proj(x).view({b, t, heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor k = k_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    return o_proj(self_attention(apply_rotary(q, in.rotary), apply_rotary(k, in.rotary), v, in, layer, options_));
  }
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
  AttentionOptions options_;
};
TORCH_MODULE(Attention);

class LayerImpl : public torch::nn::Module {
 public:
  LayerImpl(const ModelConfig& c, const Gemma2Options& o, bool sliding) {
    const auto norm = [&] { return RMSNorm(c.hidden_size, c.norm_eps, RmsNormWeight::OnePlus); };
    self_attn = register_module("self_attn", Attention(c, o, sliding));
    mlp = register_module("mlp", GatedMLP(c.hidden_size, c.intermediate_size, false, o.activation));
    input_layernorm = register_module("input_layernorm", norm());
    post_attention_layernorm = register_module("post_attention_layernorm", norm());
    pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", norm());
    post_feedforward_layernorm = register_module("post_feedforward_layernorm", norm());
  }
  torch::Tensor forward(torch::Tensor x, const LayerInputs& in, std::int64_t layer) {
    x = x + post_attention_layernorm(self_attn(input_layernorm(x), in, layer));
    return x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x)));
  }
  Attention self_attn{nullptr};
  GatedMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr}, pre_feedforward_layernorm{nullptr},
      post_feedforward_layernorm{nullptr};
};
TORCH_MODULE(Layer);

class Gemma2 final : public Architecture {
 public:
  std::string_view name() const override { return "gemma2"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    read_standard_sizes(m, origin);
    m.num_key_value_heads = optional_size(c, "num_key_value_heads", origin).value_or(0);
    m.head_dim = optional_size(c, "head_dim", origin).value_or(256);  // Gemma2Config's default
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(8192);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-6);
    // The model uses hidden_activation; configs also carry hidden_act (Gemma 1's name).
    m.hidden_act = c.get_string("hidden_activation", "gelu_pytorch_tanh");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
    const Gemma2Options o = read_options(m, origin);
    if (std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding) > 0) {
      const json::Value* window = c.find("sliding_window");
      if (window && window->is_null()) throw Error(origin + ": sliding_window is null, but sliding layers need one");
      m.sliding_window = optional_size(c, "sliding_window", origin).value_or(4096);  // the config class's default
    }
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"Gemma2ForCausalLM"});
    write_standard_sizes(m, c);
    c.set("num_key_value_heads", m.num_key_value_heads);
    c.set("head_dim", m.head_dim);
    c.set("max_position_embeddings", m.max_position_embeddings);
    c.set("rms_norm_eps", m.norm_eps);
    c.set("hidden_activation", m.hidden_act);
    c.set("tie_word_embeddings", m.tie_word_embeddings);
    if (m.sliding_window) c.set("sliding_window", *m.sliding_window);
  }

  void describe(const ModelConfig& m, json::Value& out) const override {
    const Gemma2Options o = read_options(m, "config.json");
    out.set("rope_theta", o.rope.theta);
    out.set("rope_type", rope_type_name(o.rope.type));
    out.set("query_pre_attn_scalar", o.query_pre_attn_scalar);
    out.set("attn_logit_softcapping", o.attn_logit_softcapping);
    out.set("final_logit_softcapping", o.final_logit_softcapping);
    out.set("sliding_window", m.sliding_window);
    out.set("sliding_window_layers", std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding));
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const Gemma2Options o = read_options(m, "config.json");
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size;
    const std::int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
    std::int64_t per_layer = 4 * h + h * q + 2 * h * kv + q * h + 3 * h * inter;
    if (o.attention_bias) per_layer += q + 2 * kv + h;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + h;
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const Gemma2Options o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, RMSNorm>>();
    auto model = root.register_module("model", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      d->layers.push_back(
          layers->register_module(std::to_string(i), Layer(c, o, o.layer_types[i] == LayerAttention::Sliding)));
    d->norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps, RmsNormWeight::OnePlus));
    d->rotary = model->register_module("rotary_emb", Rotary(c.head_dim, o.rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("lm_head", OutputHead(c.hidden_size, c.vocab_size));
    d->embed_scale = std::sqrt(static_cast<double>(c.hidden_size));
    d->final_logit_softcap = o.final_logit_softcapping;
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& name) const override {
    if (ends_with(name, "rotary_emb.inv_freq")) return std::nullopt;
    if (name == "lm_head.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  double identity_norm_weight() const override { return 0.0; }

  std::vector<std::string> default_lora_targets() const override { return LoraConfig{}.target_modules; }
};

}  // namespace

const Architecture& gemma2() {
  static const Gemma2 architecture;
  return architecture;
}

}  // namespace w2s::model
