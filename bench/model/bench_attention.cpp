// Attention without gradients on CPU, per head size: lib/model's attend_rows (row_attention.h: one
// query row at a time, its scores in cache) against libtorch's batched products and in-place
// softmax, the operations layers.cpp uses above kRowKernelMaxHeadDim. The shape is a point's
// question batch over a shared prefix: `--rows` query rows per key/value head (query heads x
// question tokens x questions), each reading the prefix's `--keys` keys; 4 key/value heads. For
// each head size the two sides run in interleaved rounds after a warm-up; figures are medians
// [min..max] of the rounds, beside the machine's load, and the largest difference of their outputs.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "row_attention.h"

namespace {

using namespace w2s;
constexpr std::int64_t kKeyValueHeads = 4;

struct Inputs {
  torch::Tensor queries, keys, values;  // [KV, rows, D], [KV, P, D], [KV, P, D]
  torch::Tensor keys_t, values_t;       // [KV, D, P]: attend_rows' layout
  torch::Tensor mask;                   // [1, P]: all 0, every key open
};

Inputs make_inputs(std::int64_t head_dim, std::int64_t keys, std::int64_t rows) {
  torch::manual_seed(1);
  Inputs in;
  in.queries = torch::randn({kKeyValueHeads, rows, head_dim}) / std::sqrt(static_cast<double>(head_dim));
  in.keys = torch::randn({kKeyValueHeads, keys, head_dim});
  in.values = torch::randn({kKeyValueHeads, keys, head_dim});
  in.keys_t = in.keys.transpose(1, 2).contiguous();
  in.values_t = in.values.transpose(1, 2).contiguous();
  in.mask = torch::zeros({1, keys});
  return in;
}

torch::Tensor by_libtorch(const Inputs& in) {
  torch::Tensor scores = torch::empty({kKeyValueHeads, in.queries.size(1), in.keys.size(1)});
  at::bmm_out(scores, in.queries, in.keys.transpose(1, 2));
  at::_softmax_out(scores, scores, -1, false);
  return torch::bmm(scores, in.values);
}

torch::Tensor by_rows(const Inputs& in) {
  const std::int64_t rows = in.queries.size(1), d = in.queries.size(2), p = in.keys.size(1);
  torch::Tensor out = torch::empty_like(in.queries);
  std::vector<float> scratch(static_cast<std::size_t>(p));
  for (std::int64_t h = 0; h < kKeyValueHeads; ++h)
    model::attend_rows(in.queries[h].data_ptr<float>(), rows, d,
                       {in.keys_t[h].data_ptr<float>(), in.values_t[h].data_ptr<float>(), p}, {},
                       in.mask.data_ptr<float>(), 1, p, out[h].data_ptr<float>(), scratch.data());
  return out;
}

template <typename F>
bench::Cost timed(F&& run, torch::Tensor& out) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = bench::cpu_seconds();
  out = run();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), bench::cpu_seconds() - c0};
}

std::vector<std::int64_t> parse_list(const std::string& text) {
  std::vector<std::int64_t> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) values.push_back(std::stoll(item));
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = bench::po;
  std::string head_dims_text = "8,16,32,48,64";
  std::int64_t keys = 1200, rows = 4000;
  int rounds = 3;
  po::options_description flags("Options");
  flags.add_options()("head-dims", po::value(&head_dims_text)->default_value(head_dims_text),
                      "head sizes to compare, comma-separated (stories260K's are 8, Qwen2.5's 64)")(
      "keys", po::value(&keys)->default_value(keys), "prefix keys every row reads (~ a 4-shot prompt of stories260K)")(
      "rows", po::value(&rows)->default_value(rows), "query rows per key/value head")(
      "rounds", po::value(&rounds)->default_value(rounds), "interleaved rounds (at least 3)");
  bench::parse_flags(argc, argv, "bench_attention [--head-dims LIST] [--keys P] [--rows R] [--rounds N]",
                     "Attention without gradients on CPU, one thread: lib/model's attention by rows against "
                     "libtorch's\nbatched products and softmax, per head size. docs/benchmarks.md.",
                     flags);
  std::vector<std::int64_t> head_dims;
  try {
    head_dims = parse_list(head_dims_text);
  } catch (const std::exception&) {
    std::fprintf(stderr, "bench_attention: --head-dims takes numbers separated by commas, not '%s'\n", head_dims_text.c_str());
    return 2;
  }
  for (const std::int64_t d : head_dims)
    if (d < 1 || d > 1024) {
      std::fprintf(stderr, "bench_attention: a head size of %lld is not between 1 and 1024\n", static_cast<long long>(d));
      return 2;
    }
  if (rounds < 3 || keys < 1 || rows < 1) {
    std::fprintf(stderr, "bench_attention: --rounds must be at least 3, --keys and --rows at least 1\n");
    return 2;
  }
  torch::NoGradGuard no_grad;
  at::set_num_threads(1);
  std::printf("%lld keys, %lld rows per key/value head, %lld key/value heads, 1 thread; %s\n",
              static_cast<long long>(keys), static_cast<long long>(rows), static_cast<long long>(kKeyValueHeads),
              bench::machine_load().c_str());
  std::printf("%-9s %-24s %-24s %-24s %-24s %-9s %s\n", "head dim", "libtorch wall s", "libtorch CPU-s",
              "by rows wall s", "by rows CPU-s", "CPU ratio", "max |difference|");
  for (const std::int64_t d : head_dims) {
    const Inputs in = make_inputs(d, keys, rows);
    torch::Tensor reference, ours;
    timed([&] { return by_libtorch(in); }, reference);  // warm-up: first-touch pages, libtorch's kernels
    timed([&] { return by_rows(in); }, ours);
    bench::Costs libtorch, rows_side;
    for (int r = 0; r < rounds; ++r) {
      libtorch.add(timed([&] { return by_libtorch(in); }, reference));
      rows_side.add(timed([&] { return by_rows(in); }, ours));
    }
    const bench::Spread a = bench::spread(libtorch.cpu), b = bench::spread(rows_side.cpu);
    const double difference = (ours - reference).abs().max().item<double>();
    std::printf("%-9lld %-24s %-24s %-24s %-24s %-9.2f %.2e\n", static_cast<long long>(d),
                bench::spread(libtorch.wall).text().c_str(), a.text().c_str(),
                bench::spread(rows_side.wall).text().c_str(), b.text().c_str(), a.median / b.median, difference);
    bench::print_ratio("attention, head dim " + std::to_string(d), "cpu libtorch/rows", a.median / b.median,
                       "> 1: attention by rows is cheaper (used up to 32)");
  }
  std::printf("%s\n", bench::machine_load().c_str());
}
