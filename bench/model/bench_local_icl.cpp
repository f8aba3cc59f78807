// Per-question cost of `--provider local` at 0 and 64 shots, with and without the shared-prefix
// KV cache, on a random Llama-shaped model with GPT-2's byte-level tokenizer (the in-context
// prompts of TruthfulQA: the reference system prompt, N gold shots, the question). The provider
// decodes a point's questions together: a question's time is its share of its batch's. A warm-up batch
// runs first, outside every figure; then the four cases run in interleaved rounds (each case once
// per round) and every figure is the median [min..max] of the rounds, beside the machine's load.
// Last, the whole default study (baseline, gold-sweep, weak-sweep) with and without reuse,
// interleaved the same way.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_common.h"
#include "w2s/icl.h"
#include "w2s/model_torch.h"

namespace {

namespace fs = std::filesystem;
using namespace w2s;

// The bench's model shape. Heads of 64 dimensions; unless given, grouped-query attention with at most
// half as many key/value heads (one per group that divides the heads: 896 -> 14/7, 448 -> 7/1,
// 256 -> 4/2) and an MLP 8/3 as wide as the model. Qwen2.5-0.5B itself is hidden 896, 14/2 heads,
// intermediate 4864: `--hidden 896 --kv-heads 2 --intermediate 4864`.
struct Shape {
  std::int64_t hidden = 256;
  std::int64_t layers = 4;
  std::int64_t kv_heads = 0;      // 0: the rule above
  std::int64_t intermediate = 0;  // 0: hidden * 8 / 3
};

std::int64_t model_kv_heads(const Shape& shape) {
  if (shape.kv_heads > 0) return shape.kv_heads;
  const std::int64_t heads = shape.hidden / 64;
  std::int64_t kv_heads = std::max<std::int64_t>(1, heads / 2);
  while (heads % kv_heads != 0) --kv_heads;
  return kv_heads;
}

std::int64_t model_intermediate(const Shape& shape) {
  return shape.intermediate > 0 ? shape.intermediate : shape.hidden * 8 / 3;
}

fs::path write_model(const fs::path& assets, const Shape& shape, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("w2s-bench-local-icl-" + name);
  model::ModelConfig config =
      model::tiny_config("llama", 50257, shape.hidden, shape.layers, shape.hidden / 64, model_kv_heads(shape));
  config.intermediate_size = model_intermediate(shape);
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
  double per_question = 0;  // mean of the questions' own wall time: their shares of their batches'
  double prefix = 0;        // the batch's wall time outside the questions: the shared prefix, once
  double cpu = 0;           // CPU-seconds of the whole batch (every thread)
  // CPU-seconds per question of the same batch sent again: the provider keeps the last prefix's
  // cache, so only the questions are computed (with reuse; without, the whole prompts again).
  double question_cpu = 0;
  double faults = 0;        // minor page faults of the whole batch
  double prompt_tokens = 0;
};

struct Case {
  const char* name;
  int shots;
  bool reuse;
  std::vector<Timing> rounds;
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
  provider->run_batch({requests.front()});  // load the model outside the clock
  const double cpu0 = bench::cpu_seconds(), start = monotonic_seconds();
  const long faults0 = bench::minor_faults();
  const auto done = provider->run_batch(requests);
  const double wall = monotonic_seconds() - start;
  Timing t;
  t.cpu = bench::cpu_seconds() - cpu0;
  t.faults = static_cast<double>(bench::minor_faults() - faults0);
  double own = 0;
  for (const auto& c : done) {
    if (!c.ok) throw Error("request failed: " + c.error);
    own += c.latency_s;
    t.prompt_tokens += static_cast<double>(c.prompt_tokens) / static_cast<double>(done.size());
  }
  t.per_question = own / static_cast<double>(done.size());
  const double again = bench::cpu_seconds();
  provider->run_batch(requests);
  t.question_cpu = (bench::cpu_seconds() - again) / static_cast<double>(done.size());
  t.prefix = wall - own;
  return t;
}

template <class F>
bench::Spread spread_of(const std::vector<Timing>& rounds, F&& field) {
  std::vector<double> values;
  for (const Timing& t : rounds) values.push_back(field(t));
  return bench::spread(values);
}

// The whole default study through lib/icl — baseline, gold-sweep and weak-sweep at the default
// shots (0, 2, ..., 64) with --score logprobs — on a weak and a strong model.
bench::Cost study(const fs::path& weak, const fs::path& strong, const data::TruthfulQa& ds, bool reuse, int threads) {
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
  const double cpu0 = bench::cpu_seconds(), start = monotonic_seconds();
  icl::run_baseline(c, ds, *provider);
  icl::run_gold_sweep(c, ds, *provider);
  icl::run_weak_sweep(c, ds, *provider);
  return {monotonic_seconds() - start, bench::cpu_seconds() - cpu0};
}

int run(int argc, char** argv) {
  bench::po::options_description flags("Options");
  int threads = 2, questions = 8, rounds = 3;
  Shape shape;
  flags.add_options()("threads", bench::po::value(&threads)->default_value(threads), "torch threads")(
      "questions", bench::po::value(&questions)->default_value(questions), "test questions per batch")(
      "hidden", bench::po::value(&shape.hidden)->default_value(shape.hidden),
      "strong model's width (a multiple of 64; heads of 64; 896 is Qwen2.5-0.5B's)")(
      "layers", bench::po::value(&shape.layers)->default_value(shape.layers), "layers of both models")(
      "kv-heads", bench::po::value(&shape.kv_heads)->default_value(0),
      "the strong model's key/value heads (0: at most half its heads, dividing them)")(
      "intermediate", bench::po::value(&shape.intermediate)->default_value(0),
      "the strong model's MLP width (0: 8/3 of --hidden; Qwen2.5-0.5B's is 4864)")(
      "rounds", bench::po::value(&rounds)->default_value(rounds), "interleaved rounds (at least 3)")(
      "no-study", "skip the whole-study comparison (the slow part)");
  const auto vm = bench::parse_flags(
      argc, argv, "bench_local_icl [--threads N] [--questions Q] [--hidden H] [--layers L] [--kv-heads K] [--intermediate I]\n"
      "                [--rounds R] [--no-study]",
      "Per-question cost of --provider local at 0 and 64 shots, with and without the shared-prefix KV cache,\n"
      "on a random Llama-shaped model with GPT-2's tokenizer; then the whole default study (baseline,\n"
      "gold-sweep, weak-sweep at shots 0..64) with and without reuse. Needs $W2S_TEST_ASSETS (data/ and\n"
      "models/hf/fake-gpt2-tiny-random). docs/benchmarks.md.",
      flags);
  const std::int64_t hidden = shape.hidden;
  if (rounds < 3 || questions < 1 || shape.layers < 1 || hidden < 64 || hidden % 64 != 0 || shape.kv_heads < 0 ||
      (shape.kv_heads > 0 && (hidden / 64) % shape.kv_heads != 0) || shape.intermediate < 0) {
    std::fprintf(stderr, "bench_local_icl: --rounds >= 3, --questions >= 1, --layers >= 1, --hidden a multiple "
                         "of 64, --kv-heads dividing its heads (--hidden / 64) and --intermediate >= 0 are needed\n");
    return 2;
  }
  const char* assets_env = std::getenv("W2S_TEST_ASSETS");
  if (!assets_env) {
    std::fprintf(stderr, "bench_local_icl: set W2S_TEST_ASSETS to the shared assets directory (data/, models/)\n");
    return 2;
  }
  const fs::path assets = assets_env;
  log::set_level(log::Level::Warn);
  const fs::path dir = write_model(assets, shape, "strong");
  data::TruthfulQaOptions d;
  d.data_dir = (assets / "data").string();
  d.test_size = static_cast<std::size_t>(questions);
  d.allow_download = false;
  const data::TruthfulQa ds = data::load_truthfulqa(d);
  std::printf("random Llama: hidden %lld, %lld layers, %lld/%lld heads, intermediate %lld, vocab 50257 (GPT-2 "
              "tokenizer); %d questions; %d threads; "
              "%d interleaved rounds; %s\n",
              static_cast<long long>(hidden), static_cast<long long>(shape.layers),
              static_cast<long long>(hidden / 64), static_cast<long long>(model_kv_heads(shape)),
              static_cast<long long>(model_intermediate(shape)), questions, threads, rounds,
              bench::machine_load().c_str());
  std::fflush(stdout);
  std::vector<Case> cases = {{"0 shots, prefix reuse", 0, true, {}},
                             {"0 shots, no reuse", 0, false, {}},
                             {"64 shots, prefix reuse", 64, true, {}},
                             {"64 shots, no reuse", 64, false, {}}};
  measure(dir, ds, 0, true, threads);  // warm-up: the process's first batch, in no figure
  for (int r = 0; r < rounds; ++r)
    for (Case& c : cases) c.rounds.push_back(measure(dir, ds, c.shots, c.reuse, threads));

  const double zero = spread_of(cases[0].rounds, [](const Timing& t) { return t.per_question; }).median;
  const double zero_cpu = spread_of(cases[0].rounds, [](const Timing& t) { return t.question_cpu; }).median;
  std::printf("%-24s %10s %-26s %-26s %-26s %-26s %-18s %9s %9s\n", "case", "prompt tok", "question s",
              "question CPU-s", "prefix s", "batch CPU-s", "batch minor faults", "vs 0-shot", "(CPU)");
  for (const Case& c : cases) {
    const auto question = spread_of(c.rounds, [](const Timing& t) { return t.per_question; });
    const auto question_cpu = spread_of(c.rounds, [](const Timing& t) { return t.question_cpu; });
    std::printf("%-24s %10.0f %-26s %-26s %-26s %-26s %-18s %8.2fx %8.2fx\n", c.name, c.rounds.front().prompt_tokens,
                question.text().c_str(), question_cpu.text().c_str(),
                spread_of(c.rounds, [](const Timing& t) { return t.prefix; }).text().c_str(),
                spread_of(c.rounds, [](const Timing& t) { return t.cpu; }).text().c_str(),
                spread_of(c.rounds, [](const Timing& t) { return t.faults; }).text(3).c_str(), question.median / zero,
                question_cpu.median / zero_cpu);
  }
  const auto median_of = [&](const Case& c, auto field) { return spread_of(c.rounds, field).median; };
  const auto question = [](const Timing& t) { return t.per_question; };
  const auto question_cpu = [](const Timing& t) { return t.question_cpu; };
  const auto prefix = [](const Timing& t) { return t.prefix; };
  const double reuse64 = median_of(cases[2], question), full64 = median_of(cases[3], question);
  const double reuse64_cpu = median_of(cases[2], question_cpu);
  std::printf("64-shot question with reuse / 0-shot question: wall %.2fx, CPU %.2fx (target <= 1.5x)\n",
              reuse64 / zero, reuse64_cpu / zero_cpu);
  std::printf("  with the prefix amortised over a 200-question test split: %.2fx\n",
              (reuse64 + median_of(cases[2], prefix) / 200.0) / zero);
  std::printf("64-shot question without reuse / with reuse: %.1fx\n", full64 / reuse64);
  std::printf("after: %s\n", bench::machine_load().c_str());
  const std::string label =
      fmt::format("hidden {} ({}/{} heads, MLP {})", hidden, hidden / 64, model_kv_heads(shape), model_intermediate(shape));
  bench::print_ratio(label + " 64-shot/0-shot question", "wall", reuse64 / zero, "target <= 1.5");
  bench::print_ratio(label + " 64-shot/0-shot question", "CPU", reuse64_cpu / zero_cpu, "target <= 1.5");
  bench::print_ratio(label + " 64-shot no reuse/reuse", "wall", full64 / reuse64, ">1: the prefix cache helps");
  std::fflush(stdout);
  if (vm.count("no-study")) return 0;

  // The weak model half as wide, in whole heads of 64.
  const std::int64_t weak_hidden = std::max<std::int64_t>(64, hidden / 2 / 64 * 64);
  const fs::path weak = write_model(assets, Shape{weak_hidden, shape.layers, 0, 0}, "weak");
  bench::Costs with_reuse, without;
  for (int r = 0; r < rounds; ++r) {
    with_reuse.add(study(weak, dir, ds, true, threads));
    without.add(study(weak, dir, ds, false, threads));
  }
  const auto wall_reuse = bench::spread(with_reuse.wall), wall_full = bench::spread(without.wall);
  const auto cpu_reuse = bench::spread(with_reuse.cpu), cpu_full = bench::spread(without.cpu);
  std::printf("whole default study (baseline, gold-sweep, weak-sweep; shots 0..64; weak hidden %lld -> strong hidden "
              "%lld; %d questions):\n  with reuse:    wall %s s, CPU %s s\n  without reuse: wall %s s, CPU %s s\n"
              "  without/with: wall %.2fx, CPU %.2fx; after: %s\n",
              static_cast<long long>(weak_hidden), static_cast<long long>(hidden), questions, wall_reuse.text().c_str(),
              cpu_reuse.text().c_str(), wall_full.text().c_str(), cpu_full.text().c_str(),
              wall_full.median / wall_reuse.median, cpu_full.median / cpu_reuse.median, bench::machine_load().c_str());
  bench::print_ratio(label + " whole study no reuse/reuse", "CPU", cpu_full.median / cpu_reuse.median,
                     ">1: the prefix cache helps");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  model::configure_torch_process(argv);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_local_icl: %s\n", e.what());
    return 1;
  }
}
