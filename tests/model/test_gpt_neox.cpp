// GPT-NeoX (Pythia) beyond logits parity (test_hf_parity.cpp): checkpoints under the HF names
// (with the buffers older ones carry, tied and untied), the KV cache and padding with partial
// rotary embeddings, the default LoRA targets, config errors, and the `w2s model` and `w2s train`
// commands on tiny random Pythia-style directories.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "assets.h"
#include "forward_in_pieces.h"
#include "pythia_fixture.h"
#include "w2s/model_torch.h"
#include "w2s/results.h"
#include "w2s/utf8.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;
using w2s::json::parse;

// Pythia's shape, small: parallel residual, rotary on a quarter of each head (4 of 16 features).
w2s::json::Value tiny_config_json() {
  return parse(R"({"hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":2,
                   "rotary_pct":0.25,"rotary_emb_base":10000,"use_parallel_residual":true,"hidden_act":"gelu",
                   "layer_norm_eps":1e-5,"max_position_embeddings":128,"initializer_range":0.1,
                   "bos_token_id":0,"eos_token_id":0})");
}

ModelConfig tiny_neox(w2s::json::Value config = tiny_config_json()) {
  config.set("model_type", "gpt_neox");
  config.set("vocab_size", 300);
  return parse_model_config(config, "tiny_neox");
}

class GptNeox : public ::testing::Test {
 protected:
  void SetUp() override { set_num_threads(2); }
};

TEST_F(GptNeox, CheckpointsUseTheHfNamesAndRoundTrip) {
  const fs::path dir = w2s::test::scratch_dir("gpt_neox_checkpoint");
  CausalLM model = random_causal_lm(tiny_neox(), 3);
  std::int64_t numel = 0;
  for (const auto& p : model->parameters()) numel += p.numel();
  EXPECT_EQ(numel, model->config().parameter_count());
  save_pretrained(model, dir);
  std::set<std::string> names;
  for (const auto& [name, t] : load_safetensors(dir / "model.safetensors")) names.insert(name);
  for (const char* name : {"gpt_neox.embed_in.weight", "gpt_neox.layers.1.attention.query_key_value.weight",
                           "gpt_neox.layers.1.attention.query_key_value.bias", "gpt_neox.layers.0.attention.dense.bias",
                           "gpt_neox.layers.0.mlp.dense_h_to_4h.weight", "gpt_neox.layers.0.mlp.dense_4h_to_h.bias",
                           "gpt_neox.layers.0.input_layernorm.bias", "gpt_neox.layers.0.post_attention_layernorm.weight",
                           "gpt_neox.final_layer_norm.bias", "embed_out.weight"})
    EXPECT_TRUE(names.count(name)) << name;
  EXPECT_EQ(names.size(), 2 + 2 * 12 + 2u);
  const auto config = parse_model_config(w2s::json::parse_file(dir / "config.json"));
  EXPECT_EQ(config.model_type, "gpt_neox");
  EXPECT_EQ(w2s::json::parse_file(dir / "config.json").get_double("rotary_pct"), 0.25);

  // Older checkpoints also carry the causal-mask and rotary buffers: skipped on load.
  auto tensors = load_safetensors(dir / "model.safetensors");
  tensors.emplace_back("gpt_neox.layers.0.attention.bias", torch::ones({1, 1, 4, 4}, torch::kBool).to(torch::kFloat32));
  tensors.emplace_back("gpt_neox.layers.0.attention.masked_bias", torch::tensor(-1e9));
  tensors.emplace_back("gpt_neox.layers.0.attention.rotary_emb.inv_freq", torch::ones({2}));
  save_safetensors(dir / "model.safetensors", tensors);
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 300, {2, 7}, torch::kLong);
  EXPECT_TRUE(torch::equal(load_causal_lm(dir)->forward(ids), model->forward(ids)));

  // Tied: no embed_out, the head is embed_in.
  auto tied_json = tiny_config_json();
  tied_json.set("tie_word_embeddings", true);
  CausalLM tied = random_causal_lm(tiny_neox(tied_json), 3);
  EXPECT_FALSE(tied->named_parameters().contains("embed_out.weight"));
  const fs::path tied_dir = w2s::test::scratch_dir("gpt_neox_checkpoint_tied");
  save_pretrained(tied, tied_dir);
  EXPECT_TRUE(torch::equal(load_causal_lm(tied_dir)->forward(ids), tied->forward(ids)));
  EXPECT_EQ(tied->config().parameter_count(), numel - 300 * 32);
}

TEST_F(GptNeox, KvCacheAndPaddingMatchTheFullForward) {
  for (bool parallel : {true, false}) {
    auto config_json = tiny_config_json();
    config_json.set("use_parallel_residual", parallel);
    CausalLM model = random_causal_lm(tiny_neox(config_json), 5);
    torch::NoGradGuard no_grad;
    const torch::Tensor ids = torch::randint(3, 300, {2, 9}, torch::kLong);
    EXPECT_TRUE(torch::allclose(w2s::test::forward_in_pieces(model, ids, {4, 1, 3, 1}), model->forward(ids), 1e-5, 1e-5))
        << parallel;
    // The last 6 tokens of row 0, left-padded by 3: the same logits as alone.
    const torch::Tensor left = torch::cat({torch::zeros({1, 3}, torch::kLong), ids.slice(0, 0, 1).slice(1, 3)}, 1);
    const torch::Tensor mask = torch::cat({torch::zeros({1, 3}, torch::kLong), torch::ones({1, 6}, torch::kLong)}, 1);
    EXPECT_TRUE(torch::allclose(model->forward(left, mask).slice(1, 3), model->forward(ids.slice(0, 0, 1).slice(1, 3)),
                                1e-5, 1e-5))
        << parallel;
  }
}

TEST_F(GptNeox, DefaultLoraTargetsAdaptEveryLinearLayer) {
  CausalLM model = random_causal_lm(tiny_neox(), 2);
  EXPECT_EQ(default_lora_targets(model->config()),
            (std::vector<std::string>{"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}));
  const auto ids = torch::randint(3, 300, {2, 6}, torch::kLong);
  torch::Tensor base;
  {
    torch::NoGradGuard no_grad;
    base = model->forward(ids);
  }
  // Llama's names do not exist here: the error lists GPT-NeoX's (never the embed_out head).
  const std::string error = w2s::test::error_of([&] { apply_lora(model, LoraConfig{}); });
  EXPECT_CONTAINS(error, "dense, dense_4h_to_h, dense_h_to_4h, query_key_value");
  LoraConfig lora;
  lora.target_modules = default_lora_targets(model->config());
  EXPECT_EQ(apply_lora(model, lora), 2 * 4);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model->forward(ids), base));  // B = 0
  for (auto& p : model->named_parameters())
    EXPECT_EQ(p.value().requires_grad(), p.key().find("lora_") != std::string::npos) << p.key();
}

TEST_F(GptNeox, ConfigDefaultsAndErrors) {
  // Absent fields take transformers' GPTNeoXConfig defaults.
  auto minimal = parse(R"({"hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":2})");
  const ModelConfig m = tiny_neox(minimal);
  EXPECT_EQ(m.hidden_act, "gelu");
  EXPECT_DOUBLE_EQ(m.norm_eps, 1e-5);
  EXPECT_FALSE(m.tie_word_embeddings);
  EXPECT_EQ(m.max_position_embeddings, 2048);
  const fs::path dir = w2s::test::scratch_dir("gpt_neox_defaults");
  CausalLM model = random_causal_lm(m, 1);
  save_pretrained(model, dir);
  const auto info = describe_model(dir);
  EXPECT_EQ(info.get_string("architecture"), "gpt_neox");
  EXPECT_EQ(info.get_double("rotary_pct"), 0.25);
  EXPECT_EQ(info.get_double("rotary_emb_base"), 10000.0);
  EXPECT_TRUE(info.get_bool("use_parallel_residual"));
  EXPECT_TRUE(info.get_bool("attention_bias"));

  // transformers 5 writes the rotary settings as rope_parameters: the same model.
  auto old_style = tiny_config_json();
  old_style.set("rotary_pct", 0.5);
  old_style.set("rotary_emb_base", 500.0);
  auto new_style = tiny_config_json();
  std::erase_if(new_style.as_object(), [](const auto& m) { return m.first == "rotary_pct" || m.first == "rotary_emb_base"; });
  new_style.set("rope_parameters", parse(R"({"rope_type":"default","rope_theta":500.0,"partial_rotary_factor":0.5})"));
  {
    torch::NoGradGuard no_grad;
    const auto ids = torch::randint(0, 300, {1, 12}, torch::kLong);
    const auto reference = random_causal_lm(tiny_neox(old_style), 4)->forward(ids);
    EXPECT_TRUE(torch::equal(random_causal_lm(tiny_neox(new_style), 4)->forward(ids), reference));
    EXPECT_FALSE(torch::allclose(random_causal_lm(tiny_neox(), 4)->forward(ids), reference));
  }

  // Both formats given with different values: refused, not one silently preferred.
  auto both = new_style;
  both.set("rotary_pct", 0.25);
  EXPECT_CONTAINS(w2s::test::error_of([&] { tiny_neox(both); }), "rotary_pct differs from rope_parameters.partial_rotary_factor");

  auto bad = tiny_config_json();
  bad.set("rotary_pct", 0.1);  // 1.6 -> 1 rotary feature per head
  EXPECT_CONTAINS(w2s::test::error_of([&] { tiny_neox(bad); }), "rotary_pct");
  bad = tiny_config_json();
  bad.set("hidden_act", "relu");
  EXPECT_CONTAINS(w2s::test::error_of([&] { tiny_neox(bad); }), "\"relu\" is not supported");
  bad = tiny_config_json();
  bad.set("num_attention_heads", 3);
  EXPECT_CONTAINS(w2s::test::error_of([&] { tiny_neox(bad); }), "not divisible");
}

// ---------------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------------

std::string w2s_command(const std::vector<std::string>& args) {
  std::string cmd = w2s::test::w2s_binary().string();
  for (const auto& a : args) cmd += " '" + a + "'";
  return cmd + " 2>&1";
}

TEST(GptNeoxCommands, ModelInfoTokenizeAndGenerate) {
  const fs::path dir = w2s::test::scratch_dir("gpt_neox_cli_model");
  w2s::test::write_tiny_pythia(dir, tiny_config_json(), 7);
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_command({"model", "info", dir.string()}), &out), 0) << out;
  const auto info = parse(out);
  EXPECT_EQ(info.get_string("architecture"), "gpt_neox");
  EXPECT_EQ(info.get_string("model_type"), "gpt_neox");
  EXPECT_EQ(info.get_int("vocab_size"), 5376);  // 5281 ids rounded up to 128s, as Pythia pads
  EXPECT_EQ(info.get_int("parameters"), info.get_int("stored_elements"));
  EXPECT_EQ(info.at("tokenizer").get_string("kind"), "byte-level BPE");
  EXPECT_EQ(info.at("tokenizer").get_int("vocab_size"), 5281);
  EXPECT_FALSE(info.contains("warning"));
  EXPECT_EQ(info.at("default_lora_targets"), parse(R"(["query_key_value","dense","dense_h_to_4h","dense_4h_to_h"])"));

  ASSERT_EQ(w2s::test::run_command(w2s_command({"model", "tokenize", dir.string(), "--text", "Hello    world"}), &out), 0)
      << out;
  const auto tokens = parse(out).at("tokens").as_array();
  EXPECT_NE(std::find(tokens.begin(), tokens.end(), w2s::json::Value("    ")), tokens.end()) << out;  // an added token
  ASSERT_EQ(w2s::test::run_command(w2s_command({"model", "tokenize", dir.string(), "--text", "Once upon a time"}), &out), 0)
      << out;
  const auto prompt_ids = parse(out).at("ids");

  ASSERT_EQ(w2s::test::run_command(w2s_command({"model", "generate", dir.string(), "--prompt", "Once upon a time",
                                                "--max-new-tokens", "5", "--device", "cpu", "--threads", "1"}),
                                   &out),
            0)
      << out;
  const auto generated = parse(out);
  EXPECT_EQ(generated.at("prompt_ids"), prompt_ids);  // no BOS: Pythia's post-processor adds none
  EXPECT_GE(generated.at("generated_ids").size(), 1u);
  EXPECT_LE(generated.at("generated_ids").size(), 5u);
  EXPECT_EQ(generated.at("first_step_top_k").size(), 5u);
}

// `w2s model generate` prints valid UTF-8 when the model generates part of a character: the
// tokenizer is rewritten so that the first generated id is the byte 0xF0 alone (the lead of a
// 4-byte character), with the generation itself unchanged; its text decodes to U+FFFD.
TEST(GptNeoxCommands, GenerateWritesValidUtf8ForAPartialCharacter) {
  const fs::path dir = w2s::test::scratch_dir("gpt_neox_cli_partial_utf8");
  w2s::test::write_tiny_pythia(dir, tiny_config_json(), 7);
  const std::vector<std::string> generate = {"model", "generate", dir.string(), "--prompt", "Once upon a time",
                                             "--max-new-tokens", "4", "--device", "cpu", "--threads", "1"};
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_command(generate), &out), 0) << out;
  const auto before = parse(out);
  const std::int64_t first = before.at("generated_ids").at(std::size_t{0}).as_int();

  // Swap the vocabulary strings of the first generated id and of the byte 0xF0 ("ð").
  auto tokenizer = w2s::json::parse_file(dir / "tokenizer.json");
  auto& vocab = tokenizer["model"]["vocab"].as_object();
  auto entry_of = [&](auto&& match) { return std::find_if(vocab.begin(), vocab.end(), match); };
  const auto lead = entry_of([](const auto& e) { return e.first == "\xC3\xB0"; });
  const auto generated = entry_of([&](const auto& e) { return e.second.as_int() == first; });
  ASSERT_NE(lead, vocab.end());
  ASSERT_NE(generated, vocab.end()) << "the first generated id " << first << " is an added token";
  std::swap(lead->second, generated->second);
  w2s::write_file_atomic(dir / "tokenizer.json", w2s::json::dump(tokenizer));

  ASSERT_EQ(w2s::test::run_command(w2s_command(generate), &out), 0) << out;
  EXPECT_EQ(w2s::valid_utf8(out), out);
  const auto after = parse(out);
  ASSERT_EQ(after.at("prompt_ids"), before.at("prompt_ids"));
  ASSERT_EQ(after.at("generated_ids"), before.at("generated_ids"));
  EXPECT_EQ(after.get_string("text").rfind("\xEF\xBF\xBD", 0), 0u) << after.get_string("text");
}

// A weak Pythia-style model (LoRA on its query_key_value, dense, dense_h_to_4h, dense_4h_to_h)
// supervises a larger one with sequential residuals, on an SST-2 subset.
TEST(GptNeoxCommands, TrainRunsWeakToStrongOnGptNeox) {
  const fs::path root = w2s::test::scratch_dir("gpt_neox_cli_train");
  auto weak_config = tiny_config_json();
  weak_config.set("hidden_size", 16);
  weak_config.set("num_hidden_layers", 1);
  w2s::test::write_tiny_pythia(root / "weak", weak_config, 1);
  auto strong_config = tiny_config_json();
  strong_config.set("use_parallel_residual", false);
  w2s::test::write_tiny_pythia(root / "strong", strong_config, 2);
  const fs::path results = root / "results";
  std::string out;
  const int rc = w2s::test::run_command(
      w2s_command({"train", "--weak-model-name", (root / "weak").string(), "--strong-model-name", (root / "strong").string(),
                   "--dataset", "sst2", "--data-dir", (w2s::test::assets_dir() / "data").string(), "--n-train", "80",
                   "--n-val", "20", "--n-test", "30", "--max-length", "48", "--n-epochs", "1", "--minibatch-size", "4",
                   "--batch-size", "8", "--eval-every", "5", "--loss", "xent", "--device", "cpu", "--threads", "1",
                   "--no-progress", "--results-dir", results.string(), "--run-name", "pythia"}),
      &out);
  ASSERT_EQ(rc, 0) << out;
  for (const std::string stage : {"floor", "ceiling", "w2s"}) {
    SCOPED_TRACE(stage);
    const auto record = w2s::results::read_record(results / "pythia" / "sst2" / stage / "record.json");
    EXPECT_EQ(record.predictions.size(), 30u);
    ASSERT_TRUE(record.metrics.auroc.has_value());
  }
  // The trained weights the stages kept: LoRA on every linear layer of GPT-NeoX (--lora-modules auto).
  std::set<std::string> adapted;
  for (const auto& entry : fs::recursive_directory_iterator(results))
    if (entry.path().extension() == ".safetensors") {
      const w2s::model::SafetensorsFile file(entry.path());  // outlives the loop over its tensors
      for (const auto& tensor : file.tensors())
        if (const auto at = tensor.name.find(".lora_A."); at != std::string::npos)
          adapted.insert(tensor.name.substr(tensor.name.rfind('.', at - 1) + 1, at - tensor.name.rfind('.', at - 1) - 1));
    }
  EXPECT_EQ(adapted, (std::set<std::string>{"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}));
}

}  // namespace
