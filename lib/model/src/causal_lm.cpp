// The causal LM: one driver for every architecture. The architecture (src/architectures/)
// builds its modules and computes embeddings, layers, final norm and head; this file feeds them
// the positions, the attention mask, the rotary tables and the KV cache, and collects hidden
// states in the Hugging Face convention.
#include <algorithm>
#include <vector>

#include "architecture.h"
#include "decoder.h"
#include "layers.h"

namespace w2s::model {

CausalLMImpl::CausalLMImpl(ModelConfig config)
    : config_(std::move(config)),
      architecture_(architecture_for(config_.model_type, "CausalLM")),
      decoder_(architecture_.build(config_, *this)) {
  // HF's _init_weights: normal(0, initializer_range) for matrices, zero biases, unit norms.
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    if (p.value().dim() >= 2) p.value().normal_(0.0, config_.initializer_range);
    else if (ends_with(p.key(), ".bias")) p.value().zero_();
    else p.value().fill_(architecture_.identity_norm_weight());
  }
}

void CausalLMImpl::place(const Placement& placement) {
  set_num_threads(placement.threads > 0 ? placement.threads : default_threads(config_.hidden_size));
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const torch::Dtype dtype = is_lora_parameter(p.key()) ? trainable_dtype(placement.dtype) : placement.dtype;
    p.value().set_data(p.value().data().to(placement.device, dtype));
  }
  for (auto& b : buffers()) b.set_data(b.data().to(placement.device));  // e.g. rotary frequencies, float32
  placement_ = placement;
}

std::int64_t query_tokens_within_budget(const ModelConfig& config, std::int64_t keys, torch::Dtype dtype) {
  const std::int64_t scores = config.num_attention_heads * keys * torch::elementSize(compute_dtype(dtype));
  const std::int64_t mlp = config.intermediate_size * torch::elementSize(dtype);
  return std::max<std::int64_t>(1, kForwardTensorBytes / std::max<std::int64_t>({1, scores, mlp}));
}

KVCache shared_prefix(const KVCache& prefix, std::int64_t length) {
  const KVCache head = truncated(prefix, length);
  KVCache out;
  out.shared_keys = head.keys;
  out.shared_values = head.values;
  return out;
}

KVCache truncated(const KVCache& cache, std::int64_t length) {
  if (!cache.shared_keys.empty() || cache.keys.empty() || cache.keys[0].size(0) != 1 || length > cache.length())
    throw Error("KV cache: only the first positions of a batch-1 cache without a shared part can be taken");
  KVCache out;
  for (const auto& k : cache.keys) out.keys.push_back(k.slice(2, 0, length));
  for (const auto& v : cache.values) out.values.push_back(v.slice(2, 0, length));
  return out;
}

bool CausalLMImpl::rotary_depends_on_batch() const { return decoder_->rotary_depends_on_batch(); }

HiddenOutput CausalLMImpl::forward_hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                          KVCache* cache, bool collect_hidden_states) {
  const ModelConfig& c = config_;
  if (input_ids.dim() != 2) throw Error("CausalLM: input_ids must be [batch, seq]");
  const auto device = placement_.device;
  const torch::Tensor ids = input_ids.to(device, torch::kLong);
  const std::int64_t b = ids.size(0), t = ids.size(1);
  const std::int64_t past = cache ? cache->length() : 0;
  torch::Tensor mask = attention_mask.defined() ? attention_mask.to(device, torch::kLong)
                                                : torch::ones({b, past + t}, torch::TensorOptions().dtype(torch::kLong).device(device));
  if (mask.size(0) != b || mask.size(1) != past + t)
    throw Error("CausalLM: attention_mask must be [batch, cached + new] = [" + std::to_string(b) + ", " +
                std::to_string(past + t) + "]");
  if (cache && !cache->shared_keys.empty() && b > 1 && cache->shared_keys[0].size(0) != 1)
    throw Error("CausalLM: a KV cache's shared part must have batch 1");
  // Positions count real tokens only, so left padding does not shift them.
  const torch::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0).slice(1, past, past + t);
  // Chunks of tokens through the KV cache keep every tensor of a long input within the budget;
  // training and hidden states need the whole input in one pass.
  const std::int64_t chunk = collect_hidden_states || torch::GradMode::is_enabled()
                                 ? t
                                 : std::max<std::int64_t>(1, query_tokens_within_budget(c, past + t, placement_.dtype) / b);
  KVCache temporary;
  if (!cache && chunk < t) cache = &temporary;
  if (cache && cache->keys.empty()) {
    cache->keys.resize(c.num_hidden_layers);
    cache->values.resize(c.num_hidden_layers);
  }
  // The rotary tables of the whole input (made with the first chunk's embeddings, in their dtype),
  // sliced per chunk, so that longrope's switch to its long factors sees every position as in one pass.
  LayerInputs whole;
  const auto slice_tables = [](const RotaryTables& r, std::int64_t from, std::int64_t to) {
    return r.cos.defined() ? RotaryTables{r.cos.slice(2, from, to), r.sin.slice(2, from, to)} : RotaryTables{};
  };
  HiddenOutput out;
  std::vector<torch::Tensor> pieces;
  for (std::int64_t from = 0; from < t; from += chunk) {
    const std::int64_t to = std::min(t, from + chunk);
    LayerInputs inputs;
    const torch::Tensor keys = mask.slice(1, 0, past + to);
    inputs.mask = attention_bias(keys, past + from, to - from, std::nullopt);
    if (c.sliding_window) inputs.sliding_mask = attention_bias(keys, past + from, to - from, c.sliding_window);
    inputs.cache = cache;
    torch::Tensor x = decoder_->embed(ids.slice(1, from, to), positions.slice(1, from, to));
    if (from == 0) decoder_->rotary_tables(positions, x.scalar_type(), whole);
    inputs.rotary = slice_tables(whole.rotary, from, to);
    inputs.sliding_rotary = slice_tables(whole.sliding_rotary, from, to);
    if (collect_hidden_states) out.hidden_states.push_back(x);
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
      x = decoder_->layer(i, x, inputs);
      if (collect_hidden_states && i + 1 < c.num_hidden_layers) out.hidden_states.push_back(x);
    }
    x = decoder_->final_norm(x);
    if (collect_hidden_states) out.hidden_states.push_back(x);
    pieces.push_back(x);
  }
  out.last_hidden = pieces.size() == 1 ? pieces.front() : torch::cat(pieces, 1);
  return out;
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, KVCache* cache) {
  return decoder_->lm_head(forward_hidden(input_ids, attention_mask, cache, false).last_hidden);
}

torch::Tensor CausalLMImpl::forward_last(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                         KVCache* cache) {
  const torch::Tensor hidden = forward_hidden(input_ids, attention_mask, cache, false).last_hidden;
  const std::int64_t t = hidden.size(1);
  if (!attention_mask.defined()) return decoder_->lm_head(hidden.select(1, -1));
  // The last real token of each row's new part: the largest index among its real ones.
  const torch::Tensor real = attention_mask.slice(1, attention_mask.size(1) - t).to(hidden.device(), torch::kLong);
  const torch::Tensor last = (real * torch::arange(1, t + 1, real.options())).argmax(1);  // [B]
  return decoder_->lm_head(hidden.gather(1, last.view({-1, 1, 1}).expand({-1, 1, hidden.size(2)})).squeeze(1));
}

CausalLM random_causal_lm(const ModelConfig& config, std::uint64_t seed, const Placement& placement) {
  torch::manual_seed(seed);
  CausalLM model(config);
  model->place(placement);
  model->eval();
  return model;
}

}  // namespace w2s::model
