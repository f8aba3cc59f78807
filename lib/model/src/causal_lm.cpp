// The decoder-only transformers: the Llama family (llama, mistral, qwen2) and GPT-2, written by
// hand because libtorch 1.13 has no scaled_dot_product_attention or RMSNorm. Numerics follow
// Hugging Face transformers: RMSNorm and softmax in float32, RoPE in rotate_half layout with
// cos/sin computed in float32, GQA by repeating each key/value head.
#include <cmath>
#include <cstring>
#include <set>

#include "layers.h"
#include "w2s/model_torch.h"

namespace w2s::model {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// LoraLinear
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

namespace {

// Norms, softmax and RoPE run in float32, or float64 for a float64 model (gradient checks).
torch::Dtype compute_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// ---------------------------------------------------------------------------------------------
// Norms and embeddings
// ---------------------------------------------------------------------------------------------

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = x.to(compute_dtype(x));
    const torch::Tensor normed = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
    return weight * normed.to(x.scalar_type());
  }
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(std::int64_t dim, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({dim}));
    bias = register_parameter("bias", torch::zeros({dim}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(weight).bias(bias).eps(eps_));
  }
  torch::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(std::int64_t n, std::int64_t dim) { weight = register_parameter("weight", torch::empty({n, dim})); }
  torch::Tensor forward(const torch::Tensor& ids) { return F::embedding(ids, weight); }
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

// Additive mask [B, 1, T, S] in float32: 0 where query i (absolute index past + i) may attend to
// key j, the lowest float elsewhere. Rows of pad queries keep finite values (no NaN).
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

// softmax(q k^T / sqrt(d) + bias) v with q [B,H,T,D], k/v [B,KV,S,D]; scores in float32.
torch::Tensor attend(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const torch::Tensor& bias) {
  const std::int64_t rep = q.size(1) / k.size(1);
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)).to(compute_dtype(q)) * scale + bias;
  torch::Tensor probs = torch::softmax(scores, -1).to(v.scalar_type());
  return torch::matmul(probs, v);
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// Inverse frequencies with HF's rope_scaling variants.
torch::Tensor rope_inv_freq(const ModelConfig& c) {
  const std::int64_t d = c.head_dim;
  torch::Tensor inv = 1.0 / torch::pow(c.rope_theta, torch::arange(0, d, 2, torch::kFloat64) / static_cast<double>(d));
  const RopeScaling& rs = c.rope_scaling;
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
  return inv.to(torch::kFloat32);
}

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const ModelConfig& c)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim), window_(c.sliding_window) {
    q_proj = register_module("q_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, c.attention_bias));
    k_proj = register_module("k_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias));
    v_proj = register_module("v_proj", LoraLinear(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias));
    o_proj = register_module("o_proj", LoraLinear(heads_ * head_dim_, c.hidden_size, c.o_proj_bias));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, torch::Tensor* cache_k, torch::Tensor* cache_v) {
    const auto b = x.size(0), t = x.size(1);
    torch::Tensor q = q_proj(x).view({b, t, heads_, head_dim_}).transpose(1, 2);
    torch::Tensor k = k_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    if (cache_k) {
      if (cache_k->defined()) {
        k = torch::cat({*cache_k, k}, 2);
        v = torch::cat({*cache_v, v}, 2);
      }
      *cache_k = k;
      *cache_v = v;
    }
    const torch::Tensor out = attend(q, k, v, bias);
    return o_proj(out.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
  }
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
  std::optional<std::int64_t> window_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const ModelConfig& c) {
    gate_proj = register_module("gate_proj", LoraLinear(c.hidden_size, c.intermediate_size, c.mlp_bias));
    up_proj = register_module("up_proj", LoraLinear(c.hidden_size, c.intermediate_size, c.mlp_bias));
    down_proj = register_module("down_proj", LoraLinear(c.intermediate_size, c.hidden_size, c.mlp_bias));
  }
  torch::Tensor forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaLayerImpl(const ModelConfig& c) {
    self_attn = register_module("self_attn", LlamaAttention(c));
    mlp = register_module("mlp", LlamaMLP(c));
    input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.norm_eps));
  }
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaLayer);

class Gpt2AttentionImpl : public torch::nn::Module {
 public:
  explicit Gpt2AttentionImpl(const ModelConfig& c) : heads_(c.num_attention_heads), head_dim_(c.head_dim) {
    c_attn = register_module("c_attn", LoraLinear(c.hidden_size, 3 * c.hidden_size, true));
    c_proj = register_module("c_proj", LoraLinear(c.hidden_size, c.hidden_size, true));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, torch::Tensor* cache_k, torch::Tensor* cache_v) {
    const auto b = x.size(0), t = x.size(1);
    const auto qkv = c_attn(x).view({b, t, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
    torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    if (cache_k) {
      if (cache_k->defined()) {
        k = torch::cat({*cache_k, k}, 2);
        v = torch::cat({*cache_v, v}, 2);
      }
      *cache_k = k;
      *cache_v = v;
    }
    return c_proj(attend(q, k, v, bias).transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
  }
  LoraLinear c_attn{nullptr}, c_proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE(Gpt2Attention);

class Gpt2MLPImpl : public torch::nn::Module {
 public:
  explicit Gpt2MLPImpl(const ModelConfig& c) : tanh_(c.hidden_act == "gelu_new") {
    c_fc = register_module("c_fc", LoraLinear(c.hidden_size, c.intermediate_size, true));
    c_proj = register_module("c_proj", LoraLinear(c.intermediate_size, c.hidden_size, true));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = c_fc(x);
    return c_proj(tanh_ ? torch::gelu(h, "tanh") : torch::gelu(h));
  }
  LoraLinear c_fc{nullptr}, c_proj{nullptr};

 private:
  bool tanh_;
};
TORCH_MODULE(Gpt2MLP);

class Gpt2BlockImpl : public torch::nn::Module {
 public:
  explicit Gpt2BlockImpl(const ModelConfig& c) {
    ln_1 = register_module("ln_1", LayerNorm(c.hidden_size, c.norm_eps));
    attn = register_module("attn", Gpt2Attention(c));
    ln_2 = register_module("ln_2", LayerNorm(c.hidden_size, c.norm_eps));
    mlp = register_module("mlp", Gpt2MLP(c));
  }
  LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Gpt2Attention attn{nullptr};
  Gpt2MLP mlp{nullptr};
};
TORCH_MODULE(Gpt2Block);

// GPT-2 stores these as Conv1D, [in, out].
bool is_conv1d_weight(const ModelConfig& c, const std::string& name) {
  if (c.architecture != Architecture::Gpt2) return false;
  for (const char* suffix : {".c_attn.weight", ".c_proj.weight", ".c_fc.weight"}) {
    const std::string s(suffix);
    if (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

torch::Dtype torch_dtype(DType d) {
  switch (d) {
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::F64: return torch::kFloat64;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
  }
  return torch::kFloat32;
}

DType file_dtype(torch::Dtype d, const std::string& name) {
  switch (d) {
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kFloat64: return DType::F64;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    default: throw Error("safetensors: tensor \"" + name + "\" has a dtype safetensors writing does not support");
  }
}

torch::Tensor tensor_from_view(const TensorView& v) {
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(torch_dtype(v.dtype)));
  if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CausalLM
// ---------------------------------------------------------------------------------------------

struct CausalLMImpl::Internals {
  // Llama family
  Embedding embed_tokens{nullptr};
  std::vector<LlamaLayer> layers;
  RMSNorm norm{nullptr};
  torch::Tensor inv_freq;
  // GPT-2
  Embedding wte{nullptr}, wpe{nullptr};
  std::vector<Gpt2Block> blocks;
  LayerNorm ln_f{nullptr};
  // Untied output projection (Llama family only)
  LoraLinear lm_head{nullptr};
};

CausalLMImpl::CausalLMImpl(ModelConfig config)
    : internals_(std::make_shared<Internals>()), config_(std::move(config)) {
  const ModelConfig& c = config_;
  auto& in = *internals_;
  if (c.architecture == Architecture::Gpt2) {
    auto transformer = register_module("transformer", std::make_shared<torch::nn::Module>());
    in.wte = transformer->register_module("wte", Embedding(c.vocab_size, c.hidden_size));
    in.wpe = transformer->register_module("wpe", Embedding(c.max_position_embeddings, c.hidden_size));
    auto h = transformer->register_module("h", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      in.blocks.push_back(h->register_module(std::to_string(i), Gpt2Block(c)));
    in.ln_f = transformer->register_module("ln_f", LayerNorm(c.hidden_size, c.norm_eps));
  } else {
    auto model = register_module("model", std::make_shared<torch::nn::Module>());
    in.embed_tokens = model->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
    auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      in.layers.push_back(layers->register_module(std::to_string(i), LlamaLayer(c)));
    in.norm = model->register_module("norm", RMSNorm(c.hidden_size, c.norm_eps));
    if (!c.tie_word_embeddings) in.lm_head = register_module("lm_head", LoraLinear(c.hidden_size, c.vocab_size, false));
    in.inv_freq = rope_inv_freq(c);
  }
  // HF's _init_weights: normal(0, initializer_range) for matrices, zero biases, unit norms.
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (p.value().dim() >= 2) p.value().normal_(0.0, c.initializer_range);
    else if (ends_with(name, ".bias")) p.value().zero_();
    else p.value().fill_(1.0);
  }
}

void CausalLMImpl::place(const Placement& placement) {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const torch::Dtype dtype = is_lora_parameter(p.key()) ? trainable_dtype(placement.dtype) : placement.dtype;
    p.value().set_data(p.value().data().to(placement.device, dtype));
  }
  if (internals_->inv_freq.defined()) internals_->inv_freq = internals_->inv_freq.to(placement.device);
  placement_ = placement;
}

HiddenOutput CausalLMImpl::forward_hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                          KVCache* cache, bool collect_hidden_states) {
  const ModelConfig& c = config_;
  auto& in = *internals_;
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
  const torch::Tensor bias = attention_bias(mask, past, t, c.sliding_window);
  if (cache && cache->keys.empty()) {
    cache->keys.resize(c.num_hidden_layers);
    cache->values.resize(c.num_hidden_layers);
  }
  HiddenOutput out;
  torch::Tensor x;
  if (c.architecture == Architecture::Gpt2) {
    x = in.wte(ids) + in.wpe(positions);
    if (collect_hidden_states) out.hidden_states.push_back(x);
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto& blk = in.blocks[i];
      x = x + blk->attn(blk->ln_1(x), bias, cache ? &cache->keys[i] : nullptr, cache ? &cache->values[i] : nullptr);
      x = x + blk->mlp(blk->ln_2(x));
      if (collect_hidden_states && i + 1 < c.num_hidden_layers) out.hidden_states.push_back(x);
    }
    x = in.ln_f(x);
  } else {
    x = in.embed_tokens(ids);
    const torch::Tensor freqs = positions.to(compute_dtype(x)).unsqueeze(-1) * in.inv_freq.to(compute_dtype(x));  // [B, T, D/2]
    const torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                 // [B, 1, T, D]
    const torch::Tensor cos = emb.cos().to(x.scalar_type()), sin = emb.sin().to(x.scalar_type());
    if (collect_hidden_states) out.hidden_states.push_back(x);
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto& layer = in.layers[i];
      x = x + layer->self_attn(layer->input_layernorm(x), cos, sin, bias, cache ? &cache->keys[i] : nullptr,
                               cache ? &cache->values[i] : nullptr);
      x = x + layer->mlp(layer->post_attention_layernorm(x));
      if (collect_hidden_states && i + 1 < c.num_hidden_layers) out.hidden_states.push_back(x);
    }
    x = in.norm(x);
  }
  if (collect_hidden_states) out.hidden_states.push_back(x);
  out.last_hidden = x;
  return out;
}

torch::Tensor CausalLMImpl::lm_logits(const torch::Tensor& hidden) {
  auto& in = *internals_;
  if (config_.architecture == Architecture::Gpt2) return F::linear(hidden, in.wte->weight);
  if (config_.tie_word_embeddings) return F::linear(hidden, in.embed_tokens->weight);
  return in.lm_head(hidden);
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, KVCache* cache) {
  return lm_logits(forward_hidden(input_ids, attention_mask, cache, false).last_hidden);
}

namespace {

// Assigns HF-named tensors to parameters, across one or many files.
class WeightAssigner {
 public:
  WeightAssigner(CausalLMImpl& model) : config_(model.config()) {
    for (auto& p : model.named_parameters())
      if (!is_lora_parameter(p.key())) params_.emplace(p.key(), p.value());
  }

  void assign(std::string name, const torch::Tensor& value, const std::string& origin) {
    if (ends_with(name, "rotary_emb.inv_freq") || ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias"))
      return;  // buffers some checkpoints carry; recomputed here
    if (config_.architecture == Architecture::Gpt2 && name.rfind("transformer.", 0) != 0 && name != "lm_head.weight")
      name = "transformer." + name;  // the original gpt2 checkpoints have no prefix
    if (name == "lm_head.weight" && (config_.tie_word_embeddings || config_.architecture == Architecture::Gpt2)) return;
    auto it = params_.find(name);
    if (it == params_.end()) throw Error(origin + ": unexpected tensor \"" + name + "\" for a " + config_.model_type + " model");
    if (!seen_.insert(name).second) throw Error(origin + ": tensor \"" + name + "\" appears twice");
    torch::Tensor v = is_conv1d_weight(config_, name) && value.dim() == 2 ? value.t() : value;
    torch::Tensor& p = it->second;
    if (v.sizes() != p.sizes())
      throw Error(origin + ": tensor \"" + name + "\" has shape " + shape_text(value.sizes()) + ", the config implies " +
                  shape_text(is_conv1d_weight(config_, name) ? p.t().sizes() : p.sizes()));
    torch::NoGradGuard no_grad;
    p.copy_(v.to(p.scalar_type()));
  }

  void check_complete(const std::string& origin) const {
    for (const auto& [name, p] : params_)
      if (!seen_.count(name)) throw Error(origin + ": missing tensor \"" + name + "\"");
  }

 private:
  static std::string shape_text(torch::IntArrayRef s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
  const ModelConfig& config_;
  std::map<std::string, torch::Tensor> params_;
  std::set<std::string> seen_;
};

}  // namespace

void CausalLMImpl::load_weights(const NamedTensors& tensors, std::string_view origin) {
  WeightAssigner assigner(*this);
  for (const auto& [name, t] : tensors) assigner.assign(name, t, std::string(origin));
  assigner.check_complete(std::string(origin));
}

NamedTensors CausalLMImpl::hf_state_dict() {
  NamedTensors out;
  for (auto& p : named_parameters()) {
    if (is_lora_parameter(p.key())) continue;
    torch::Tensor v = p.value().detach();
    if (is_conv1d_weight(config_, p.key())) v = v.t().contiguous();
    out.emplace_back(p.key(), v);
  }
  return out;
}

NamedTensors load_safetensors(const std::filesystem::path& path) {
  const SafetensorsFile file(path);
  NamedTensors out;
  for (const auto& v : file.tensors()) out.emplace_back(v.name, tensor_from_view(v));
  return out;
}

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorBytes> views;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const torch::Tensor& c = keep.back();
    std::vector<std::int64_t> shape(c.sizes().begin(), c.sizes().end());
    views.push_back({name, file_dtype(c.scalar_type(), name), shape,
                     std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size())});
  }
  write_safetensors(path, views, metadata);
}

CausalLM load_causal_lm(const std::filesystem::path& model_dir, const Placement& placement) {
  CausalLM model(read_model_config(model_dir));
  if (placement.dtype != torch::kFloat32) model->place({torch::kCPU, placement.dtype});
  WeightAssigner assigner(*model);
  for (const auto& path : weight_files(model_dir)) {
    const SafetensorsFile file(path);
    for (const auto& v : file.tensors()) assigner.assign(v.name, tensor_from_view(v), path.string());
  }
  assigner.check_complete(model_dir.string());
  model->place(placement);
  model->eval();
  return model;
}

CausalLM random_causal_lm(const ModelConfig& config, std::uint64_t seed, const Placement& placement) {
  torch::manual_seed(seed);
  CausalLM model(config);
  model->place(placement);
  model->eval();
  return model;
}

void save_pretrained(CausalLM& model, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const NamedTensors weights = model->hf_state_dict();
  json::Value config = model_config_to_json(model->config());
  config.set("torch_dtype", dtype_name(weights.front().second.scalar_type()));
  save_safetensors(dir / "model.safetensors", weights, {{"format", "pt"}});
  write_file_atomic(dir / "config.json", json::dump(config, 2) + "\n");
}

}  // namespace w2s::model
