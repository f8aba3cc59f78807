// Weights in and out: safetensors <-> tensors, loading a Hugging Face model directory into a
// CausalLM (names and layouts as its architecture stores them), save_pretrained.
#include <cstring>
#include <set>

#include "architecture.h"
#include "layers.h"

namespace w2s::model {

namespace {

torch::Dtype torch_dtype(DType d) {
  switch (d) {
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::F64: return torch::kFloat64;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
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
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: throw Error("safetensors: tensor \"" + name + "\" has a dtype safetensors writing does not support");
  }
}

torch::Tensor tensor_from_view(const TensorView& v) {
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(torch_dtype(v.dtype)));
  if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t;
}

std::string shape_text(torch::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Assigns checkpoint tensors to the parameters, across one or many files.
class WeightAssigner {
 public:
  explicit WeightAssigner(CausalLMImpl& model) : model_(model) {
    for (auto& p : model.named_parameters())
      if (!is_lora_parameter(p.key())) params_.emplace(p.key(), p.value());
  }

  void assign(const std::string& checkpoint_name, const torch::Tensor& value, const std::string& origin) {
    const Architecture& arch = model_.architecture();
    const std::optional<std::string> name = arch.parameter_for(model_.config(), checkpoint_name);
    if (!name) return;
    auto it = params_.find(*name);
    if (it == params_.end())
      throw Error(origin + ": unexpected tensor \"" + *name + "\" for a " + model_.config().model_type + " model");
    if (!seen_.insert(*name).second) throw Error(origin + ": tensor \"" + *name + "\" appears twice");
    const bool transposed = arch.stored_transposed(*name) && value.dim() == 2;
    const torch::Tensor v = transposed ? value.t() : value;
    torch::Tensor& p = it->second;
    if (v.sizes() != p.sizes())
      throw Error(origin + ": tensor \"" + *name + "\" has shape " + shape_text(value.sizes()) + ", the config implies " +
                  shape_text(transposed ? p.t().sizes() : p.sizes()));
    torch::NoGradGuard no_grad;
    p.copy_(v.to(p.scalar_type()));
  }

  void check_complete(const std::string& origin) const {
    for (const auto& [name, p] : params_)
      if (!seen_.count(name)) throw Error(origin + ": missing tensor \"" + name + "\"");
  }

 private:
  CausalLMImpl& model_;
  std::map<std::string, torch::Tensor> params_;
  std::set<std::string> seen_;
};

}  // namespace

NamedTensors CausalLMImpl::hf_state_dict() {
  NamedTensors out;
  for (auto& p : named_parameters()) {
    if (is_lora_parameter(p.key())) continue;
    torch::Tensor v = p.value().detach();
    if (architecture_.stored_transposed(p.key())) v = v.t().contiguous();
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

void save_pretrained(CausalLM& model, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const NamedTensors weights = model->hf_state_dict();
  json::Value config = model_config_to_json(model->config());
  config.set("torch_dtype", dtype_name(weights.front().second.scalar_type()));
  save_safetensors(dir / "model.safetensors", weights, {{"format", "pt"}});
  write_file_atomic(dir / "config.json", json::dump(config, 2) + "\n");
}

}  // namespace w2s::model
