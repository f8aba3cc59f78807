// The shared layers (layers.h).
#include "layers.h"

#include <cmath>
#include <limits>

namespace w2s::model {

namespace F = torch::nn::functional;

torch::Dtype compute_dtype(torch::Dtype model_dtype) {
  return model_dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// ---------------------------------------------------------------------------------------------
// Linear layers, norms
// ---------------------------------------------------------------------------------------------

LoraLinearImpl::LoraLinearImpl(std::int64_t in, std::int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = F::linear(x, weight, bias);
  if (has_lora()) {
    torch::Tensor h = x.to(lora_A->weight.scalar_type());
    if (dropout > 0.0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout).training(is_training()));
    y = y + (lora_B(lora_A(h)) * scale).to(y.scalar_type());
  }
  return y;
}

void LoraLinearImpl::add_lora(const LoraConfig& config) {
  const auto out = weight.size(0), in = weight.size(1);
  // nn::Linear's default init is kaiming_uniform(a = sqrt(5)), the same as peft's lora_A.
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in, config.r).bias(false)));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(config.r, out).bias(false)));
  {
    torch::NoGradGuard no_grad;
    lora_B->weight.zero_();
  }
  lora_A->to(weight.device(), trainable_dtype(weight.scalar_type()));
  lora_B->to(weight.device(), trainable_dtype(weight.scalar_type()));
  scale = config.alpha / static_cast<double>(config.r);
  dropout = config.dropout;
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = x.to(compute_dtype(x.scalar_type()));
  const torch::Tensor normed = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
  return weight * normed.to(x.scalar_type());
}

LayerNormImpl::LayerNormImpl(std::int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(weight).bias(bias).eps(eps_));
}

// ---------------------------------------------------------------------------------------------
// Rotary position embeddings
// ---------------------------------------------------------------------------------------------

RopeScaling read_rope_scaling(const json::Value* v, const std::string& origin) {
  RopeScaling rs;
  if (!v || v->is_null()) return rs;
  if (!v->is_object()) throw Error(origin + ": rope_scaling is not an object");
  rs.type = v->get_string("rope_type", v->get_string("type", "default"));
  rs.factor = v->get_double("factor", 1.0);
  if (rs.type == "llama3") {
    rs.low_freq_factor = v->get_double("low_freq_factor", 1.0);
    rs.high_freq_factor = v->get_double("high_freq_factor", 4.0);
    rs.original_max_position_embeddings = v->get_int("original_max_position_embeddings", 8192);
  } else if (rs.type != "default" && rs.type != "linear") {
    throw Error(origin + ": rope_scaling type \"" + rs.type + "\" is not supported (default, linear, llama3)");
  }
  return rs;
}

namespace {

// Inverse frequencies theta^(-2i/dims) with HF's rope_scaling variants, computed in float64.
torch::Tensor rope_inv_freq(std::int64_t dims, double theta, const RopeScaling& rs) {
  torch::Tensor inv = 1.0 / torch::pow(theta, torch::arange(0, dims, 2, torch::kFloat64) / static_cast<double>(dims));
  if (rs.type == "linear") {
    inv = inv / rs.factor;
  } else if (rs.type == "llama3") {
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
    const torch::Tensor wavelen = 2 * M_PI / inv;
    torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / rs.factor, inv);
    const torch::Tensor smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    const torch::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    const torch::Tensor medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  }
  return inv;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

RotaryImpl::RotaryImpl(std::int64_t dims, double theta, const RopeScaling& scaling) {
  if (dims <= 0 || dims % 2 != 0)
    throw Error("rotary embeddings need an even, positive number of dimensions per head (got " + std::to_string(dims) + ")");
  inv_freq = register_buffer("inv_freq", rope_inv_freq(dims, theta, scaling).to(torch::kFloat32));
}

RotaryTables RotaryImpl::tables(const torch::Tensor& positions, torch::Dtype dtype) const {
  const torch::Dtype cd = compute_dtype(dtype);
  const torch::Tensor freqs = positions.to(cd).unsqueeze(-1) * inv_freq.to(cd);  // [B, T, dims/2]
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);         // [B, 1, T, dims]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& t) {
  const std::int64_t dims = t.cos.size(-1);
  if (dims == x.size(-1)) return x * t.cos + rotate_half(x) * t.sin;
  const torch::Tensor rotated = x.slice(-1, 0, dims);
  return torch::cat({rotated * t.cos + rotate_half(rotated) * t.sin, x.slice(-1, dims)}, -1);
}

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

torch::Tensor attention_bias(const torch::Tensor& key_mask, std::int64_t past, std::int64_t t,
                             const std::optional<std::int64_t>& window) {
  const auto device = key_mask.device();
  const std::int64_t s = key_mask.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  const torch::Tensor qi = torch::arange(past, past + t, opts).unsqueeze(1);  // [T, 1]
  const torch::Tensor kj = torch::arange(0, s, opts).unsqueeze(0);            // [1, S]
  torch::Tensor allowed = kj <= qi;
  if (window) allowed = allowed & (qi - kj < *window);
  allowed = allowed.unsqueeze(0).unsqueeze(0) & key_mask.to(torch::kBool).unsqueeze(1).unsqueeze(2);
  return torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device))
      .masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
}

torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const LayerInputs& inputs,
                             std::int64_t layer) {
  if (inputs.cache) {
    torch::Tensor& cached_k = inputs.cache->keys[layer];
    torch::Tensor& cached_v = inputs.cache->values[layer];
    if (cached_k.defined()) {
      k = torch::cat({cached_k, k}, 2);
      v = torch::cat({cached_v, v}, 2);
    }
    cached_k = k;
    cached_v = v;
  }
  const std::int64_t rep = q.size(1) / k.size(1);
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)).to(compute_dtype(q.scalar_type())) * scale + inputs.mask;
  const torch::Tensor probs = torch::softmax(scores, -1).to(v.scalar_type());
  const torch::Tensor out = torch::matmul(probs, v);  // [B, H, T, D]
  return out.transpose(1, 2).reshape({q.size(0), q.size(2), q.size(1) * q.size(3)});
}

// ---------------------------------------------------------------------------------------------
// MLPs
// ---------------------------------------------------------------------------------------------

GatedMLPImpl::GatedMLPImpl(std::int64_t hidden, std::int64_t intermediate, bool bias) {
  gate_proj = register_module("gate_proj", LoraLinear(hidden, intermediate, bias));
  up_proj = register_module("up_proj", LoraLinear(hidden, intermediate, bias));
  down_proj = register_module("down_proj", LoraLinear(intermediate, hidden, bias));
}

Gelu gelu_named(const std::string& hidden_act, const std::string& origin) {
  if (hidden_act == "gelu") return Gelu::Exact;
  if (hidden_act == "gelu_new" || hidden_act == "gelu_fast" || hidden_act == "gelu_pytorch_tanh") return Gelu::Tanh;
  throw Error(origin + ": activation \"" + hidden_act + "\" is not supported (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh)");
}

FeedForwardImpl::FeedForwardImpl(std::int64_t hidden, std::int64_t intermediate, Gelu gelu, const std::string& in_name,
                                 const std::string& out_name)
    : gelu_(gelu) {
  in = register_module(in_name, LoraLinear(hidden, intermediate, true));
  out = register_module(out_name, LoraLinear(intermediate, hidden, true));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = in(x);
  return out(gelu_ == Gelu::Tanh ? torch::gelu(h, "tanh") : torch::gelu(h));
}

}  // namespace w2s::model
