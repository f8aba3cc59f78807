// Throughput and client CPU per request of OpenRouterClient against the in-process test server,
// beside the reference asyncio/aiohttp client (reference_client.py, Debian's /usr/bin/python3
// with python3-aiohttp) on the same server.
//
//   bench_llm [--quick]
// Modes: "instant" (no server delay) and "latency" (200 ms per request; achieved throughput is
// also shown as a fraction of the bound concurrency / latency). Our CPU is the calling thread's
// (RUSAGE_THREAD: the client runs entirely on it); Python's is its process CPU time.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "openrouter_server.h"
#include "w2s/llm.h"

namespace {

using namespace w2s;

double thread_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

struct Run {
  double wall_s = 0, cpu_s = 0;
  int ok = 0, n = 0;
  double rps() const { return n / wall_s; }
  double cpu_us() const { return cpu_s / n * 1e6; }
};

Run ours(const test::OpenRouterServer& server, int n, int concurrency, const std::filesystem::path& dir) {
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
  const double cpu0 = thread_cpu_s(), wall0 = monotonic_seconds();
  auto results = client.run_batch(requests);
  run.wall_s = monotonic_seconds() - wall0;
  run.cpu_s = thread_cpu_s() - cpu0;
  for (const auto& c : results) run.ok += c.ok;
  return run;
}

Run python(const test::OpenRouterServer& server, int n, int concurrency) {
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
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const std::vector<int> concurrencies = {1, 16, 64, 256, 1024};
  const auto dir = std::filesystem::temp_directory_path() / "w2s-bench-llm";
  std::filesystem::create_directories(dir);
  test::ServerOptions so;
  so.threads = 1100;  // httplib holds one thread per open connection

  for (const double latency : {0.0, 0.2}) {
    test::OpenRouterServer server(
        [latency](const json::Value& body, int attempt) {
          return test::OpenRouterServer::default_policy(body, attempt).with_latency(latency);
        },
        so);
    fmt::print("\n== mode: {} ==\n", latency > 0 ? "latency 200 ms" : "instant");
    fmt::print("{:>6} {:>6} | {:>9} {:>9} | {:>9} {:>9} | {:>8} {:>8}{}\n", "conc", "n", "ours r/s",
               "ours us", "py r/s", "py us", "r/s x", "cpu /", latency > 0 ? " | ours/bound py/bound" : "");
    for (int c : concurrencies) {
      int n = latency > 0 ? std::max(20, 4 * c) : (c == 1 ? 1000 : 4000);
      if (quick) n = std::max(c, n / 10);
      Run a = ours(server, n, c, dir);
      Run b = python(server, n, c);
      if (a.ok != n || b.ok != n) fmt::print("  (failures: ours {}, python {})\n", n - a.ok, n - b.ok);
      std::string bound;
      if (latency > 0) {
        const double limit = std::min(c, n) / latency;
        bound = fmt::format(" | {:>8.2f} {:>8.2f}", a.rps() / limit, b.rps() / limit);
      }
      fmt::print("{:>6} {:>6} | {:>9.0f} {:>9.1f} | {:>9.0f} {:>9.1f} | {:>8.2f} {:>8.2f}{}\n", c, n,
                 a.rps(), a.cpu_us(), b.rps(), b.cpu_us(), a.rps() / b.rps(), b.cpu_us() / a.cpu_us(),
                 bound);
      std::fflush(stdout);
    }
  }
  fmt::print("\nr/s x: our requests/s over Python's; cpu /: Python's client CPU per request over ours.\n");
  std::filesystem::remove_all(dir);
  return 0;
}
