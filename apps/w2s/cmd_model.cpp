// `w2s model info|tokenize|prompt|generate <model dir>`: check a Hugging Face model directory
// (config, weights, tokenizer, the prompt an experiment gives it) before a long run;
// `w2s model new <dir>`: write a small random model of any supported architecture for smoke tests.
// Output is JSON on stdout.
#include <cstring>
#include <iostream>

#include "cli.h"
#include "options_binding.h"
#include "w2s/data.h"
#include "w2s/icl.h"
#include "w2s/model.h"
#include "w2s/results.h"

namespace {

// `w2s model prompt`: the messages of an in-context experiment's prompt, as icl lays them out:
// the system prompt, train[0:shots] with gold labels or, given a weak-labels record, the weak
// model's labels (as weak-sweep reuses them), then test question `question`.
std::vector<w2s::llm::Message> experiment_messages(const w2s::data::TruthfulQa& ds, int shots,
                                                   const std::optional<std::string>& weak_labels_file, int question) {
  if (shots < 0 || static_cast<std::size_t>(shots) > ds.train.size())
    throw w2s::Error("w2s model prompt: --shots must be 0.." + std::to_string(ds.train.size()));
  if (question < 0 || static_cast<std::size_t>(question) >= ds.test.size())
    throw w2s::Error("w2s model prompt: --question must be 0.." + std::to_string(ds.test.size() - 1));
  std::vector<w2s::icl::Shot> shot_list;
  if (!weak_labels_file) {
    for (int i = 0; i < shots; ++i) shot_list.push_back({ds.train[i].text, ds.train[i].answer});
  } else {
    const w2s::results::ResultRecord record = w2s::results::read_record(*weak_labels_file);
    if (record.kind != w2s::results::Kind::WeakLabels)
      throw w2s::Error(*weak_labels_file + ": not a weak-labels record");
    for (int i = 0; i < shots; ++i) {
      const std::string id = std::to_string(ds.train[i].question_id);
      if (static_cast<std::size_t>(i) >= record.predictions.size() || record.predictions[i].id != id)
        throw w2s::Error(*weak_labels_file + ": has no label for train question " + std::to_string(i) + " (id " + id +
                         ") of this dataset (other --variant, --test-size or --data-seed?)");
      shot_list.push_back({ds.train[i].text, record.predictions[i].prediction});
    }
  }
  return w2s::icl::build_messages(shot_list, ds.test[question].text);
}

}  // namespace

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
      "       w2s model prompt <dir> [--shots N] [--weak-labels FILE] [--question K] "
      "[--fold-system-prompt] [--chat-date YYYY-MM-DD] [--no-generation-prompt] [dataset options]\n"
      "       w2s model generate <dir> --prompt TEXT [--max-new-tokens N] [--top-k K] [--device D] [--dtype T] "
      "[--threads N]\n"
      "       w2s model new <dir> --model-type TYPE [--tokenizer MODEL_DIR] ... (w2s model new --help)";
  po::options_description options("Options");
  w2s::model::RunOptions run_options;
  std::int64_t max_new_tokens = 32;
  int top_k = 5;
  int shots = 0, question = 0;
  w2s::model::ChatOptions chat_options;
  w2s::data::TruthfulQaOptions dataset_options;
  options.add_options()
      ("action", po::value<std::string>(), "info | tokenize | prompt | generate | new")
      ("dir", po::value<std::string>(), "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
      ("text", po::value<std::string>(), "tokenize: the text")
      ("no-special", po::bool_switch(), "tokenize: do not add the tokenizer's special tokens (e.g. BOS)")
      ("prompt", po::value<std::string>(), "generate: the prompt (special tokens added as the tokenizer does)")
      ("shots", po::value<int>(&shots)->default_value(shots), "prompt: few-shot examples (train[0:N])")
      ("weak-labels", po::value<std::string>(),
       "prompt: the shots carry the weak model's labels from this weak-labels record "
       "(<results>/<run>/weak-labels/<slug>.json); default: gold labels")
      ("question", po::value<int>(&question)->default_value(question), "prompt: which test question ends the prompt")
      ("no-generation-prompt", po::bool_switch(), "prompt: render without the assistant turn's opening")
      ("max-new-tokens", po::value<std::int64_t>(&max_new_tokens)->default_value(max_new_tokens), "generate: tokens to add (stops at EOS)")
      ("top-k", po::value<int>(&top_k)->default_value(top_k), "generate: how many first-step probabilities to print");
  const w2s::cli::OptionsBinding<w2s::model::RunOptions> run_flags(
      options, option_fields(static_cast<const w2s::model::RunOptions*>(nullptr)), run_options);
  const w2s::cli::OptionsBinding<w2s::model::ChatOptions> chat_flags(
      options, option_fields(static_cast<const w2s::model::ChatOptions*>(nullptr)), chat_options);
  const w2s::cli::OptionsBinding<w2s::data::TruthfulQaOptions> dataset_flags(
      options, option_fields(static_cast<const w2s::data::TruthfulQaOptions*>(nullptr)), dataset_options);
  po::positional_options_description positional;
  positional.add("action", 1).add("dir", 1);
  auto vm = w2s::cli::parse(argc, argv, kUsage, options, positional);
  if (!vm) return 0;
  run_flags.apply(*vm, run_options);
  chat_flags.apply(*vm, chat_options);
  dataset_flags.apply(*vm, dataset_options);
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
  } else if (action == "prompt") {
    const w2s::data::TruthfulQa dataset = w2s::data::load_truthfulqa(dataset_options);
    std::optional<std::string> weak_labels;
    if (vm->count("weak-labels")) weak_labels = (*vm)["weak-labels"].as<std::string>();
    out = w2s::model::prompt_to_json(dir, experiment_messages(dataset, shots, weak_labels, question),
                                     chat_options, !(*vm)["no-generation-prompt"].as<bool>());
  } else if (action == "generate") {
    if (!vm->count("prompt")) throw w2s::Error("w2s model generate: --prompt is required");
    if (max_new_tokens < 0 || top_k < 0) throw w2s::Error("w2s model generate: --max-new-tokens and --top-k must be >= 0");
    out = w2s::model::generate_to_json(dir, (*vm)["prompt"].as<std::string>(), max_new_tokens, top_k, run_options);
  } else {
    throw w2s::Error("w2s model: unknown action \"" + action + "\" (info, tokenize, prompt, generate, new)");
  }
  std::cout << w2s::json::dump(out, 2) << "\n";
  return 0;
}
