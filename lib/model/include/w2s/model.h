// w2s model: Hugging Face model directories without torch in the interface.
//
//   * ModelConfig / read_model_config — config.json of a Llama-family (llama, mistral, qwen2),
//     GPT-2 or GPT-NeoX (Pythia) model; anything else is rejected with a clear error.
//   * Tokenizer                      — tokenizer.json as Hugging Face `tokenizers` runs it (BPE
//     models: byte-level as GPT-2 / Llama-3 / Qwen2, byte fallback as Llama-2 / Gemma; the
//     components are listed in docs/model.md) plus tokenizer_config.json,
//     and two built-in tokenizers for random-initialised models: bytes (ids = byte + 3) and
//     hashed words (lowercased words hashed into buckets).
//   * SafetensorsFile / write_safetensors — memory-mapped, bounds-checked safetensors reader and
//     a writer (F32, F16, BF16, plus F64/I64 for tests and adapters).
//   * describe_model / tokenize_to_json / generate_to_json — what `w2s model info|tokenize|generate`
//     print.
//   * ChatTemplate / render_chat     — the model's Jinja chat template (chat_template.jinja or
//     tokenizer_config.json), rendered as transformers' apply_chat_template renders it.
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
  std::optional<std::int64_t> sliding_window;  // local attention of the layers the architecture marks sliding
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
  // Text of ids through the tokenizer's decoder chain, always valid UTF-8 as HF's decode gives
  // it (bytes that do not form UTF-8 become U+FFFD; ids without a token are left out).
  // skip_special drops special tokens. Throws for the hashed word tokenizer.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special = true) const;
  // The vocabulary string of one id ("Ġworld", "▁Once", "<0x0A>"); throws for an unknown id.
  std::string token_string(std::int64_t id) const;

  std::int64_t vocab_size() const;  // largest id + 1
  // "byte-level BPE" | "BPE with byte fallback" | "BPE" | "built-in bytes" | "built-in hashed words"
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

// `w2s model new`: a small random model of any supported model_type, in Hugging Face layout, for
// smoke tests.
struct NewModelOptions {
  std::string model_type;
  std::int64_t hidden_size = 64;
  std::int64_t num_layers = 2;
  std::int64_t num_heads = 4;
  std::int64_t num_kv_heads = 2;
  std::optional<std::int64_t> vocab_size;         // default: the tokenizer's, or 259 (built-in bytes)
  std::optional<std::filesystem::path> tokenizer;  // a model directory whose tokenizer files are copied
  std::optional<std::filesystem::path> chat_template;  // a Jinja file, written as chat_template.jinja
  json::Value config = json::Value::object();      // config.json fields set as given (windows, rope, ...)
  std::uint64_t seed = 0;
};
// Writes config.json and model.safetensors (float32, HF's initialisation: normal(0, 0.02)) into
// `dir` (created; it must not hold a config.json), the tokenizer files (tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, chat_template.jinja) of options.tokenizer, and
// the chat template. Returns what `w2s model info` prints for it.
json::Value write_new_model(const std::filesystem::path& dir, const NewModelOptions& options);
// The model_type values config.json may name, in the order of the architectures table.
std::vector<std::string> supported_model_types();

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
// Chat templates (chat_template.jinja, tokenizer_config.json `chat_template`)
// ---------------------------------------------------------------------------------------------

// A model's chat template, rendered by a Jinja engine (minja, third_party/minja) configured as
// transformers' apply_chat_template configures Jinja2: trim_blocks, lstrip_blocks, loop controls,
// raise_exception, tojson (ensure_ascii=False), strftime_now (at a given date), the tokenizer's
// special tokens (bos_token, eos_token, ...) as variables, add_generation_prompt.
// tests/model/test_chat_template.cpp compares it byte for byte with Python jinja2 on the
// templates of real models. A model without any template gets the plain transcript.
enum class ChatTemplateKind {
  Jinja,  // the model's own template; the rendered text carries its special tokens
  Plain,  // no template at all (base models such as stories260K): "System: ...\n\nUser: ...\n\n
          // Assistant:", and the tokenizer adds its own special tokens (BOS)
};

struct CompiledChatTemplate;  // the parsed template (chat_template.cpp)

struct ChatTemplate {
  ChatTemplateKind kind = ChatTemplateKind::Plain;
  std::string source;  // the template text ("" for plain)
  std::string origin;  // "chat_template.jinja", "tokenizer_config.json" or "" (plain)
  // tokenizer_config.json's special tokens as transformers' special_tokens_map passes them to the
  // template: bos_token, eos_token, unk_token, pad_token, ... (those that are set).
  std::map<std::string, std::string> special_tokens;
  std::shared_ptr<const CompiledChatTemplate> compiled;

  // apply_chat_template tokenizes the rendered text without adding special tokens again; the
  // plain transcript gets the tokenizer's (its BOS).
  bool add_special_tokens() const { return kind == ChatTemplateKind::Plain; }
  // Whether the template calls strftime_now (its text depends on the date it is rendered at).
  bool uses_date() const;
};

// How the experiments' messages are rendered (`--provider local`, `w2s model prompt`).
struct ChatOptions {
  // The date strftime_now formats (midnight of YYYY-MM-DD); unset: today (UTC). Recorded in the
  // model identity of models whose template calls strftime_now, so a rerun renders the same prompt.
  std::optional<std::string> chat_date;
  // The system message put in front of the first user message ("system\n\nuser"), for templates
  // that refuse a system role (Mistral, Gemma). Recorded in the model identity.
  bool fold_system_prompt = false;
};
inline const options::Fields<ChatOptions>& option_fields(const ChatOptions*) {
  using C = ChatOptions;
  static const auto fields =
      options::Fields<C>(options::kFlag | options::kRecord)
          .add("chat_date", &C::chat_date,
               "the date YYYY-MM-DD a chat template's strftime_now renders (default today, UTC; recorded)")
          .add("fold_system_prompt", &C::fold_system_prompt,
               "put the system prompt in front of the first user message (\"system\\n\\nuser\"), for chat "
               "templates that refuse a system role (Mistral, Gemma)");
  return fields;
}

// `template_text` nullopt: the plain transcript. Throws w2s::Error (naming `origin`) when the
// template does not parse.
ChatTemplate parse_chat_template(const std::optional<std::string>& template_text,
                                 std::map<std::string, std::string> special_tokens = {}, std::string origin = "");
// A model directory's template, where transformers finds it: chat_template.jinja, else
// tokenizer_config.json's chat_template (a string, or the "default" of the named list
// [{name, template}]); special tokens from tokenizer_config.json (strings or {content}); plain
// when there is no template.
ChatTemplate read_chat_template(const std::filesystem::path& model_dir);

// The system message folded into the first user turn ("system\n\nuser"); other lists unchanged.
std::vector<llm::Message> fold_system_prompt(const std::vector<llm::Message>& messages);

// The prompt text, as apply_chat_template(messages, tokenize=False, add_generation_prompt) gives
// it (after fold_system_prompt when the options ask for it). Throws w2s::Error with the template's
// own message where the template raises (raise_exception: a system role it does not support, roles
// that do not alternate), and for a chat_date that is not YYYY-MM-DD.
std::string render_chat(const ChatTemplate& chat_template, const std::vector<llm::Message>& messages,
                        const ChatOptions& options = {}, bool add_generation_prompt = true);

// What the template writes after an assistant turn's content (Llama 3 "<|eot_id|>", ChatML
// "<|im_end|>\n"): generation stops at its first token. nullopt for plain, or when the template
// refuses a user/assistant pair.
std::optional<std::string> end_of_turn_text(const ChatTemplate& chat_template);

// Today's date (UTC) as YYYY-MM-DD, strftime_now's default.
std::string today_utc();

// `w2s model prompt`: the prompt a local model receives for `messages`: {chat_template, chat_date (templates that call
// strftime_now), fold_system_prompt, add_special_tokens, text, token_count, ids, tokens}, the text
// rendered by the model's chat template and tokenized as the local provider does.
json::Value prompt_to_json(const std::filesystem::path& model_dir, const std::vector<llm::Message>& messages,
                           const ChatOptions& options, bool add_generation_prompt = true);

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
  ChatOptions chat;
  // The progress line on stderr (the experiments' --no-progress turns it off).
  bool progress = true;
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
               kFlag)
          .merge(&L::chat, option_fields(static_cast<const ChatOptions*>(nullptr)))
          .add("progress", &L::progress, "", 0);
  return fields;
}

// A model id of a request -> its directory (a directory as is; a hub id downloaded when missing).
using ModelResolver = std::function<std::filesystem::path(const std::string& model)>;

class LocalProvider : public llm::Provider {
 public:
  // "local:<sha256 of the model's identity>": the endpoint the response cache keys this model's
  // answers by (llm::CachedProvider), so changed weights or template never replay old answers.
  virtual std::string endpoint(const std::string& model) = 0;
  // Checks a model before the first question: config.json, every weight file's safetensors
  // header, the tokenizer, and the chat template rendering `messages` (an experiment's largest
  // prompt) into a prompt that fits the context. Throws w2s::Error naming the model and, where
  // the template raises, with the template's own message (see ChatOptions::fold_system_prompt).
  virtual void check_model(const std::string& model, const std::vector<llm::Message>& messages) = 0;
};

// Answers chat requests with local causal LMs (one loaded at a time, in the order the batch
// needs them): the chat template rendered and tokenized, greedy decoding up to max_tokens
// (stopping at EOS, the template's end-of-turn token or a stop string), and with logprobs the
// first token's full-softmax log-probability of every token whose text is one option letter
// (A-Z, surrounding whitespace aside). Completions say provider "local", cost $0, their token
// counts (cached_tokens: the reused prefix) and time; model_identity() gives the record's
// {provider, path, revision, checksums, dtype, device, chat_template, chat_date, fold_system_prompt}.
// `resolve` nullptr: every model id must be a directory.
std::unique_ptr<LocalProvider> make_local_provider(const LocalProviderOptions& options, ModelResolver resolve = {},
                                                   std::filesystem::path hash_memo = {});

}  // namespace w2s::model
