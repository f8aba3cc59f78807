// The local pool with 2 CPU workers on tiny sweeps: the shared stages train once, the students
// reuse them, a rerun (also after a kill) resumes from the stage cache, and a failing job is retried
// once and reported.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <thread>

#include "assets.h"
#include "sweep_fixture.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST(SweepPool, TwoWorkersTrainSharedStagesOnceAndARerunReusesEveryStage) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool");
  const fs::path results = dir / "results";
  const fs::path grid = w2s::test::write_tiny_grid(dir, "pool", results, "loss = xent | logconf\nseed = 1 | 2\n");
  std::string output;
  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --plan", &output), 0) << output;
  EXPECT_CONTAINS(output, "sweep pool: 4 shared stages, 4 student runs");

  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --workers 2", &output), 0) << output;
  EXPECT_CONTAINS(output, "worker 0: floor-0 started");
  EXPECT_CONTAINS(output, "worker 1: ceiling-1 started");
  EXPECT_CONTAINS(output, "8/8 jobs done");
  EXPECT_CONTAINS(output, "ETA ");
  EXPECT_CONTAINS(output, "sweep pool: 8 of 8 jobs done");
  const fs::path logs = results / "sweeps" / "pool" / "logs";
  for (const std::string loss : {"xent", "logconf"}) {
    for (const std::string seed : {"1", "2"}) {
      const fs::path run = results / ("pool-loss=" + loss + "-seed=" + seed) / "sst2";
      const auto record = w2s::results::read_record(run / "w2s" / "record.json");
      EXPECT_EQ(record.extra.get_string("method"), loss);
      EXPECT_EQ(record.config.at("train_args").get_int("seed"), std::stoll(seed));
      EXPECT_TRUE(fs::is_regular_file(run / "floor" / "record.json"));
      EXPECT_TRUE(fs::is_regular_file(run / "ceiling" / "record.json"));
    }
  }
  // Every student found its floor and ceiling in the stage cache; each was trained once.
  for (int i = 0; i < 4; ++i) {
    const std::string log = w2s::read_file(logs / ("w2s-" + std::to_string(i) + ".log"));
    EXPECT_CONTAINS(log, "floor: stage cache hit");
    EXPECT_CONTAINS(log, "ceiling: stage cache hit");
    EXPECT_CONTAINS(log, "w2s: training");
  }
  std::size_t trained = 0;
  for (const auto& entry : fs::directory_iterator(logs))
    trained += count(w2s::read_file(entry.path()), "floor: training") + count(w2s::read_file(entry.path()), "ceiling: training");
  EXPECT_EQ(trained, 4u);  // 2 seeds × (floor, ceiling)

  // Rerun: nothing trains again.
  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --workers 2 --no-progress", &output), 0) << output;
  EXPECT_EQ(output.find("[w2s sweep]"), std::string::npos) << output;
  EXPECT_CONTAINS(w2s::read_file(logs / "w2s-3.log"), "w2s: stage cache hit");
  EXPECT_EQ(count(w2s::read_file(logs / "w2s-3.log"), "w2s: training"), 1u);

  // The sweep's results folder analyses as a whole: each student against the floor of its seed,
  // then per dataset and method the mean over the two seeds.
  ASSERT_EQ(w2s::test::run_command("'" + w2s::test::w2s_binary().string() + "' analyze '" + results.string() +
                                       "' --resamples 50",
                                   &output),
            0)
      << output;
  EXPECT_CONTAINS(output, "PGR per dataset and method: the mean over its runs");
  const auto analysis = w2s::results::read_record(results / "analysis" / "analysis.json");
  const auto& cells = analysis.extra.at("tables").at("train_dataset_methods");
  ASSERT_EQ(cells.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(cells.at(i).get_int("runs"), 2);
}

TEST(SweepPool, AKilledSweepResumesFromTheStageCache) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool_kill");
  const fs::path results = dir / "results";
  const fs::path grid = w2s::test::write_tiny_grid(dir, "kill", results, "loss = xent | kl\n");
  const fs::path output_file = dir / "first.out";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string binary = w2s::test::w2s_binary().string();
    ::execl(binary.c_str(), binary.c_str(), "sweep", grid.c_str(), "--workers", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Stop it once the floor is in the stage cache (its record is in the first run's folder).
  const fs::path floor_record = results / "kill-loss=xent" / "sst2" / "floor" / "record.json";
  for (int waited = 0; waited < 1200 && !fs::exists(floor_record); ++waited)  // at most 2 minutes
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(floor_record)) << w2s::read_file(output_file);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << w2s::read_file(output_file);

  std::string output;
  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --workers 2", &output), 0) << output;
  const fs::path logs = results / "sweeps" / "kill" / "logs";
  EXPECT_CONTAINS(w2s::read_file(logs / "floor-0.log"), "floor: stage cache hit");
  EXPECT_EQ(count(w2s::read_file(logs / "floor-0.log"), "floor: training"), 1u);
  EXPECT_TRUE(fs::is_regular_file(results / "kill-loss=kl" / "sst2" / "w2s" / "record.json"));
}

TEST(SweepPool, AFailedJobIsRetriedOnceAndItsStudentsAreSkipped) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool_fail");
  const fs::path results = dir / "results";
  const std::string missing = (dir / "no-such-model").string();
  const fs::path grid = w2s::test::write_tiny_grid(
      dir, "fail", results,
      std::string("models = ") + w2s::test::kTinyWeak + " -> " + w2s::test::kTinyStrong + " | " + w2s::test::kTinyWeak +
          " -> " + missing + "\n");
  std::string output;
  EXPECT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --workers 2", &output), 1) << output;
  EXPECT_CONTAINS(output, "ceiling-2 failed (exit code 1), retrying");
  EXPECT_CONTAINS(output, "sweep fail: 3 of 5 jobs done");
  EXPECT_CONTAINS(output, "2 of 5 jobs failed:");
  EXPECT_CONTAINS(output, "ceiling-2   exit code 1 after 2 attempts  (log: " +
                              (results / "sweeps" / "fail" / "logs" / "ceiling-2.log").string());
  EXPECT_CONTAINS(output, "w2s-1       skipped: ceiling-2 failed");
  EXPECT_CONTAINS(w2s::read_file(results / "sweeps" / "fail" / "logs" / "ceiling-2.log"), "no-such-model");
  EXPECT_TRUE(fs::is_regular_file(results / "fail-pair1" / "sst2" / "w2s" / "record.json"));
}

TEST(SweepPool, ABadTimeLimitIsRefusedBeforeAnythingStarts) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool_bad_time");
  const fs::path results = dir / "results";
  const fs::path grid = w2s::test::write_tiny_grid(dir, "badtime", results, "loss = xent\n");
  std::string output;
  EXPECT_NE(w2s::test::run_sweep("'" + grid.string() + "' --workers 2 --time 1h", &output), 0) << output;
  EXPECT_CONTAINS(output, "time limit '1h': expected minutes, M:S, H:M:S");
  EXPECT_FALSE(fs::exists(results / "sweeps" / "badtime" / "logs"));
}

// --gpus: one worker per device id, each child with CUDA_VISIBLE_DEVICES set to its id (on this CPU
// machine libtorch finds no such device and trains on the CPU).
TEST(SweepPool, GpuWorkersEachSeeTheirOwnDevice) {
  const fs::path dir = w2s::test::scratch_dir("sweep_pool_gpus");
  const fs::path results = dir / "results";
  const fs::path grid = w2s::test::write_tiny_grid(dir, "gpus", results, "loss = xent\n");
  std::string output;
  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --gpus 7,9", &output), 0) << output;
  EXPECT_CONTAINS(output, "gpu 7: floor-0 started");
  EXPECT_CONTAINS(output, "gpu 9: ceiling-1 started");
  const fs::path logs = results / "sweeps" / "gpus" / "logs";
  EXPECT_CONTAINS(w2s::read_file(logs / "floor-0.log"), "job floor-0 of sweep gpus: run gpus (CUDA_VISIBLE_DEVICES='7')");
  EXPECT_CONTAINS(w2s::read_file(logs / "ceiling-1.log"), "(CUDA_VISIBLE_DEVICES='9')");
  EXPECT_TRUE(fs::is_regular_file(results / "gpus" / "sst2" / "w2s" / "record.json"));
}

}  // namespace
