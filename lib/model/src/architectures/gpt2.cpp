// GPT-2 (transformers: GPT2LMHeadModel).
//
//   transformer.wte + transformer.wpe -> transformer.h.N {ln_1, attn.c_attn, attn.c_proj, ln_2,
//   mlp.c_fc, mlp.c_proj} -> transformer.ln_f -> logits with the tied wte
//
// Learned positions, LayerNorm, a fused q/k/v projection laid out [3, heads, head_dim], GELU.
// Checkpoints store the linear weights as Conv1D ([in, out]); they are transposed on load and
// back on save. The original gpt2 checkpoints name tensors without the "transformer." prefix.
#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& c) : heads_(c.num_attention_heads), head_dim_(c.head_dim) {
    c_attn = register_module("c_attn", LoraLinear(c.hidden_size, 3 * c.hidden_size, true));
    c_proj = register_module("c_proj", LoraLinear(c.hidden_size, c.hidden_size, true));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const auto qkv = c_attn(x).view({b, t, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
    return c_proj(self_attention(qkv[0], qkv[1], qkv[2], in, layer));
  }
  LoraLinear c_attn{nullptr}, c_proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& c) {
    ln_1 = register_module("ln_1", LayerNorm(c.hidden_size, c.norm_eps));
    attn = register_module("attn", Attention(c));
    ln_2 = register_module("ln_2", LayerNorm(c.hidden_size, c.norm_eps));
    mlp = register_module("mlp", FeedForward(c.hidden_size, c.intermediate_size, activation_named(c.hidden_act, "config.json"),
                                             "c_fc", "c_proj"));
  }
  torch::Tensor forward(torch::Tensor x, const LayerInputs& in, std::int64_t layer) {
    x = x + attn(ln_1(x), in, layer);
    return x + mlp(ln_2(x));
  }
  LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Attention attn{nullptr};
  FeedForward mlp{nullptr};
};
TORCH_MODULE(Block);

class Gpt2 final : public Architecture {
 public:
  std::string_view name() const override { return "gpt2"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    const json::Value& c = m.config_json;
    m.vocab_size = required_positive(c, "vocab_size", origin);
    m.hidden_size = required_positive(c, "n_embd", origin);
    m.num_hidden_layers = required_positive(c, "n_layer", origin);
    m.num_attention_heads = required_positive(c, "n_head", origin);
    m.intermediate_size = optional_size(c, "n_inner", origin).value_or(4 * m.hidden_size);
    m.max_position_embeddings = required_positive(c, "n_positions", origin);
    m.norm_eps = c.get_double("layer_norm_epsilon", 1e-5);
    m.hidden_act = c.get_string("activation_function", "gelu_new");
    activation_named(m.hidden_act, origin);
    if (c.get_bool("scale_attn_by_inverse_layer_idx", false) || c.get_bool("reorder_and_upcast_attn", false))
      throw Error(origin + ": GPT-2 options scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
    m.tie_word_embeddings = true;
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"GPT2LMHeadModel"});
    c.set("vocab_size", m.vocab_size);
    c.set("n_embd", m.hidden_size);
    c.set("n_layer", m.num_hidden_layers);
    c.set("n_head", m.num_attention_heads);
    c.set("n_inner", m.intermediate_size);
    c.set("n_positions", m.max_position_embeddings);
    c.set("n_ctx", m.max_position_embeddings);
    c.set("layer_norm_epsilon", m.norm_eps);
    c.set("activation_function", m.hidden_act);
  }

  void describe(const ModelConfig&, json::Value&) const override {}

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size;
    const std::int64_t per_layer = 2 * 2 * h            // ln_1, ln_2
                                   + h * 3 * h + 3 * h  // c_attn
                                   + h * h + h          // attn c_proj
                                   + h * inter + inter  // c_fc
                                   + inter * h + h;     // mlp c_proj
    return (m.vocab_size + m.max_position_embeddings) * h + m.num_hidden_layers * per_layer + 2 * h;  // + ln_f
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    auto d = std::make_unique<DecoderStack<Block, LayerNorm>>();
    auto transformer = root.register_module("transformer", std::make_shared<torch::nn::Module>());
    d->tokens = transformer->register_module("wte", Embedding(c.vocab_size, c.hidden_size));
    d->positions = transformer->register_module("wpe", Embedding(c.max_position_embeddings, c.hidden_size));
    auto h = transformer->register_module("h", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) d->layers.push_back(h->register_module(std::to_string(i), Block(c)));
    d->norm = transformer->register_module("ln_f", LayerNorm(c.hidden_size, c.norm_eps));
    return d;  // the head is wte
  }

  std::optional<std::string> parameter_for(const ModelConfig&, const std::string& name) const override {
    if (name == "lm_head.weight") return std::nullopt;  // tied to wte
    if (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")) return std::nullopt;  // mask buffers
    return name.rfind("transformer.", 0) == 0 ? name : "transformer." + name;
  }

  bool stored_transposed(const std::string& name) const override {
    return ends_with(name, ".c_attn.weight") || ends_with(name, ".c_proj.weight") || ends_with(name, ".c_fc.weight");
  }

  // GPT-2's linear layers: the fused q/k/v, both output projections and the MLP input.
  std::vector<std::string> default_lora_targets() const override { return {"c_attn", "c_proj", "c_fc"}; }
};

}  // namespace

const Architecture& gpt2() {
  static const Gpt2 architecture;
  return architecture;
}

}  // namespace w2s::model
