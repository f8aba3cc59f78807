// `w2s model new`: a random model of any architecture in Hugging Face layout.
#include "architecture.h"
#include "w2s/model_torch.h"

namespace w2s::model {

namespace fs = std::filesystem;

namespace {

// The sizes under the names the family's config.json uses (GPT-2 alone names them its own way);
// everything else takes the family's defaults, except head_dim (hidden / heads: Qwen3 and Gemma
// default to 128 and 256, far too wide for a small model) and what options.config sets.
json::Value new_config_json(const NewModelOptions& o, std::int64_t vocab_size, const std::optional<Tokenizer>& tok) {
  json::Value c = json::Value::object();
  c.set("model_type", o.model_type);
  c.set("vocab_size", vocab_size);
  const std::int64_t intermediate = o.hidden_size * 8 / 3 / 2 * 2 + 2;
  if (o.model_type == "gpt2") {
    c.set("n_embd", o.hidden_size);
    c.set("n_layer", o.num_layers);
    c.set("n_head", o.num_heads);
    c.set("n_positions", 1024);
  } else {
    c.set("hidden_size", o.hidden_size);
    c.set("intermediate_size", intermediate);
    c.set("num_hidden_layers", o.num_layers);
    c.set("num_attention_heads", o.num_heads);
    if (o.model_type != "gpt_neox") {
      c.set("num_key_value_heads", o.num_kv_heads);
      c.set("head_dim", o.num_heads > 0 ? o.hidden_size / o.num_heads : 0);
    }
    if (o.model_type == "gemma2" || o.model_type == "gemma3_text" || o.model_type == "gemma3")
      c.set("query_pre_attn_scalar", o.num_heads > 0 ? o.hidden_size / o.num_heads : 0);
  }
  if (tok) {
    if (tok->bos_id()) c.set("bos_token_id", *tok->bos_id());
    if (tok->eos_id()) c.set("eos_token_id", *tok->eos_id());
    if (tok->pad_id()) c.set("pad_token_id", *tok->pad_id());
  } else {  // the built-in byte tokenizer's
    c.set("pad_token_id", 0);
    c.set("bos_token_id", 1);
    c.set("eos_token_id", 2);
  }
  if (!o.config.is_object()) throw Error("w2s model new: the config fields must be a JSON object");
  for (const auto& [key, value] : o.config.as_object()) c.set(key, value);
  return c;
}

}  // namespace

json::Value write_new_model(const fs::path& dir, const NewModelOptions& o) {
  architecture_for(o.model_type, "w2s model new");  // an unsupported type names the supported ones
  if (o.model_type == "gemma3")
    throw Error("w2s model new: write gemma3_text (the gemma3 checkpoints' language model) instead of gemma3");
  if (fs::exists(dir / "config.json")) throw Error("w2s model new: " + (dir / "config.json").string() + " exists");
  std::optional<Tokenizer> tok;
  if (o.tokenizer) {
    if (!fs::exists(*o.tokenizer / "tokenizer.json"))
      throw Error("w2s model new: " + (*o.tokenizer / "tokenizer.json").string() + " does not exist");
    tok = Tokenizer::from_dir(*o.tokenizer);
  }
  if (o.chat_template && !fs::is_regular_file(*o.chat_template))
    throw Error("w2s model new: chat template " + o.chat_template->string() + " does not exist");
  const std::int64_t vocab_size = o.vocab_size.value_or(tok ? tok->vocab_size() : Tokenizer::bytes().vocab_size());
  if (tok && vocab_size < tok->vocab_size())
    throw Error("w2s model new: vocab_size " + std::to_string(vocab_size) + " is smaller than the tokenizer's " +
                std::to_string(tok->vocab_size()) + " ids");
  const ModelConfig config = parse_model_config(new_config_json(o, vocab_size, tok), "w2s model new");
  CausalLM model = random_causal_lm(config, o.seed);
  fs::create_directories(dir);
  save_pretrained(model, dir);
  if (o.tokenizer)
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"})
      if (fs::exists(*o.tokenizer / name)) fs::copy_file(*o.tokenizer / name, dir / name, fs::copy_options::overwrite_existing);
  if (o.chat_template) fs::copy_file(*o.chat_template, dir / "chat_template.jinja", fs::copy_options::overwrite_existing);
  return describe_model(dir);
}

}  // namespace w2s::model
