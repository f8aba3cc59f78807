// The local pool: workers (one per GPU, or N on the CPU) take jobs whose shared stages are done,
// run each as a child `w2s sweep --jobs F --array A --array-index I`, retry a failure once, and
// say on stderr what each worker runs and when the whole sweep should end.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <deque>
#include <iostream>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "w2s/sweep.h"

extern char** environ;

namespace w2s::sweep {

namespace fs = std::filesystem;

namespace {

// Seconds between the status lines of a pool whose jobs run long.
constexpr double kStatusSeconds = 60.0;

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// A job of the pool: which array and index, what it waits for, how it went.
struct PoolJob {
  Array array;
  std::size_t index;
  std::vector<std::size_t> needs;  // indices into the pool's jobs (the shared ones)
  JobOutcome outcome;
  enum class State { Waiting, Running, Done } state = State::Waiting;
};

struct Worker {
  std::string device;  // CUDA_VISIBLE_DEVICES, "" for a CPU worker
  pid_t pid = -1;
  std::size_t job = 0;
  double started = 0;
  std::optional<double> terminated_at;  // when its job was sent SIGTERM for its time limit
  bool killed = false;                  // and then SIGKILL, the grace having passed
};

// Sends SIGTERM to a child, then SIGKILL once `grace` seconds have passed: `at` is when the
// SIGTERM went out (set here), `killed` whether the SIGKILL did. Call it until the child is reaped.
void end_child(pid_t pid, std::optional<double>& at, bool& killed, double grace) {
  const double now = monotonic_seconds();
  if (!at) {
    ::kill(pid, SIGTERM);
    at = now;
  } else if (!killed && now - *at >= grace) {
    ::kill(pid, SIGKILL);
    killed = true;
  }
}

// Starts `argv` with stdout and stderr appended to `log` and CUDA_VISIBLE_DEVICES = device
// (unset, "", for a CPU worker: hidden GPUs, so that N CPU workers do not share one GPU).
pid_t spawn(const std::vector<std::string>& args, const fs::path& log, const std::string& device, bool gpu) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0) env_strings.emplace_back(*e);
  env_strings.push_back("CUDA_VISIBLE_DEVICES=" + (gpu ? device : std::string()));
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_copy = args;
  for (auto& s : args_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Error(fmt::format("cannot start {}: {}", args[0], std::strerror(rc)));
  return pid;
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

std::optional<double> parse_time_limit(const std::string& text) {
  if (text == "UNLIMITED" || text == "unlimited" || text == "infinite") return std::nullopt;
  const auto bad = [&] {
    return Error(fmt::format("time limit '{}': expected minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S (Slurm's --time), "
                             "or UNLIMITED",
                             text));
  };
  // Whole numbers of at most 7 digits each, so that no sum below overflows.
  const auto number = [&](std::string_view digits) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || digits.size() > 7 || error != std::errc() || end != digits.data() + digits.size())
      throw bad();
    return value;
  };
  std::string_view clock = text;
  std::optional<std::int64_t> days;
  if (const auto dash = clock.find('-'); dash != std::string_view::npos) {
    days = number(clock.substr(0, dash));
    clock.remove_prefix(dash + 1);
  }
  std::vector<std::int64_t> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = clock.find(':', start);
    parts.push_back(number(clock.substr(start, colon == std::string_view::npos ? colon : colon - start)));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  std::int64_t seconds = 0;
  if (parts.size() == 3) seconds = parts[0] * 3600 + parts[1] * 60 + parts[2];
  else if (days && parts.size() == 1) seconds = parts[0] * 3600;
  else if (days && parts.size() == 2) seconds = parts[0] * 3600 + parts[1] * 60;
  else if (!days && parts.size() == 1) seconds = parts[0] * 60;
  else if (!days && parts.size() == 2) seconds = parts[0] * 60 + parts[1];
  else throw bad();
  seconds += days.value_or(0) * 86400;
  if (seconds <= 0) throw Error(fmt::format("time limit '{}' is zero: give a positive limit, or UNLIMITED", text));
  return static_cast<double>(seconds);
}

std::size_t PoolReport::failures() const {
  return static_cast<std::size_t>(std::count_if(jobs.begin(), jobs.end(), [](const JobOutcome& j) { return !j.ok; }));
}

PoolReport run_pool(const Plan& plan, const fs::path& jobs_file, const PoolOptions& options) {
  std::vector<PoolJob> jobs;
  auto add = [&](Array array, std::size_t index, const std::string& id, std::vector<std::size_t> needs) {
    PoolJob& j = jobs.emplace_back();
    j.array = array;
    j.index = index;
    j.needs = std::move(needs);
    j.outcome.id = id;
  };
  for (std::size_t i = 0; i < plan.shared.size(); ++i) add(Array::Shared, i, plan.shared[i].id, {});
  for (std::size_t i = 0; i < plan.students.size(); ++i)
    add(Array::Students, i, plan.students[i].id, plan.students[i].needs);
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < jobs.size(); ++i) queue.push_back(i);

  const bool gpu = !options.gpus.empty();
  std::vector<Worker> workers;
  if (gpu)
    for (const auto& d : options.gpus) workers.emplace_back().device = d;
  else
    workers.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, options.workers)));
  const fs::path logs = plan.folder / "logs";
  fs::create_directories(logs);

  g_stop_signal = 0;
  struct sigaction stop {}, old_int{}, old_term{};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  sigaction(SIGINT, &stop, &old_int);
  sigaction(SIGTERM, &stop, &old_term);

  const double start = monotonic_seconds();
  std::size_t finished = 0;
  double finished_seconds = 0;  // job time of the finished jobs, for the ETA
  auto worker_name = [&](std::size_t w) {
    return gpu ? fmt::format("gpu {}", workers[w].device) : fmt::format("worker {}", w);
  };
  auto say = [&](const std::string& line) {
    if (!options.progress) return;
    std::string eta = "ETA unknown";
    if (finished > 0) {
      const double per_job = finished_seconds / static_cast<double>(finished);
      const double left = per_job * static_cast<double>(jobs.size() - finished) / static_cast<double>(workers.size());
      eta = "ETA " + format_duration(left);
    }
    std::cerr << fmt::format("[w2s sweep] {} | {}/{} jobs done, {} elapsed, {}\n", line, finished, jobs.size(),
                             format_duration(monotonic_seconds() - start), eta);
  };

  // A job is ready when every shared job it needs succeeded; it is skipped when one of them failed.
  auto readiness = [&](const PoolJob& j) -> std::optional<bool> {
    for (auto n : j.needs) {
      const PoolJob& need = jobs[n];
      if (need.state != PoolJob::State::Done) return std::nullopt;
      if (!need.outcome.ok) return false;
    }
    return true;
  };
  std::size_t running = 0;
  double last_status = monotonic_seconds();
  while ((!queue.empty() || running > 0) && g_stop_signal == 0) {
    // Jobs whose shared stages failed are skipped, not run.
    for (auto it = queue.begin(); it != queue.end();) {
      PoolJob& j = jobs[*it];
      const auto ready = readiness(j);
      if (!ready || *ready) {
        ++it;
        continue;
      }
      std::vector<std::string> failed;
      for (auto n : j.needs)
        if (!jobs[n].outcome.ok) failed.push_back(jobs[n].outcome.id);
      j.outcome.failure = fmt::format("skipped: {} failed", fmt::join(failed, ", "));
      j.state = PoolJob::State::Done;
      ++finished;
      say(fmt::format("{} {}", j.outcome.id, j.outcome.failure));
      it = queue.erase(it);
    }
    // Idle workers take the first ready job (queue order: shared stages first, then students).
    for (std::size_t w = 0; w < workers.size(); ++w) {
      if (workers[w].pid > 0) continue;
      const auto it =
          std::find_if(queue.begin(), queue.end(), [&](std::size_t i) { return readiness(jobs[i]).value_or(false); });
      if (it == queue.end()) break;
      const std::size_t index = *it;
      queue.erase(it);
      PoolJob& j = jobs[index];
      ++j.outcome.attempts;
      j.outcome.log = logs / (j.outcome.id + ".log");
      const std::vector<std::string> args = {options.w2s_binary.string(), "sweep", "--jobs", jobs_file.string(),
                                             "--array", array_name(j.array), "--array-index", std::to_string(j.index)};
      workers[w].pid = spawn(args, j.outcome.log, workers[w].device, gpu);
      workers[w].job = index;
      workers[w].started = monotonic_seconds();
      j.state = PoolJob::State::Running;
      ++running;
      say(fmt::format("{}: {} started{}", worker_name(w), j.outcome.id,
                      j.outcome.attempts > 1 ? fmt::format(" (attempt {})", j.outcome.attempts) : ""));
    }
    if (running == 0) break;  // every job is done or skipped
    // Wait for a child to end; meanwhile, jobs past their time limit are ended and, every
    // kStatusSeconds, what each worker is running is said.
    int status = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) == 0 && g_stop_signal == 0) {
      for (std::size_t w = 0; w < workers.size(); ++w) {
        Worker& worker = workers[w];
        if (worker.pid <= 0 || !options.time_limit_seconds) continue;
        if (!worker.terminated_at && monotonic_seconds() - worker.started < *options.time_limit_seconds) continue;
        if (!worker.terminated_at)
          say(fmt::format("{}: {} reached its time limit ({}), ending it", worker_name(w), jobs[worker.job].outcome.id,
                          format_duration(*options.time_limit_seconds)));
        end_child(worker.pid, worker.terminated_at, worker.killed, options.stop_grace_seconds);
      }
      if (monotonic_seconds() - last_status >= kStatusSeconds) {
        std::vector<std::string> states;
        for (std::size_t w = 0; w < workers.size(); ++w)
          states.push_back(workers[w].pid > 0 ? fmt::format("{} {} ({})", worker_name(w), jobs[workers[w].job].outcome.id,
                                                            format_duration(monotonic_seconds() - workers[w].started))
                                              : worker_name(w) + " idle");
        say(fmt::format("{}", fmt::join(states, ", ")));
        last_status = monotonic_seconds();
      }
      ::usleep(200 * 1000);
    }
    if (pid == 0) continue;  // stopped by a signal
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("waitpid: {}", std::strerror(errno)));
    }
    const auto w = static_cast<std::size_t>(
        std::find_if(workers.begin(), workers.end(), [&](const Worker& x) { return x.pid == pid; }) - workers.begin());
    if (w == workers.size()) continue;  // not one of ours
    Worker& worker = workers[w];
    PoolJob& j = jobs[worker.job];
    const bool timed_out = worker.terminated_at.has_value();
    worker.pid = -1;
    worker.terminated_at.reset();
    worker.killed = false;
    --running;
    const double took = monotonic_seconds() - worker.started;
    j.outcome.wall_seconds += took;
    const bool ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // A job ended at its time limit would reach it again: not retried.
    if (!ok && !timed_out && j.outcome.attempts <= options.retries && g_stop_signal == 0) {
      say(fmt::format("{}: {} failed ({}), retrying; log {}", worker_name(w), j.outcome.id, exit_text(status),
                      j.outcome.log.string()));
      j.state = PoolJob::State::Waiting;
      queue.push_front(worker.job);
      continue;
    }
    j.outcome.ok = ok;
    j.outcome.failure = ok ? ""
                       : timed_out ? fmt::format("time limit {} reached ({})",
                                                 format_duration(*options.time_limit_seconds), exit_text(status))
                                   : exit_text(status);
    j.state = PoolJob::State::Done;
    ++finished;
    finished_seconds += j.outcome.wall_seconds;
    say(fmt::format("{}: {} {} in {}", worker_name(w), j.outcome.id, ok ? "done" : "FAILED (" + j.outcome.failure + ")",
                    format_duration(took)));
  }

  if (g_stop_signal != 0) {  // stopped: end the children (SIGTERM, SIGKILL after the grace), leave their stages to the cache
    for (auto& worker : workers) {
      if (worker.pid <= 0) continue;
      worker.terminated_at.reset();  // a time limit's SIGTERM, if any, starts its grace again
      worker.killed = false;
      jobs[worker.job].outcome.failure = "stopped by signal " + std::to_string(g_stop_signal.load());
      jobs[worker.job].state = PoolJob::State::Done;
    }
    for (;;) {
      bool waiting = false;
      for (auto& worker : workers) {
        if (worker.pid <= 0) continue;
        int status = 0;
        const pid_t ended = ::waitpid(worker.pid, &status, WNOHANG);
        if (ended == worker.pid || (ended < 0 && errno != EINTR)) {
          worker.pid = -1;
          continue;
        }
        end_child(worker.pid, worker.terminated_at, worker.killed, options.stop_grace_seconds);
        waiting = true;
      }
      if (!waiting) break;
      ::usleep(50 * 1000);
    }
    for (auto index : queue) jobs[index].outcome.failure = "not started (the sweep was stopped)";
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  PoolReport report;
  for (auto& j : jobs) report.jobs.push_back(std::move(j.outcome));
  return report;
}

std::string format_failures(const PoolReport& report) {
  const std::size_t failed = report.failures();
  if (failed == 0) return "";
  std::string out = fmt::format("{} of {} jobs failed:\n", failed, report.jobs.size());
  for (const auto& j : report.jobs) {
    if (j.ok) continue;
    out += fmt::format("  {:<11} {}", j.id, j.failure);
    if (j.attempts > 0)
      out += fmt::format(" after {} attempt{}  (log: {})", j.attempts, j.attempts == 1 ? "" : "s", j.log.string());
    out += "\n";
  }
  return out;
}

}  // namespace w2s::sweep
