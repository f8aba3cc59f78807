// `w2s model info|tokenize|generate <model dir>`: check a Hugging Face model directory (config,
// weights, tokenizer) before a long run; `w2s model new <dir>`: write a small random model of any
// supported architecture for smoke tests. Output is JSON on stdout.
#include <cstring>
#include <iostream>

#include "cli.h"
#include "options_binding.h"
#include "w2s/model.h"

namespace w2s::cli {
namespace {

// `w2s model new <dir> --model-type TYPE ...` (argv[0] is "new").
int run_model_new(int argc, char** argv) {
  const std::string types = [] {
    std::string out;
    for (const auto& t : w2s::model::supported_model_types()) out += (out.empty() ? "" : ", ") + t;
    return out;
  }();
  const std::string usage =
      "w2s model new <dir> --model-type TYPE [--tokenizer MODEL_DIR] [--chat-template FILE] [--hidden-size N] "
      "[--layers N] [--heads N] [--kv-heads N] [--vocab-size N] [--set KEY=JSON ...] [--seed N]";
  w2s::model::NewModelOptions o;
  po::options_description options("Options");
  options.add_options()
      ("dir", po::value<std::string>(), "the directory to write (config.json, model.safetensors, tokenizer files)")
      ("model-type", po::value<std::string>(&o.model_type), ("config.json model_type: " + types).c_str())
      ("tokenizer", po::value<std::string>(), "copy tokenizer.json, tokenizer_config.json, special_tokens_map.json and chat_template.jinja from this model directory (default: none, the built-in byte tokenizer)")
      ("chat-template", po::value<std::string>(), "write this Jinja file as chat_template.jinja")
      ("hidden-size", po::value<std::int64_t>(&o.hidden_size)->default_value(o.hidden_size), "hidden size")
      ("layers", po::value<std::int64_t>(&o.num_layers)->default_value(o.num_layers), "layers")
      ("heads", po::value<std::int64_t>(&o.num_heads)->default_value(o.num_heads), "attention heads")
      ("kv-heads", po::value<std::int64_t>(&o.num_kv_heads)->default_value(o.num_kv_heads), "key/value heads (not gpt2, gpt_neox)")
      ("vocab-size", po::value<std::int64_t>(), "vocabulary (default: the tokenizer's ids)")
      ("set", po::value<std::vector<std::string>>()->composing(), "KEY=JSON: a config.json field, e.g. sliding_window=4 (repeatable)")
      ("seed", po::value<std::uint64_t>(&o.seed)->default_value(o.seed), "random seed of the weights");
  po::positional_options_description positional;
  positional.add("dir", 1);
  auto vm = w2s::cli::parse(argc, argv, usage, options, positional);
  if (!vm) return 0;
  if (!vm->count("dir") || o.model_type.empty()) throw w2s::Error("usage: " + usage);
  if (vm->count("tokenizer")) o.tokenizer = (*vm)["tokenizer"].as<std::string>();
  if (vm->count("chat-template")) o.chat_template = (*vm)["chat-template"].as<std::string>();
  if (vm->count("vocab-size")) o.vocab_size = (*vm)["vocab-size"].as<std::int64_t>();
  if (vm->count("set"))
    for (const std::string& field : (*vm)["set"].as<std::vector<std::string>>()) {
      const auto eq = field.find('=');
      if (eq == std::string::npos || eq == 0) throw w2s::Error("w2s model new: --set \"" + field + "\" is not KEY=JSON");
      o.config.set(field.substr(0, eq), w2s::json::parse(field.substr(eq + 1), "--set " + field.substr(0, eq)));
    }
  std::cout << w2s::json::dump(w2s::model::write_new_model((*vm)["dir"].as<std::string>(), o), 2) << "\n";
  return 0;
}

}  // namespace
}  // namespace w2s::cli

int w2s::cli::run_model(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "new") == 0) return run_model_new(argc - 1, argv + 1);
  const char* const kUsage =
      "w2s model info <dir>\n"
      "       w2s model tokenize <dir> --text TEXT [--no-special]\n"
      "       w2s model generate <dir> --prompt TEXT [--max-new-tokens N] [--top-k K] [--device D] [--dtype T] "
      "[--threads N]\n"
      "       w2s model new <dir> --model-type TYPE [--tokenizer MODEL_DIR] ... (w2s model new --help)";
  po::options_description options("Options");
  w2s::model::RunOptions run_options;
  std::int64_t max_new_tokens = 32;
  int top_k = 5;
  options.add_options()
      ("action", po::value<std::string>(), "info | tokenize | generate | new")
      ("dir", po::value<std::string>(), "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
      ("text", po::value<std::string>(), "tokenize: the text")
      ("no-special", po::bool_switch(), "tokenize: do not add the tokenizer's special tokens (e.g. BOS)")
      ("prompt", po::value<std::string>(), "generate: the prompt (special tokens added as the tokenizer does)")
      ("max-new-tokens", po::value<std::int64_t>(&max_new_tokens)->default_value(max_new_tokens), "generate: tokens to add (stops at EOS)")
      ("top-k", po::value<int>(&top_k)->default_value(top_k), "generate: how many first-step probabilities to print");
  const w2s::cli::OptionsBinding<w2s::model::RunOptions> run_flags(
      options, option_fields(static_cast<const w2s::model::RunOptions*>(nullptr)), run_options);
  po::positional_options_description positional;
  positional.add("action", 1).add("dir", 1);
  auto vm = w2s::cli::parse(argc, argv, kUsage, options, positional);
  if (!vm) return 0;
  run_flags.apply(*vm, run_options);
  if (!vm->count("action") || !vm->count("dir")) throw w2s::Error(std::string("usage: ") + kUsage);
  const std::string action = (*vm)["action"].as<std::string>();
  const std::filesystem::path dir = (*vm)["dir"].as<std::string>();
  w2s::json::Value out;
  if (action == "info") {
    out = w2s::model::describe_model(dir);
  } else if (action == "tokenize") {
    if (!vm->count("text")) throw w2s::Error("w2s model tokenize: --text is required");
    out = w2s::model::tokenize_to_json(dir, (*vm)["text"].as<std::string>(), !(*vm)["no-special"].as<bool>());
    // One member per line and each array on its line: a long text's ids read as one row.
    std::string text = "{";
    for (const auto& [key, value] : out.as_object())
      text += (text.size() > 1 ? ",\n  " : "\n  ") + w2s::json::dump(key) + ": " + w2s::json::dump(value);
    std::cout << text << "\n}\n";
    return 0;
  } else if (action == "generate") {
    if (!vm->count("prompt")) throw w2s::Error("w2s model generate: --prompt is required");
    if (max_new_tokens < 0 || top_k < 0) throw w2s::Error("w2s model generate: --max-new-tokens and --top-k must be >= 0");
    out = w2s::model::generate_to_json(dir, (*vm)["prompt"].as<std::string>(), max_new_tokens, top_k, run_options);
  } else {
    throw w2s::Error("w2s model: unknown action \"" + action + "\" (info, tokenize, generate, new)");
  }
  std::cout << w2s::json::dump(out, 2) << "\n";
  return 0;
}
