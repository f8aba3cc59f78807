// The Llama family: llama, mistral (sliding-window attention) and qwen2 (q/k/v biases).
// transformers: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM.
//
//   model.embed_tokens -> model.layers.N {input_layernorm, self_attn.{q,k,v,o}_proj,
//   post_attention_layernorm, mlp.{gate,up,down}_proj} -> model.norm -> lm_head (or tied)
//
// RMSNorm, rotary positions on the whole head (rope_theta and rope_scaling, or transformers 5's
// rope_parameters), grouped-query attention. Sliding-window attention as transformers applies it:
// Mistral on every layer (sliding_window); Qwen2 only with use_sliding_window, on the layers from
// max_window_layers on (or as layer_types lists them).
#include <algorithm>

#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

// The family's own config.json fields.
struct LlamaOptions {
  RopeParameters rope;
  bool qkv_bias = false;  // q, k, v projections
  bool o_bias = false;    // output projection
  bool mlp_bias = false;
  std::vector<LayerAttention> layer_types;  // which layers use the sliding window
};

// transformers' layer types for this family: Mistral slides on every layer when sliding_window
// is set; Qwen2 on layers >= max_window_layers (default 28) when use_sliding_window; Llama never.
// A layer_types list in the config must be one of these (Qwen2: any list, with a window).
std::vector<LayerAttention> layer_types(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  const std::int64_t n = m.num_hidden_layers;
  std::vector<LayerAttention> types(n, LayerAttention::Full);
  if (m.model_type == "mistral" && m.sliding_window) {
    types.assign(n, LayerAttention::Sliding);
  } else if (m.model_type == "qwen2" && m.sliding_window) {
    const std::int64_t first = c.get_int("max_window_layers", 28);
    for (std::int64_t i = std::max<std::int64_t>(first, 0); i < n; ++i) types[i] = LayerAttention::Sliding;
  }
  if (const auto listed = read_layer_types(c, n, origin)) {
    if (m.model_type == "qwen2") {
      const bool slides = std::find(listed->begin(), listed->end(), LayerAttention::Sliding) != listed->end();
      if (slides && !m.sliding_window)
        throw Error(origin + ": layer_types lists sliding_attention but use_sliding_window / sliding_window give no window");
      return *listed;
    }
    if (*listed != types)
      throw Error(origin + ": layer_types other than " + m.model_type + "'s own (" +
                  (m.sliding_window && m.model_type == "mistral" ? "sliding_attention" : "full_attention") +
                  " on every layer) are not supported");
  }
  return types;
}

LlamaOptions read_options(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  LlamaOptions o;
  o.rope = read_rope_parameters(c, 10000.0, origin);
  if (o.rope.type == RopeType::LongRope)
    throw Error(origin + ": rope type \"longrope\" is not supported for " + m.model_type + " (phi3 only)");
  if (o.rope.partial_rotary_factor != 1.0)
    throw Error(origin + ": partial_rotary_factor is not supported for " + m.model_type + " (it rotates whole heads)");
  o.layer_types = layer_types(m, origin);
  if (m.model_type == "qwen2") {
    o.qkv_bias = true;  // Qwen2: biases on q, k, v; none on o
  } else {
    o.qkv_bias = o.o_bias = c.get_bool("attention_bias", false);
  }
  o.mlp_bias = c.get_bool("mlp_bias", false);
  return o;
}

const char* hf_class(const std::string& model_type) {
  return model_type == "qwen2" ? "Qwen2ForCausalLM" : model_type == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM";
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const LlamaOptions& o)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    for (const LayerAttention t : o.layer_types) sliding_.push_back(t == LayerAttention::Sliding);
    q_proj = register_module("q_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, o.qkv_bias));
    k_proj = register_module("k_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.qkv_bias));
    v_proj = register_module("v_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.qkv_bias));
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, o.o_bias));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const torch::Tensor q = q_proj(x).view({b, t, heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor k = k_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    AttentionOptions options;
    options.sliding = sliding_[layer];
    return o_proj(self_attention(apply_rotary(q, in.rotary), apply_rotary(k, in.rotary), v, in, layer, options));
  }
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
  std::vector<bool> sliding_;  // per layer
};
TORCH_MODULE(Attention);

class LayerImpl : public torch::nn::Module {
 public:
  LayerImpl(const ModelConfig& c, const LlamaOptions& o) {
    self_attn = register_module("self_attn", Attention(c, o));
    mlp = register_module("mlp", GatedMLP(c.hidden_size, c.intermediate_size, o.mlp_bias));
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

class LlamaFamily final : public Architecture {
 public:
  std::string_view name() const override { return "llama-family"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    read_standard_sizes(m, origin);
    m.num_key_value_heads = optional_size(c, "num_key_value_heads", origin).value_or(0);
    m.head_dim = optional_size(c, "head_dim", origin).value_or(0);
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(2048);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-6);
    m.hidden_act = c.get_string("hidden_act", "silu");
    if (m.hidden_act != "silu") throw Error(origin + ": hidden_act \"" + m.hidden_act + "\" is not supported (silu)");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);  // HF default for these types
    const bool window_used = m.model_type == "mistral" || c.get_bool("use_sliding_window", false);
    if (window_used) m.sliding_window = optional_size(c, "sliding_window", origin);
    const LlamaOptions o = read_options(m, origin);
    if (std::find(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding) == o.layer_types.end())
      m.sliding_window.reset();  // Qwen2 with max_window_layers >= num_hidden_layers
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{hf_class(m.model_type)});
    write_standard_sizes(m, c);
    c.set("num_key_value_heads", m.num_key_value_heads);
    c.set("head_dim", m.head_dim);
    c.set("max_position_embeddings", m.max_position_embeddings);
    c.set("rms_norm_eps", m.norm_eps);
    c.set("hidden_act", m.hidden_act);
    c.set("tie_word_embeddings", m.tie_word_embeddings);
    if (m.sliding_window) {
      c.set("sliding_window", *m.sliding_window);
      if (m.model_type == "qwen2") c.set("use_sliding_window", true);
    }
    // Written as read: config_json keeps rope_theta / rope_scaling or rope_parameters, layer_types.
  }

  void describe(const ModelConfig& m, json::Value& out) const override {
    const LlamaOptions o = read_options(m, "config.json");
    out.set("rope_theta", o.rope.theta);
    out.set("rope_type", rope_type_name(o.rope.type));
    out.set("qkv_bias", o.qkv_bias);
    if (m.sliding_window) {
      std::int64_t sliding = 0;
      for (const LayerAttention t : o.layer_types) sliding += t == LayerAttention::Sliding;
      out.set("sliding_window_layers", sliding);
    }
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const LlamaOptions o = read_options(m, "config.json");
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size;
    const std::int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
    std::int64_t per_layer = 2 * h                         // input / post-attention RMSNorm
                             + h * q + 2 * h * kv + q * h  // q, k, v, o
                             + 3 * h * inter;              // gate, up, down
    if (o.qkv_bias) per_layer += q + 2 * kv;
    if (o.o_bias) per_layer += h;
    if (o.mlp_bias) per_layer += 2 * inter + h;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + h;  // embeddings, layers, norm
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const LlamaOptions o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, RMSNorm>>();
    auto model = root.register_module("model", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      d->layers.push_back(layers->register_module(std::to_string(i), Layer(c, o)));
    d->norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps));
    d->rotary = model->register_module("rotary_emb", Rotary(c.head_dim, o.rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("lm_head", OutputHead(c.hidden_size, c.vocab_size));
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& name) const override {
    if (ends_with(name, "rotary_emb.inv_freq")) return std::nullopt;  // a buffer older checkpoints carry
    if (name == "lm_head.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  // The reference's targets (LoraConfig's default): every projection of attention and MLP.
  std::vector<std::string> default_lora_targets() const override { return LoraConfig{}.target_modules; }
};

}  // namespace

const Architecture& llama_family() {
  static const LlamaFamily architecture;
  return architecture;
}

}  // namespace w2s::model
