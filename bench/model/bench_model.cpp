// Forward and training-step throughput (tokens/s) of random Llama models, beside the same model
// and step in PyTorch (reference_llama.py; Debian's python3-torch on CPU, or the python3 given by
// $W2S_BENCH_PYTHON, e.g. one with a CUDA PyTorch) run in this invocation on the same device.
//
// usage: bench_model [--threads N] [--quick] [--device cpu|cuda] [--dtype float32|bfloat16]
// Forward: base weights in --dtype. Training step: next-token cross-entropy over all parameters
// (full fine-tuning, which runs in float32 whatever --dtype says), AdamW.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "w2s/model_torch.h"

namespace {

using namespace w2s::model;

struct Case {
  const char* name;
  std::int64_t vocab, hidden, inter, layers, heads, kv_heads, batch, seq, repeats;
};

struct Throughput {
  double forward = 0, train = 0;
};

Throughput measure_ours(const Case& c, const Placement& placement) {
  w2s::json::Value j = w2s::json::Value::object();
  j.set("model_type", "llama");
  j.set("vocab_size", c.vocab);
  j.set("hidden_size", c.hidden);
  j.set("intermediate_size", c.inter);
  j.set("num_hidden_layers", c.layers);
  j.set("num_attention_heads", c.heads);
  j.set("num_key_value_heads", c.kv_heads);
  const ModelConfig config = parse_model_config(j, c.name);
  CausalLM model = random_causal_lm(config, 0, placement);
  const torch::Tensor ids = torch::randint(0, c.vocab, {c.batch, c.seq}, torch::kLong).to(placement.device);
  auto finish = [&] {  // CUDA kernels run asynchronously: wait for them before reading the clock
    if (placement.device.is_cuda()) torch::cuda::synchronize();
  };
  Throughput t;
  {
    torch::NoGradGuard no_grad;
    model->forward(ids);
    finish();
    const double start = w2s::monotonic_seconds();
    for (std::int64_t i = 0; i < c.repeats; ++i) model->forward(ids);
    finish();
    t.forward = static_cast<double>(c.batch * c.seq * c.repeats) / (w2s::monotonic_seconds() - start);
  }
  enable_full_finetune(model);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-4).betas({0.9, 0.95}).weight_decay(0.1));
  auto step = [&] {
    const torch::Tensor logits = model->forward(ids);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.slice(1, 0, -1).reshape({-1, c.vocab}).to(torch::kFloat32), ids.slice(1, 1).reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  step();
  finish();
  const double start = w2s::monotonic_seconds();
  for (std::int64_t i = 0; i < c.repeats; ++i) step();
  finish();
  t.train = static_cast<double>(c.batch * c.seq * c.repeats) / (w2s::monotonic_seconds() - start);
  return t;
}

Throughput measure_pytorch(const Case& c, int threads, const std::string& device, const std::string& dtype) {
  const char* python = std::getenv("W2S_BENCH_PYTHON");
  const std::string cmd = std::string(python ? python : "/usr/bin/python3") + " '" + W2S_BENCH_DIR + "/reference_llama.py' " +
                          std::to_string(c.vocab) + " " + std::to_string(c.hidden) + " " + std::to_string(c.inter) + " " +
                          std::to_string(c.layers) + " " + std::to_string(c.heads) + " " + std::to_string(c.kv_heads) + " " +
                          std::to_string(c.batch) + " " + std::to_string(c.seq) + " " + std::to_string(c.repeats) + " " +
                          std::to_string(threads) + " " + device + " " + dtype;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw w2s::Error("cannot run " + cmd);
  char line[512] = {0};
  Throughput t;
  while (std::fgets(line, sizeof line, pipe))
    if (std::sscanf(line, "forward_tokens_per_s=%lf train_tokens_per_s=%lf", &t.forward, &t.train) == 2) break;
  if (pclose(pipe) != 0 || t.forward <= 0) throw w2s::Error("reference run failed: " + cmd);
  return t;
}

}  // namespace

int run_benchmark(int argc, char** argv) {
  int threads = 2;
  bool quick = false;
  std::string device = "cpu", dtype = "float32";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else if (!std::strcmp(argv[i], "--dtype") && i + 1 < argc) dtype = argv[++i];
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
  }
  const RunOptions run = resolve_run_options({device, dtype, threads});
  const Placement placement = resolve_placement(run);
  std::vector<Case> cases = {
      {"small (dim 256, 4 layers, ~4M params)", 4096, 256, 688, 4, 8, 4, 4, 128, 5},
      {"~100M (dim 768, 12 layers, GQA 12/4)", 8192, 768, 2048, 12, 12, 4, 2, 128, quick ? 1 : 2},
  };
  std::printf("device %s, forward dtype %s, threads %d; training step = full fine-tune (float32), next-token CE, AdamW\n",
              run.device.c_str(), run.dtype.c_str(), threads);
  std::printf("%-40s %14s %14s %8s | %14s %14s %8s\n", "model", "fwd tok/s w2s", "fwd tok/s py", "ratio", "train tok/s w2s",
              "train tok/s py", "ratio");
  for (const Case& c : cases) {
    const Throughput ours = measure_ours(c, placement);
    const Throughput ref = measure_pytorch(c, threads, run.device, run.dtype);
    std::printf("%-40s %14.1f %14.1f %8.2f | %14.1f %14.1f %8.2f\n", c.name, ours.forward, ref.forward,
                ours.forward / ref.forward, ours.train, ref.train, ours.train / ref.train);
    std::fflush(stdout);
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run_benchmark(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model: error: %s\n", e.what());
    return 1;
  }
}
