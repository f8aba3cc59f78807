// Placement, threads, and the JSON views printed by `w2s model info|tokenize|prompt|generate`.
#include <algorithm>
#include <set>

#include "architecture.h"
#include "w2s/model_torch.h"

namespace w2s::model {

namespace {

// torch's own thread count (the cores OpenMP sees, or OMP_NUM_THREADS), read before anything here
// changed it.
int torch_default_threads() {
  static const int n = torch::get_num_threads();
  return n;
}

}  // namespace

void set_num_threads(int n) {
  torch_default_threads();
  if (n > 0 && n != torch::get_num_threads()) torch::set_num_threads(n);
}

int default_threads(std::int64_t hidden_size) {
  return hidden_size < kOneThreadBelowHidden ? 1 : torch_default_threads();
}

Placement resolve_placement(const RunOptions& options) {
  set_num_threads(options.threads);
  Placement p;
  p.threads = options.threads;
  const std::string& d = options.device;
  if (d == "auto") {
    p.device = torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  } else if (d == "cpu") {
    p.device = torch::kCPU;
  } else if (d.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device \"" + d + "\": CUDA is not available (this libtorch build or machine has no GPU); use --device cpu");
    try {
      p.device = torch::Device(d);
    } catch (const std::exception&) {
      throw Error("device \"" + d + "\" is not a valid device (cpu, cuda, cuda:N, auto)");
    }
  } else {
    throw Error("device \"" + d + "\" is not a valid device (cpu, cuda, cuda:N, auto)");
  }
  const std::string& t = options.dtype;
  if (t == "auto") p.dtype = p.device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  else if (t == "float32" || t == "fp32") p.dtype = torch::kFloat32;
  else if (t == "bfloat16" || t == "bf16") p.dtype = torch::kBFloat16;
  else if (t == "float16" || t == "fp16") p.dtype = torch::kFloat16;
  else if (t == "float64") p.dtype = torch::kFloat64;
  else throw Error("dtype \"" + t + "\" is not one of auto, float32, bfloat16, float16, float64");
  return p;
}

RunOptions resolve_run_options(const RunOptions& options) {
  const Placement p = resolve_placement(options);
  RunOptions out = options;
  out.device = p.device.is_cuda() ? "cuda:" + std::to_string(std::max<int>(p.device.index(), 0)) : "cpu";
  out.dtype = dtype_name(p.dtype);
  return out;
}

std::string dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    default: throw Error(std::string("no name for the tensor dtype ") + c10::toString(dtype));
  }
}

namespace {

// tokenizer.json when the directory has one, else the built-in byte tokenizer (random models
// saved by save_pretrained have none).
Tokenizer tokenizer_for(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "tokenizer.json")) return Tokenizer::from_dir(dir);
  return Tokenizer::bytes();
}

json::Value optional_id(const std::optional<std::int64_t>& id) { return id ? json::Value(*id) : json::Value(); }

}  // namespace

json::Value describe_model(const std::filesystem::path& dir) {
  const ModelConfig c = read_model_config(dir);
  json::Value out = json::Value::object();
  out.set("path", dir.string());
  const Architecture& architecture = architecture_for(c.model_type, dir.string());
  out.set("architecture", architecture.name());
  out.set("model_type", c.model_type);
  std::int64_t stored = 0;
  std::set<std::string> dtypes;
  json::Value files = json::Value::array();
  for (const auto& path : weight_files(dir)) {
    const SafetensorsFile file(path);
    for (const auto& t : file.tensors()) {
      std::int64_t n = 1;
      for (auto s : t.shape) n *= s;
      stored += n;
      dtypes.insert(dtype_name(t.dtype));
    }
    files.push_back(path.filename().string());
  }
  out.set("parameters", c.parameter_count());
  out.set("stored_elements", stored);
  out.set("dtypes", std::vector<std::string>(dtypes.begin(), dtypes.end()));
  out.set("weight_files", std::move(files));
  out.set("vocab_size", c.vocab_size);
  out.set("hidden_size", c.hidden_size);
  out.set("intermediate_size", c.intermediate_size);
  out.set("layers", c.num_hidden_layers);
  out.set("attention_heads", c.num_attention_heads);
  out.set("kv_heads", c.num_key_value_heads);
  out.set("head_dim", c.head_dim);
  out.set("tie_word_embeddings", c.tie_word_embeddings);
  architecture.describe(c, out);
  out.set("default_lora_targets", architecture.default_lora_targets());  // --lora-modules auto
  const Tokenizer tok = tokenizer_for(dir);
  json::Value t = json::Value::object();
  t.set("kind", tok.kind());
  t.set("vocab_size", tok.vocab_size());
  t.set("bos_id", optional_id(tok.bos_id()));
  t.set("eos_id", optional_id(tok.eos_id()));
  t.set("pad_id", optional_id(tok.pad_id()));
  out.set("tokenizer", std::move(t));
  if (tok.vocab_size() > c.vocab_size)
    out.set("warning", "the tokenizer has more ids (" + std::to_string(tok.vocab_size()) + ") than the model's vocab_size");
  return out;
}

json::Value tokenize_to_json(const std::filesystem::path& dir, std::string_view text, bool add_special_tokens) {
  const Tokenizer tok = tokenizer_for(dir);
  const auto ids = tok.encode(text, add_special_tokens);
  json::Value tokens = json::Value::array();
  for (auto id : ids) tokens.push_back(tok.token_string(id));
  json::Value out = json::Value::object();
  out.set("tokenizer", tok.kind());
  out.set("ids", ids);
  out.set("tokens", std::move(tokens));
  return out;
}

json::Value prompt_to_json(const std::filesystem::path& dir, const std::vector<llm::Message>& messages,
                           const ChatOptions& options, bool add_generation_prompt) {
  const Tokenizer tok = tokenizer_for(dir);
  const ChatTemplate chat = read_chat_template(dir);
  const std::string text = render_chat(chat, messages, options, add_generation_prompt);
  const auto ids = tok.encode(text, chat.add_special_tokens());
  json::Value tokens = json::Value::array();
  for (auto id : ids) tokens.push_back(tok.token_string(id));
  json::Value out = json::Value::object();
  out.set("chat_template", chat.kind == ChatTemplateKind::Plain ? std::string("plain (the model has no chat_template)")
                                                                : chat.origin);
  if (chat.uses_date()) out.set("chat_date", options.chat_date.value_or(today_utc()));
  out.set("fold_system_prompt", options.fold_system_prompt);
  out.set("add_special_tokens", chat.add_special_tokens());
  out.set("text", text);
  out.set("token_count", static_cast<std::int64_t>(ids.size()));
  out.set("ids", ids);
  out.set("tokens", std::move(tokens));
  return out;
}

json::Value generate_to_json(const std::filesystem::path& dir, std::string_view prompt, std::int64_t max_new_tokens,
                             int top_k, const RunOptions& options) {
  const Placement placement = resolve_placement(options);
  const Tokenizer tok = tokenizer_for(dir);
  CausalLM model = load_causal_lm(dir, placement);
  const auto prompt_ids = tok.encode(prompt, true);
  for (auto id : prompt_ids)
    if (id >= model->config().vocab_size)
      throw Error("generate: token id " + std::to_string(id) + " is outside the model's vocabulary");
  const double start = monotonic_seconds();
  const GenerateResult r = greedy_generate(model, prompt_ids, max_new_tokens, tok.eos_id(), top_k);
  const double seconds = monotonic_seconds() - start;
  json::Value top = json::Value::array();
  for (const auto& [id, p] : r.first_step_top_k) {
    json::Value e = json::Value::object();
    e.set("id", id);
    e.set("token", id < tok.vocab_size() ? tok.token_string(id) : std::string());
    e.set("p", p);
    top.push_back(std::move(e));
  }
  json::Value out = json::Value::object();
  out.set("prompt_ids", prompt_ids);
  out.set("generated_ids", r.generated_ids);
  out.set("text", tok.decode(r.generated_ids, true));
  out.set("first_step_top_k", std::move(top));
  out.set("device", placement.device.str());
  out.set("tokens_per_second", seconds > 0 ? static_cast<double>(r.generated_ids.size()) / seconds : 0.0);
  return out;
}

}  // namespace w2s::model
