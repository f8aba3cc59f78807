// LoRA, the sequence-classification head, batching of tokenised text and greedy generation.
#include <algorithm>
#include <set>

#include "architecture.h"
#include "layers.h"

namespace w2s::model {

namespace {

std::string last_name_part(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

}  // namespace

std::vector<std::string> default_lora_targets(const ModelConfig& config) {
  return architecture_for(config.model_type, "ModelConfig").default_lora_targets();
}

int apply_lora(CausalLM& model, const LoraConfig& config) {
  if (config.r <= 0) throw Error("LoRA: rank r must be positive");
  if (config.dropout < 0.0 || config.dropout >= 1.0) throw Error("LoRA: dropout must be in [0, 1)");
  const std::set<std::string> targets(config.target_modules.begin(), config.target_modules.end());
  std::set<std::string> available;
  int adapted = 0;
  for (auto& item : model->named_modules()) {
    auto* linear = dynamic_cast<LoraLinearImpl*>(item.value().get());
    if (!linear) continue;
    const std::string part = last_name_part(item.key());
    available.insert(part);
    if (!targets.count(part)) continue;
    if (linear->has_lora()) throw Error("LoRA: layer \"" + item.key() + "\" already has an adapter");
    linear->add_lora(config);
    ++adapted;
  }
  if (adapted == 0) {
    std::string names;
    for (const auto& a : available) names += (names.empty() ? "" : ", ") + a;
    throw Error("LoRA: no linear layer matches the target modules; this " + model->config().model_type +
                " model has: " + names);
  }
  for (auto& p : model->named_parameters()) p.value().set_requires_grad(is_lora_parameter(p.key()));
  return adapted;
}

void enable_full_finetune(CausalLM& model) {
  Placement p = model->placement();
  p.dtype = trainable_dtype(p.dtype);
  model->place(p);
  for (auto& param : model->parameters()) param.set_requires_grad(true);
}

EncodedBatch encode_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts, PaddingSide side,
                          std::int64_t max_length, bool add_special_tokens) {
  const auto pad = tokenizer.pad_id();
  if (!pad) throw Error("encode_batch: the tokenizer has neither a pad nor an eos token");
  EncodedBatch out;
  std::vector<std::vector<std::int64_t>> rows;
  std::size_t longest = 0;
  for (const auto& text : texts) {
    rows.push_back(tokenizer.encode(text, add_special_tokens));
    if (max_length > 0 && static_cast<std::int64_t>(rows.back().size()) > max_length) {
      rows.back().resize(max_length);
      ++out.truncated;
    }
    longest = std::max(longest, rows.back().size());
  }
  const auto n = static_cast<std::int64_t>(rows.size()), t = static_cast<std::int64_t>(longest);
  out.input_ids = torch::full({n, t}, *pad, torch::kLong);
  out.attention_mask = torch::zeros({n, t}, torch::kLong);
  auto ids = out.input_ids.accessor<std::int64_t, 2>();
  auto mask = out.attention_mask.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto len = static_cast<std::int64_t>(rows[i].size());
    const std::int64_t offset = side == PaddingSide::Left ? t - len : 0;
    for (std::int64_t j = 0; j < len; ++j) {
      ids[i][offset + j] = rows[i][j];
      mask[i][offset + j] = 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sequence classifier
// ---------------------------------------------------------------------------------------------

SequenceClassifierImpl::SequenceClassifierImpl(CausalLM backbone, std::int64_t num_labels)
    : backbone_(std::move(backbone)) {
  register_module("model", backbone_);
  const auto& c = backbone_->config();
  score_ = register_module("score", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, num_labels).bias(false)));
  torch::NoGradGuard no_grad;
  // HF's init of a new head (normal(0, initializer_range)), then the reference's ×0.01
  // (docs/reference-behaviour.md §14).
  score_->weight.normal_(0.0, c.initializer_range).mul_(0.01);
  score_->to(backbone_->placement().device, trainable_dtype(backbone_->placement().dtype));
}

ClassifierOutput SequenceClassifierImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                                 bool collect_hidden_states) {
  const auto device = backbone_->placement().device;
  const torch::Tensor mask = attention_mask.defined()
                                 ? attention_mask.to(device, torch::kLong)
                                 : torch::ones(input_ids.sizes(), torch::TensorOptions().dtype(torch::kLong).device(device));
  HiddenOutput h = backbone_->forward_hidden(input_ids, mask, nullptr, collect_hidden_states);
  // Index of each row's last real token: the largest position whose mask is 1.
  const torch::Tensor index = (mask * torch::arange(mask.size(1), mask.options())).argmax(1);
  const torch::Tensor rows = torch::arange(mask.size(0), mask.options());
  const torch::Tensor last = h.last_hidden.index({rows, index});
  // The head runs in float32 and its output is rounded through the model dtype, as the
  // reference's autocasting wrapper does; losses then work on float32.
  ClassifierOutput out;
  const torch::Dtype head_dtype = score_->weight.scalar_type();
  out.logits = score_(last.to(head_dtype)).to(h.last_hidden.scalar_type()).to(head_dtype);
  if (collect_hidden_states) {
    std::vector<torch::Tensor> per_layer;
    for (const auto& hs : h.hidden_states) per_layer.push_back(hs.index({rows, index}));
    out.hidden_states = torch::stack(per_layer, 1);
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> SequenceClassifierImpl::named_trainable_parameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<torch::Tensor> SequenceClassifierImpl::trainable_parameters() {
  std::vector<torch::Tensor> out;
  for (auto& [name, p] : named_trainable_parameters()) out.push_back(p);
  return out;
}

void SequenceClassifierImpl::save_trainable(const std::filesystem::path& path,
                                            const std::map<std::string, std::string>& metadata) {
  NamedTensors tensors;
  for (auto& [name, p] : named_trainable_parameters()) tensors.emplace_back(name, p.detach());
  save_safetensors(path, tensors, metadata);
}

void SequenceClassifierImpl::load_trainable(const std::filesystem::path& path) {
  std::map<std::string, torch::Tensor> params;
  for (auto& [name, p] : named_trainable_parameters()) params.emplace(name, p);
  std::set<std::string> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : load_safetensors(path)) {
    auto it = params.find(name);
    if (it == params.end()) throw Error(path.string() + ": unexpected tensor \"" + name + "\" (not a trainable parameter)");
    if (it->second.sizes() != t.sizes()) throw Error(path.string() + ": tensor \"" + name + "\" has the wrong shape");
    it->second.copy_(t.to(it->second.scalar_type()));
    seen.insert(name);
  }
  for (const auto& [name, p] : params)
    if (!seen.count(name)) throw Error(path.string() + ": missing tensor \"" + name + "\"");
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

GenerateResult greedy_generate(CausalLM& model, const std::vector<std::int64_t>& prompt_ids, std::int64_t max_new_tokens,
                               std::optional<std::int64_t> eos_id, int top_k) {
  if (prompt_ids.empty()) throw Error("generate: the prompt has no tokens");
  torch::NoGradGuard no_grad;
  const auto device = model->placement().device;
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  KVCache cache;
  torch::Tensor input = torch::tensor(prompt_ids, torch::kLong).unsqueeze(0).to(device);
  GenerateResult result;
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    const torch::Tensor mask = torch::ones({1, cache.length() + input.size(1)}, opts);
    const torch::Tensor logits = model->forward(input, mask, &cache).select(1, -1).squeeze(0).to(torch::kFloat32);
    if (step == 0 && top_k > 0) {
      const auto probs = torch::softmax(logits, -1);
      const auto top = probs.topk(std::min<std::int64_t>(top_k, probs.size(0)));
      const auto values = std::get<0>(top).to(torch::kCPU), indices = std::get<1>(top).to(torch::kCPU);
      for (std::int64_t i = 0; i < values.size(0); ++i)
        result.first_step_top_k.emplace_back(indices[i].item<std::int64_t>(), values[i].item<double>());
    }
    const std::int64_t next = logits.argmax().item<std::int64_t>();
    result.generated_ids.push_back(next);
    if (eos_id && next == *eos_id) break;
    input = torch::full({1, 1}, next, opts);
  }
  return result;
}

}  // namespace w2s::model
