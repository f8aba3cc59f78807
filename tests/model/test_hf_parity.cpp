// Logits of random tiny Llama / Mistral / Qwen2 / GPT-2 / GPT-NeoX checkpoints against an independent
// float64 forward pass written from transformers' modelling code (hf_reference_forward.py, run
// with Debian's python3-torch), in float32 and in bfloat16 (the CUDA default, run here on CPU).
// Every parameter is perturbed away from its initial value first, so that norm weights, biases
// and untied heads all matter, and the batch mixes full, left-padded and right-padded rows.
#include <gtest/gtest.h>

#include <cstdio>

#include "assets.h"
#include "w2s/model_torch.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;
using w2s::json::parse;

struct Case {
  const char* name;
  const char* config_json;
};

// Each case exercises something the others do not.
const Case kCases[] = {
    {"llama-gqa-llama3-rope",
     R"({"model_type":"llama","vocab_size":97,"hidden_size":32,"intermediate_size":56,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-5,"rope_theta":500000.0,
         "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                         "original_max_position_embeddings":32},
         "initializer_range":0.15,"pad_token_id":0})"},
    {"llama-tied-linear-rope-head-dim",
     R"({"model_type":"llama","vocab_size":97,"hidden_size":24,"intermediate_size":40,"num_hidden_layers":2,
         "num_attention_heads":3,"num_key_value_heads":1,"head_dim":12,"tie_word_embeddings":true,
         "rope_scaling":{"type":"linear","factor":2.0},"initializer_range":0.15,"pad_token_id":0})"},
    {"mistral-sliding-window",
     R"({"model_type":"mistral","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"sliding_window":3,"initializer_range":0.15,
         "pad_token_id":0})"},
    {"qwen2-qkv-bias-tied",
     R"({"model_type":"qwen2","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"tie_word_embeddings":true,"rope_theta":1000000.0,
         "initializer_range":0.15,"pad_token_id":0})"},
    {"gpt2",
     R"({"model_type":"gpt2","vocab_size":97,"n_embd":32,"n_layer":2,"n_head":4,"n_positions":64,
         "activation_function":"gelu_new","layer_norm_epsilon":1e-5,"initializer_range":0.15})"},
    // Pythia's shape: parallel residual, rotary on a quarter of each head, biases, untied embed_out.
    {"gpt_neox-parallel-partial-rotary",
     R"({"model_type":"gpt_neox","vocab_size":97,"hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,
         "num_attention_heads":4,"rotary_pct":0.25,"rotary_emb_base":10000,"use_parallel_residual":true,
         "hidden_act":"gelu","layer_norm_eps":1e-5,"initializer_range":0.15,"bos_token_id":0,"eos_token_id":0})"},
    {"gpt_neox-sequential-tied-no-bias",
     R"({"model_type":"gpt_neox","vocab_size":97,"hidden_size":32,"intermediate_size":80,"num_hidden_layers":2,
         "num_attention_heads":2,"rotary_pct":0.5,"rotary_emb_base":500.0,"use_parallel_residual":false,
         "attention_bias":false,"tie_word_embeddings":true,"hidden_act":"gelu_new",
         "rope_scaling":{"type":"linear","factor":2.0},"initializer_range":0.15})"},
};

constexpr std::int64_t kVocab = 97, kBatch = 3, kLength = 11;

// Row 0 is full, row 1 left-padded by 3, row 2 right-padded by 4 (pad id 0).
std::pair<torch::Tensor, torch::Tensor> padded_batch() {
  torch::manual_seed(5);
  torch::Tensor ids = torch::randint(1, kVocab, {kBatch, kLength}, torch::kLong);
  torch::Tensor mask = torch::ones({kBatch, kLength}, torch::kLong);
  mask.index_put_({1, torch::indexing::Slice(0, 3)}, 0);
  mask.index_put_({2, torch::indexing::Slice(kLength - 4, kLength)}, 0);
  return {ids * mask, mask};
}

// Writes the perturbed model and runs the reference on it; returns the reference logits.
torch::Tensor reference_logits(CausalLM& model, const fs::path& dir, const torch::Tensor& ids,
                               const torch::Tensor& mask) {
  save_pretrained(model, dir / "model");
  save_safetensors(dir / "inputs.safetensors", {{"input_ids", ids}, {"attention_mask", mask}});
  const std::string cmd = w2s::test::debian_python3() + " " +
                          (w2s::test::source_dir() / "tests/model/hf_reference_forward.py").string() + " " +
                          (dir / "model").string() + " " + (dir / "inputs.safetensors").string() + " " +
                          (dir / "reference.safetensors").string();
  std::string out;
  if (w2s::test::run_command(cmd, &out) != 0) throw w2s::Error("reference forward failed: " + out);
  return load_safetensors(dir / "reference.safetensors").at(0).second;
}

// Largest |ours - reference| over the real (unpadded) positions, relative to the largest |reference|.
double relative_error(const torch::Tensor& ours, const torch::Tensor& reference, const torch::Tensor& mask) {
  const torch::Tensor real = mask.to(torch::kBool);
  const torch::Tensor a = ours.to(torch::kFloat64).index({real});
  const torch::Tensor b = reference.to(torch::kFloat64).index({real});
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(HfParity, LogitsEqualTheTransformersConventionsInFloat32AndBfloat16) {
  set_num_threads(2);
  const auto [ids, mask] = padded_batch();
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const ModelConfig config = parse_model_config(parse(c.config_json), c.name);
    CausalLM model = random_causal_lm(config, 7);
    std::int64_t numel = 0;
    for (const auto& p : model->parameters()) numel += p.numel();
    EXPECT_EQ(numel, config.parameter_count());
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters())
        if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.3);  // norm weights and biases
    }
    const fs::path dir = w2s::test::scratch_dir(std::string("hf_parity_") + c.name);
    const torch::Tensor reference = reference_logits(model, dir, ids, mask);
    ASSERT_EQ(reference.sizes(), (std::vector<std::int64_t>{kBatch, kLength, kVocab}));
    ASSERT_GT(reference.abs().max().item<double>(), 1.0) << "logits too small to tell implementations apart";

    torch::NoGradGuard no_grad;
    const double fp32 = relative_error(model->forward(ids, mask), reference, mask);
    EXPECT_LT(fp32, 1e-5);
    model->place({torch::kCPU, torch::kBFloat16});
    const double bf16 = relative_error(model->forward(ids, mask), reference, mask);
    EXPECT_LT(bf16, 0.05);
    std::printf("%-34s relative max error: float32 %.2e, bfloat16 %.2e\n", c.name, fp32, bf16);
  }
}

// The comparison can fail: the same weights without Mistral's sliding window disagree with the
// reference well beyond the tolerance above.
TEST(HfParity, TheReferenceNoticesAWrongConvention) {
  set_num_threads(2);
  const auto [ids, mask] = padded_batch();
  w2s::json::Value config_json = parse(kCases[2].config_json);  // mistral, window 3
  CausalLM windowed = random_causal_lm(parse_model_config(config_json), 9);
  config_json.set("model_type", "llama");  // same weights, no window
  CausalLM unwindowed = random_causal_lm(parse_model_config(config_json), 9);
  const fs::path dir = w2s::test::scratch_dir("hf_parity_sensitivity");
  const torch::Tensor reference = reference_logits(windowed, dir, ids, mask);
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_error(windowed->forward(ids, mask), reference, mask), 1e-5);
  EXPECT_GT(relative_error(unwindowed->forward(ids, mask), reference, mask), 1e-3);
}

// The GPT-NeoX comparison notices each of its conventions: the same weights read with GPT-2's
// [3, heads, head_dim] q/k/v layout instead of the per-head [heads, 3, head_dim] one, with a
// sequential instead of the parallel residual, or with rotary embeddings on half instead of a
// quarter of each head, all disagree with the reference.
TEST(HfParity, TheReferenceNoticesAWrongGptNeoxConvention) {
  set_num_threads(2);
  const auto [ids, mask] = padded_batch();
  const w2s::json::Value config_json = parse(kCases[5].config_json);  // parallel, rotary_pct 0.25
  CausalLM model = random_causal_lm(parse_model_config(config_json), 9);
  const fs::path dir = w2s::test::scratch_dir("hf_parity_neox_sensitivity");
  const torch::Tensor reference = reference_logits(model, dir, ids, mask);
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_error(model->forward(ids, mask), reference, mask), 1e-5);

  // Our model on weights permuted from [heads, 3, D] to [3, heads, D] computes what an
  // implementation splitting the original weights GPT-2's way would.
  CausalLM interleave = random_causal_lm(parse_model_config(config_json), 9);
  const std::int64_t heads = 4, head_dim = 16;
  for (auto& p : interleave->named_parameters()) {
    if (p.key().find("query_key_value") == std::string::npos) continue;
    const auto rows = p.value().sizes().vec();
    std::vector<std::int64_t> split = {heads, 3, head_dim};
    split.insert(split.end(), rows.begin() + 1, rows.end());
    p.value().copy_(p.value().reshape(split).transpose(0, 1).reshape(rows));
  }
  const double wrong_layout = relative_error(interleave->forward(ids, mask), reference, mask);

  w2s::json::Value sequential_json = config_json;
  sequential_json.set("use_parallel_residual", false);
  CausalLM sequential = random_causal_lm(parse_model_config(sequential_json), 9);
  const double wrong_residual = relative_error(sequential->forward(ids, mask), reference, mask);

  w2s::json::Value rotary_json = config_json;
  rotary_json.set("rotary_pct", 0.5);
  CausalLM half_rotary = random_causal_lm(parse_model_config(rotary_json), 9);
  const double wrong_rotary = relative_error(half_rotary->forward(ids, mask), reference, mask);

  std::printf("gpt_neox with a wrong convention, relative max error: q/k/v layout %.2e, residual %.2e, rotary %.2e\n",
              wrong_layout, wrong_residual, wrong_rotary);
  EXPECT_GT(wrong_layout, 1e-3);
  EXPECT_GT(wrong_residual, 1e-3);
  EXPECT_GT(wrong_rotary, 1e-3);
}

}  // namespace
