// Forward and training-step cost of random Llama models, beside the same model and step in
// PyTorch (reference_llama.py; Debian's python3-torch on CPU, or the python3 given by
// $W2S_BENCH_PYTHON, e.g. one with a CUDA PyTorch) on the same device, interleaved: w2s, PyTorch,
// w2s, PyTorch, ... (--rounds each). Per round: wall time and CPU-seconds (this process's
// getrusage around the timed loop; the reference's time.process_time() around the same loop).
// Forward: base weights in --dtype. Training step: next-token cross-entropy over all parameters
// (full fine-tuning, which runs in float32 whatever --dtype says), AdamW.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "bench_common.h"
#include "w2s/model_torch.h"

namespace {

using namespace w2s::model;
namespace bench = w2s::bench;

struct Case {
  const char* name;
  std::int64_t vocab, hidden, inter, layers, heads, kv_heads, batch, seq, repeats;
  std::int64_t tokens() const { return batch * seq * repeats; }
};

// One round of one side: the forward passes and the training steps.
struct Round {
  bench::Cost forward, train;
};

class Ours {
 public:
  Ours(const Case& c, const Placement& placement) : c_(c), placement_(placement), model_(nullptr) {
    w2s::json::Value j = w2s::json::Value::object();
    j.set("model_type", "llama");
    j.set("vocab_size", c.vocab);
    j.set("hidden_size", c.hidden);
    j.set("intermediate_size", c.inter);
    j.set("num_hidden_layers", c.layers);
    j.set("num_attention_heads", c.heads);
    j.set("num_key_value_heads", c.kv_heads);
    model_ = random_causal_lm(parse_model_config(j, c.name), 0, placement);
    ids_ = torch::randint(0, c.vocab, {c.batch, c.seq}, torch::kLong).to(placement.device);
    enable_full_finetune(model_);
    opt_ = std::make_unique<torch::optim::AdamW>(
        model_->parameters(), torch::optim::AdamWOptions(1e-4).betas({0.9, 0.95}).weight_decay(0.1));
    {  // warm-up outside every round: first-call allocations, kernels chosen, optimizer state
      torch::NoGradGuard no_grad;
      model_->forward(ids_);
    }
    step();
    finish();
  }

  Round round() {
    Round r;
    {
      torch::NoGradGuard no_grad;
      r.forward = timed([&] { model_->forward(ids_); });
    }
    r.train = timed([&] { step(); });
    return r;
  }

 private:
  void finish() {  // CUDA kernels run asynchronously: wait for them before reading the clock
    if (placement_.device.is_cuda()) torch::cuda::synchronize();
  }
  void step() {
    const torch::Tensor logits = model_->forward(ids_);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.slice(1, 0, -1).reshape({-1, c_.vocab}).to(torch::kFloat32), ids_.slice(1, 1).reshape({-1}));
    opt_->zero_grad();
    loss.backward();
    opt_->step();
  }
  template <class F>
  bench::Cost timed(F&& f) {
    const double cpu0 = bench::cpu_seconds(), wall0 = w2s::monotonic_seconds();
    for (std::int64_t i = 0; i < c_.repeats; ++i) f();
    finish();
    return {w2s::monotonic_seconds() - wall0, bench::cpu_seconds() - cpu0};
  }

  Case c_;
  Placement placement_;
  CausalLM model_;
  torch::Tensor ids_;
  std::unique_ptr<torch::optim::AdamW> opt_;
};

Round reference_round(const Case& c, int threads, const std::string& device, const std::string& dtype) {
  const char* python = std::getenv("W2S_BENCH_PYTHON");
  const std::string cmd = fmt::format("{} '{}/reference_llama.py' {} {} {} {} {} {} {} {} {} {} {} {}",
                                      python ? python : "/usr/bin/python3", W2S_BENCH_DIR, c.vocab, c.hidden, c.inter,
                                      c.layers, c.heads, c.kv_heads, c.batch, c.seq, c.repeats, threads, device, dtype);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw w2s::Error("cannot run " + cmd);
  char line[512] = {0};
  Round r;
  int read = 0;
  while (read != 4 && std::fgets(line, sizeof line, pipe))
    read = std::sscanf(line, "forward_wall_s=%lf forward_cpu_s=%lf train_wall_s=%lf train_cpu_s=%lf", &r.forward.wall_s,
                       &r.forward.cpu_s, &r.train.wall_s, &r.train.cpu_s);
  if (pclose(pipe) != 0 || read != 4) throw w2s::Error("reference run failed: " + cmd);
  return r;
}

// One line of the table: tokens/s from the wall time, CPU-seconds per 1,000 tokens, each as the
// median [min..max] of the rounds, and the ratios of the medians.
void print_row(const std::string& what, const Case& c, const bench::Costs& ours, const bench::Costs& ref) {
  const auto per_second = [&](const std::vector<double>& wall) {
    std::vector<double> out;
    for (double w : wall) out.push_back(static_cast<double>(c.tokens()) / w);
    return bench::spread(out);
  };
  const auto cpu_per_1k = [&](const std::vector<double>& cpu) {
    std::vector<double> out;
    for (double s : cpu) out.push_back(s * 1000.0 / static_cast<double>(c.tokens()));
    return bench::spread(out);
  };
  const auto ours_tps = per_second(ours.wall), ref_tps = per_second(ref.wall);
  const auto ours_cpu = cpu_per_1k(ours.cpu), ref_cpu = cpu_per_1k(ref.cpu);
  std::printf("  %-8s tok/s      w2s %-28s py %-28s w2s/py %.2f\n", what.c_str(), ours_tps.text().c_str(),
              ref_tps.text().c_str(), ours_tps.median / ref_tps.median);
  std::printf("  %-8s CPU-s/1k   w2s %-28s py %-28s py/w2s %.2f\n", what.c_str(), ours_cpu.text().c_str(),
              ref_cpu.text().c_str(), ref_cpu.median / ours_cpu.median);
  bench::print_ratio(std::string(c.name) + " " + what, "wall py/w2s", ours_tps.median / ref_tps.median,
                     ">1: w2s faster");
  bench::print_ratio(std::string(c.name) + " " + what, "CPU py/w2s", ref_cpu.median / ours_cpu.median,
                     ">1: w2s uses less CPU");
}

}  // namespace

int run_benchmark(int argc, char** argv) {
  bench::po::options_description flags("Options");
  int threads = 2, rounds = 3;
  std::string device = "cpu", dtype = "float32";
  flags.add_options()("threads", bench::po::value(&threads)->default_value(threads), "torch threads, both sides")(
      "device", bench::po::value(&device)->default_value(device), "cpu, cuda or cuda:N")(
      "dtype", bench::po::value(&dtype)->default_value(dtype), "forward dtype: float32 or bfloat16")(
      "rounds", bench::po::value(&rounds)->default_value(rounds), "interleaved rounds of each side (at least 3)")(
      "quick", "one repeat of the ~100M model per round");
  const auto vm = bench::parse_flags(
      argc, argv, "bench_model [--threads N] [--device D] [--dtype T] [--rounds R] [--quick]",
      "Forward and training-step cost (tokens/s, CPU-seconds per 1,000 tokens) of random Llama models in w2s\n"
      "beside the same model and step in PyTorch (python3-torch, or $W2S_BENCH_PYTHON), interleaved round by\n"
      "round; medians [min..max] of the rounds. docs/benchmarks.md.",
      flags);
  if (rounds < 3) {
    std::cerr << "bench_model: --rounds must be at least 3 (a median of fewer says little)\n";
    return 2;
  }
  const RunOptions run = resolve_run_options({device, dtype, threads});
  const Placement placement = resolve_placement(run);
  const bool quick = vm.count("quick") > 0;
  const std::vector<Case> cases = {
      {"small (dim 256, 4 layers, ~4M params)", 4096, 256, 688, 4, 8, 4, 4, 128, 5},
      {"~100M (dim 768, 12 layers, GQA 12/4)", 8192, 768, 2048, 12, 12, 4, 2, 128, quick ? 1 : 2},
  };
  std::printf("device %s, forward dtype %s, threads %d, %d interleaved rounds; training step = full fine-tune "
              "(float32), next-token CE, AdamW; OMP_WAIT_POLICY=%s (both sides)\n",
              run.device.c_str(), run.dtype.c_str(), threads, rounds,
              std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset)");
  for (const Case& c : cases) {
    std::printf("%s, batch %lld x %lld tokens, %lld repeats per round; %s\n", c.name, static_cast<long long>(c.batch),
                static_cast<long long>(c.seq), static_cast<long long>(c.repeats), bench::machine_load().c_str());
    std::fflush(stdout);
    Ours ours(c, placement);
    bench::Costs ours_fwd, ours_train, ref_fwd, ref_train;
    for (int r = 0; r < rounds; ++r) {
      const Round a = ours.round();
      ours_fwd.add(a.forward);
      ours_train.add(a.train);
      const Round b = reference_round(c, threads, run.device, run.dtype);
      ref_fwd.add(b.forward);
      ref_train.add(b.train);
    }
    print_row("forward", c, ours_fwd, ref_fwd);
    print_row("train", c, ours_train, ref_train);
    std::printf("  after: %s\n", bench::machine_load().c_str());
    std::fflush(stdout);
  }
  return 0;
}

int main(int argc, char** argv) {
  w2s::model::configure_torch_process(argv);
  try {
    return run_benchmark(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model: error: %s\n", e.what());
    return 1;
  }
}
