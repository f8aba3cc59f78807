// The local pool's bounds on its children: a job past its time limit (--time) is ended, and a
// stopped pool ends a child that ignores SIGTERM. The children are shell scripts standing in for
// `w2s sweep --jobs ...` (the pool starts whatever its w2s_binary names), so no training runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "assets.h"
#include "w2s/sweep.h"

namespace {

namespace fs = std::filesystem;
using w2s::sweep::parse_time_limit;

TEST(SweepTimeLimit, ReadsSlurmsFormats) {
  EXPECT_EQ(parse_time_limit("90"), 90 * 60.0);
  EXPECT_EQ(parse_time_limit("5:30"), 5 * 60 + 30.0);
  EXPECT_EQ(parse_time_limit("4:00:00"), 4 * 3600.0);
  EXPECT_EQ(parse_time_limit("2-12"), 2 * 86400 + 12 * 3600.0);
  EXPECT_EQ(parse_time_limit("1-0:30"), 86400 + 30 * 60.0);
  EXPECT_EQ(parse_time_limit("1-00:00:05"), 86400 + 5.0);
  EXPECT_EQ(parse_time_limit("UNLIMITED"), std::nullopt);
  EXPECT_EQ(parse_time_limit("infinite"), std::nullopt);
}

TEST(SweepTimeLimit, RefusesWhatSlurmWouldNotReadNamingTheValue) {
  for (const char* text : {"", "1h", "1::2", "1:2:3:4", "-5", "1-", "1-2:3:4:5", " 90", "99999999", "0", "0:00:00"}) {
    try {
      parse_time_limit(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const w2s::Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("time limit '") + text + "'"), std::string::npos) << e.what();
    }
  }
}

// A stand-in for the w2s binary: records its pid in <dir>/<index>.pid (the job's --array-index is
// its 7th argument), then sleeps for a minute; `ignore_term` makes it ignore SIGTERM (a disposition
// `exec` keeps), as a child stuck where it cannot stop would.
fs::path sleeping_child(const fs::path& dir, bool ignore_term) {
  const fs::path script = dir / (ignore_term ? "stubborn.sh" : "sleeper.sh");
  w2s::test::write_text(script, std::string("#!/bin/sh\n") + (ignore_term ? "trap '' TERM\n" : "") +
                                    "echo $$ > \"" + dir.string() + "/$7.pid.tmp\"\n" +
                                    "mv \"" + dir.string() + "/$7.pid.tmp\" \"" + dir.string() + "/$7.pid\"\n" +
                                    "exec sleep 60\n");
  ::chmod(script.c_str(), 0755);
  return script;
}

// One shared job and one student that needs it.
w2s::sweep::Plan plan_in(const fs::path& dir) {
  w2s::sweep::Plan plan;
  plan.name = "limits";
  plan.folder = dir / "sweep";
  plan.shared.emplace_back().id = "floor-0";
  auto& student = plan.students.emplace_back();
  student.id = "w2s-0";
  student.needs = {0};
  return plan;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

pid_t pid_in(const fs::path& file) { return static_cast<pid_t>(std::stol(w2s::read_file(file))); }

TEST(SweepPool, AJobPastItsTimeLimitIsEndedAndNotRetried) {
  for (const bool ignore_term : {false, true}) {
    const fs::path dir = w2s::test::scratch_dir(ignore_term ? "sweep_pool_limit_kill" : "sweep_pool_limit_term");
    w2s::sweep::PoolOptions options;
    options.w2s_binary = sleeping_child(dir, ignore_term);
    options.progress = false;
    options.time_limit_seconds = 3.0;  // time enough for the script to record its pid (and ignore TERM) on a busy machine
    options.stop_grace_seconds = 1.0;
    const auto report = w2s::sweep::run_pool(plan_in(dir), dir / "jobs.json", options);
    ASSERT_EQ(report.jobs.size(), 2u);
    const auto& floor = report.jobs[0];
    EXPECT_FALSE(floor.ok);
    EXPECT_EQ(floor.attempts, 1) << "a job ended at its time limit would reach it again";
    EXPECT_EQ(floor.failure,
              std::string("time limit 3.0 s reached (killed by signal ") + (ignore_term ? "9)" : "15)"));
    EXPECT_LT(floor.wall_seconds, 50.0) << "the pool waited for the child's own end";
    EXPECT_EQ(report.jobs[1].failure, "skipped: floor-0 failed");
    EXPECT_FALSE(process_exists(pid_in(dir / "0.pid")));
  }
}

TEST(SweepPool, AStoppedPoolEndsAChildThatIgnoresSigterm) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool_stop_stubborn");
  w2s::sweep::PoolOptions options;
  options.w2s_binary = sleeping_child(dir, true);
  options.progress = false;
  options.stop_grace_seconds = 1.0;
  // SIGTERM to this process once the child runs: the pool's handler stops it.
  std::thread stopper([&] {
    for (int i = 0; i < 600 && !fs::exists(dir / "0.pid"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGTERM);
  });
  const auto started = std::chrono::steady_clock::now();
  const auto report = w2s::sweep::run_pool(plan_in(dir), dir / "jobs.json", options);
  const auto took = std::chrono::steady_clock::now() - started;
  stopper.join();
  EXPECT_LT(took, std::chrono::seconds(50)) << "the pool waited for the child's own end";
  ASSERT_EQ(report.jobs.size(), 2u);
  EXPECT_EQ(report.jobs[0].failure, "stopped by signal 15");
  EXPECT_EQ(report.jobs[1].failure, "not started (the sweep was stopped)");
  EXPECT_FALSE(process_exists(pid_in(dir / "0.pid")));
}

}  // namespace
