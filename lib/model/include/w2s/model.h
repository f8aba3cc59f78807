// w2s model: Hugging Face model directories without torch in the interface.
//
//   * ModelConfig / read_model_config — config.json of a Llama-family (llama, mistral, qwen2),
//     GPT-2 or GPT-NeoX (Pythia) model; anything else is rejected with a clear error.
//   * Tokenizer                      — tokenizer.json (byte-level BPE as in GPT-2 / Llama-3 /
//     Qwen2, or BPE with byte fallback as in Llama-2 / SentencePiece) plus tokenizer_config.json,
//     and two built-in tokenizers for random-initialised models: bytes (ids = byte + 3) and
//     hashed words (lowercased words hashed into buckets).
//   * SafetensorsFile / write_safetensors — memory-mapped, bounds-checked safetensors reader and
//     a writer (F32, F16, BF16, plus F64/I64 for tests and adapters).
//   * describe_model / tokenize_to_json / generate_to_json — what `w2s model info|tokenize|generate`
//     print.
//   * ChatTemplate / render_chat     — tokenizer_config.json's chat_template for the known template
//     families (ChatML, Llama-3, Mistral [INST]), rendered as Hugging Face renders them.
//   * make_local_provider            — `--provider local` of the in-context experiments: an
//     llm::Provider answering chat requests with local models (src/local_provider.cpp).
//
// The torch-facing part (modules, LoRA, classifier, generation on tensors) is in
// w2s/model_torch.h, which only lib/model and lib/train sources include.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "w2s/core.h"
#include "w2s/llm.h"
#include "w2s/options.h"

namespace w2s::model {

// ---------------------------------------------------------------------------------------------
// The torch process: environment, memory, threads (docs/benchmarks.md)
// ---------------------------------------------------------------------------------------------

// The environment a process that loads libtorch starts with. libgomp (libtorch's OpenMP runtime)
// and glibc's allocator read their settings once, before main, so whoever starts the process sets
// them (docs/benchmarks.md, "Threads" and "Memory"):
//  * OMP_WAIT_POLICY=PASSIVE: a thread waiting at a barrier sleeps instead of spinning, which on
//    cores shared with other jobs costs a step several times its CPU;
//  * GLIBC_TUNABLES=kTorchMallocTunables: freed memory stays in the process. By default glibc gives
//    each block of 32 MB or more its own mapping, returned when freed, and trims the heap's top, so
//    every step's activations and every long prompt's attention scores come back as fresh pages,
//    faulted in and zeroed by the kernel. Every block from the heap (mmap_max=0), the heap kept
//    (trim_threshold, top_pad), and no per-thread cache (tcache_count=0): torch's 64-byte aligned
//    blocks leave a few bytes at their ends that the cache would hold apart, so a freed block could
//    never merge back to the size the same tensor asks for at the next step.
// A variable the user set is kept as it is. Header-only: `w2s`, which does not link libtorch,
// calls it before it starts w2s-torch.
inline constexpr const char* kTorchMallocTunables =
    "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776:glibc.malloc.top_pad=67108864:"
    "glibc.malloc.tcache_count=0";
inline void set_torch_environment() {
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  ::setenv("GLIBC_TUNABLES", kTorchMallocTunables, 0);
}
inline bool torch_environment_set() { return std::getenv("OMP_WAIT_POLICY") && std::getenv("GLIBC_TUNABLES"); }

// First thing in main of a program that links libtorch (w2s-torch, the benches): started without
// the torch environment (directly, not by `w2s`), it sets it and executes /proc/self/exe again
// with the same argv.
void configure_torch_process(char** argv);

// Sets torch's intra-op thread count (n >= 1). n <= 0 keeps torch's default. Call before the
// first forward pass; affects the whole process.
void set_num_threads(int n);
// The thread count for a model when none was asked for (RunOptions::threads 0): one below
// kOneThreadBelowHidden, whose matrix products take microseconds and gain nothing from a second
// thread but its synchronisation; torch's default (the cores OpenMP sees) otherwise.
inline constexpr std::int64_t kOneThreadBelowHidden = 512;
int default_threads(std::int64_t hidden_size);

// ---------------------------------------------------------------------------------------------
// Configuration (config.json)
// ---------------------------------------------------------------------------------------------

// What every architecture has, whatever its config.json calls it (GPT-2: n_embd, n_layer, ...).
// Everything else (rotary settings, biases, parallel residual, ...) an architecture reads itself
// from `config_json` in its own file (lib/model/src/architectures/, docs/model.md).
struct ModelConfig {
  std::string model_type = "llama";  // config.json model_type: picks the architecture
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;  // the MLP width (GPT-2: n_inner or 4 * n_embd)
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  // GQA; equals num_attention_heads when absent
  std::int64_t head_dim = 0;             // hidden_size / num_attention_heads when absent
  std::int64_t max_position_embeddings = 2048;
  double norm_eps = 1e-6;                // rms_norm_eps, layer_norm_epsilon or layer_norm_eps
  std::string hidden_act = "silu";       // silu (Llama family), gelu_new (GPT-2), gelu (GPT-NeoX)
  bool tie_word_embeddings = false;
  std::optional<std::int64_t> sliding_window;  // Mistral-style local attention
  double initializer_range = 0.02;
  std::optional<std::int64_t> bos_token_id, eos_token_id, pad_token_id;
  // config.json as read (tiny_config: as built). The architecture reads its own fields from it;
  // model_config_to_json writes it back with the fields above updated.
  json::Value config_json = json::Value::object();

  std::int64_t parameter_count() const;  // every weight of the causal LM (tied head counted once)
};

// Parses a config.json object. `origin` names the file in errors. Throws w2s::Error for an
// unsupported model_type or missing / inconsistent sizes.
ModelConfig parse_model_config(const json::Value& config, std::string_view origin = "config.json");
ModelConfig read_model_config(const std::filesystem::path& model_dir);
// The HF config.json for a config (save_pretrained adds torch_dtype, the dtype of the weights).
json::Value model_config_to_json(const ModelConfig& config);

// A small Llama-family config for tests and demos: `model_type` "llama", "mistral" or "qwen2"
// (q/k/v bias).
ModelConfig tiny_config(std::string_view model_type = "llama", std::int64_t vocab_size = 259,
                        std::int64_t hidden_size = 32, std::int64_t num_layers = 2,
                        std::int64_t num_heads = 4, std::int64_t num_kv_heads = 2);

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

enum class PaddingSide { Right, Left };

class Tokenizer {
 public:
  // tokenizer.json (+ tokenizer_config.json when present) from a model directory.
  static Tokenizer from_dir(const std::filesystem::path& model_dir);
  static Tokenizer from_files(const std::filesystem::path& tokenizer_json,
                              const std::optional<std::filesystem::path>& tokenizer_config);
  // The built-in byte tokenizer: id = byte + 3; pad 0, bos 1, eos 2; vocab 259. Adds BOS.
  static Tokenizer bytes();
  // The built-in hashed word tokenizer: pad 0, bos 1, eos 2; every other id is a bucket. Text is
  // made valid UTF-8 (as encode does), lowercased (Unicode, root locale) and split into words:
  // a run of letters/digits with inner apostrophes ("don't", "n't"), an apostrophe-led word
  // ("'s"), or any other single non-space character (punctuation); whitespace only separates.
  // Each word's UTF-8 bytes go through FNV-1a 64 and id = 3 + hash % (vocab_size - 3), the same
  // on every platform. Adds BOS. decode() throws (hashing is one-way); token_string gives
  // "<word:ID>". Throws w2s::Error unless 4 <= vocab_size <= kMaxWordsVocab.
  static Tokenizer words(std::int64_t vocab_size = 8192);
  static constexpr std::int64_t kMaxWordsVocab = 1 << 20;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`. Invalid UTF-8 is first replaced by U+FFFD (one per maximal invalid
  // subsequence, as WHATWG / Python "replace" / Node's Buffer.toString do). With
  // add_special_tokens the post-processor's tokens (e.g. Llama's BOS) are added.
  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Text of ids (byte-level / byte-fallback bytes joined; invalid UTF-8 in the result is kept
  // as raw bytes). skip_special drops special tokens. Throws for the hashed word tokenizer.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special = true) const;
  // The vocabulary string of one id ("Ġworld", "▁Once", "<0x0A>"); throws for an unknown id.
  std::string token_string(std::int64_t id) const;

  std::int64_t vocab_size() const;  // largest id + 1
  // "byte-level BPE" | "BPE with byte fallback" | "built-in bytes" | "built-in hashed words"
  std::string kind() const;
  std::optional<std::int64_t> bos_id() const;
  std::optional<std::int64_t> eos_id() const;
  // pad token from tokenizer_config.json; falls back to EOS (the reference's `pad_token := eos`,
  // docs/reference-behaviour.md §14).
  std::optional<std::int64_t> pad_id() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

// The integer and boolean types appear in checkpoints as buffers (GPT-2's BOOL/U8 attention masks).
enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType d);             // "F32", ...
std::size_t dtype_size(DType d);             // bytes per element

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const std::byte* data;  // points into the mapping; valid while the file object lives
  std::size_t nbytes;
};

// A read-only memory-mapped safetensors file. The constructor validates everything before any
// tensor is handed out: header length within the file, JSON well-formed and an object, every
// dtype known, shape non-negative with no overflow, data_offsets inside the data block, size
// equal to product(shape) * dtype size, and no two tensors overlapping. Any violation throws
// w2s::Error naming the file and the tensor.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::vector<TensorView>& tensors() const;  // in header order
  const TensorView* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const;
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct TensorBytes {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::string_view bytes;  // product(shape) * dtype_size bytes, little-endian
};
// Writes a safetensors file atomically (header padded to 8 bytes, tensors in the given order).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorBytes>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The weight files of a model directory: model.safetensors, or every shard listed in
// model.safetensors.index.json (each once, sorted). Throws when neither exists.
std::vector<std::filesystem::path> weight_files(const std::filesystem::path& model_dir);

// ---------------------------------------------------------------------------------------------
// What `w2s model` prints
// ---------------------------------------------------------------------------------------------

struct RunOptions {
  std::string device = "auto";  // "auto" (cuda when available, else cpu) | "cpu" | "cuda" | "cuda:N"
  std::string dtype = "auto";   // "auto" (cpu: float32, cuda: bfloat16) | float32 | bfloat16 | float16
  int threads = 0;              // torch intra-op threads; 0: default_threads() of each model placed
};
// Flags everywhere; records hold device and dtype, cache keys the dtype only (the device and the
// thread count do not change what a stage learns).
inline const options::Fields<RunOptions>& option_fields(const RunOptions*) {
  using R = RunOptions;
  static const auto fields =
      options::Fields<R>()
          .add("device", &R::device, "auto (cuda when this build sees a GPU, else cpu), cpu, cuda or cuda:N",
               options::kFlag | options::kRecord)
          .add("dtype", &R::dtype, "base weights: auto (bfloat16 on cuda, float32 on cpu), float32, bfloat16 or float16")
          .add("threads", &R::threads,
               "torch threads (0 = sized to the model: 1 below hidden size 512, else one per core)", options::kFlag);
  return fields;
}
// The same options with "auto" replaced by what it means on this machine ("cuda:0", "bfloat16"),
// for records and cache keys. Throws on unknown names or CUDA asked for without a GPU.
RunOptions resolve_run_options(const RunOptions& options);

// {architecture, model_type, parameters, dtypes, layers..., tokenizer:{kind, vocab_size, bos, eos, pad}}
json::Value describe_model(const std::filesystem::path& model_dir);
// {ids:[...], tokens:[...]} for a text (special tokens added as the tokenizer does).
json::Value tokenize_to_json(const std::filesystem::path& model_dir, std::string_view text,
                             bool add_special_tokens = true);
// Greedy continuation of `prompt`: {prompt_ids, generated_ids, text, top_k:[{id, token, p}]}
// where top_k is the next-token distribution of the first step.
json::Value generate_to_json(const std::filesystem::path& model_dir, std::string_view prompt,
                             std::int64_t max_new_tokens, int top_k, const RunOptions& options);

// ---------------------------------------------------------------------------------------------
// Model files' checksums
// ---------------------------------------------------------------------------------------------

// The sha256 of `file`. With a memo file, a hash computed earlier for the same absolute path,
// size and modification time is reused; a new one is added to the memo (a JSON object, rewritten
// atomically; concurrent runs may each add theirs, the last writer's memo wins, which costs at most
// a re-hash). An empty memo path hashes every time.
std::string file_sha256(const std::filesystem::path& file, const std::filesystem::path& memo);

// {config_sha256, tokenizer_sha256, tokenizer_config_sha256, weights_sha256: {file: sha}} of a
// model directory (the files present), hashed through the memo.
json::Value model_files_identity(const std::filesystem::path& model_dir, const std::filesystem::path& memo);

// ---------------------------------------------------------------------------------------------
// Chat templates (tokenizer_config.json `chat_template`)
// ---------------------------------------------------------------------------------------------

// Full Jinja is not implemented: a template is recognised as one of the families below from its
// text and rendered by hand, equal to what Hugging Face's Jinja renders for plain
// {role, content} messages (tests/model/test_chat_template.cpp checks it against
// @huggingface/jinja on the real templates).
//   chatml   <|im_start|>role\ncontent<|im_end|>\n per message (Qwen2, Qwen2.5, SmolLM2), with the
//            default system prompt the template inserts when the first message is not a system one
//   llama3   bos, <|start_header_id|>role<|end_header_id|>\n\n trimmed content <|eot_id|>
//   mistral  bos, [INST] user [/INST] assistant eos (Mistral-7B-Instruct v0.1 / v0.2): strictly
//            alternating user/assistant, no system message (as the template itself raises)
//   plain    no chat_template at all (base models such as stories260K): "System: ...\n\nUser:
//            ...\n\nAssistant: ...", the model's own BOS added by the tokenizer
struct ChatTemplate {
  std::string family;  // "chatml" | "llama3" | "mistral" | "plain"
  std::string source;  // the template text ("" for plain)
  std::string bos_token, eos_token;
  std::optional<std::string> default_system_prompt;  // chatml: inserted when there is no system message
  bool eos_then_space = false;                       // mistral v0.1: eos_token + ' ' after an answer
  // plain: the tokenizer adds its special tokens (BOS); the template families carry their own.
  bool add_special_tokens() const { return family == "plain"; }
  // The end-of-turn marker generation stops at ("<|im_end|>", "<|eot_id|>"; "" otherwise).
  std::string end_of_turn() const;
};

// `template_text` nullopt: the plain fallback. Throws w2s::Error quoting the template's first
// line when it belongs to none of the families.
ChatTemplate parse_chat_template(const std::optional<std::string>& template_text, std::string bos_token,
                                 std::string eos_token);
// From tokenizer_config.json (chat_template as a string, or the "default" of a named list;
// bos_token / eos_token as strings or {content}); plain when the file or the template is absent.
ChatTemplate read_chat_template(const std::filesystem::path& model_dir);

// The prompt text, as apply_chat_template(messages, tokenize=False, add_generation_prompt) gives
// it. Throws w2s::Error with the template's own message where the template raises (mistral:
// roles that do not alternate, a system message).
std::string render_chat(const ChatTemplate& chat_template, const std::vector<llm::Message>& messages,
                        bool add_generation_prompt = true);

// ---------------------------------------------------------------------------------------------
// The local provider (`w2s baseline|gold-sweep|weak-sweep --provider local`, docs/icl.md)
// ---------------------------------------------------------------------------------------------

struct LocalProviderOptions {
  RunOptions run;
  // Compute the KV cache of the prompt prefix that a batch's questions share (system prompt and
  // shots) once, and start every question from it; off: every prompt from its first token.
  bool prefix_cache = true;
  // Where Hugging Face ids are looked up and downloaded to; unset: $W2S_MODELS_DIR, else ./models.
  std::optional<std::string> models_dir;
};
inline const options::Fields<LocalProviderOptions>& option_fields(const LocalProviderOptions*) {
  using L = LocalProviderOptions;
  using options::kFlag, options::kRecord;
  static const auto fields =
      options::Fields<L>()
          .merge(&L::run, option_fields(static_cast<const RunOptions*>(nullptr)))
          .add("prefix_cache", &L::prefix_cache,
               "compute every prompt from its first token (no shared-prefix KV cache)", kFlag | kRecord)
          .flag_turns_off("no-prefix-cache")
          .add("models_dir", &L::models_dir,
               "where Hugging Face ids are looked up and downloaded to, as models-dir/org/name (default "
               "$W2S_MODELS_DIR, else ./models)",
               kFlag);
  return fields;
}

// A model id of a request -> its directory (a directory as is; a hub id downloaded when missing).
using ModelResolver = std::function<std::filesystem::path(const std::string& model)>;

class LocalProvider : public llm::Provider {
 public:
  // "local:<sha256 of the model's identity>": the endpoint the response cache keys this model's
  // answers by (llm::CachedProvider), so changed weights or template never replay old answers.
  virtual std::string endpoint(const std::string& model) = 0;
};

// Answers chat requests with local causal LMs (one loaded at a time, in the order the batch
// needs them): the chat template rendered and tokenized, greedy decoding up to max_tokens
// (stopping at EOS, the template's end-of-turn token or a stop string), and with logprobs the
// first token's full-softmax log-probability of every token whose text is one option letter
// (A-Z, surrounding whitespace aside). Completions say provider "local", cost $0, their token
// counts (cached_tokens: the reused prefix) and time; model_identity() gives the record's
// {provider, path, revision, checksums, dtype, device, chat_template, default_system_prompt}.
// `resolve` nullptr: every model id must be a directory.
std::unique_ptr<LocalProvider> make_local_provider(const LocalProviderOptions& options, ModelResolver resolve = {},
                                                   std::filesystem::path hash_memo = {});

}  // namespace w2s::model
