// Per-question time of `--provider local` at 0 and 64 shots, with and without the shared-prefix
// KV cache, on a random Llama-shaped model with GPT-2's byte-level tokenizer (the in-context
// prompts of TruthfulQA: the reference system prompt, N gold shots, the question). Every number
// is measured in this invocation; the ratios compare them with the 0-shot question of the same run.
//
// usage: bench_local_icl [--threads N] [--questions Q] [--hidden H] [--layers L]
//   (defaults: 2 threads, 8 questions, hidden 256, 4 layers; $W2S_TEST_ASSETS names the shared
//   assets: data/ for TruthfulQA, models/hf/fake-gpt2-tiny-random for the tokenizer)
// Target (issue 13): with reuse, a 64-shot question costs at most 2x a 0-shot one. Last, the
// whole default study (baseline, gold-sweep, weak-sweep) with and without reuse.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "w2s/icl.h"
#include "w2s/model_torch.h"

namespace {

namespace fs = std::filesystem;
using namespace w2s;

fs::path write_model(const fs::path& assets, std::int64_t hidden, std::int64_t layers, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("w2s-bench-local-icl-" + name);
  model::ModelConfig config = model::tiny_config("llama", 50257, hidden, layers, hidden / 64, hidden / 128);
  config.intermediate_size = hidden * 8 / 3;
  config.max_position_embeddings = 32768;
  config.config_json.set("intermediate_size", config.intermediate_size);
  config.config_json.set("max_position_embeddings", config.max_position_embeddings);
  config.eos_token_id = 50256;
  config.config_json.set("eos_token_id", 50256);
  model::CausalLM lm = model::random_causal_lm(config, 1);
  model::save_pretrained(lm, dir);
  const fs::path gpt2 = assets / "models" / "hf" / "fake-gpt2-tiny-random";
  fs::copy_file(gpt2 / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  fs::copy_file(gpt2 / "tokenizer_config.json", dir / "tokenizer_config.json", fs::copy_options::overwrite_existing);
  return dir;
}

struct Timing {
  double per_question = 0;  // mean of the questions' own time (from the shared prefix on)
  double prefix = 0;        // the batch's time outside the questions: the shared prefix, once
  double prompt_tokens = 0;
};

Timing measure(const fs::path& dir, const data::TruthfulQa& ds, int shots, bool reuse, int threads) {
  model::LocalProviderOptions o;
  o.run.device = "cpu";
  o.run.threads = threads;
  o.prefix_cache = reuse;
  auto provider = model::make_local_provider(o);
  std::vector<icl::Shot> shot_list;
  for (int i = 0; i < shots; ++i) shot_list.push_back({ds.train[i].text, ds.train[i].answer});
  std::vector<llm::ChatRequest> requests;
  for (const auto& q : ds.test) {
    llm::ChatRequest r;
    r.model = dir.string();
    r.messages = icl::build_messages(shot_list, q.text);
    r.max_tokens = 1;  // --score logprobs reads the first token: the prompt is what is measured
    r.logprobs = true;
    requests.push_back(std::move(r));
  }
  provider->run_batch({requests.front()});  // load the model and warm up outside the clock
  const double start = monotonic_seconds();
  const auto done = provider->run_batch(requests);
  const double wall = monotonic_seconds() - start;
  Timing t;
  double own = 0;
  for (const auto& c : done) {
    if (!c.ok) throw Error("request failed: " + c.error);
    own += c.latency_s;
    t.prompt_tokens += static_cast<double>(c.prompt_tokens) / static_cast<double>(done.size());
  }
  t.per_question = own / static_cast<double>(done.size());
  t.prefix = wall - own;
  return t;
}

// The whole default study through lib/icl — baseline, gold-sweep and weak-sweep at the default
// shots (0, 2, ..., 64) with --score logprobs — on a weak and a strong model: its wall time.
double study_seconds(const fs::path& weak, const fs::path& strong, const data::TruthfulQa& ds, bool reuse,
                     int threads) {
  model::LocalProviderOptions o;
  o.run.device = "cpu";
  o.run.threads = threads;
  o.prefix_cache = reuse;
  auto provider = model::make_local_provider(o);
  icl::Config c;
  c.run_name = reuse ? "reuse" : "no-reuse";
  c.results_dir = fs::temp_directory_path() / "w2s-bench-local-icl-study";
  fs::remove_all(c.results_dir / c.run_name);  // weak labels and records are made anew
  c.models = {weak.string(), strong.string()};
  c.pairs = {{weak.string(), strong.string()}};
  c.score = icl::ScoreMode::Logprobs;
  c.sampling.max_tokens = 1;
  const double start = monotonic_seconds();
  icl::run_baseline(c, ds, *provider);
  icl::run_gold_sweep(c, ds, *provider);
  icl::run_weak_sweep(c, ds, *provider);
  return monotonic_seconds() - start;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, questions = 8;
  std::int64_t hidden = 256, layers = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--questions")) questions = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--hidden")) hidden = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--layers")) layers = std::atoll(argv[i + 1]);
  }
  const char* assets_env = std::getenv("W2S_TEST_ASSETS");
  if (!assets_env) {
    std::fprintf(stderr, "set W2S_TEST_ASSETS to the shared assets directory (data/, models/)\n");
    return 2;
  }
  try {
    const fs::path assets = assets_env;
    log::set_level(log::Level::Warn);
    const fs::path dir = write_model(assets, hidden, layers, "strong");
    data::TruthfulQaOptions d;
    d.data_dir = (assets / "data").string();
    d.test_size = static_cast<std::size_t>(questions);
    d.allow_download = false;
    const data::TruthfulQa ds = data::load_truthfulqa(d);
    std::printf("random Llama: hidden %lld, %lld layers, vocab 50257 (GPT-2 tokenizer); %d questions; %d threads\n",
                static_cast<long long>(hidden), static_cast<long long>(layers), questions, threads);
    std::printf("%-28s %12s %14s %14s %14s\n", "case", "prompt tok", "question s", "prefix s", "vs 0-shot");
    const Timing zero = measure(dir, ds, 0, true, threads);
    const Timing zero_full = measure(dir, ds, 0, false, threads);
    const Timing reuse64 = measure(dir, ds, 64, true, threads);
    const Timing full64 = measure(dir, ds, 64, false, threads);
    auto row = [&](const char* name, const Timing& t) {
      std::printf("%-28s %12.0f %14.4f %14.4f %13.2fx\n", name, t.prompt_tokens, t.per_question, t.prefix,
                  t.per_question / zero.per_question);
    };
    row("0 shots, prefix reuse", zero);
    row("0 shots, no reuse", zero_full);
    row("64 shots, prefix reuse", reuse64);
    row("64 shots, no reuse", full64);
    const double amortised = reuse64.per_question + reuse64.prefix / 200.0;
    std::printf("64-shot question with reuse / 0-shot question: %.2fx (target <= 2x)\n",
                reuse64.per_question / zero.per_question);
    std::printf("  with the prefix amortised over a 200-question test split: %.2fx\n", amortised / zero.per_question);
    std::printf("64-shot question without reuse / with reuse: %.1fx\n", full64.per_question / reuse64.per_question);

    const fs::path weak = write_model(assets, hidden / 2, layers, "weak");
    const double study_reuse = study_seconds(weak, dir, ds, true, threads);
    const double study_full = study_seconds(weak, dir, ds, false, threads);
    std::printf("whole default study (baseline, gold-sweep, weak-sweep; shots 0..64; weak hidden %lld -> strong "
                "hidden %lld; %d questions): %.1f s with reuse, %.1f s without: %.1fx\n",
                static_cast<long long>(hidden / 2), static_cast<long long>(hidden), questions, study_reuse, study_full,
                study_full / study_reuse);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_local_icl: %s\n", e.what());
    return 1;
  }
  return 0;
}
