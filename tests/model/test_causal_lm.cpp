// The torch side: real checkpoints (stories260K Llama, GPT-2 layout), a random Qwen2 checkpoint
// written and read back, KV cache, padding, LoRA, the classifier and finite-difference gradients.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "assets.h"
#include "forward_in_pieces.h"
#include "w2s/model_torch.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;

fs::path hf_dir(const char* name) { return w2s::test::assets_dir() / "models" / "hf" / name; }

torch::Tensor ids_tensor(const std::vector<std::int64_t>& ids) { return torch::tensor(ids, torch::kLong).unsqueeze(0); }

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override { set_num_threads(2); }
};

TEST_F(ModelTest, Stories260KNextTokenProbabilitiesMatchReference) {
  CausalLM model = load_causal_lm(hf_dir("stories260K-llama"));
  const Tokenizer tok = Tokenizer::from_dir(hf_dir("stories260K-llama"));
  const auto ids = tok.encode("Once upon a time, there was a little");
  ASSERT_EQ(ids.front(), 1);  // BOS
  torch::NoGradGuard no_grad;
  const auto probs = torch::softmax(model->forward(ids_tensor(ids)).select(1, -1).squeeze(0), -1);
  const auto top = probs.topk(5);
  const std::vector<std::int64_t> expected_ids = {298, 268, 400, 280, 272};
  const std::vector<double> expected_p = {0.6403, 0.2754, 0.0215, 0.0120, 0.0098};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(std::get<1>(top)[i].item<std::int64_t>(), expected_ids[i]) << "rank " << i;
    EXPECT_NEAR(std::get<0>(top)[i].item<double>(), expected_p[i], 1e-3) << "rank " << i;
  }
}

TEST_F(ModelTest, Stories260KGreedyGenerationIsTinyStoriesText) {
  CausalLM model = load_causal_lm(hf_dir("stories260K-llama"));
  const Tokenizer tok = Tokenizer::from_dir(hf_dir("stories260K-llama"));
  const auto r = greedy_generate(model, tok.encode("Once upon a time, there was a little"), 30, tok.eos_id(), 5);
  const std::string text = tok.decode(r.generated_ids);
  ASSERT_EQ(r.first_step_top_k.size(), 5u);
  EXPECT_EQ(r.first_step_top_k[0].first, 298);
  // llama.cpp: "... a little girl named Lily" (the decoder strips the leading space, as HF does)
  EXPECT_EQ(text.rfind("girl", 0), 0u) << text;
  EXPECT_NE(text.find("Lily"), std::string::npos) << text;
}

TEST_F(ModelTest, KvCacheDecodingEqualsFullRecompute) {
  for (const char* type : {"llama", "qwen2"}) {
    CausalLM model = random_causal_lm(tiny_config(type, 259, 32, 2, 4, 2), 3);
    torch::NoGradGuard no_grad;
    const torch::Tensor ids = torch::randint(3, 259, {2, 9}, torch::kLong);
    EXPECT_TRUE(torch::allclose(w2s::test::forward_in_pieces(model, ids, {4, 1, 3, 1}), model->forward(ids), 1e-5, 1e-5))
        << type;
  }
}

TEST_F(ModelTest, LeftAndRightPaddingGiveTheSameLastTokenLogits) {
  CausalLM model = random_causal_lm(tiny_config("qwen2", 259, 32, 2, 4, 2), 5);
  const Tokenizer tok = Tokenizer::bytes();
  const std::vector<std::string> texts = {"a short one", "a considerably longer text here", "mid length"};
  const auto right = encode_batch(tok, texts, PaddingSide::Right);
  const auto left = encode_batch(tok, texts, PaddingSide::Left);
  torch::NoGradGuard no_grad;
  const auto lr = model->forward(right.input_ids, right.attention_mask);
  const auto ll = model->forward(left.input_ids, left.attention_mask);
  for (std::int64_t i = 0; i < 3; ++i) {
    const std::int64_t n = right.attention_mask[i].sum().item<std::int64_t>();
    const auto single = model->forward(ids_tensor(tok.encode(texts[i]))).select(1, -1);
    EXPECT_TRUE(torch::allclose(lr[i][n - 1], ll[i][-1], 1e-5, 1e-5)) << i;
    EXPECT_TRUE(torch::allclose(lr[i][n - 1], single[0], 1e-5, 1e-5)) << i;
  }
  SequenceClassifier clf(model);
  const auto cr = clf->forward(right.input_ids, right.attention_mask).logits;
  const auto cl = clf->forward(left.input_ids, left.attention_mask).logits;
  EXPECT_TRUE(torch::allclose(cr, cl, 1e-5, 1e-6));
}

TEST_F(ModelTest, Gpt2LayoutLoadsAndRuns) {
  CausalLM model = load_causal_lm(hf_dir("fake-gpt2-tiny-random"));
  const Tokenizer tok = Tokenizer::from_dir(hf_dir("fake-gpt2-tiny-random"));
  EXPECT_EQ(model->config().model_type, "gpt2");
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor(tok.encode("Hello world, this is GPT-2"));
  const auto logits = model->forward(ids);
  EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{1, ids.size(1), 50257}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  KVCache cache;
  const auto a = model->forward(ids.slice(1, 0, 3), torch::ones({1, 3}, torch::kLong), &cache);
  const auto b = model->forward(ids.slice(1, 3), torch::ones({1, ids.size(1)}, torch::kLong), &cache);
  EXPECT_TRUE(torch::allclose(torch::cat({a, b}, 1), logits, 1e-5, 1e-6));
  // Saving writes Conv1D weights back in GPT-2's [in, out] layout: a reload gives the same logits.
  const fs::path dir = w2s::test::scratch_dir("gpt2_roundtrip");
  save_pretrained(model, dir);
  CausalLM again = load_causal_lm(dir);
  EXPECT_TRUE(torch::equal(again->forward(ids), logits));
  {
    // Checkpoints saved by older transformers keep the causal masks as buffers, BOOL or U8
    // (h.N.attn.bias, h.N.attn.masked_bias): the model never reads them, and they must not block loading.
    std::vector<TensorBytes> tensors;
    const SafetensorsFile saved(dir / "model.safetensors");
    for (const auto& t : saved.tensors())
      tensors.push_back({t.name, t.dtype, t.shape, {reinterpret_cast<const char*>(t.data), t.nbytes}});
    const std::string mask(16, '\1');
    for (int layer = 0; layer < model->config().num_hidden_layers; ++layer) {
      tensors.push_back({fmt::format("h.{}.attn.bias", layer), DType::BOOL, {1, 1, 4, 4}, mask});
      tensors.push_back({fmt::format("h.{}.attn.masked_bias", layer), DType::U8, {1}, std::string_view(mask).substr(0, 1)});
    }
    const fs::path with_masks = w2s::test::scratch_dir("gpt2_mask_buffers");
    fs::copy_file(dir / "config.json", with_masks / "config.json");
    write_safetensors(with_masks / "model.safetensors", tensors);
    EXPECT_EQ(SafetensorsFile(with_masks / "model.safetensors").find("h.0.attn.bias")->dtype, DType::BOOL);
    EXPECT_TRUE(torch::equal(load_causal_lm(with_masks)->forward(ids), logits));
  }
  // The default LoRA targets are Llama names; GPT-2 must name its own.
  try {
    apply_lora(model, LoraConfig{});
    ADD_FAILURE() << "LoRA with Llama target names accepted on GPT-2";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("c_attn"), std::string::npos) << e.what();
  }
  LoraConfig gpt2_lora;
  gpt2_lora.target_modules = {"c_attn", "c_proj", "c_fc"};
  EXPECT_EQ(apply_lora(model, gpt2_lora), 4);  // c_attn, attn.c_proj, c_fc, mlp.c_proj
}

TEST_F(ModelTest, RandomQwen2CheckpointRoundTrips) {
  ModelConfig config = tiny_config("qwen2", 300, 32, 2, 4, 2);
  config.tie_word_embeddings = true;
  CausalLM model = random_causal_lm(config, 11);
  const fs::path dir = w2s::test::scratch_dir("qwen2_roundtrip");
  save_pretrained(model, dir);
  const ModelConfig reread = read_model_config(dir);
  EXPECT_EQ(w2s::json::parse_file(dir / "config.json").get_string("torch_dtype"), "float32");
  EXPECT_EQ(reread.model_type, "qwen2");
  EXPECT_TRUE(reread.tie_word_embeddings);
  CausalLM loaded = load_causal_lm(dir);
  EXPECT_TRUE(loaded->named_parameters().contains("model.layers.0.self_attn.q_proj.bias"));  // Qwen2's q/k/v biases
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 300, {2, 7}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->forward(ids), loaded->forward(ids)));
  {  // a bfloat16 model is saved as BF16 and its config says so
    CausalLM bf16 = random_causal_lm(config, 11, {torch::kCPU, torch::kBFloat16});
    const fs::path bf16_dir = w2s::test::scratch_dir("qwen2_roundtrip_bf16");
    save_pretrained(bf16, bf16_dir);
    EXPECT_EQ(w2s::json::parse_file(bf16_dir / "config.json").get_string("torch_dtype"), "bfloat16");
    EXPECT_EQ(load_safetensors(bf16_dir / "model.safetensors").at(0).second.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(bf16->forward(ids), load_causal_lm(bf16_dir, {torch::kCPU, torch::kBFloat16})->forward(ids)));
  }
  std::int64_t numel = 0;
  for (const auto& p : loaded->parameters()) numel += p.numel();
  EXPECT_EQ(numel, config.parameter_count());
  const auto info = describe_model(dir);
  EXPECT_EQ(info.at("parameters").as_int(), numel);
  EXPECT_EQ(info.at("tokenizer").at("kind").as_string(), "built-in bytes");
  // A tensor missing from the checkpoint is named in the error.
  auto tensors = load_safetensors(dir / "model.safetensors");
  tensors.pop_back();
  save_safetensors(dir / "model.safetensors", tensors);
  EXPECT_THROW(load_causal_lm(dir), w2s::Error);
}

TEST_F(ModelTest, ConfigErrorsAndRopeScaling) {
  w2s::json::Value c = w2s::json::parse(R"({"model_type":"falcon","vocab_size":10})");
  try {
    parse_model_config(c);
    ADD_FAILURE() << "falcon accepted";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("falcon"), std::string::npos);
  }
  w2s::json::Value llama3 = model_config_to_json(tiny_config("llama", 259, 32, 1, 4, 1));
  llama3.set("rope_scaling", w2s::json::parse(R"({"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64})"));
  llama3.set("rope_theta", 500000.0);
  const ModelConfig cfg = parse_model_config(llama3);
  CausalLM model = random_causal_lm(cfg, 1);
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 259, {1, 80}, torch::kLong);
  const auto scaled = model->forward(ids);
  EXPECT_TRUE(torch::isfinite(scaled).all().item<bool>());
  llama3.set("rope_scaling", nullptr);  // the same weights without the scaling disagree
  EXPECT_FALSE(torch::allclose(random_causal_lm(parse_model_config(llama3), 1)->forward(ids), scaled));
  llama3.set("rope_scaling", w2s::json::parse(R"({"rope_type":"yarn","factor":4.0})"));
  EXPECT_THROW(parse_model_config(llama3), w2s::Error);
  // A field of the wrong type: the error names the file and the problem.
  llama3.set("rope_scaling", w2s::json::parse(R"({"rope_type":"llama3","factor":"big"})"));
  const std::string message = w2s::test::error_of([&] { parse_model_config(llama3, "some/config.json"); });
  EXPECT_CONTAINS(message, "some/config.json: expected number, found string");
}

TEST_F(ModelTest, LoraWithZeroBEqualsBaseAndOnlyAdaptersTrain) {
  CausalLM model = random_causal_lm(tiny_config("llama", 259, 32, 2, 4, 2), 2);
  const auto ids = torch::randint(3, 259, {2, 6}, torch::kLong);
  torch::Tensor base;
  {
    torch::NoGradGuard no_grad;
    base = model->forward(ids);
  }
  EXPECT_EQ(apply_lora(model, LoraConfig{}), 2 * 7);
  SequenceClassifier clf(model);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(model->forward(ids), base));
  }
  std::int64_t trainable = 0;
  for (auto& [name, p] : clf->named_trainable_parameters()) {
    EXPECT_TRUE(name.find("lora_") != std::string::npos || name == "score.weight") << name;
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    trainable += p.numel();
  }
  // r=8 on q(32->32), k,v(32->16), o(32->32), gate/up(32->86), down(86->32), per layer.
  const std::int64_t per_layer = 8 * ((32 + 32) + (32 + 16) * 2 + (32 + 32) + (32 + 86) * 2 + (86 + 32));
  EXPECT_EQ(trainable, 2 * per_layer + 2 * 32);
  // Head init: normal(0, 0.02) * 0.01.
  const double std = clf->score()->weight.std().item<double>();
  EXPECT_GT(std, 0.0001);
  EXPECT_LT(std, 0.0003);
  // Adapters + head round-trip through safetensors.
  for (auto& p : clf->trainable_parameters()) {
    torch::NoGradGuard no_grad;
    p.normal_();
  }
  const auto before = clf->forward(ids, torch::ones_like(ids)).logits;
  const fs::path dir = w2s::test::scratch_dir("lora_save");
  clf->save_trainable(dir / "adapter.safetensors");
  for (auto& p : clf->trainable_parameters()) {
    torch::NoGradGuard no_grad;
    p.zero_();
  }
  clf->load_trainable(dir / "adapter.safetensors");
  EXPECT_TRUE(torch::equal(clf->forward(ids, torch::ones_like(ids)).logits, before));
  // Probe activations: [B, L+1, H], last layer = the pooled final hidden state.
  const auto out = clf->forward(ids, torch::ones_like(ids), true);
  EXPECT_EQ(out.hidden_states.sizes(), (std::vector<std::int64_t>{2, 3, 32}));
}

// d(loss)/d(theta) by autograd against central differences, in float64, for LoRA A and B, the
// head, a norm weight and an embedding row (full fine-tuning).
TEST_F(ModelTest, GradientsMatchFiniteDifferences) {
  ModelConfig config = tiny_config("qwen2", 40, 16, 2, 4, 2);
  CausalLM model = random_causal_lm(config, 9, Placement{torch::kCPU, torch::kFloat64});
  LoraConfig lora;
  lora.r = 2;
  apply_lora(model, lora);
  SequenceClassifier clf(model);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : clf->trainable_parameters()) p.normal_(0.0, 0.3);
  }
  const auto ids = torch::randint(0, 40, {2, 5}, torch::kLong);
  const auto mask = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, torch::kLong).view({2, 5});
  const auto targets = torch::tensor({0.3, 0.9}, torch::kFloat64);
  auto loss_fn = [&] {
    const auto logits = clf->forward(ids, mask).logits;
    const auto logp = torch::log_softmax(logits, -1);
    return -(targets * logp.select(1, 1) + (1 - targets) * logp.select(1, 0)).mean();
  };
  auto check = [&](const std::string& name, torch::Tensor p) {
    clf->zero_grad();
    loss_fn().backward();
    ASSERT_TRUE(p.grad().defined()) << name;
    const auto grad = p.grad().clone().flatten();
    torch::NoGradGuard no_grad;
    auto flat = p.view({-1});
    for (std::int64_t i : {std::int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const double h = 1e-6, old = flat[i].item<double>();
      flat[i] = old + h;
      const double up = loss_fn().item<double>();
      flat[i] = old - h;
      const double down = loss_fn().item<double>();
      flat[i] = old;
      EXPECT_NEAR(grad[i].item<double>(), (up - down) / (2 * h), 1e-7) << name << "[" << i << "]";
    }
  };
  for (auto& [name, p] : clf->named_trainable_parameters())
    if (name.find("layers.0.self_attn.q_proj.lora") != std::string::npos || name.find("layers.1.mlp.down_proj.lora") != std::string::npos ||
        name == "score.weight")
      check(name, p);
  enable_full_finetune(model);
  for (auto& [name, p] : clf->named_trainable_parameters())
    if (name == "model.model.layers.1.input_layernorm.weight" || name == "model.model.embed_tokens.weight" ||
        name == "model.model.layers.0.self_attn.k_proj.bias")
      check(name, p);
}

TEST_F(ModelTest, ResolvePlacementRejectsUnknownNames) {
  EXPECT_EQ(resolve_placement({"cpu", "auto", 0}).dtype, torch::kFloat32);
  EXPECT_EQ(resolve_placement({"cpu", "bf16", 0}).dtype, torch::kBFloat16);
  EXPECT_THROW(resolve_placement({"tpu", "auto", 0}), w2s::Error);
  EXPECT_THROW(resolve_placement({"cpu", "int3", 0}), w2s::Error);
  // What records and cache keys hold: "auto" resolved for this machine.
  const RunOptions automatic = resolve_run_options({"auto", "auto", 0});
  EXPECT_EQ(automatic.device, torch::cuda::is_available() ? "cuda:0" : "cpu");
  EXPECT_EQ(automatic.dtype, torch::cuda::is_available() ? "bfloat16" : "float32");
  EXPECT_EQ(resolve_run_options({"cpu", "bf16", 0}).dtype, "bfloat16");
  EXPECT_EQ(resolve_run_options({"cpu", "fp32", 0}).dtype, "float32");
}

}  // namespace
