// One model family behind one small interface (internal to lib/model; no torch here).
//
// An Architecture knows how its family is stored: the config.json fields it names its own way
// or adds (GPT-2's n_embd), the parameter names and layouts of its
// safetensors, its default LoRA targets, and how to build its modules (a Decoder, decoder.h).
// Each family is one file in src/architectures/; the model_type table is architectures.cpp.
// docs/model.md, "Adding an architecture", walks through adding one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "w2s/model.h"

namespace torch::nn {
class Module;
}

namespace w2s::model {

class Decoder;

class Architecture {
 public:
  virtual ~Architecture() = default;

  // What `w2s model info` prints as "architecture" ("llama-family", "gpt2", "gpt_neox").
  virtual std::string_view name() const = 0;

  // --- config.json ---------------------------------------------------------------------------
  // Fills the common fields of `config` (model_type and config_json are set) from config_json
  // under this family's names, and checks the family's own fields. head_dim and
  // num_key_value_heads may stay 0 (then hidden_size / heads and num_attention_heads).
  // Throws w2s::Error naming `origin`.
  virtual void read_config(ModelConfig& config, const std::string& origin) const = 0;
  // Writes the common fields back under this family's names into `out` (a copy of config_json).
  virtual void write_config(const ModelConfig& config, json::Value& out) const = 0;
  // The family's own settings, for `w2s model info` (rotary base, biases, ...).
  virtual void describe(const ModelConfig& config, json::Value& out) const = 0;
  // Every weight of the causal LM (tied head counted once), without building it.
  virtual std::int64_t parameter_count(const ModelConfig& config) const = 0;

  // --- modules and checkpoints ---------------------------------------------------------------
  // Registers the modules on `root` under the Hugging Face parameter names.
  virtual std::unique_ptr<Decoder> build(const ModelConfig& config, torch::nn::Module& root) const = 0;
  // The parameter a checkpoint tensor loads into; nullopt for tensors that are skipped (buffers
  // the model recomputes, a tied head). Names not among the parameters are then an error.
  virtual std::optional<std::string> parameter_for(const ModelConfig& config, const std::string& checkpoint_name) const = 0;
  // True for parameters stored transposed in checkpoints (GPT-2's Conv1D weights, [in, out]).
  virtual bool stored_transposed(const std::string& /*parameter_name*/) const { return false; }
  // The norm weight that leaves its input unscaled, which random models start from (Gemma: 0,
  // its norms multiply by 1 + weight).
  virtual double identity_norm_weight() const { return 1.0; }
  // The linear layers `--lora-modules auto` adapts.
  virtual std::vector<std::string> default_lora_targets() const = 0;
};

// The architecture of a config.json model_type. Throws w2s::Error naming `origin` and listing
// the supported model types.
const Architecture& architecture_for(std::string_view model_type, std::string_view origin);

// ---------------------------------------------------------------------------------------------
// Reading config.json fields (for read_config)
// ---------------------------------------------------------------------------------------------

// A positive integer field that must be present. Sizes are bounded (vocab_size 2^24, hidden_size
// and head_dim 2^16, intermediate_size 2^20, layers and heads 2^12, others 2^30), so that no
// product of them overflows; the error names `origin` and the key.
std::int64_t required_positive(const json::Value& config, std::string_view key, std::string_view origin);
// A size that may be absent or null; bounded as above.
std::optional<std::int64_t> optional_size(const json::Value& config, std::string_view key, std::string_view origin);
// An integer field that may be absent or null (token ids).
std::optional<std::int64_t> optional_int(const json::Value& config, std::string_view key);

// The sizes under the names most transformers configs use (vocab_size, hidden_size,
// intermediate_size, num_hidden_layers, num_attention_heads), all required; and back.
void read_standard_sizes(ModelConfig& config, const std::string& origin);
void write_standard_sizes(const ModelConfig& config, json::Value& out);

// For matching checkpoint names (std::string::ends_with once the project is on C++20).
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace w2s::model
