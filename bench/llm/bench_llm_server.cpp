// The OpenRouter-protocol test server (tests/support/openrouter_server.h) as a process of its own,
// so that bench_llm measures the client's CPU and cores apart from the server's.
//
//   bench_llm_server LATENCY_S THREADS
// Prints its base URL on one line of stdout, answers every chat request with the test server's
// deterministic default after LATENCY_S seconds, and exits when its stdin closes (the bench closes
// it; a bench that dies closes it too, so no server is left behind).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "openrouter_server.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_llm_server LATENCY_S THREADS\n");
    return 2;
  }
  const double latency = std::strtod(argv[1], nullptr);
  w2s::test::ServerOptions options;
  options.threads = std::atoi(argv[2]);
  w2s::test::OpenRouterServer server(
      [latency](const w2s::json::Value& body, int attempt) {
        return w2s::test::OpenRouterServer::default_policy(body, attempt).with_latency(latency);
      },
      options);
  std::printf("%s\n", server.base_url().c_str());
  std::fflush(stdout);
  char byte = 0;
  while (read(STDIN_FILENO, &byte, 1) > 0) {
  }
  return 0;
}
