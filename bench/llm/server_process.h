// bench_llm_server (bench_llm_server.cpp) as a child process, for bench_llm and its test.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "w2s/core.h"

extern char** environ;

namespace w2s::bench {

// bench_llm_server as a child process: started with a pipe on its stdin (closing it ends the
// server) and one on its stdout (its base URL).
class ServerProcess {
 public:
  ServerProcess(double latency_s, const std::string& timeline = {}) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) throw Error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::string latency = fmt::format("{}", latency_s);
    std::string program = W2S_LLM_BENCH_SERVER;  // the path, defined by CMake
    char* args[] = {program.data(), const_cast<char*>(latency.c_str()),
                    timeline.empty() ? nullptr : const_cast<char*>(timeline.c_str()), nullptr};
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

}  // namespace w2s::bench
