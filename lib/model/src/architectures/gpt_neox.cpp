// GPT-NeoX, the architecture of EleutherAI's Pythia suite (transformers: GPTNeoXForCausalLM).
//
//   gpt_neox.embed_in -> gpt_neox.layers.N {input_layernorm, attention.query_key_value,
//   attention.dense, post_attention_layernorm, mlp.dense_h_to_4h, mlp.dense_4h_to_h}
//   -> gpt_neox.final_layer_norm -> embed_out (untied unless tie_word_embeddings)
//
// LayerNorm with bias; a fused q/k/v projection whose output is laid out per head,
// [heads, 3 (q, k, v), head_dim] (GPT-2's is [3, heads, head_dim]); rotary positions on the first
// rotary_pct of each head's features only; attention biases (attention_bias); a GELU MLP; and,
// with use_parallel_residual (Pythia), attention and MLP both read the layer input:
//   x + attn(ln1(x)) + mlp(ln2(x))      instead of      y = x + attn(ln1(x)); y + mlp(ln2(y)).
#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

// The family's own config.json fields.
struct NeoxOptions {
  double rotary_pct = 0.25;
  RopeParameters rope;  // rope.theta: rotary_emb_base
  bool parallel_residual = true;
  bool attention_bias = true;
  Activation activation = Activation::GeluExact;
};

NeoxOptions read_options(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  NeoxOptions o;
  // GPT-NeoX's own names: rotary_pct and rotary_emb_base (transformers 4); transformers 5 writes
  // rope_parameters.partial_rotary_factor and rope_theta.
  o.rope = read_rope_parameters(c, c.get_double("rotary_emb_base", 10000.0), origin);
  if (o.rope.type == RopeType::LongRope) throw Error(origin + ": rope type \"longrope\" is not supported for gpt_neox");
  const json::Value* params = c.find("rope_parameters");
  const bool in_parameters = params && params->is_object() && params->contains("partial_rotary_factor");
  if (params && params->is_object())
    for (const auto& [own, standard] : {std::pair{"rotary_pct", "partial_rotary_factor"}, std::pair{"rotary_emb_base", "rope_theta"}}) {
      const json::Value* a = c.find(own);
      const json::Value* b = params->find(standard);
      if (a && b && !a->is_null() && !b->is_null() && a->as_double() != b->as_double())
        throw Error(origin + ": " + own + " differs from rope_parameters." + standard);
    }
  o.rotary_pct = in_parameters ? o.rope.partial_rotary_factor : c.get_double("rotary_pct", 0.25);
  o.parallel_residual = c.get_bool("use_parallel_residual", true);
  o.attention_bias = c.get_bool("attention_bias", true);
  o.activation = activation_named(m.hidden_act, origin);
  if (!(o.rotary_pct > 0.0 && o.rotary_pct <= 1.0)) throw Error(origin + ": rotary_pct must be in (0, 1]");
  return o;
}

// transformers' rotary_ndims: int(head_size * rotary_pct).
std::int64_t rotary_dims(const ModelConfig& m, const NeoxOptions& o) {
  return static_cast<std::int64_t>(static_cast<double>(m.hidden_size / m.num_attention_heads) * o.rotary_pct);
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const NeoxOptions& o) : heads_(c.num_attention_heads), head_dim_(c.head_dim) {
    query_key_value = register_module("query_key_value", LoraLinear(c.hidden_size, 3 * c.hidden_size, o.attention_bias));
    dense = register_module("dense", LoraLinear(c.hidden_size, c.hidden_size, o.attention_bias));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    // [B, T, heads * 3 * D] -> [B, heads, T, 3 * D]: each head's q, k and v lie side by side.
    const torch::Tensor qkv = query_key_value(x).view({b, t, heads_, 3 * head_dim_}).transpose(1, 2);
    const torch::Tensor q = qkv.slice(-1, 0, head_dim_), k = qkv.slice(-1, head_dim_, 2 * head_dim_),
                        v = qkv.slice(-1, 2 * head_dim_);
    return dense(self_attention(apply_rotary(q, in.rotary), apply_rotary(k, in.rotary), v, in, layer));
  }
  LoraLinear query_key_value{nullptr}, dense{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE(Attention);

class LayerImpl : public torch::nn::Module {
 public:
  LayerImpl(const ModelConfig& c, const NeoxOptions& o) : parallel_residual_(o.parallel_residual) {
    input_layernorm = register_module("input_layernorm", LayerNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", LayerNorm(c.hidden_size, c.norm_eps));
    attention = register_module("attention", Attention(c, o));
    mlp = register_module("mlp", FeedForward(c.hidden_size, c.intermediate_size, o.activation, "dense_h_to_4h", "dense_4h_to_h"));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const torch::Tensor attn = attention(input_layernorm(x), in, layer);
    if (parallel_residual_) return mlp(post_attention_layernorm(x)) + attn + x;
    const torch::Tensor y = attn + x;
    return mlp(post_attention_layernorm(y)) + y;
  }
  LayerNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention attention{nullptr};
  FeedForward mlp{nullptr};

 private:
  bool parallel_residual_;
};
TORCH_MODULE(Layer);

class GptNeox final : public Architecture {
 public:
  std::string_view name() const override { return "gpt_neox"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    read_standard_sizes(m, origin);
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(2048);
    m.norm_eps = c.get_double("layer_norm_eps", 1e-5);
    m.hidden_act = c.get_string("hidden_act", "gelu");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);
    const NeoxOptions o = read_options(m, origin);
    const std::int64_t dims = rotary_dims(m, o);
    if (dims <= 0 || dims % 2 != 0)
      throw Error(origin + ": rotary_pct gives " + std::to_string(dims) +
                  " rotary dimensions per head; rotary embeddings need an even, positive number");
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"GPTNeoXForCausalLM"});
    write_standard_sizes(m, c);
    c.set("max_position_embeddings", m.max_position_embeddings);
    c.set("layer_norm_eps", m.norm_eps);
    c.set("hidden_act", m.hidden_act);
    c.set("tie_word_embeddings", m.tie_word_embeddings);
  }

  void describe(const ModelConfig& m, json::Value& out) const override {
    const NeoxOptions o = read_options(m, "config.json");
    out.set("rotary_pct", o.rotary_pct);
    out.set("rotary_emb_base", o.rope.theta);
    out.set("rope_type", rope_type_name(o.rope.type));
    out.set("use_parallel_residual", o.parallel_residual);
    out.set("attention_bias", o.attention_bias);
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const NeoxOptions o = read_options(m, "config.json");
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size;
    std::int64_t per_layer = 2 * 2 * h                      // input / post-attention LayerNorm
                             + h * 3 * h + h * h            // query_key_value, dense
                             + h * inter + inter + inter * h + h;  // dense_h_to_4h, dense_4h_to_h
    if (o.attention_bias) per_layer += 3 * h + h;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + 2 * h;  // embed_in, layers, final norm
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const NeoxOptions o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, LayerNorm>>();
    auto model = root.register_module("gpt_neox", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_in", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      d->layers.push_back(layers->register_module(std::to_string(i), Layer(c, o)));
    d->norm = model->register_module("final_layer_norm", LayerNorm(c.hidden_size, c.norm_eps));
    d->rotary = model->register_module("rotary_emb", Rotary(rotary_dims(c, o), o.rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("embed_out", OutputHead(c.hidden_size, c.vocab_size));
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& name) const override {
    // Buffers older checkpoints carry: the causal mask, its fill value and the rotary frequencies.
    if (ends_with(name, ".attention.bias") || ends_with(name, ".attention.masked_bias") ||
        ends_with(name, "rotary_emb.inv_freq"))
      return std::nullopt;
    if (name == "embed_out.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  // Every linear layer of attention and MLP (peft's choice for GPT-NeoX is query_key_value only).
  std::vector<std::string> default_lora_targets() const override {
    return {"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"};
  }
};

}  // namespace

const Architecture& gpt_neox() {
  static const GptNeox architecture;
  return architecture;
}

}  // namespace w2s::model
