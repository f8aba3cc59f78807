// Throughput and client CPU per request of OpenRouterClient against the test server, run as a
// process of its own (bench_llm_server), beside the reference asyncio/aiohttp client
// (reference_client.py, Debian's /usr/bin/python3 with python3-aiohttp) on the same server.
//
//   bench_llm [--quick] [--rounds R]   (bench_llm --help)
// Modes: "instant" (no server delay) and "latency" (200 ms per request; achieved throughput is
// also shown as a fraction of the bound concurrency / latency). Each concurrency runs ours and
// Python's interleaved, --rounds times each; figures are medians [min..max]. Our CPU is this
// process's (RUSAGE_SELF: every thread of the client, none of the server's, which is a child
// process); Python's is its process CPU time.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_common.h"
#include "w2s/core.h"
#include "w2s/llm.h"

extern char** environ;

namespace {

using namespace w2s;

// bench_llm_server as a child process: started with a pipe on its stdin (closing it ends the
// server) and one on its stdout (its base URL).
class ServerProcess {
 public:
  ServerProcess(double latency_s, int threads) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) throw Error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::string latency = fmt::format("{}", latency_s), count = std::to_string(threads);
    std::string program = W2S_LLM_BENCH_SERVER;
    char* args[] = {program.data(), const_cast<char*>(latency.c_str()), const_cast<char*>(count.c_str()), nullptr};
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, args, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    stdin_ = to_child[1];
    if (rc != 0) {
      close(from_child[0]);
      close(stdin_);
      throw Error(fmt::format("cannot start {}: error {}", program, rc));
    }
    FILE* out = fdopen(from_child[0], "r");
    char line[256] = {};
    const bool got = out && std::fgets(line, sizeof line, out);
    if (out) std::fclose(out);
    base_url_ = line;
    while (!base_url_.empty() && (base_url_.back() == '\n' || base_url_.back() == '\r')) base_url_.pop_back();
    if (!got || base_url_.empty()) {
      stop();
      throw Error(program + " printed no base URL");
    }
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  const std::string& base_url() const { return base_url_; }

 private:
  void stop() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string base_url_;
};

double process_cpu_s() { return bench::cpu_seconds(RUSAGE_SELF); }

struct Run {
  double wall_s = 0, cpu_s = 0;
  int ok = 0, n = 0;
  double median_latency_s = 0;  // ours: of the completions (sent until answered, as the client saw it)
  double rps() const { return n / wall_s; }
  double cpu_us() const { return cpu_s / n * 1e6; }
};

Run ours(const ServerProcess& server, int n, int concurrency, const std::filesystem::path& dir) {
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
  const double cpu0 = process_cpu_s(), wall0 = monotonic_seconds();
  auto results = client.run_batch(requests);
  run.wall_s = monotonic_seconds() - wall0;
  run.cpu_s = process_cpu_s() - cpu0;
  std::vector<double> latencies;
  for (const auto& c : results) {
    run.ok += c.ok;
    latencies.push_back(c.latency_s);
  }
  run.median_latency_s = bench::spread(latencies).median;
  return run;
}

Run python(const ServerProcess& server, int n, int concurrency) {
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
  int rounds = 3;
  flags.add_options()("quick", "a tenth of the requests, concurrency 1, 16 and 256 only")(
      "rounds", bench::po::value(&rounds)->default_value(rounds), "interleaved rounds of each client (at least 3)");
  const auto vm = bench::parse_flags(
      argc, argv, "bench_llm [--quick] [--rounds R]",
      "Requests/s and client CPU per request of w2s's OpenRouterClient against the test server in its own\n"
      "process (bench_llm_server), beside the reference asyncio/aiohttp client (reference_client.py,\n"
      "python3-aiohttp) on the same server, interleaved round by round; medians [min..max]. CPU is each\n"
      "client's process CPU (the server's is in neither). docs/benchmarks.md.",
      flags);
  if (rounds < 3) {
    std::fprintf(stderr, "bench_llm: --rounds must be at least 3 (a median of fewer says little)\n");
    return 2;
  }
  const bool quick = vm.count("quick") > 0;
  const std::vector<int> concurrencies = quick ? std::vector<int>{1, 16, 256} : std::vector<int>{1, 16, 64, 256, 1024};
  const auto dir = std::filesystem::temp_directory_path() / "w2s-bench-llm";
  std::filesystem::create_directories(dir);
  const int server_threads = 1100;  // httplib holds one thread per open connection

  for (const double latency : {0.0, 0.2}) {
    const ServerProcess server(latency, server_threads);
    fmt::print("\n== mode: {}; {} rounds; {} ==\n", latency > 0 ? "latency 200 ms" : "instant", rounds,
               bench::machine_load());
    fmt::print("{:>6} {:>6} | {:>26} {:>26} | {:>26} {:>26} | {:>6} {:>6}{}\n", "conc", "n", "ours r/s", "ours CPU us/req",
               "py r/s", "py CPU us/req", "r/s x", "cpu /",
               latency > 0 ? " | ours/bound py/bound | lat. ms ours/seen" : "");
    for (int c : concurrencies) {
      int n = latency > 0 ? std::max(20, 4 * c) : (c == 1 ? 1000 : 4000);
      if (quick) n = std::max(c, n / 10);
      std::vector<double> ours_rps, ours_us, py_rps, py_us, ours_latency;
      int failures = 0;
      for (int r = 0; r < rounds; ++r) {
        const Run a = ours(server, n, c, dir);
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
