// Throughput and client CPU per request of OpenRouterClient against bench_llm_server (an
// event-driven OpenRouter-protocol server that answers on time), run as a process of its own,
// beside the reference asyncio/aiohttp client (reference_client.py, Debian's /usr/bin/python3 with
// python3-aiohttp) on the same server.
//
//   bench_llm [--quick] [--timeline] [--mode instant|latency|both] [--concurrency C] [--waves W]
//             [--rounds R]
//   (bench_llm --help)
// Modes: "instant" (no server delay) and "latency" (200 ms per request; achieved throughput is
// also shown as a fraction of the bound concurrency / latency). Each concurrency runs ours and
// Python's interleaved, --rounds times each; figures are medians [min..max]. Our CPU is this
// process's (RUSAGE_SELF: every thread of the client, none of the server's, which is a child
// process); Python's is its process CPU time.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_common.h"
#include "server_process.h"
#include "w2s/core.h"
#include "w2s/llm.h"

namespace {

using namespace w2s;

double process_cpu_s() { return bench::cpu_seconds(RUSAGE_SELF); }

struct Run {
  double wall_s = 0, cpu_s = 0;
  int ok = 0, n = 0;
  double median_latency_s = 0;  // ours: of the completions (sent until answered, as the client saw it)
  double rps() const { return n / wall_s; }
  double cpu_us() const { return cpu_s / n * 1e6; }
};

// Where the time of our latency runs goes (--timeline), from the server's timeline file and the
// client's delivery times, on the one monotonic clock of the machine; seconds, pooled over rounds.
struct Timeline {
  std::vector<double> start;      // run_batch called until the first request was sent (GET /models, ...)
  std::vector<double> to_server;  // a request sent (handed to curl) until the server had read it
  std::vector<double> overrun;    // the server wrote the answer this long after arrival + latency
  std::vector<double> to_client;  // the answer written until the client delivered it
  std::vector<double> excess;     // the run's wall time over its waves (n / C) x latency

  void add(const std::filesystem::path& file, double latency_s, double wall0, const std::vector<double>& delivered,
           const std::vector<double>& latency_seen, double wall_s, int waves) {
    std::ifstream in(file);
    long q = 0;
    double arrived = 0, answered = 0;
    double first_sent = wall0 + wall_s;
    for (std::size_t i = 0; i < delivered.size(); ++i) first_sent = std::min(first_sent, delivered[i] - latency_seen[i]);
    start.push_back(first_sent - wall0);
    while (in >> q >> arrived >> answered) {
      if (q < 0 || static_cast<std::size_t>(q) >= delivered.size()) continue;
      to_server.push_back(arrived - (delivered[q] - latency_seen[q]));
      overrun.push_back(answered - (arrived + latency_s));
      to_client.push_back(delivered[q] - answered);
    }
    excess.push_back(wall_s - waves * latency_s);
  }

  void print() const {
    const auto ms = [](std::vector<double> v) {
      if (v.empty()) return std::string("-");
      std::sort(v.begin(), v.end());
      const auto at = [&v](double q) { return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))] * 1e3; };
      return fmt::format("{:.1f}/{:.1f}/{:.1f}", at(0.5), at(0.9), v.back() * 1e3);
    };
    fmt::print("         timeline, ms (median/p90/max): start {} | sent->read {} | answer late {} | written->delivered {} "
               "| wall - waves x latency {}\n",
               ms(start), ms(to_server), ms(overrun), ms(to_client), ms(excess));
  }
};

Run ours(const bench::ServerProcess& server, int n, int concurrency, const std::filesystem::path& dir,
         const std::filesystem::path& timeline_file = {}, double latency_s = 0, Timeline* timeline = nullptr) {
  llm::ClientOptions o;
  o.base_url = server.base_url();
  o.api_key = "bench-key";
  o.max_concurrency = concurrency;
  o.adaptive_concurrency = false;
  o.no_cache = true;
  o.cache_dir = dir;
  o.ledger_path = dir / fmt::format("ledger-{}.jsonl", concurrency);
  o.key_check = llm::KeyCheck::Off;
  o.progress = false;
  std::vector<llm::ChatRequest> requests;
  for (int i = 0; i < n; ++i) {
    llm::ChatRequest r;
    r.model = "test/small";
    r.messages = {{"system", "Answer with one letter."},
                  {"user", fmt::format("Question {}: which option is right?", i)}};
    r.temperature = 0.0;
    r.max_tokens = 1;
    requests.push_back(std::move(r));
  }
  llm::OpenRouterClient client(o);
  Run run;
  run.n = n;
  std::vector<double> delivered, latency_seen;
  llm::ResultCallback on_result;
  if (timeline) {
    std::filesystem::resize_file(timeline_file, 0);
    delivered.assign(n, 0.0);
    latency_seen.assign(n, 0.0);
    on_result = [&](std::size_t i, const llm::Completion& c) {
      delivered[i] = monotonic_seconds();
      latency_seen[i] = c.latency_s;
    };
  }
  const double cpu0 = process_cpu_s(), wall0 = monotonic_seconds();
  auto results = client.run_batch(requests, on_result);
  run.wall_s = monotonic_seconds() - wall0;
  run.cpu_s = process_cpu_s() - cpu0;
  if (timeline)
    timeline->add(timeline_file, latency_s, wall0, delivered, latency_seen, run.wall_s, (n + concurrency - 1) / concurrency);
  std::vector<double> latencies;
  for (const auto& c : results) {
    run.ok += c.ok;
    latencies.push_back(c.latency_s);
  }
  run.median_latency_s = bench::spread(latencies).median;
  return run;
}

Run python(const bench::ServerProcess& server, int n, int concurrency) {
  const std::string cmd = fmt::format("/usr/bin/python3 {} {} {} {}", W2S_LLM_REFERENCE_CLIENT,
                                      server.base_url(), n, concurrency);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw Error("cannot run " + cmd);
  std::string out;
  char buffer[4096];
  while (std::size_t k = fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, k);
  if (pclose(pipe) != 0) throw Error("reference client failed: " + cmd);
  json::Value v = json::parse(out, "reference_client.py output");
  Run run;
  run.n = n;
  run.ok = static_cast<int>(v.get_int("ok"));
  run.wall_s = v.get_double("wall_s");
  run.cpu_s = v.get_double("cpu_s");
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  bench::po::options_description flags("Options");
  int rounds = 3, only_concurrency = 0, waves = 4;
  std::string mode = "both";
  flags.add_options()("quick", "a tenth of the requests, concurrency 1, 16 and 256 only")(
      "timeline", "with 200 ms answers, also where our runs' time goes (the server's timestamps beside the client's)")(
      "mode", bench::po::value(&mode)->default_value(mode), "instant, latency (200 ms answers) or both")(
      "concurrency", bench::po::value(&only_concurrency), "only this concurrency (default: 1, 16, 64, 256, 1024)")(
      "waves", bench::po::value(&waves)->default_value(waves),
      "with 200 ms answers, requests per run = this x concurrency (at least 20): how many answers each slot awaits")(
      "rounds", bench::po::value(&rounds)->default_value(rounds), "interleaved rounds of each client (at least 3)");
  const auto vm = bench::parse_flags(
      argc, argv, "bench_llm [--quick] [--timeline] [--mode instant|latency|both] [--concurrency C] [--waves W] [--rounds R]",
      "Requests/s and client CPU per request of w2s's OpenRouterClient against bench_llm_server in its\n"
      "own process (event-driven, each answer sent when due), beside the reference asyncio/aiohttp client\n"
      "(reference_client.py, python3-aiohttp) on the same server, interleaved round by round; medians\n"
      "[min..max]. CPU is each client's process CPU (the server's is in neither). docs/benchmarks.md.",
      flags);
  if (rounds < 3) {
    std::fprintf(stderr, "bench_llm: --rounds must be at least 3 (a median of fewer says little)\n");
    return 2;
  }
  if (mode != "instant" && mode != "latency" && mode != "both") {
    std::fprintf(stderr, "bench_llm: --mode must be instant, latency or both, not '%s'\n", mode.c_str());
    return 2;
  }
  if (waves < 1) {
    std::fprintf(stderr, "bench_llm: --waves must be at least 1\n");
    return 2;
  }
  if (vm.count("concurrency") && only_concurrency < 1) {
    std::fprintf(stderr, "bench_llm: --concurrency must be at least 1\n");
    return 2;
  }
  const bool quick = vm.count("quick") > 0;
  std::vector<int> concurrencies = quick ? std::vector<int>{1, 16, 256} : std::vector<int>{1, 16, 64, 256, 1024};
  if (only_concurrency > 0) concurrencies = {only_concurrency};
  std::vector<double> latencies;
  if (mode != "latency") latencies.push_back(0.0);
  if (mode != "instant") latencies.push_back(0.2);
  const auto dir = std::filesystem::temp_directory_path() / "w2s-bench-llm";
  std::filesystem::create_directories(dir);
  const bool with_timeline = vm.count("timeline") > 0;
  const auto timeline_file = dir / "server-timeline.txt";

  for (const double latency : latencies) {
    const bool traced = with_timeline && latency > 0;
    const bench::ServerProcess server(latency, traced ? timeline_file.string() : std::string());
    fmt::print("\n== mode: {}; {} rounds; {} ==\n", latency > 0 ? "latency 200 ms" : "instant", rounds,
               bench::machine_load());
    fmt::print("{:>6} {:>6} | {:>26} {:>26} | {:>26} {:>26} | {:>6} {:>6}{}\n", "conc", "n", "ours r/s", "ours CPU us/req",
               "py r/s", "py CPU us/req", "r/s x", "cpu /",
               latency > 0 ? " | ours/bound py/bound | lat. ms ours/seen" : "");
    for (int c : concurrencies) {
      int n = latency > 0 ? std::max(20, waves * c) : (c == 1 ? 1000 : 4000);
      if (quick) n = std::max(c, n / 10);
      std::vector<double> ours_rps, ours_us, py_rps, py_us, ours_latency;
      int failures = 0;
      Timeline timeline;
      for (int r = 0; r < rounds; ++r) {
        const Run a = ours(server, n, c, dir, timeline_file, latency, traced ? &timeline : nullptr);
        const Run b = python(server, n, c);
        failures += (n - a.ok) + (n - b.ok);
        ours_rps.push_back(a.rps());
        ours_us.push_back(a.cpu_us());
        ours_latency.push_back(a.median_latency_s);
        py_rps.push_back(b.rps());
        py_us.push_back(b.cpu_us());
      }
      if (failures) fmt::print("  ({} failed requests over the rounds)\n", failures);
      const auto a_rps = bench::spread(ours_rps), a_us = bench::spread(ours_us);
      const auto b_rps = bench::spread(py_rps), b_us = bench::spread(py_us);
      std::string bound;
      if (latency > 0) {
        const double limit = std::min(c, n) / latency;
        // The answers' own latency (the server's delay, its queueing on shared cores, the network)
        // bounds any client at C / latency: ours against that bound is what the client loses itself.
        const double seen_s = bench::spread(ours_latency).median;
        bound = fmt::format(" | {:>8.2f} {:>8.2f} | {:>7.1f} {:>8.2f}", a_rps.median / limit, b_rps.median / limit,
                            seen_s * 1e3, a_rps.median / (std::min(c, n) / seen_s));
      }
      fmt::print("{:>6} {:>6} | {:>26} {:>26} | {:>26} {:>26} | {:>6.2f} {:>6.2f}{}\n", c, n, a_rps.text(), a_us.text(),
                 b_rps.text(), b_us.text(), a_rps.median / b_rps.median, b_us.median / a_us.median, bound);
      if (traced) timeline.print();
      std::fflush(stdout);
      const std::string name = fmt::format("{} C={}", latency > 0 ? "latency 200 ms" : "instant", c);
      bench::print_ratio(name, "CPU/request py/w2s", b_us.median / a_us.median, ">1: w2s uses less CPU");
      if (latency > 0) {
        bench::print_ratio(name, "w2s r/s / bound", a_rps.median / (std::min(c, n) / latency), "goal >= 0.95");
        const double seen_bound = std::min(c, n) / bench::spread(ours_latency).median;
        bench::print_ratio(name, "w2s r/s / C/seen", a_rps.median / seen_bound, "bound by the answers' own latency");
      }
    }
  }
  fmt::print(
      "\nr/s x: our requests/s over Python's; cpu /: Python's client CPU per request over ours. bound: C / 200 ms;\n"
      "lat. ms: median latency of our answers as the client saw them; ours/seen: our r/s over C / that latency.\n{}\n",
      bench::machine_load());
  std::filesystem::remove_all(dir);
  return 0;
}
