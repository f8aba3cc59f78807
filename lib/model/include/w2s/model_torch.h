// w2s model, torch-facing part: the transformer modules, loading, LoRA, the sequence classifier
// and greedy generation. Include only from lib/model and lib/train sources (it pulls in
// <torch/torch.h>, ~20 s of compile time per translation unit).
//
// Conventions
//   * input_ids: int64 [B, T]; attention_mask: int64 or bool [B, T], 1 = real token, 0 = pad.
//     Padding may be on either side: positions are computed from the mask (cumsum - 1), so left-
//     and right-padded batches give the same logits at the real tokens.
//   * Parameter names equal the Hugging Face names ("model.layers.0.self_attn.q_proj.weight",
//     "transformer.h.0.attn.c_attn.weight", "gpt_neox.layers.0.attention.query_key_value.weight");
//     GPT-2's Conv1D weights are stored transposed ([out, in], like nn.Linear) in memory and
//     transposed back when saved.
//   * Base weights live in the model dtype (float32 on CPU, bfloat16 on CUDA by default);
//     trainable LoRA matrices and the classification head are float32 (float64 only when the
//     whole model is float64, for gradient checks).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "w2s/model.h"

namespace w2s::model {

// ---------------------------------------------------------------------------------------------
// Device and dtype
// ---------------------------------------------------------------------------------------------

struct Placement {
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;  // dtype of the (frozen) base weights
  int threads = 0;  // intra-op threads asked for; 0: CausalLMImpl::place sets default_threads(hidden)
};
// "cpu" | "cuda" | "cuda:N" | "auto" (cuda when available) and "auto" | float32 | bfloat16 |
// float16 | float64 ("auto": bfloat16 on CUDA, float32 on CPU). Throws on unknown names or
// when CUDA is asked for but not available. Also applies options.threads when it is > 0.
Placement resolve_placement(const RunOptions& options);
// "float32" | "bfloat16" | "float16" | "float64": the --dtype names, which are also HF's torch_dtype.
std::string dtype_name(torch::Dtype dtype);

// ---------------------------------------------------------------------------------------------
// safetensors <-> tensors
// ---------------------------------------------------------------------------------------------

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Every tensor of a file, copied out of the mapping (CPU, stored dtype).
NamedTensors load_safetensors(const std::filesystem::path& path);
// Writes tensors (any device; F32/F16/BF16/F64/I64/I32) atomically.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// ---------------------------------------------------------------------------------------------
// The causal language model
// ---------------------------------------------------------------------------------------------

// Keys and values of earlier positions, for incremental decoding. Pass the same cache to
// successive forward calls with the new tokens only; attention_mask must then cover the
// cached AND the new positions ([B, past + T]).
//
// A cache may also hold a shared part: per layer [1, kv_heads, P, head_dim], positions 0..P-1 of
// every row of the batch (a prompt prefix the rows have in common). Attention reads it by
// broadcasting over the batch, never copies it per row, and never writes it; the rows' own keys
// and values (positions P on) are appended to `keys` / `values`. shared_prefix() makes one.
struct KVCache {
  std::vector<torch::Tensor> keys, values;                // per layer [B, kv_heads, own, head_dim]
  std::vector<torch::Tensor> shared_keys, shared_values;  // per layer [1, kv_heads, P, head_dim], or none
  std::int64_t shared_length() const { return shared_keys.empty() ? 0 : shared_keys[0].size(2); }
  std::int64_t length() const {
    return shared_length() + (keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2));
  }
};

// A cache whose shared part is the first `length` positions of `prefix` (a batch-1 cache without a
// shared part of its own): views of its tensors, no copy. For decoding a batch of prompts that all
// begin with those tokens.
KVCache shared_prefix(const KVCache& prefix, std::int64_t length);
// The first `length` positions of a batch-1 cache without a shared part (views, no copy): where a
// longer prompt extends a shorter one, its cache grows from there.
KVCache truncated(const KVCache& cache, std::int64_t length);

struct HiddenOutput {
  torch::Tensor last_hidden;  // [B, T, H] after the final norm
  // With collect_hidden_states: num_hidden_layers + 1 tensors [B, T, H] in the HF convention:
  // embeddings, the output of layers 1..L-1, and the final-normed output of layer L.
  std::vector<torch::Tensor> hidden_states;
};

// The most bytes a forward pass without gradients lets one intermediate tensor take (the
// attention scores of a layer, its MLP activations): longer inputs run in chunks of tokens through
// the KV cache, and the local provider sizes its batches of questions by it.
inline constexpr std::int64_t kForwardTensorBytes = std::int64_t{128} << 20;
// How many query tokens, summed over the rows of a batch, one forward pass attending to `keys`
// keys may take with its score and MLP tensors within kForwardTensorBytes (at least 1).
std::int64_t query_tokens_within_budget(const ModelConfig& config, std::int64_t keys, torch::Dtype dtype);
// The questions of one evaluation point, by their own token counts `lengths`, cut into batches of
// at most `per_batch` (at least 1) in order of length, shortest first (equal lengths in their
// order): a right-padded batch then pads each question to its neighbours' lengths, not to the
// longest question that happened to be sent beside it. Indices into `lengths`.
std::vector<std::vector<std::size_t>> batches_by_length(const std::vector<std::size_t>& lengths, std::size_t per_batch);

class Decoder;       // one architecture's modules and forward pass (src/decoder.h)
class Architecture;  // one architecture's config, checkpoint names and defaults (src/architecture.h)

// A decoder-only causal LM of any supported architecture (the model_type of its config picks
// one, src/architectures.cpp), with the Hugging Face parameter names.
class CausalLMImpl : public torch::nn::Module {
 public:
  // Random initialisation (normal(0, initializer_range), norms = 1, biases = 0) in float32 on
  // CPU; move with place().
  explicit CausalLMImpl(ModelConfig config);

  const ModelConfig& config() const { return config_; }
  const Architecture& architecture() const { return architecture_; }
  Placement placement() const { return placement_; }
  // Moves every parameter and buffer to the device; base weights to `dtype`, LoRA weights stay
  // float32. Sets the process's thread count: placement.threads, or default_threads(hidden).
  void place(const Placement& placement);

  // Without gradients and hidden states to collect, an input longer than
  // query_tokens_within_budget allows runs in chunks of tokens through the KV cache (a temporary
  // one when none is given): the same result within float rounding, in bounded memory.
  HiddenOutput forward_hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              KVCache* cache = nullptr, bool collect_hidden_states = false);
  // Vocabulary logits [B, T, V] (in the model dtype). attention_mask may be undefined (all ones).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        KVCache* cache = nullptr);
  // The logits of each row's last real new token only [B, V] (decoding: no vocabulary projection
  // of the others): the last position, or the last before a row's right padding.
  torch::Tensor forward_last(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                             KVCache* cache = nullptr);

  // The base weights under their HF names and layouts (for save_pretrained).
  NamedTensors hf_state_dict();

  // True when a row's logits depend on the other rows of its batch, not only on its own tokens:
  // longrope (Phi-3 128k) takes its long factors for a whole forward pass once any position passes
  // original_max_position_embeddings, as transformers does.
  bool rotary_depends_on_batch() const;

 private:
  ModelConfig config_;
  const Architecture& architecture_;
  std::shared_ptr<Decoder> decoder_;
  Placement placement_;
};
TORCH_MODULE(CausalLM);

// Reads config.json and the weights (model.safetensors or sharded via the index) of a HF model
// directory onto the placement.
CausalLM load_causal_lm(const std::filesystem::path& model_dir, const Placement& placement = {});
// A randomly initialised model (torch::manual_seed(seed) first) on the placement.
CausalLM random_causal_lm(const ModelConfig& config, std::uint64_t seed,
                          const Placement& placement = {});
// Writes config.json + model.safetensors (base weights, HF names and layouts) into `dir`.
void save_pretrained(CausalLM& model, const std::filesystem::path& dir);

// ---------------------------------------------------------------------------------------------
// Tokenizing into tensors
// ---------------------------------------------------------------------------------------------

struct EncodedBatch {
  torch::Tensor input_ids;       // int64 [B, T], pad positions hold the pad id
  torch::Tensor attention_mask;  // int64 [B, T]
  std::int64_t truncated = 0;    // how many texts were cut to max_length
};
// Encodes and pads to the longest text. max_length > 0 truncates each text's ids (keeping the
// start, as HF's default right truncation). Throws if the tokenizer has no pad and no eos id.
EncodedBatch encode_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                          PaddingSide side = PaddingSide::Right, std::int64_t max_length = 0,
                          bool add_special_tokens = true);

// ---------------------------------------------------------------------------------------------
// LoRA
// ---------------------------------------------------------------------------------------------

struct LoraConfig {
  std::int64_t r = 8;
  double alpha = 8.0;  // scale = alpha / r
  double dropout = 0.0;
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
};

// What `--lora-modules auto` adapts, per architecture: the reference's seven projections for
// Llama-family models; c_attn, c_proj, c_fc for GPT-2; query_key_value, dense, dense_h_to_4h,
// dense_4h_to_h for GPT-NeoX.
std::vector<std::string> default_lora_targets(const ModelConfig& config);

// Adds float32 LoRA matrices to every linear layer whose last name part is in target_modules
// (A: kaiming-uniform(a=sqrt(5)) like peft, B: zeros, so the model is unchanged) and freezes
// every base parameter. Returns the number of adapted layers; throws when none matched (naming
// the model's linear layer names, e.g. GPT-2's c_attn, c_proj, c_fc). Output heads are never adapted.
int apply_lora(CausalLM& model, const LoraConfig& config);
// Makes every base parameter trainable (full fine-tuning); base weights are converted to float32.
void enable_full_finetune(CausalLM& model);

// ---------------------------------------------------------------------------------------------
// Sequence classification
// ---------------------------------------------------------------------------------------------

struct ClassifierOutput {
  // [B, num_labels] float32 (float64 for a float64 model): the head runs in float32 on a float32
  // copy of the hidden state and its output is rounded through the model dtype (docs/reference-behaviour.md §14).
  torch::Tensor logits;
  // With collect_hidden_states: [B, L+1, H] last-real-token hidden state of every layer
  // (HF convention, see HiddenOutput), model dtype.
  torch::Tensor hidden_states;
};

class SequenceClassifierImpl : public torch::nn::Module {
 public:
  // A bias-free float32 linear `score` head on the hidden state of each row's last real token
  // (found from the attention mask, so any pad id and padding side work). Initialised
  // normal(0, initializer_range) then multiplied by 0.01 (docs/reference-behaviour.md §14). Registers the backbone as
  // submodule "model" -> parameter names "model.model.layers...", head "score.weight".
  SequenceClassifierImpl(CausalLM backbone, std::int64_t num_labels = 2);

  ClassifierOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                           bool collect_hidden_states = false);

  CausalLM backbone() const { return backbone_; }
  torch::nn::Linear score() const { return score_; }

  // Parameters with requires_grad (LoRA matrices, the head, or everything after full fine-tune),
  // with their names.
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable_parameters();
  std::vector<torch::Tensor> trainable_parameters();

  // Saves / loads exactly the trainable parameters (LoRA + head, or everything) as
  // safetensors (their own dtype). load_trainable throws if a name is missing, unexpected or has another shape.
  void save_trainable(const std::filesystem::path& path,
                      const std::map<std::string, std::string>& metadata = {});
  void load_trainable(const std::filesystem::path& path);

 private:
  CausalLM backbone_;
  torch::nn::Linear score_{nullptr};
};
TORCH_MODULE(SequenceClassifier);

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

struct GenerateResult {
  std::vector<std::int64_t> generated_ids;  // without the prompt; stops after eos
  // The first step's next-token distribution: (id, probability), highest first.
  std::vector<std::pair<std::int64_t, double>> first_step_top_k;
};
// Greedy decoding with the KV cache (torch::NoGradGuard inside).
GenerateResult greedy_generate(CausalLM& model, const std::vector<std::int64_t>& prompt_ids,
                               std::int64_t max_new_tokens, std::optional<std::int64_t> eos_id,
                               int top_k = 5);

}  // namespace w2s::model
