// Logits of random tiny Llama / Mistral / Qwen2 / GPT-2 / GPT-NeoX / Qwen3 / Gemma 2 / Gemma 3 / Phi-3
// checkpoints against an independent
// float64 forward pass written from transformers' modelling code (hf_reference_forward.py, run
// with Debian's python3-torch), in float32 and in bfloat16 (the CUDA default, run here on CPU).
// Every parameter is perturbed away from its initial value first, so that norm weights, biases
// and untied heads all matter, and the batch mixes full, left-padded and right-padded rows.
#include <gtest/gtest.h>

#include <cstdio>

#include "assets.h"
#include "w2s/shell.h"
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
    // Qwen3: per-head q/k RMSNorm, an explicit head_dim unlike hidden / heads, untied head.
    {"qwen3-qk-norm-head-dim",
     R"({"model_type":"qwen3","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"head_dim":12,"rope_theta":1000000.0,
         "initializer_range":0.15,"pad_token_id":0})"},
    // Qwen3 tied, with biases, llama3 rope and a sliding window from max_window_layers on (layer 1).
    {"qwen3-tied-bias-sliding-llama3-rope",
     R"({"model_type":"qwen3","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":1,"head_dim":8,"tie_word_embeddings":true,
         "attention_bias":true,"use_sliding_window":true,"sliding_window":3,"max_window_layers":1,
         "rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
         "high_freq_factor":4.0,"original_max_position_embeddings":32},"initializer_range":0.15,"pad_token_id":0})"},
    // Gemma 2: caps low enough to bite, query_pre_attn_scalar unlike head_dim, layers 0 and 2 sliding.
    {"gemma2-softcap-sliding",
     R"({"model_type":"gemma2","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":3,
         "num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,"query_pre_attn_scalar":24,
         "attn_logit_softcapping":2.0,"final_logit_softcapping":5.0,"sliding_window":3,
         "hidden_activation":"gelu_pytorch_tanh","initializer_range":0.15,"pad_token_id":0})"},
    // Gemma 3: q/k norms, local layers (0, 2) at base 10000, the global one at 1e6 with linear scaling.
    {"gemma3-local-global-rope",
     R"({"model_type":"gemma3_text","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":3,
         "num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,"query_pre_attn_scalar":16,
         "sliding_window":3,"sliding_window_pattern":2,"rope_theta":1000000.0,"rope_local_base_freq":10000.0,
         "rope_scaling":{"rope_type":"linear","factor":8.0},"initializer_range":0.15,"pad_token_id":0})"},
    // Phi-3: fused qkv_proj / gate_up_proj, GQA, the sliding window on every layer.
    {"phi3-fused-sliding",
     R"({"model_type":"phi3","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"num_key_value_heads":2,"sliding_window":4,"initializer_range":0.15,
         "pad_token_id":0})"},
    // Phi-3 128k style: longrope past original_max_position_embeddings (8 < 11 tokens: the long
    // factors) on half of each head (partial_rotary_factor), tied.
    {"phi3-longrope-partial-rotary",
     R"({"model_type":"phi3","vocab_size":97,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
         "num_attention_heads":4,"partial_rotary_factor":0.5,"max_position_embeddings":64,
         "original_max_position_embeddings":8,"tie_word_embeddings":true,
         "rope_scaling":{"type":"longrope","short_factor":[1.0,1.5],"long_factor":[2.0,4.0]},
         "initializer_range":0.15,"pad_token_id":0})"},
};

// The case named `name`.
const Case& case_named(std::string_view name) {
  for (const Case& c : kCases)
    if (name == c.name) return c;
  throw w2s::Error("no parity case " + std::string(name));
}

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
// `wrong_convention`: the reference's deliberately wrong variant (hf_reference_forward.py).
torch::Tensor reference_logits(CausalLM& model, const fs::path& dir, const torch::Tensor& ids,
                               const torch::Tensor& mask, const std::string& wrong_convention = "") {
  save_pretrained(model, dir / "model");
  save_safetensors(dir / "inputs.safetensors", {{"input_ids", ids}, {"attention_mask", mask}});
  const std::string cmd = "WRONG_CONVENTION=" + w2s::shell_quote(wrong_convention) + " " +
                          w2s::test::debian_python3() + " " +
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
    std::printf("%-38s relative max error: float32 %.2e, bfloat16 %.2e\n", c.name, fp32, bf16);
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

void erase_key(w2s::json::Value& object, std::string_view key) {
  auto& members = object.as_object();
  std::erase_if(members, [&](const auto& member) { return member.first == key; });
}

// Perturbs every 1-D parameter (norm weights, biases) so that each convention matters.
void perturb_vectors(CausalLM& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.3);
}

// The new families' comparisons notice their conventions: the reference computing Gemma's norms
// without the +1, without soft-capping, Qwen3 without its q/k norms, or Phi-3 splitting
// gate_up_proj the other way round disagrees with w2s's logits, which equal the right one.
TEST(HfParity, TheReferenceNoticesAWrongConventionOfTheNewFamilies) {
  set_num_threads(2);
  const auto [ids, mask] = padded_batch();
  const std::pair<const char*, const char*> wrong[] = {{"gemma2-softcap-sliding", "gemma_norm_without_one"},
                                                       {"gemma2-softcap-sliding", "no_softcapping"},
                                                       {"gemma3-local-global-rope", "gemma_norm_without_one"},
                                                       {"qwen3-qk-norm-head-dim", "qwen3_no_qk_norm"},
                                                       {"phi3-fused-sliding", "phi3_split_gate_up"}};
  for (const auto& [name, convention] : wrong) {
    SCOPED_TRACE(std::string(name) + " " + convention);
    CausalLM model = random_causal_lm(parse_model_config(parse(case_named(name).config_json), name), 11);
    perturb_vectors(model);
    const fs::path dir = w2s::test::scratch_dir(std::string("hf_parity_wrong_") + convention);
    torch::NoGradGuard no_grad;
    const torch::Tensor ours = model->forward(ids, mask);
    EXPECT_LT(relative_error(ours, reference_logits(model, dir, ids, mask), mask), 1e-5);
    const double error = relative_error(ours, reference_logits(model, dir, ids, mask, convention), mask);
    std::printf("%-26s against a reference with %-24s relative max error %.2e\n", name, convention, error);
    EXPECT_GT(error, 1e-3);
  }
}

// transformers 5 writes the rotary settings as rope_parameters (and dtype for torch_dtype); the
// same weights under either format give the same logits, and those equal the reference's.
TEST(HfParity, Transformers5ConfigsGiveTheLogitsOfTheirTransformers4Twins) {
  set_num_threads(2);
  const auto [ids, mask] = padded_batch();
  struct Twin {
    const char* name;
    const char* v5_changes;  // replaces keys of the case's (transformers 4) config
    std::vector<const char*> removed;
  };
  const Twin twins[] = {
      {"llama-gqa-llama3-rope",
       R"({"dtype":"float32","rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,
           "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":32}})",
       {"rope_theta", "rope_scaling"}},
      {"qwen2-qkv-bias-tied", R"({"rope_parameters":{"rope_type":"default","rope_theta":1000000.0}})", {"rope_theta"}},
      {"qwen3-tied-bias-sliding-llama3-rope",
       R"({"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,
           "high_freq_factor":4.0,"original_max_position_embeddings":32},
           "layer_types":["full_attention","sliding_attention"]})",
       {"rope_theta", "rope_scaling", "max_window_layers"}},
      {"gemma3-local-global-rope",
       R"({"rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0,"rope_theta":1000000.0},
                              "sliding_attention":{"rope_type":"default","rope_theta":10000.0}},
           "layer_types":["sliding_attention","full_attention","sliding_attention"]})",
       {"rope_theta", "rope_scaling", "rope_local_base_freq", "sliding_window_pattern"}},
      // As gemma-3 checkpoints saved by transformers 5 have it: the bases stay at the top level.
      {"gemma3-local-global-rope",
       R"({"rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0},
                              "sliding_attention":{"rope_type":"default"}},
           "layer_types":["sliding_attention","full_attention","sliding_attention"]})",
       {"rope_scaling", "sliding_window_pattern"}},
      {"phi3-longrope-partial-rotary",
       R"({"rope_parameters":{"rope_type":"longrope","rope_theta":10000.0,"partial_rotary_factor":0.5,
           "short_factor":[1.0,1.5],"long_factor":[2.0,4.0]}})",
       {"rope_scaling", "partial_rotary_factor"}},
  };
  for (const Twin& twin : twins) {
    SCOPED_TRACE(twin.name);
    const w2s::json::Value v4 = parse(case_named(twin.name).config_json);
    w2s::json::Value v5 = v4;
    for (const char* key : twin.removed) erase_key(v5, key);
    const w2s::json::Value changes = parse(twin.v5_changes);
    for (const auto& [key, value] : changes.as_object()) v5.set(key, value);
    CausalLM old_format = random_causal_lm(parse_model_config(v4, "v4"), 13);
    perturb_vectors(old_format);
    CausalLM new_format = random_causal_lm(parse_model_config(v5, "v5"), 13);
    torch::NoGradGuard no_grad;
    for (const auto& p : old_format->named_parameters()) new_format->named_parameters()[p.key()].copy_(p.value());
    const torch::Tensor logits = old_format->forward(ids, mask);
    EXPECT_TRUE(torch::equal(new_format->forward(ids, mask), logits));
    const fs::path dir = w2s::test::scratch_dir(std::string("hf_parity_v5_") + twin.name);
    EXPECT_LT(relative_error(logits, reference_logits(old_format, dir, ids, mask), mask), 1e-5);
    // Without the rope settings the logits differ: the format was read, not defaulted.
    w2s::json::Value bare = v5;
    erase_key(bare, "rope_parameters");
    CausalLM unscaled = random_causal_lm(parse_model_config(bare, "bare"), 13);
    for (const auto& p : old_format->named_parameters()) unscaled->named_parameters()[p.key()].copy_(p.value());
    EXPECT_FALSE(torch::allclose(unscaled->forward(ids, mask), logits, 1e-4, 1e-4));
  }
}

}  // namespace