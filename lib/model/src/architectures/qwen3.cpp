// Qwen3 (transformers: Qwen3ForCausalLM), the strong models of current W2S work (Qwen3-4B-Base).
//
//   model.embed_tokens -> model.layers.N {input_layernorm, self_attn.{q,k,v,o}_proj,
//   self_attn.{q,k}_norm, post_attention_layernorm, mlp.{gate,up,down}_proj} -> model.norm
//   -> lm_head (or tied)
//
// Qwen2's block without its q/k/v biases (attention_bias, default false, for all four
// projections) and with an RMSNorm over each head's query and key before the rotary embedding;
// head_dim is explicit (default 128, not hidden_size / heads). Sliding-window attention as
// Qwen2: only with use_sliding_window, on the layers from max_window_layers on, or as
// layer_types lists them.
#include <algorithm>

#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

struct Qwen3Options {
  RopeParameters rope;
  bool attention_bias = false;
  std::vector<LayerAttention> layer_types;
};

std::vector<LayerAttention> layer_types(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  if (auto listed = read_layer_types(c, m.num_hidden_layers, origin)) {
    if (std::count(listed->begin(), listed->end(), LayerAttention::Sliding) > 0 && !m.sliding_window)
      throw Error(origin + ": layer_types lists sliding_attention but use_sliding_window / sliding_window give no window");
    return *listed;
  }
  std::vector<LayerAttention> types(m.num_hidden_layers, LayerAttention::Full);
  if (m.sliding_window)
    for (std::int64_t i = std::max<std::int64_t>(c.get_int("max_window_layers", 28), 0); i < m.num_hidden_layers; ++i)
      types[i] = LayerAttention::Sliding;
  return types;
}

Qwen3Options read_options(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  Qwen3Options o;
  o.rope = read_rope_parameters(c, 10000.0, origin);
  if (o.rope.type == RopeType::LongRope) throw Error(origin + ": rope type \"longrope\" is not supported for qwen3");
  if (o.rope.partial_rotary_factor != 1.0)
    throw Error(origin + ": partial_rotary_factor is not supported for qwen3 (it rotates whole heads)");
  o.attention_bias = c.get_bool("attention_bias", false);
  o.layer_types = layer_types(m, origin);
  return o;
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const Qwen3Options& o, bool sliding)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    options_.sliding = sliding;
    q_proj = register_module("q_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, o.attention_bias));
    k_proj = register_module("k_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    v_proj = register_module("v_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, o.attention_bias));
    q_norm = register_module("q_norm", RMSNorm(head_dim_, c.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, c.norm_eps));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const torch::Tensor q = q_norm(q_proj(x).view({b, t, heads_, head_dim_})).transpose(1, 2);
    const torch::Tensor k = k_norm(k_proj(x).view({b, t, kv_heads_, head_dim_})).transpose(1, 2);
    const torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    return o_proj(self_attention(apply_rotary(q, in.rotary), apply_rotary(k, in.rotary), v, in, layer, options_));
  }
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
  AttentionOptions options_;
};
TORCH_MODULE(Attention);

class LayerImpl : public torch::nn::Module {
 public:
  LayerImpl(const ModelConfig& c, const Qwen3Options& o, bool sliding) {
    self_attn = register_module("self_attn", Attention(c, o, sliding));
    mlp = register_module("mlp", GatedMLP(c.hidden_size, c.intermediate_size, false));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
  }
  torch::Tensor forward(torch::Tensor x, const LayerInputs& in, std::int64_t layer) {
    x = x + self_attn(input_layernorm(x), in, layer);
    return x + mlp(post_attention_layernorm(x));
  }
  Attention self_attn{nullptr};
  GatedMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Layer);

class Qwen3 final : public Architecture {
 public:
  std::string_view name() const override { return "qwen3"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    read_standard_sizes(m, origin);
    m.num_key_value_heads = optional_size(c, "num_key_value_heads", origin).value_or(0);
    m.head_dim = optional_size(c, "head_dim", origin).value_or(128);  // Qwen3Config's default
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(32768);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-6);
    m.hidden_act = c.get_string("hidden_act", "silu");
    if (m.hidden_act != "silu") throw Error(origin + ": hidden_act \"" + m.hidden_act + "\" is not supported (silu)");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);
    if (c.get_bool("use_sliding_window", false)) m.sliding_window = optional_size(c, "sliding_window", origin);
    const Qwen3Options o = read_options(m, origin);
    if (std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding) == 0) m.sliding_window.reset();
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"Qwen3ForCausalLM"});
    write_standard_sizes(m, c);
    c.set("num_key_value_heads", m.num_key_value_heads);
    c.set("head_dim", m.head_dim);
    c.set("max_position_embeddings", m.max_position_embeddings);
    c.set("rms_norm_eps", m.norm_eps);
    c.set("hidden_act", m.hidden_act);
    c.set("tie_word_embeddings", m.tie_word_embeddings);
  }

  void describe(const ModelConfig& m, json::Value& out) const override {
    const Qwen3Options o = read_options(m, "config.json");
    out.set("rope_theta", o.rope.theta);
    out.set("rope_type", rope_type_name(o.rope.type));
    out.set("attention_bias", o.attention_bias);
    out.set("sliding_window_layers", std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding));
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const Qwen3Options o = read_options(m, "config.json");
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size, d = m.head_dim;
    const std::int64_t q = m.num_attention_heads * d, kv = m.num_key_value_heads * d;
    std::int64_t per_layer = 2 * h + 2 * d                  // input / post-attention norms, q / k norms
                             + h * q + 2 * h * kv + q * h   // q, k, v, o
                             + 3 * h * inter;               // gate, up, down
    if (o.attention_bias) per_layer += q + 2 * kv + h;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + h;
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const Qwen3Options o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, RMSNorm>>();
    auto model = root.register_module("model", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      d->layers.push_back(
          layers->register_module(std::to_string(i), Layer(c, o, o.layer_types[i] == LayerAttention::Sliding)));
    d->norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps));
    d->rotary = model->register_module("rotary_emb", Rotary(c.head_dim, o.rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("lm_head", OutputHead(c.hidden_size, c.vocab_size));
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& name) const override {
    if (ends_with(name, "rotary_emb.inv_freq")) return std::nullopt;
    if (name == "lm_head.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  // Every projection of attention and MLP (the q/k norms are not linear layers).
  std::vector<std::string> default_lora_targets() const override { return LoraConfig{}.target_modules; }
};

}  // namespace

const Architecture& qwen3() {
  static const Qwen3 architecture;
  return architecture;
}

}  // namespace w2s::model
