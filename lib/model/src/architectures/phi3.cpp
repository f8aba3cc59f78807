// Phi-3 (transformers: Phi3ForCausalLM): Phi-3-mini/small-4k and -128k, Phi-3.5-mini, Phi-4-mini.
//
//   model.embed_tokens -> model.layers.N {self_attn.{o_proj, qkv_proj}, mlp.{gate_up_proj,
//   down_proj}, input_layernorm, post_attention_layernorm} -> model.norm -> lm_head (or tied)
//
// Llama's block with fused projections: qkv_proj's output is [q (heads * head_dim), k, v
// (kv_heads * head_dim each)], gate_up_proj's [gate, up] (the MLP is down(up * silu(gate))).
// Rotary positions on the first int(head_dim * partial_rotary_factor) features. The 128k
// variants declare rope_scaling type "longrope" ("su" / "yarn" in early configs, which
// transformers renames to longrope): short_factor / long_factor divide the frequencies, switching
// per forward pass at original_max_position_embeddings, and cos/sin are scaled by
// sqrt(1 + ln(max_position_embeddings / original) / ln(original)) (layers.h, Rotary).
// sliding_window, when set, applies to every layer.
#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

struct Phi3Options {
  RopeParameters rope;
};

// Rotary dimensions per head: int(head_dim * partial_rotary_factor), as transformers computes them.
std::int64_t rotary_dims(const ModelConfig& m, const Phi3Options& o) {
  return static_cast<std::int64_t>(static_cast<double>(m.head_dim) * o.rope.partial_rotary_factor);
}

Phi3Options read_options(const ModelConfig& m, const std::string& origin) {
  json::Value c = m.config_json;
  if (json::Value* scaling = c.find("rope_scaling"); scaling && scaling->is_object()) {
    const std::string type = scaling->get_string("type", scaling->get_string("rope_type"));
    if (type == "su" || type == "yarn") scaling->set("type", "longrope");  // Phi3Config's renaming
  }
  // Phi3Config always has original_max_position_embeddings (default 4096), which longrope reads.
  if (!c.contains("original_max_position_embeddings")) {
    const json::Value* params = c.find("rope_parameters");
    if (!params || !params->is_object() || !params->contains("original_max_position_embeddings"))
      c.set("original_max_position_embeddings", 4096);
  }
  Phi3Options o;
  o.rope = read_rope_parameters(c, 10000.0, origin);
  if (const auto listed = read_layer_types(c, m.num_hidden_layers, origin)) {
    const auto expected = m.sliding_window ? LayerAttention::Sliding : LayerAttention::Full;
    for (const LayerAttention t : *listed)
      if (t != expected)
        throw Error(origin + ": layer_types other than phi3's own (one type on every layer) are not supported");
  }
  return o;
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    options_.sliding = c.sliding_window.has_value();
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, false));
    qkv_proj = register_module("qkv_proj", LoraLinear(c.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, false));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const torch::Tensor qkv = qkv_proj(x);
    const std::int64_t q_size = heads_ * head_dim_, kv_size = kv_heads_ * head_dim_;
    const torch::Tensor q = qkv.slice(-1, 0, q_size).view({b, t, heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor k = qkv.slice(-1, q_size, q_size + kv_size).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    const torch::Tensor v = qkv.slice(-1, q_size + kv_size).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    return o_proj(self_attention(apply_rotary(q, in.rotary), apply_rotary(k, in.rotary), v, in, layer, options_));
  }
  LoraLinear o_proj{nullptr}, qkv_proj{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
  AttentionOptions options_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(std::int64_t hidden, std::int64_t intermediate) : intermediate_(intermediate) {
    gate_up_proj = register_module("gate_up_proj", LoraLinear(hidden, 2 * intermediate, false));
    down_proj = register_module("down_proj", LoraLinear(intermediate, hidden, false));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor gate_up = gate_up_proj(x);
    return down_proj(gate_up.slice(-1, intermediate_) * torch::silu(gate_up.slice(-1, 0, intermediate_)));
  }
  LoraLinear gate_up_proj{nullptr}, down_proj{nullptr};

 private:
  std::int64_t intermediate_;
};
TORCH_MODULE(Mlp);

class LayerImpl : public torch::nn::Module {
 public:
  explicit LayerImpl(const ModelConfig& c) {
    self_attn = register_module("self_attn", Attention(c));
    mlp = register_module("mlp", Mlp(c.hidden_size, c.intermediate_size));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
  }
  torch::Tensor forward(torch::Tensor x, const LayerInputs& in, std::int64_t layer) {
    x = x + self_attn(input_layernorm(x), in, layer);
    return x + mlp(post_attention_layernorm(x));
  }
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Layer);

class Phi3 final : public Architecture {
 public:
  std::string_view name() const override { return "phi3"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    read_standard_sizes(m, origin);
    m.num_key_value_heads = optional_size(c, "num_key_value_heads", origin).value_or(0);
    m.head_dim = optional_size(c, "head_dim", origin).value_or(0);
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(4096);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-5);
    m.hidden_act = c.get_string("hidden_act", "silu");
    if (m.hidden_act != "silu") throw Error(origin + ": hidden_act \"" + m.hidden_act + "\" is not supported (silu)");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);
    m.sliding_window = optional_size(c, "sliding_window", origin);
    if (c.get_bool("attention_bias", false)) throw Error(origin + ": attention_bias is not supported for phi3");
    const Phi3Options o = read_options(m, origin);
    // head_dim is filled in after read_config when absent: check the rotary width with it.
    const std::int64_t head_dim = m.head_dim ? m.head_dim : m.hidden_size / m.num_attention_heads;
    const auto dims = static_cast<std::int64_t>(static_cast<double>(head_dim) * o.rope.partial_rotary_factor);
    if (dims <= 0 || dims % 2 != 0)
      throw Error(origin + ": partial_rotary_factor gives " + std::to_string(dims) +
                  " rotary dimensions per head; rotary embeddings need an even, positive number");
    if (o.rope.type == RopeType::LongRope && static_cast<std::int64_t>(o.rope.short_factor.size()) != dims / 2)
      throw Error(origin + ": rope_scaling short_factor / long_factor need " + std::to_string(dims / 2) + " entries");
    if (o.rope.type == RopeType::LongRope && o.rope.long_factor.size() != o.rope.short_factor.size())
      throw Error(origin + ": rope_scaling short_factor and long_factor differ in length");
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"Phi3ForCausalLM"});
    write_standard_sizes(m, c);
    c.set("num_key_value_heads", m.num_key_value_heads);
    c.set("max_position_embeddings", m.max_position_embeddings);
    c.set("rms_norm_eps", m.norm_eps);
    c.set("hidden_act", m.hidden_act);
    c.set("tie_word_embeddings", m.tie_word_embeddings);
    c.set("sliding_window", m.sliding_window);  // null: none
  }

  void describe(const ModelConfig& m, json::Value& out) const override {
    const Phi3Options o = read_options(m, "config.json");
    out.set("rope_theta", o.rope.theta);
    out.set("rope_type", rope_type_name(o.rope.type));
    out.set("partial_rotary_factor", o.rope.partial_rotary_factor);
    if (o.rope.type == RopeType::LongRope) {
      out.set("original_max_position_embeddings", o.rope.original_max_position_embeddings);
      out.set("rope_attention_factor", o.rope.attention_factor);
    }
    out.set("sliding_window", m.sliding_window);
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size;
    const std::int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
    const std::int64_t per_layer = 2 * h + h * (q + 2 * kv) + q * h + 3 * h * inter;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + h;
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const Phi3Options o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, RMSNorm>>();
    auto model = root.register_module("model", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) d->layers.push_back(layers->register_module(std::to_string(i), Layer(c)));
    d->norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps));
    d->rotary = model->register_module("rotary_emb", Rotary(rotary_dims(c, o), o.rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("lm_head", OutputHead(c.hidden_size, c.vocab_size));
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& name) const override {
    if (ends_with(name, "rotary_emb.inv_freq") || ends_with(name, "rotary_emb.long_inv_freq")) return std::nullopt;
    if (name == "lm_head.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  // Every linear layer of attention and MLP, fused as Phi-3 stores them.
  std::vector<std::string> default_lora_targets() const override {
    return {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"};
  }
};

}  // namespace

const Architecture& phi3() {
  static const Phi3 architecture;
  return architecture;
}

}  // namespace w2s::model
