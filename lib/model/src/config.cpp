// config.json: model_type picks the architecture, which reads the fields it names its own way
// (architecture.h); what every config.json shares (head sizes, token ids) is checked here.
#include <cmath>

#include "architecture.h"

namespace w2s::model {

namespace {

// The largest value each size in config.json may take: well above every released model, low
// enough that no product of sizes (parameter counts, tensor shapes) overflows 64 bits. A larger
// value is a corrupt or hostile file, refused before anything is allocated.
std::int64_t size_bound(std::string_view key) {
  if (key == "vocab_size") return std::int64_t{1} << 24;
  if (key == "hidden_size" || key == "n_embd" || key == "head_dim") return std::int64_t{1} << 16;
  if (key == "intermediate_size" || key == "n_inner") return std::int64_t{1} << 20;
  if (key == "num_hidden_layers" || key == "n_layer" || key == "num_attention_heads" || key == "n_head" ||
      key == "num_key_value_heads")
    return std::int64_t{1} << 12;
  return std::int64_t{1} << 30;  // max_position_embeddings, n_positions, sliding_window, ...
}

std::int64_t checked_size(const json::Value& v, std::string_view key, std::string_view origin) {
  const std::string where = std::string(origin) + ": field \"" + std::string(key) + "\"";
  if (!v.is_number()) throw Error(where + " must be a positive integer");
  const std::int64_t bound = size_bound(key);
  const double d = v.as_double();  // range-checked before the integer conversion
  if (!(d >= 1.0 && d <= static_cast<double>(bound)) || d != std::floor(d))
    throw Error(where + " = " + json::dump(v) + " is not an integer in 1 .. " + std::to_string(bound));
  return v.as_int();
}

}  // namespace

std::int64_t required_positive(const json::Value& c, std::string_view key, std::string_view origin) {
  const json::Value* v = c.find(key);
  if (!v || !v->is_number()) throw Error(std::string(origin) + ": missing integer field \"" + std::string(key) + "\"");
  return checked_size(*v, key, origin);
}

std::optional<std::int64_t> optional_int(const json::Value& c, std::string_view key) {
  const json::Value* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_int();
}

std::optional<std::int64_t> optional_size(const json::Value& c, std::string_view key, std::string_view origin) {
  const json::Value* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return checked_size(*v, key, origin);
}

void read_standard_sizes(ModelConfig& m, const std::string& origin) {
  const json::Value& c = m.config_json;
  m.vocab_size = required_positive(c, "vocab_size", origin);
  m.hidden_size = required_positive(c, "hidden_size", origin);
  m.intermediate_size = required_positive(c, "intermediate_size", origin);
  m.num_hidden_layers = required_positive(c, "num_hidden_layers", origin);
  m.num_attention_heads = required_positive(c, "num_attention_heads", origin);
}

void write_standard_sizes(const ModelConfig& m, json::Value& c) {
  c.set("vocab_size", m.vocab_size);
  c.set("hidden_size", m.hidden_size);
  c.set("intermediate_size", m.intermediate_size);
  c.set("num_hidden_layers", m.num_hidden_layers);
  c.set("num_attention_heads", m.num_attention_heads);
}

namespace {

std::optional<std::int64_t> optional_id(const json::Value& c, std::string_view key) {
  const json::Value* v = c.find(key);
  if (v && v->is_array()) {  // Llama-3.1 lists several eos ids; the first is the canonical one
    if (v->size() == 0) return std::nullopt;
    return v->at(std::size_t{0}).as_int();
  }
  return optional_int(c, key);
}

ModelConfig parse_config_fields(const json::Value& c, std::string_view origin) {
  const std::string where(origin);
  if (!c.is_object()) throw Error(where + ": not a JSON object");
  ModelConfig m;
  m.model_type = c.get_string("model_type");
  m.config_json = c;
  architecture_for(m.model_type, origin).read_config(m, where);
  if (m.num_key_value_heads == 0) m.num_key_value_heads = m.num_attention_heads;
  if (m.head_dim == 0) {
    if (m.hidden_size % m.num_attention_heads != 0)
      throw Error(where + ": hidden_size is not divisible by the number of attention heads");
    m.head_dim = m.hidden_size / m.num_attention_heads;
  }
  if (m.head_dim < 0) throw Error(where + ": head_dim must be positive");
  if (m.num_key_value_heads <= 0 || m.num_attention_heads % m.num_key_value_heads != 0)
    throw Error(where + ": num_attention_heads must be a multiple of num_key_value_heads");
  // transformers 5 writes "dtype", 4 "torch_dtype": the same declaration. w2s takes the weights'
  // dtype from the safetensors and the compute dtype from --dtype; a config naming two is refused.
  const json::Value* dtype = c.find("dtype");
  const json::Value* torch_dtype = c.find("torch_dtype");
  if (dtype && torch_dtype && !dtype->is_null() && !torch_dtype->is_null() && *dtype != *torch_dtype)
    throw Error(where + ": dtype " + json::dump(*dtype) + " and torch_dtype " + json::dump(*torch_dtype) + " differ");
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

std::int64_t ModelConfig::parameter_count() const {
  return architecture_for(model_type, "ModelConfig").parameter_count(*this);
}

json::Value model_config_to_json(const ModelConfig& m) {
  json::Value c = m.config_json.is_object() ? m.config_json : json::Value::object();
  c.set("model_type", m.model_type);
  architecture_for(m.model_type, "ModelConfig").write_config(m, c);
  c.set("initializer_range", m.initializer_range);
  if (m.bos_token_id) c.set("bos_token_id", *m.bos_token_id);
  if (m.eos_token_id) c.set("eos_token_id", *m.eos_token_id);
  if (m.pad_token_id) c.set("pad_token_id", *m.pad_token_id);
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
