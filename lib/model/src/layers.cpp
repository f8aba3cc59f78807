// The shared layers (layers.h).
#include "layers.h"

#include "row_attention.h"
#include "torch_compat.h"

#include <cmath>
#include <limits>
#include <vector>

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
  const torch::Dtype cd = compute_dtype(x.scalar_type());
  const torch::Tensor h = x.to(cd);
  const torch::Tensor normed = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
  if (kind_ == RmsNormWeight::OnePlus) return (normed * (1.0 + weight.to(cd))).to(x.scalar_type());
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

const char* rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Llama3: return "llama3";
    case RopeType::LongRope: return "longrope";
  }
  return "default";
}

namespace {

double required_number(const json::Value& object, std::string_view object_name, std::string_view key,
                       const std::string& origin) {
  const json::Value* v = object.find(key);
  if (!v || v->is_null())
    throw Error(origin + ": " + std::string(object_name) + " needs \"" + std::string(key) + "\" for its rope type");
  return v->as_double();
}

std::vector<double> required_numbers(const json::Value& object, std::string_view object_name, std::string_view key,
                                     const std::string& origin) {
  const json::Value* v = object.find(key);
  if (!v || !v->is_array())
    throw Error(origin + ": " + std::string(object_name) + " needs the list \"" + std::string(key) + "\" for its rope type");
  std::vector<double> out;
  for (const json::Value& x : v->as_array()) out.push_back(x.as_double());
  return out;
}

// The scaling fields of a rope_scaling (transformers 4) or rope_parameters (5) object.
void read_rope_type(const json::Value& r, std::string_view name, const json::Value& config, RopeParameters& rope,
                    const std::string& origin) {
  const std::string type = r.get_string("rope_type", r.get_string("type", "default"));
  if (type == "default") {
    rope.type = RopeType::Default;
  } else if (type == "linear") {
    rope.type = RopeType::Linear;
    rope.factor = required_number(r, name, "factor", origin);
  } else if (type == "llama3") {
    rope.type = RopeType::Llama3;
    rope.factor = required_number(r, name, "factor", origin);
    rope.low_freq_factor = required_number(r, name, "low_freq_factor", origin);
    rope.high_freq_factor = required_number(r, name, "high_freq_factor", origin);
    rope.original_max_position_embeddings =
        static_cast<std::int64_t>(required_number(r, name, "original_max_position_embeddings", origin));
    if (!(rope.high_freq_factor > rope.low_freq_factor))
      throw Error(origin + ": " + std::string(name) + ": high_freq_factor must exceed low_freq_factor");
  } else if (type == "longrope") {
    // HF: the pretrained context is original_max_position_embeddings (top level, or in the rope
    // object), the extension factor max_position_embeddings / that, and the cos/sin scale
    // attention_factor or sqrt(1 + ln(factor) / ln(original)).
    rope.type = RopeType::LongRope;
    rope.short_factor = required_numbers(r, name, "short_factor", origin);
    rope.long_factor = required_numbers(r, name, "long_factor", origin);
    const json::Value* original = config.find("original_max_position_embeddings");
    if (!original || original->is_null()) original = r.find("original_max_position_embeddings");
    const std::int64_t max_positions = config.get_int("max_position_embeddings", 0);
    double factor = r.get_double("factor", 1.0);
    if (original && !original->is_null()) {
      rope.original_max_position_embeddings = original->as_int();
      if (rope.original_max_position_embeddings <= 1)
        throw Error(origin + ": original_max_position_embeddings must be greater than 1");
      factor = static_cast<double>(max_positions) / static_cast<double>(rope.original_max_position_embeddings);
    } else {
      rope.original_max_position_embeddings = max_positions;
      if (max_positions <= 1)
        throw Error(origin + ": a longrope model needs max_position_embeddings or original_max_position_embeddings");
    }
    const json::Value* attention = r.find("attention_factor");
    if (attention && !attention->is_null()) rope.attention_factor = attention->as_double();
    else rope.attention_factor = factor <= 1.0 ? 1.0
                                 : std::sqrt(1.0 + std::log(factor) /
                                                       std::log(static_cast<double>(rope.original_max_position_embeddings)));
  } else {
    throw Error(origin + ": " + std::string(name) + " rope type \"" + type +
                "\" is not supported (default, linear, llama3, longrope)");
  }
}

bool values_differ(const json::Value* a, const json::Value* b) {
  if (!a || a->is_null() || !b || b->is_null()) return false;
  if (a->is_number() && b->is_number()) return a->as_double() != b->as_double();
  return *a != *b;
}

}  // namespace

RopeParameters read_rope_parameters(const json::Value& c, double default_theta, const std::string& origin,
                                    std::string_view layer_type) {
  RopeParameters rope;
  rope.theta = c.get_double("rope_theta", default_theta);
  rope.partial_rotary_factor = c.get_double("partial_rotary_factor", 1.0);
  const json::Value* legacy = c.find("rope_scaling");
  const json::Value* params = c.find("rope_parameters");
  if (params && !params->is_null()) {  // transformers 5
    if (!params->is_object()) throw Error(origin + ": rope_parameters is not an object");
    const bool per_layer_type = params->contains("full_attention") || params->contains("sliding_attention");
    std::string name = "rope_parameters";
    if (per_layer_type) {
      if (layer_type.empty())
        throw Error(origin + ": rope_parameters per layer type (full_attention / sliding_attention) are not supported for " +
                    c.get_string("model_type", "this model type"));
      params = params->find(layer_type);
      name += "." + std::string(layer_type);
      if (!params || !params->is_object()) throw Error(origin + ": " + name + " is missing");
      rope.theta = default_theta;  // the caller's base of this layer type (Gemma 3: rope_local_base_freq)
    } else if (!layer_type.empty()) {
      throw Error(origin + ": rope_parameters must be given per layer type (full_attention, sliding_attention) for " +
                  c.get_string("model_type", "this model type"));
    }
    if (!per_layer_type)  // per layer type, the top-level rope_theta is one type's (the family reads it)
      for (const char* key : {"rope_theta", "partial_rotary_factor"})
        if (values_differ(c.find(key), params->find(key)))
          throw Error(origin + ": " + key + " differs between the top level and " + name);
    if (legacy && !legacy->is_null() && *legacy != *params &&
        legacy->get_string("rope_type", legacy->get_string("type", "default")) !=
            params->get_string("rope_type", params->get_string("type", "default")))
      throw Error(origin + ": rope_scaling and " + name + " name different rope types");
    rope.theta = params->get_double("rope_theta", rope.theta);
    rope.partial_rotary_factor = params->get_double("partial_rotary_factor", rope.partial_rotary_factor);
    read_rope_type(*params, name, c, rope, origin);
  } else if (legacy && !legacy->is_null()) {  // transformers 4
    if (!legacy->is_object()) throw Error(origin + ": rope_scaling is not an object");
    read_rope_type(*legacy, "rope_scaling", c, rope, origin);
  }
  if (!(rope.theta > 0.0)) throw Error(origin + ": rope_theta must be positive");
  if (!(rope.partial_rotary_factor > 0.0 && rope.partial_rotary_factor <= 1.0))
    throw Error(origin + ": partial_rotary_factor must be in (0, 1]");
  if ((rope.type == RopeType::Linear || rope.type == RopeType::Llama3) && !(rope.factor > 0.0))
    throw Error(origin + ": the rope scaling factor must be positive");
  return rope;
}

std::optional<std::vector<LayerAttention>> read_layer_types(const json::Value& c, std::int64_t layers,
                                                            const std::string& origin) {
  const json::Value* v = c.find("layer_types");
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_array() || static_cast<std::int64_t>(v->size()) != layers)
    throw Error(origin + ": layer_types must list one type per layer (" + std::to_string(layers) + ")");
  std::vector<LayerAttention> out;
  for (const json::Value& t : v->as_array()) {
    const std::string& name = t.as_string();
    if (name == "full_attention") out.push_back(LayerAttention::Full);
    else if (name == "sliding_attention") out.push_back(LayerAttention::Sliding);
    else throw Error(origin + ": layer_types: \"" + name + "\" is not supported (full_attention, sliding_attention)");
  }
  return out;
}

namespace {

// Inverse frequencies theta^(-2i/dims) with HF's rope types, computed in float64; longrope's
// with the given per-frequency divisors.
torch::Tensor rope_inv_freq(std::int64_t dims, const RopeParameters& rs, const std::vector<double>& longrope_factors = {}) {
  torch::Tensor inv = 1.0 / torch::pow(rs.theta, torch::arange(0, dims, 2, torch::kFloat64) / static_cast<double>(dims));
  if (rs.type == RopeType::Linear) {
    inv = inv / rs.factor;
  } else if (rs.type == RopeType::Llama3) {
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
    const torch::Tensor wavelen = 2 * M_PI / inv;
    torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / rs.factor, inv);
    const torch::Tensor smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    const torch::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    const torch::Tensor medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  } else if (rs.type == RopeType::LongRope) {
    inv = inv / torch::tensor(longrope_factors, torch::kFloat64);
  }
  return inv;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

RotaryImpl::RotaryImpl(std::int64_t dims, const RopeParameters& rope) {
  if (dims <= 0 || dims % 2 != 0)
    throw Error("rotary embeddings need an even, positive number of dimensions per head (got " + std::to_string(dims) + ")");
  if (rope.type == RopeType::LongRope) {
    for (const auto* factors : {&rope.short_factor, &rope.long_factor})
      if (static_cast<std::int64_t>(factors->size()) != dims / 2)
        throw Error("longrope short_factor and long_factor need " + std::to_string(dims / 2) +
                    " entries (half the rotary dimensions), got " + std::to_string(factors->size()));
    inv_freq = register_buffer("inv_freq", rope_inv_freq(dims, rope, rope.short_factor).to(torch::kFloat32));
    long_inv_freq = register_buffer("long_inv_freq", rope_inv_freq(dims, rope, rope.long_factor).to(torch::kFloat32));
    original_max_positions_ = rope.original_max_position_embeddings;
    attention_factor_ = rope.attention_factor;
  } else {
    inv_freq = register_buffer("inv_freq", rope_inv_freq(dims, rope).to(torch::kFloat32));
  }
}

RotaryTables RotaryImpl::tables(const torch::Tensor& positions, torch::Dtype dtype) const {
  const torch::Dtype cd = compute_dtype(dtype);
  const bool long_context = long_inv_freq.defined() && positions.numel() > 0 &&
                            positions.max().item<std::int64_t>() + 1 > original_max_positions_;
  const torch::Tensor& inv = long_context ? long_inv_freq : inv_freq;
  const torch::Tensor freqs = positions.to(cd).unsqueeze(-1) * inv.to(cd);  // [B, T, dims/2]
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);    // [B, 1, T, dims]
  if (attention_factor_ != 1.0) return {(emb.cos() * attention_factor_).to(dtype), (emb.sin() * attention_factor_).to(dtype)};
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
  const torch::Tensor real = key_mask.to(torch::kBool);
  torch::Tensor allowed = (kj <= qi).unsqueeze(0) & real.unsqueeze(1);  // [B, T, S]
  if (window) {
    // The window counts tokens, not slots: a right-padded row decoding past its pads keeps the
    // same keys in view as the row alone would.
    const torch::Tensor key_positions = real.to(torch::kLong).cumsum(1);  // [B, S]
    const torch::Tensor query_positions = key_positions.slice(1, past, past + t);
    allowed = allowed & (query_positions.unsqueeze(2) - key_positions.unsqueeze(1) < *window);
  }
  return torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device))
      .masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest())
      .unsqueeze(1);
}

namespace {

// Softcap, mask and softmax over the keys of scores [B, KV, rep, T, S], the mask [B, 1, T, S]
// broadcast over the query heads of a group. Without gradients in place (`scores` is a view of
// the contiguous buffer `all`, whose last dimension is the keys'), returning `all`: ATen's softmax
// kernel finishes reading a row before it writes it, so its output may be its input, which keeps
// each row in cache and makes no second tensor of the scores' size (5-7x faster than three
// in-place passes or a fresh output, on 1.13 and 2.14; the tests compare it with full forwards and
// transformers). With gradients out of place, as autograd needs, in `scores`' shape.
// `open_keys`: the leading keys every query sees, where the mask is 0 and adding it is skipped
// (a shared prefix's keys under a full causal mask: most of the scores with a long prefix).
torch::Tensor masked_softmax(torch::Tensor all, const torch::Tensor& scores, const torch::Tensor& mask,
                             const AttentionOptions& options, std::int64_t open_keys = 0) {
  if (scores.requires_grad()) {
    torch::Tensor x = scores;
    if (options.logit_softcap) x = torch::tanh(x / *options.logit_softcap) * *options.logit_softcap;
    return torch::softmax(x + mask.unsqueeze(1), -1);
  }
  if (options.logit_softcap) scores.div_(*options.logit_softcap).tanh_().mul_(*options.logit_softcap);
  scores.slice(-1, open_keys).add_(mask.slice(-1, open_keys).unsqueeze(1));
  return at::_softmax_out(all, all, -1, false);
}

// The scores' buffer in the values' dtype (probabilities are multiplied with them there, as HF does).
torch::Tensor in_dtype_of(const torch::Tensor& probs, const torch::Tensor& values) {
  return probs.scalar_type() == values.scalar_type() ? probs : probs.to(values.scalar_type());
}

// The head dimensions up to which attend_rows (row_attention.h: one query row at a time, its scores
// kept in cache) costs less CPU than libtorch's batched products and softmax: a 3.5x saving at 8
// dimensions, 2x at 16, 1.3x at 32; at 48 and 64 the batched products are faster
// (docs/benchmarks.md, "Attention by rows").
constexpr std::int64_t kRowKernelMaxHeadDim = 32;

bool attention_by_rows_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionOptions& options) {
  const bool float32 = q.scalar_type() == torch::kFloat32 && k.scalar_type() == torch::kFloat32 &&
                       v.scalar_type() == torch::kFloat32;
  const bool needs_grad = torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  return q.device().is_cpu() && float32 && q.size(3) <= kRowKernelMaxHeadDim && !options.logit_softcap && !needs_grad;
}

// softmax(q k^T * scale + mask) v by attend_rows, [B, H, T, D], over the shared prefix's keys
// (`shared_k`, `shared_v` [1, KV, P, D], or undefined) then each row's own (k, v [B, KV, S, D]);
// the mask [B, 1, T, P + S] is added from key `open_keys` on. One task per row of the batch and
// key/value head, on libtorch's threads; the H / KV query heads of a key/value head are its rows.
torch::Tensor attention_by_rows(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& shared_k, const torch::Tensor& shared_v, const torch::Tensor& mask,
                                double scale, std::int64_t open_keys) {
  const std::int64_t b = q.size(0), t = q.size(2), d = q.size(3), kv = k.size(1), own = k.size(2);
  const std::int64_t rows = q.size(1) / kv * t, p = shared_k.defined() ? shared_k.size(2) : 0, keys = p + own;
  const torch::Tensor queries = (q * scale).contiguous();        // [B, KV, rows, D] in memory
  const torch::Tensor own_keys = k.transpose(2, 3).contiguous();  // [B, KV, D, S]
  const torch::Tensor own_values = v.transpose(2, 3).contiguous();
  const torch::Tensor prefix_keys = p ? shared_k[0].transpose(1, 2).contiguous() : torch::Tensor();  // [KV, D, P]
  const torch::Tensor prefix_values = p ? shared_v[0].transpose(1, 2).contiguous() : torch::Tensor();
  const torch::Tensor masks = mask.expand({b, 1, t, keys}).contiguous();
  torch::Tensor out = torch::empty_like(queries);
  const float* query_data = queries.data_ptr<float>();
  const float* own_key_data = own_keys.data_ptr<float>();
  const float* own_value_data = own_values.data_ptr<float>();
  const float* prefix_key_data = p ? prefix_keys.data_ptr<float>() : nullptr;
  const float* prefix_value_data = p ? prefix_values.data_ptr<float>() : nullptr;
  const float* mask_data = masks.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  at::parallel_for(0, b * kv, 1, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scratch(static_cast<std::size_t>(keys));
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t row = task / kv, head = task % kv;
      const TransposedKeys prefix{p ? prefix_key_data + head * d * p : nullptr,
                                  p ? prefix_value_data + head * d * p : nullptr, p};
      const TransposedKeys own_block{own_key_data + task * d * own, own_value_data + task * d * own, own};
      attend_rows(query_data + task * rows * d, rows, d, prefix, own_block, mask_data + row * t * keys, t, open_keys,
                  out_data + task * rows * d, scratch.data());
    }
  });
  return out;
}

}  // namespace

torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const LayerInputs& inputs,
                             std::int64_t layer, const AttentionOptions& options) {
  const torch::Tensor& mask = options.sliding ? inputs.sliding_mask : inputs.mask;
  if (!mask.defined()) throw Error("attention: a sliding-window layer without a sliding_window");
  torch::Tensor shared_k, shared_v;  // [1, KV, P, D] read by every row, or none
  if (inputs.cache) {
    torch::Tensor& cached_k = inputs.cache->keys[layer];
    torch::Tensor& cached_v = inputs.cache->values[layer];
    if (cached_k.defined()) {
      k = torch::cat({cached_k, k}, 2);
      v = torch::cat({cached_v, v}, 2);
    }
    cached_k = k;
    cached_v = v;
    if (!inputs.cache->shared_keys.empty()) {
      shared_k = inputs.cache->shared_keys[layer];
      shared_v = inputs.cache->shared_values[layer];
    }
  }
  const std::int64_t b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3);
  const std::int64_t kv = k.size(1), rep = heads / kv, own = k.size(2);
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(d)));
  const auto merged = [&](const torch::Tensor& out) {  // [B, H, T, D] -> [B, T, H * D]
    return out.transpose(1, 2).reshape({b, t, heads * d});
  };
  // Every row sees the whole prefix unless a sliding window hides its oldest keys.
  const std::int64_t open_keys = shared_k.defined() && !options.sliding ? shared_k.size(2) : 0;
  if (attention_by_rows_applies(q, k, v, options))
    return merged(attention_by_rows(q, k, v, shared_k, shared_v, mask, scale, open_keys));
  if (!shared_k.defined() && !options.logit_softcap)
    if (const auto out = compat::fused_attention(q, k, v, mask, scale)) return merged(*out);

  // Each key/value head's query heads as one block of rows, [B, KV, rep * T, D]: GQA without
  // repeating the keys and values. The scale is folded into the queries.
  const torch::Tensor grouped = (q * scale).reshape({b, kv, rep * t, d});
  const torch::Dtype cd = compute_dtype(q.scalar_type());
  if (!shared_k.defined()) {
    const torch::Tensor scores = torch::matmul(grouped, k.transpose(-2, -1)).to(cd);  // [B, KV, rep * T, S]
    const torch::Tensor probs = masked_softmax(scores, scores.view({b, kv, rep, t, own}), mask, options);
    return merged(torch::matmul(in_dtype_of(probs.view({b, kv, rep * t, own}), v), v).reshape({b, heads, t, d}));
  }

  // With a shared prefix of P positions the scores are [KV, B, rep * T, P + own]: the prefix's part
  // is one product per key/value head with every row's queries stacked, so its keys and values are
  // read once for the whole batch; the rows' own part is written beside it.
  if (torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad()))
    throw Error("attention: a KV cache's shared prefix is for inference, without gradients");
  const std::int64_t p = shared_k.size(2), rows = b * rep * t;
  torch::Tensor all = torch::empty({kv, b, rep * t, p + own}, q.options().dtype(cd));
  const torch::Tensor stacked = grouped.transpose(0, 1).reshape({kv, rows, d});
  torch::Tensor prefix_scores = all.slice(3, 0, p).view({kv, rows, p});
  if (cd == q.scalar_type()) at::bmm_out(prefix_scores, stacked, shared_k[0].transpose(1, 2));
  else prefix_scores.copy_(torch::bmm(stacked, shared_k[0].transpose(1, 2)));
  all.slice(3, p).permute({1, 0, 2, 3}).copy_(torch::matmul(grouped, k.transpose(-2, -1)));
  const torch::Tensor probs = in_dtype_of(
      masked_softmax(all, all.view({kv, b, rep, t, p + own}).permute({1, 0, 2, 3, 4}), mask, options, open_keys), v);
  const torch::Tensor from_prefix = torch::bmm(probs.slice(3, 0, p).view({kv, rows, p}), shared_v[0]);  // [KV, rows, D]
  const torch::Tensor from_own = torch::matmul(probs.slice(3, p).permute({1, 0, 2, 3}), v);          // [B, KV, rep*T, D]
  return merged((from_prefix.view({kv, b, rep * t, d}).permute({1, 0, 2, 3}) + from_own).reshape({b, heads, t, d}));
}

// ---------------------------------------------------------------------------------------------
// MLPs
// ---------------------------------------------------------------------------------------------

GatedMLPImpl::GatedMLPImpl(std::int64_t hidden, std::int64_t intermediate, bool bias, Activation activation)
    : activation_(activation) {
  gate_proj = register_module("gate_proj", LoraLinear(hidden, intermediate, bias));
  up_proj = register_module("up_proj", LoraLinear(hidden, intermediate, bias));
  down_proj = register_module("down_proj", LoraLinear(intermediate, hidden, bias));
}

Activation activation_named(const std::string& name, const std::string& origin) {
  if (name == "silu") return Activation::Silu;
  if (name == "gelu") return Activation::GeluExact;
  if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  throw Error(origin + ": activation \"" + name + "\" is not supported (silu, gelu, gelu_new, gelu_fast, gelu_pytorch_tanh)");
}

torch::Tensor activate(const torch::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::Silu: return torch::silu(x);
    case Activation::GeluExact: return torch::gelu(x);
    case Activation::GeluTanh: return torch::gelu(x, "tanh");
  }
  return x;
}

FeedForwardImpl::FeedForwardImpl(std::int64_t hidden, std::int64_t intermediate, Activation activation,
                                 const std::string& in_name, const std::string& out_name)
    : activation_(activation) {
  in = register_module(in_name, LoraLinear(hidden, intermediate, true));
  out = register_module(out_name, LoraLinear(intermediate, hidden, true));
}

}  // namespace w2s::model
