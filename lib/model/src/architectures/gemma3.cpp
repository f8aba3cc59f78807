// Gemma 3, text only (transformers: Gemma3ForCausalLM): model_type gemma3_text, and the
// language model of a multimodal gemma3 checkpoint (Gemma3ForConditionalGeneration), read from
// its text_config and its language_model.* tensors; the vision tower is skipped. Such a model
// loads, and saves, as gemma3_text.
//
//   model.embed_tokens -> model.layers.N {self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
//   mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm,
//   pre_feedforward_layernorm, post_feedforward_layernorm} -> model.norm -> lm_head (tied by default)
//
// Gemma 2's block (gemma2.cpp: sqrt(hidden) embedding scale, (1 + weight) RMSNorms around
// attention and MLP, GeGLU, query_pre_attn_scalar, optional soft-capping, by default off) plus:
//   * (1 + weight) RMSNorms over each head's query and key, before the rotary embedding;
//   * local (sliding-window) layers rotate with their own base, rope_local_base_freq, and no
//     scaling; global layers with rope_theta and rope_scaling (transformers 5: rope_parameters
//     keyed by full_attention / sliding_attention);
//   * the layer pattern from layer_types, or sliding_window_pattern (every n-th layer global,
//     default 6).
#include <algorithm>
#include <cmath>

#include "../architecture.h"
#include "../layers.h"

namespace w2s::model {

namespace {

struct Gemma3Options {
  RopeParameters global_rope, local_rope;
  bool attention_bias = false;
  Activation activation = Activation::GeluTanh;
  double query_pre_attn_scalar = 256.0;
  std::optional<double> attn_logit_softcapping, final_logit_softcapping;
  std::vector<LayerAttention> layer_types;
};

std::optional<double> optional_cap(const json::Value& c, std::string_view key, const std::string& origin) {
  const json::Value* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;  // Gemma3TextConfig's default: no capping
  const double x = v->as_double();
  if (!(x > 0.0)) throw Error(origin + ": " + std::string(key) + " must be positive or null");
  return x;
}

Gemma3Options read_options(const ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  Gemma3Options o;
  const json::Value* params = c.find("rope_parameters");
  if (params && params->is_object() && (params->contains("full_attention") || params->contains("sliding_attention"))) {
    // transformers 5 keeps rope_theta and rope_local_base_freq at the top level, and may repeat
    // them in the entries: each entry's base defaults to its top-level key, and must agree with it.
    const double global_base = c.get_double("rope_theta", 1000000.0);
    const double local_base = c.get_double("rope_local_base_freq", 10000.0);
    o.global_rope = read_rope_parameters(c, global_base, origin, "full_attention");
    o.local_rope = read_rope_parameters(c, local_base, origin, "sliding_attention");
    if (c.contains("rope_theta") && o.global_rope.theta != global_base)
      throw Error(origin + ": rope_theta differs from rope_parameters.full_attention.rope_theta");
    if (c.contains("rope_local_base_freq") && o.local_rope.theta != local_base)
      throw Error(origin + ": rope_local_base_freq differs from rope_parameters.sliding_attention.rope_theta");
  } else {
    o.global_rope = read_rope_parameters(c, 1000000.0, origin);
    o.local_rope.theta = c.get_double("rope_local_base_freq", 10000.0);
    if (!(o.local_rope.theta > 0.0)) throw Error(origin + ": rope_local_base_freq must be positive");
  }
  for (const RopeParameters* rope : {&o.global_rope, &o.local_rope}) {
    if (rope->type == RopeType::LongRope) throw Error(origin + ": rope type \"longrope\" is not supported for gemma3");
    if (rope->partial_rotary_factor != 1.0)
      throw Error(origin + ": partial_rotary_factor is not supported for gemma3 (it rotates whole heads)");
  }
  if (c.get_bool("use_bidirectional_attention", false))
    throw Error(origin + ": use_bidirectional_attention (EmbeddingGemma) is not supported");
  o.attention_bias = c.get_bool("attention_bias", false);
  o.activation = activation_named(m.hidden_act, origin);
  if (o.activation == Activation::Silu) throw Error(origin + ": hidden_activation \"silu\" is not supported for gemma3");
  o.query_pre_attn_scalar = c.get_double("query_pre_attn_scalar", 256.0);
  if (!(o.query_pre_attn_scalar > 0.0)) throw Error(origin + ": query_pre_attn_scalar must be positive");
  o.attn_logit_softcapping = optional_cap(c, "attn_logit_softcapping", origin);
  o.final_logit_softcapping = optional_cap(c, "final_logit_softcapping", origin);
  if (auto listed = read_layer_types(c, m.num_hidden_layers, origin)) {
    o.layer_types = std::move(*listed);
  } else {
    const std::int64_t pattern = c.get_int("sliding_window_pattern", 6);
    if (pattern <= 0) throw Error(origin + ": sliding_window_pattern must be positive");
    for (std::int64_t i = 0; i < m.num_hidden_layers; ++i)
      o.layer_types.push_back((i + 1) % pattern != 0 ? LayerAttention::Sliding : LayerAttention::Full);
  }
  return o;
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const Gemma3Options& o, bool sliding)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    options_.sliding = sliding;
    options_.scale = 1.0 / std::sqrt(o.query_pre_attn_scalar);
    options_.logit_softcap = o.attn_logit_softcapping;
    q_proj = register_module("q_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, o.attention_bias));
    k_proj = register_module("k_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    v_proj = register_module("v_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, o.attention_bias));
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, o.attention_bias));
    q_norm = register_module("q_norm", RMSNorm(head_dim_, c.norm_eps, RmsNormWeight::OnePlus));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, c.norm_eps, RmsNormWeight::OnePlus));
  }
  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, std::int64_t layer) {
    const auto b = x.size(0), t = x.size(1);
    const RotaryTables& rotary = options_.sliding ? in.sliding_rotary : in.rotary;
    const torch::Tensor q = q_norm(q_proj(x).view({b, t, heads_, head_dim_}).transpose(1, 2));
    const torch::Tensor k = k_norm(k_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2));
    const torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    return o_proj(self_attention(apply_rotary(q, rotary), apply_rotary(k, rotary), v, in, layer, options_));
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
  LayerImpl(const ModelConfig& c, const Gemma3Options& o, bool sliding) {
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

// Tensor-name prefixes of a multimodal gemma3 checkpoint: its language model's, as
// transformers < 4.52 (language_model.model.*, language_model.lm_head) and >= 4.52
// (model.language_model.*) save them, and the parts that are not the language model.
constexpr std::string_view kLanguageModelPrefixes[][2] = {
    {"language_model.model.", "model."}, {"model.language_model.", "model."}, {"language_model.lm_head.", "lm_head."}};
constexpr std::string_view kNotLanguageModel[] = {"vision_tower.", "multi_modal_projector.", "model.vision_tower.",
                                                  "model.multi_modal_projector."};

class Gemma3 final : public Architecture {
 public:
  std::string_view name() const override { return "gemma3"; }

  void read_config(ModelConfig& m, const std::string& origin) const override {
    if (m.model_type == "gemma3") {  // multimodal: the language model is text_config
      const json::Value* text = m.config_json.find("text_config");
      if (!text || !text->is_object()) throw Error(origin + ": a gemma3 config needs a text_config object");
      json::Value text_config = *text;
      text_config.set("model_type", "gemma3_text");
      for (const char* key : {"tie_word_embeddings", "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id"})
        if (!text_config.contains(key) && m.config_json.contains(key)) text_config.set(key, m.config_json.at(key));
      m.config_json = std::move(text_config);
      m.model_type = "gemma3_text";
    }
    const json::Value& c = m.config_json;
    read_standard_sizes_or_defaults(m, origin);
    m.num_key_value_heads = optional_size(c, "num_key_value_heads", origin).value_or(4);
    m.head_dim = optional_size(c, "head_dim", origin).value_or(256);
    m.max_position_embeddings = optional_size(c, "max_position_embeddings", origin).value_or(131072);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-6);
    m.hidden_act = c.get_string("hidden_activation", "gelu_pytorch_tanh");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
    const Gemma3Options o = read_options(m, origin);
    if (std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding) > 0) {
      const json::Value* window = c.find("sliding_window");
      if (window && window->is_null()) throw Error(origin + ": sliding_window is null, but sliding layers need one");
      m.sliding_window = optional_size(c, "sliding_window", origin).value_or(4096);  // the config class's default
    }
  }

  void write_config(const ModelConfig& m, json::Value& c) const override {
    c.set("architectures", json::Array{"Gemma3ForCausalLM"});
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
    const Gemma3Options o = read_options(m, "config.json");
    out.set("rope_theta", o.global_rope.theta);
    out.set("rope_type", rope_type_name(o.global_rope.type));
    out.set("rope_local_base_freq", o.local_rope.theta);
    out.set("query_pre_attn_scalar", o.query_pre_attn_scalar);
    out.set("attn_logit_softcapping", o.attn_logit_softcapping);
    out.set("final_logit_softcapping", o.final_logit_softcapping);
    out.set("sliding_window", m.sliding_window);
    out.set("sliding_window_layers", std::count(o.layer_types.begin(), o.layer_types.end(), LayerAttention::Sliding));
  }

  std::int64_t parameter_count(const ModelConfig& m) const override {
    const Gemma3Options o = read_options(m, "config.json");
    const std::int64_t h = m.hidden_size, inter = m.intermediate_size, d = m.head_dim;
    const std::int64_t q = m.num_attention_heads * d, kv = m.num_key_value_heads * d;
    std::int64_t per_layer = 4 * h + 2 * d + h * q + 2 * h * kv + q * h + 3 * h * inter;
    if (o.attention_bias) per_layer += q + 2 * kv + h;
    std::int64_t n = m.vocab_size * h + m.num_hidden_layers * per_layer + h;
    if (!m.tie_word_embeddings) n += m.vocab_size * h;
    return n;
  }

  std::unique_ptr<Decoder> build(const ModelConfig& c, torch::nn::Module& root) const override {
    const Gemma3Options o = read_options(c, "config.json");
    auto d = std::make_unique<DecoderStack<Layer, RMSNorm>>();
    auto model = root.register_module("model", std::make_shared<torch::nn::Module>());
    d->tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      d->layers.push_back(
          layers->register_module(std::to_string(i), Layer(c, o, o.layer_types[i] == LayerAttention::Sliding)));
    d->norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps, RmsNormWeight::OnePlus));
    d->rotary = model->register_module("rotary_emb", Rotary(c.head_dim, o.global_rope));
    d->sliding_rotary = model->register_module("rotary_emb_local", Rotary(c.head_dim, o.local_rope));
    if (!c.tie_word_embeddings) d->head = root.register_module("lm_head", OutputHead(c.hidden_size, c.vocab_size));
    d->embed_scale = std::sqrt(static_cast<double>(c.hidden_size));
    d->final_logit_softcap = o.final_logit_softcapping;
    return d;
  }

  std::optional<std::string> parameter_for(const ModelConfig& m, const std::string& checkpoint_name) const override {
    std::string name = checkpoint_name;
    for (const std::string_view skipped : kNotLanguageModel)
      if (name.rfind(skipped, 0) == 0) return std::nullopt;
    for (const auto& [from, to] : kLanguageModelPrefixes)
      if (name.rfind(from, 0) == 0) {
        name = std::string(to) + name.substr(from.size());
        break;
      }
    if (ends_with(name, "rotary_emb.inv_freq") || ends_with(name, "rotary_emb_local.inv_freq") ||
        ends_with(name, "embed_tokens.embed_scale"))
      return std::nullopt;
    if (name == "lm_head.weight" && m.tie_word_embeddings) return std::nullopt;
    return name;
  }

  double identity_norm_weight() const override { return 0.0; }

  std::vector<std::string> default_lora_targets() const override { return LoraConfig{}.target_modules; }

 private:
  // A gemma3 text_config lists only what differs from Gemma3TextConfig's defaults (the 4B's
  // omits vocab_size, heads, ...): those defaults, for the sizes.
  static void read_standard_sizes_or_defaults(ModelConfig& m, const std::string& origin) {
    json::Value& c = m.config_json;
    const std::pair<const char*, std::int64_t> defaults[] = {{"vocab_size", 262208},        {"hidden_size", 2304},
                                                             {"intermediate_size", 9216},   {"num_hidden_layers", 26},
                                                             {"num_attention_heads", 8}};
    for (const auto& [key, value] : defaults)
      if (!c.contains(key)) c.set(key, value);
    read_standard_sizes(m, origin);
  }
};

}  // namespace

const Architecture& gemma3() {
  static const Gemma3 architecture;
  return architecture;
}

}  // namespace w2s::model
