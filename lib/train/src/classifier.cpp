// Model strings → classifiers ready to train (a base model, LoRA or full fine-tuning, the score
// head, the tokenizer), and the identity of a model for the stage cache.
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "trainer.h"
#include "w2s/data.h"

namespace w2s::train {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kRandomPrefix = "random:";

// "hidden=128,layers=4" → {hidden: 128, layers: 4}; unknown keys are an error.
std::map<std::string, std::string> parse_random_spec(const std::string& spec) {
  static const std::vector<std::string> known = {"hidden", "layers", "heads",     "kv_heads",
                                                 "intermediate", "seed", "tokenizer", "vocab"};
  std::map<std::string, std::string> out;
  for (const auto& part : split_list(spec.substr(kRandomPrefix.size()), ',')) {
    const auto eq = part.find('=');
    if (eq == std::string::npos) throw Error("model '" + spec + "': expected key=value, got '" + part + "'");
    const auto key = part.substr(0, eq);
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw Error("model '" + spec + "': unknown key '" + key +
                  "' (known: hidden, layers, heads, kv_heads, intermediate, seed, tokenizer, vocab)");
    out[key] = part.substr(eq + 1);
  }
  return out;
}

std::int64_t int_value(const std::map<std::string, std::string>& kv, const std::string& key, std::int64_t fallback,
                       const std::string& spec) {
  auto it = kv.find(key);
  if (it == kv.end()) return fallback;
  try {
    std::size_t used = 0;
    const auto v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) throw std::invalid_argument("");
    return v;
  } catch (const std::exception&) {
    throw Error("model '" + spec + "': " + key + " must be a non-negative integer, got '" + it->second + "'");
  }
}

bool is_random(const std::string& spec) { return spec.rfind(kRandomPrefix, 0) == 0; }

// tokenizer=bytes (default), tokenizer=words with an optional vocab=N (bucket count incl. the
// three specials, default 8192), or tokenizer=DIR (that model directory's tokenizer.json).
model::Tokenizer random_spec_tokenizer(const std::map<std::string, std::string>& kv, const std::string& spec) {
  auto it = kv.find("tokenizer");
  const std::string name = it == kv.end() ? "bytes" : it->second;
  if (name == "words") return model::Tokenizer::words(int_value(kv, "vocab", 8192, spec));
  if (kv.count("vocab")) throw Error("model '" + spec + "': vocab is only valid with tokenizer=words");
  if (name == "bytes") return model::Tokenizer::bytes();
  return model::Tokenizer::from_dir(name);
}

}  // namespace

std::string resolve_model_spec(const std::string& spec, const std::optional<std::string>& models_dir) {
  return is_random(spec) ? spec : data::resolve_model_path(spec, models_dir).string();
}

namespace {

// "" when `file` is a regular file that opens for reading, else what is wrong with it.
std::string unreadable(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return file.string() + " is missing";
  if (!fs::is_regular_file(file, ec)) return file.string() + " is not a file";
  if (!std::ifstream(file, std::ios::binary)) return file.string() + " cannot be read";
  return "";
}

}  // namespace

std::vector<std::string> model_problems(const std::string& spec, const std::optional<std::string>& models_dir) {
  std::vector<std::string> problems;
  auto check = [&](const fs::path& file) {
    if (auto p = unreadable(file); !p.empty()) problems.push_back("model '" + spec + "': " + p);
  };
  try {
    if (is_random(spec)) {
      const auto kv = parse_random_spec(spec);
      auto it = kv.find("tokenizer");
      if (it != kv.end() && it->second != "bytes" && it->second != "words") check(fs::path(it->second) / "tokenizer.json");
      return problems;
    }
    std::error_code ec;
    if (fs::is_directory(spec, ec)) {
      check(fs::path(spec) / "config.json");
      check(fs::path(spec) / "tokenizer.json");
      for (const auto& f : model::weight_files(spec)) check(f);
      return problems;
    }
    if (!data::looks_like_hf_model_id(spec)) {
      problems.push_back("model '" + spec + "': no such model directory (nor a Hugging Face id org/name or a "
                         "random:... spec)");
      return problems;
    }
    // A Hugging Face id: complete in the models directory, or downloaded there.
    const fs::path root = data::resolve_models_dir(models_dir);
    if (!data::is_complete_model_dir(data::hf_model_dir(root, spec)))
      if (auto p = unwritable_folder(root); !p.empty())
        problems.push_back("model '" + spec + "' would be downloaded, but " + p);
  } catch (const Error& e) {
    problems.push_back("model '" + spec + "': " + e.what());
  }
  return problems;
}

Classifier build_classifier(const std::string& spec, const ClassifierOptions& options) {
  Classifier c{nullptr, model::Tokenizer::bytes(), model::resolve_placement(options.run)};

  model::CausalLM base{nullptr};
  if (is_random(spec)) {
    const auto kv = parse_random_spec(spec);
    c.tokenizer = random_spec_tokenizer(kv, spec);
    const std::int64_t hidden = int_value(kv, "hidden", 64, spec);
    const std::int64_t heads = int_value(kv, "heads", 4, spec);
    auto config = model::tiny_config("llama", c.tokenizer.vocab_size(), hidden, int_value(kv, "layers", 2, spec), heads,
                                     int_value(kv, "kv_heads", heads, spec));
    config.intermediate_size = int_value(kv, "intermediate", config.intermediate_size, spec);
    if (auto bos = c.tokenizer.bos_id()) config.bos_token_id = *bos;
    if (auto eos = c.tokenizer.eos_id()) config.eos_token_id = *eos;
    base = model::random_causal_lm(config, static_cast<std::uint64_t>(int_value(kv, "seed", 0, spec)), c.placement);
  } else {
    const std::string dir = resolve_model_spec(spec, options.models_dir);
    if (!fs::is_directory(dir))
      throw Error("model '" + spec + "' is neither a model directory, a Hugging Face id nor a 'random:...' spec");
    c.tokenizer = model::Tokenizer::from_dir(dir);
    base = model::load_causal_lm(dir, c.placement);
  }

  if (options.lora.disable) {
    model::enable_full_finetune(base);
  } else {
    model::LoraConfig lora;
    lora.r = options.lora.rank;
    lora.alpha = options.lora.alpha;
    lora.target_modules = options.lora.modules == "auto" ? model::default_lora_targets(base->config())
                                                         : split_list(options.lora.modules);
    torch::manual_seed(static_cast<std::uint64_t>(options.seed));
    model::apply_lora(base, lora);
  }
  torch::manual_seed(static_cast<std::uint64_t>(options.seed));
  c.net = model::SequenceClassifier(base);
  c.net->to(c.placement.device);
  return c;
}

json::Value model_identity(const std::string& spec, const std::optional<std::string>& models_dir,
                           const fs::path& hash_memo) {
  json::Value id = json::Value::object();
  id.set("spec", spec);
  if (is_random(spec)) {
    const auto kv = parse_random_spec(spec);
    auto it = kv.find("tokenizer");
    if (it != kv.end() && it->second != "bytes" && it->second != "words")
      id.set("tokenizer_sha256", model::file_sha256(fs::path(it->second) / "tokenizer.json", hash_memo));
    return id;
  }
  const fs::path dir = resolve_model_spec(spec, models_dir);
  const json::Value files = model::model_files_identity(dir, hash_memo);
  for (const auto& [key, value] : files.as_object()) id.set(key, value);
  return id;
}

}  // namespace w2s::train
