// The causal LM: one driver for every architecture. The architecture (src/architectures/)
// builds its modules and computes embeddings, layers, final norm and head; this file feeds them
// the positions, the attention mask, the rotary tables and the KV cache, and collects hidden
// states in the Hugging Face convention.
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
  // Positions count real tokens only, so left padding does not shift them.
  const torch::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0).slice(1, past, past + t);
  if (cache && cache->keys.empty()) {
    cache->keys.resize(c.num_hidden_layers);
    cache->values.resize(c.num_hidden_layers);
  }
  LayerInputs inputs;
  inputs.mask = attention_bias(mask, past, t, std::nullopt);
  if (c.sliding_window) inputs.sliding_mask = attention_bias(mask, past, t, c.sliding_window);
  inputs.cache = cache;
  HiddenOutput out;
  torch::Tensor x = decoder_->embed(ids, positions);
  decoder_->rotary_tables(positions, x.scalar_type(), inputs);
  if (collect_hidden_states) out.hidden_states.push_back(x);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    x = decoder_->layer(i, x, inputs);
    if (collect_hidden_states && i + 1 < c.num_hidden_layers) out.hidden_states.push_back(x);
  }
  x = decoder_->final_norm(x);
  if (collect_hidden_states) out.hidden_states.push_back(x);
  out.last_hidden = x;
  return out;
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, KVCache* cache) {
  return decoder_->lm_head(forward_hidden(input_ids, attention_mask, cache, false).last_hidden);
}

torch::Tensor CausalLMImpl::forward_last(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                         KVCache* cache) {
  return decoder_->lm_head(forward_hidden(input_ids, attention_mask, cache, false).last_hidden.select(1, -1));
}

CausalLM random_causal_lm(const ModelConfig& config, std::uint64_t seed, const Placement& placement) {
  torch::manual_seed(seed);
  CausalLM model(config);
  model->place(placement);
  model->eval();
  return model;
}

}  // namespace w2s::model
