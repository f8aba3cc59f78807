// config.json of the supported architectures. HF's field names differ per model_type (GPT-2 uses
// n_embd / n_layer / n_head); everything is normalised into ModelConfig here.
#include <cmath>

#include "w2s/model.h"

namespace w2s::model {

namespace {

std::int64_t required_int(const json::Value& c, std::string_view key, std::string_view origin) {
  const json::Value* v = c.find(key);
  if (!v || !v->is_number()) throw Error(std::string(origin) + ": missing integer field \"" + std::string(key) + "\"");
  const std::int64_t x = v->as_int();
  if (x <= 0) throw Error(std::string(origin) + ": field \"" + std::string(key) + "\" must be positive");
  return x;
}

std::optional<std::int64_t> optional_id(const json::Value& c, std::string_view key) {
  const json::Value* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_array()) {  // Llama-3.1 lists several eos ids; the first is the canonical one
    if (v->size() == 0) return std::nullopt;
    return v->at(std::size_t{0}).as_int();
  }
  return v->as_int();
}

}  // namespace

std::int64_t ModelConfig::parameter_count() const {
  const std::int64_t h = hidden_size, inter = intermediate_size;
  std::int64_t n = vocab_size * h;  // token embedding
  if (architecture == Architecture::Gpt2) {
    n += max_position_embeddings * h;
    const std::int64_t per_layer = 2 * 2 * h            // ln_1, ln_2
                                   + h * 3 * h + 3 * h  // c_attn
                                   + h * h + h          // attn c_proj
                                   + h * inter + inter  // c_fc
                                   + inter * h + h;     // mlp c_proj
    n += num_hidden_layers * per_layer + 2 * h;         // ln_f
    return n;
  }
  const std::int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  std::int64_t per_layer = 2 * h                         // input / post-attention RMSNorm
                           + h * q + 2 * h * kv + q * h  // q, k, v, o
                           + 3 * h * inter;              // gate, up, down
  if (attention_bias) per_layer += q + 2 * kv;
  if (o_proj_bias) per_layer += h;
  if (mlp_bias) per_layer += 2 * inter + h;
  n += num_hidden_layers * per_layer + h;
  if (!tie_word_embeddings) n += vocab_size * h;
  return n;
}

namespace {

ModelConfig parse_config_fields(const json::Value& c, std::string_view origin) {
  const std::string where(origin);
  if (!c.is_object()) throw Error(where + ": not a JSON object");
  ModelConfig m;
  m.model_type = c.get_string("model_type");
  if (m.model_type == "gpt2") {
    m.architecture = Architecture::Gpt2;
    m.vocab_size = required_int(c, "vocab_size", origin);
    m.hidden_size = required_int(c, "n_embd", origin);
    m.num_hidden_layers = required_int(c, "n_layer", origin);
    m.num_attention_heads = required_int(c, "n_head", origin);
    m.num_key_value_heads = m.num_attention_heads;
    const json::Value* inner = c.find("n_inner");
    m.intermediate_size = inner && !inner->is_null() ? inner->as_int() : 4 * m.hidden_size;
    m.max_position_embeddings = required_int(c, "n_positions", origin);
    m.norm_eps = c.get_double("layer_norm_epsilon", 1e-5);
    m.hidden_act = c.get_string("activation_function", "gelu_new");
    if (m.hidden_act != "gelu_new" && m.hidden_act != "gelu")
      throw Error(where + ": GPT-2 activation_function \"" + m.hidden_act + "\" is not supported (gelu_new, gelu)");
    if (c.get_bool("scale_attn_by_inverse_layer_idx", false) || c.get_bool("reorder_and_upcast_attn", false))
      throw Error(where + ": GPT-2 options scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
    m.tie_word_embeddings = true;
    m.attention_bias = true;
    m.o_proj_bias = true;
    m.mlp_bias = true;
  } else if (m.model_type == "llama" || m.model_type == "mistral" || m.model_type == "qwen2") {
    m.architecture = Architecture::Llama;
    m.vocab_size = required_int(c, "vocab_size", origin);
    m.hidden_size = required_int(c, "hidden_size", origin);
    m.intermediate_size = required_int(c, "intermediate_size", origin);
    m.num_hidden_layers = required_int(c, "num_hidden_layers", origin);
    m.num_attention_heads = required_int(c, "num_attention_heads", origin);
    const json::Value* kv = c.find("num_key_value_heads");
    m.num_key_value_heads = kv && !kv->is_null() ? kv->as_int() : m.num_attention_heads;
    m.max_position_embeddings = c.get_int("max_position_embeddings", 2048);
    m.norm_eps = c.get_double("rms_norm_eps", 1e-6);
    m.rope_theta = c.get_double("rope_theta", 10000.0);
    m.hidden_act = c.get_string("hidden_act", "silu");
    if (m.hidden_act != "silu")
      throw Error(where + ": hidden_act \"" + m.hidden_act + "\" is not supported (silu)");
    m.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);  // HF default for these types
    if (m.model_type == "qwen2") {
      m.attention_bias = true;  // Qwen2: biases on q, k, v; none on o
    } else {
      m.attention_bias = c.get_bool("attention_bias", false);
      m.o_proj_bias = m.attention_bias;
    }
    m.mlp_bias = c.get_bool("mlp_bias", false);
    const json::Value* window = c.find("sliding_window");
    const bool window_used = m.model_type == "mistral" || c.get_bool("use_sliding_window", false);
    if (window_used && window && !window->is_null()) m.sliding_window = window->as_int();
    if (const json::Value* rs = c.find("rope_scaling"); rs && !rs->is_null()) {
      if (!rs->is_object()) throw Error(where + ": rope_scaling is not an object");
      std::string type = rs->get_string("rope_type", rs->get_string("type", "default"));
      m.rope_scaling.type = type;
      m.rope_scaling.factor = rs->get_double("factor", 1.0);
      if (type == "llama3") {
        m.rope_scaling.low_freq_factor = rs->get_double("low_freq_factor", 1.0);
        m.rope_scaling.high_freq_factor = rs->get_double("high_freq_factor", 4.0);
        m.rope_scaling.original_max_position_embeddings = rs->get_int("original_max_position_embeddings", 8192);
      } else if (type != "default" && type != "linear") {
        throw Error(where + ": rope_scaling type \"" + type + "\" is not supported (default, linear, llama3)");
      }
    }
  } else {
    throw Error(where + ": model_type \"" + m.model_type +
                "\" is not supported (supported: llama, mistral, qwen2, gpt2)");
  }
  const json::Value* hd = c.find("head_dim");
  m.head_dim = hd && !hd->is_null() ? hd->as_int() : m.hidden_size / m.num_attention_heads;
  if (m.head_dim <= 0 || (!hd && m.hidden_size % m.num_attention_heads != 0))
    throw Error(where + ": hidden_size is not divisible by the number of attention heads");
  if (m.architecture == Architecture::Llama && m.head_dim % 2 != 0)
    throw Error(where + ": head_dim must be even for rotary embeddings");
  if (m.num_key_value_heads <= 0 || m.num_attention_heads % m.num_key_value_heads != 0)
    throw Error(where + ": num_attention_heads must be a multiple of num_key_value_heads");
  m.initializer_range = c.get_double("initializer_range", 0.02);
  m.bos_token_id = optional_id(c, "bos_token_id");
  m.eos_token_id = optional_id(c, "eos_token_id");
  m.pad_token_id = optional_id(c, "pad_token_id");
  return m;
}

}  // namespace

ModelConfig parse_model_config(const json::Value& c, std::string_view origin) {
  return json::with_origin(origin, [&] { return parse_config_fields(c, origin); });
}

ModelConfig read_model_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  return parse_model_config(json::parse_file(path), path.string());
}

json::Value model_config_to_json(const ModelConfig& m) {
  json::Value c = json::Value::object();
  auto ids = [&] {
    if (m.bos_token_id) c.set("bos_token_id", *m.bos_token_id);
    if (m.eos_token_id) c.set("eos_token_id", *m.eos_token_id);
    if (m.pad_token_id) c.set("pad_token_id", *m.pad_token_id);
  };
  if (m.architecture == Architecture::Gpt2) {
    c.set("architectures", json::Array{"GPT2LMHeadModel"});
    c.set("model_type", "gpt2");
    c.set("vocab_size", m.vocab_size);
    c.set("n_embd", m.hidden_size);
    c.set("n_layer", m.num_hidden_layers);
    c.set("n_head", m.num_attention_heads);
    c.set("n_inner", m.intermediate_size);
    c.set("n_positions", m.max_position_embeddings);
    c.set("n_ctx", m.max_position_embeddings);
    c.set("layer_norm_epsilon", m.norm_eps);
    c.set("activation_function", m.hidden_act);
    c.set("initializer_range", m.initializer_range);
    ids();
    return c;
  }
  const char* arch = m.model_type == "qwen2" ? "Qwen2ForCausalLM"
                     : m.model_type == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM";
  c.set("architectures", json::Array{arch});
  c.set("model_type", m.model_type);
  c.set("vocab_size", m.vocab_size);
  c.set("hidden_size", m.hidden_size);
  c.set("intermediate_size", m.intermediate_size);
  c.set("num_hidden_layers", m.num_hidden_layers);
  c.set("num_attention_heads", m.num_attention_heads);
  c.set("num_key_value_heads", m.num_key_value_heads);
  c.set("head_dim", m.head_dim);
  c.set("max_position_embeddings", m.max_position_embeddings);
  c.set("rms_norm_eps", m.norm_eps);
  c.set("rope_theta", m.rope_theta);
  if (m.rope_scaling.type != "default") {
    json::Value rs = json::Value::object();
    rs.set("rope_type", m.rope_scaling.type);
    rs.set("factor", m.rope_scaling.factor);
    if (m.rope_scaling.type == "llama3") {
      rs.set("low_freq_factor", m.rope_scaling.low_freq_factor);
      rs.set("high_freq_factor", m.rope_scaling.high_freq_factor);
      rs.set("original_max_position_embeddings", m.rope_scaling.original_max_position_embeddings);
    }
    c.set("rope_scaling", std::move(rs));
  }
  c.set("hidden_act", m.hidden_act);
  c.set("tie_word_embeddings", m.tie_word_embeddings);
  if (m.model_type != "qwen2") c.set("attention_bias", m.attention_bias);
  c.set("mlp_bias", m.mlp_bias);
  if (m.sliding_window) {
    c.set("sliding_window", *m.sliding_window);
    if (m.model_type == "qwen2") c.set("use_sliding_window", true);
  }
  c.set("initializer_range", m.initializer_range);
  ids();
  return c;
}

ModelConfig tiny_config(std::string_view model_type, std::int64_t vocab_size, std::int64_t hidden_size,
                        std::int64_t num_layers, std::int64_t num_heads, std::int64_t num_kv_heads) {
  json::Value c = json::Value::object();
  c.set("model_type", model_type);
  c.set("vocab_size", vocab_size);
  c.set("hidden_size", hidden_size);
  c.set("intermediate_size", hidden_size * 8 / 3 / 2 * 2 + 2);
  c.set("num_hidden_layers", num_layers);
  c.set("num_attention_heads", num_heads);
  c.set("num_key_value_heads", num_kv_heads);
  c.set("max_position_embeddings", 512);
  c.set("rms_norm_eps", 1e-6);
  c.set("bos_token_id", 1);
  c.set("eos_token_id", 2);
  c.set("pad_token_id", 0);
  return parse_model_config(c, "tiny_config");
}

}  // namespace w2s::model
