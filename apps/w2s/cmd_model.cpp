// `w2s model info|tokenize|generate <model dir>`: check a Hugging Face model directory (config,
// weights, tokenizer) before a long run. Output is JSON on stdout.
#include <iostream>

#include "cli.h"
#include "options_binding.h"
#include "w2s/model.h"

int w2s::cli::run_model(int argc, char** argv) {
  const char* const kUsage =
      "w2s model info <dir>\n"
      "       w2s model tokenize <dir> --text TEXT [--no-special]\n"
      "       w2s model generate <dir> --prompt TEXT [--max-new-tokens N] [--top-k K] [--device D] [--dtype T] "
      "[--threads N]";
  po::options_description options("Options");
  w2s::model::RunOptions run_options;
  std::int64_t max_new_tokens = 32;
  int top_k = 5;
  options.add_options()
      ("action", po::value<std::string>(), "info | tokenize | generate")
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
    throw w2s::Error("w2s model: unknown action \"" + action + "\" (info, tokenize, generate)");
  }
  std::cout << w2s::json::dump(out, 2) << "\n";
  return 0;
}
