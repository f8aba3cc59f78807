// How the w2s executables start (docs/benchmarks.md, "Start-up"): the commands that need no model
// never load libtorch; the model commands run in w2s-torch, found beside w2s; w2s-torch starts in
// the torch environment (passive OpenMP threads, glibc's allocator tuned), executing itself once more
// only when it was started without it.
// The dynamic loader's own log (LD_DEBUG=files) says which libraries a process loaded.
#include <gtest/gtest.h>

#include "assets.h"
#include "fixtures.h"
#include "w2s/core.h"
#include "w2s/shell.h"

namespace fs = std::filesystem;
using w2s::results::Kind;

namespace {

std::string quoted(const fs::path& p) { return w2s::shell_quote(p.string()); }

// Runs `command` with the loader's log of every library it loads, `env_change` (env's arguments,
// e.g. "-u NAME") applied first; returns the exit code.
int run_logging_libraries(const std::string& command, std::string* output, const std::string& env_change = "") {
  return w2s::test::run_command("env " + env_change + " LD_DEBUG=files " + command, output);
}

// How many programs the loader started in one run (each exec: "transferring control").
int programs_started(const std::string& loader_log) {
  int n = 0;
  for (std::size_t at = loader_log.find("transferring control"); at != std::string::npos;
       at = loader_log.find("transferring control", at + 1))
    ++n;
  return n;
}

fs::path torch_side() { return w2s::test::w2s_binary().parent_path() / "w2s-torch"; }

}  // namespace

TEST(Start, HelpDoesNotLoadLibtorch) {
  std::string out;
  ASSERT_EQ(run_logging_libraries(quoted(w2s::test::w2s_binary()) + " --help", &out), 0) << out;
  EXPECT_CONTAINS(out, "train");          // the table lists the torch commands...
  EXPECT_CONTAINS(out, "libfmt");         // ...and the loader's log is there to read...
  EXPECT_EQ(out.find("file=libtorch"), std::string::npos) << out;  // ...without libtorch in it
  EXPECT_EQ(programs_started(out), 1);
}

TEST(Start, AnalyzeAndTheApiHelpDoNotLoadLibtorch) {
  const fs::path dir = w2s::test::scratch_dir("start-analyze");
  w2s::results::write_record(dir / "baseline_w.json",
                             w2s::test::icl_record(Kind::Baseline, "org/weak-1b", 0, w2s::test::right_on({0, 1})));
  w2s::results::write_record(dir / "baseline_s.json",
                             w2s::test::icl_record(Kind::Baseline, "org/strong-70b", 0, w2s::test::right_on({0, 1, 2, 3})));
  std::string out;
  ASSERT_EQ(run_logging_libraries(quoted(w2s::test::w2s_binary()) + " analyze " + quoted(dir) + " --resamples 0", &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "strong-70b             0.400");  // 4 of the 10 right
  EXPECT_TRUE(fs::exists(dir / "analysis" / "icl_accuracy.csv"));
  EXPECT_EQ(out.find("file=libtorch"), std::string::npos) << out;

  // The experiments' help lists the --provider local flags without loading what runs them.
  ASSERT_EQ(run_logging_libraries(quoted(w2s::test::w2s_binary()) + " baseline --help", &out), 0) << out;
  EXPECT_CONTAINS(out, "--no-prefix-cache");
  EXPECT_EQ(out.find("file=libtorch"), std::string::npos) << out;
}

TEST(Start, ModelCommandsRunInTheTorchSideBesideW2s) {
  ASSERT_TRUE(fs::exists(torch_side())) << torch_side();
  const fs::path model = w2s::test::assets_dir() / "models" / "hf" / "stories260K-llama";
  std::string out;
  ASSERT_EQ(run_logging_libraries(quoted(w2s::test::w2s_binary()) + " model info " + quoted(model), &out), 0) << out;
  EXPECT_CONTAINS(out, "\"model_type\": \"llama\"");
  EXPECT_CONTAINS(out, "file=libtorch");  // loaded, by w2s-torch
  EXPECT_CONTAINS(out, "w2s-torch");
  // Bad options of a model command are still a usage error (exit 2) naming the command.
  EXPECT_EQ(w2s::test::run_command(quoted(w2s::test::w2s_binary()) + " model info --no-such-flag", &out), 2) << out;
  EXPECT_CONTAINS(out, "w2s model");
}

TEST(Start, TheTorchSideStartsInTheTorchEnvironment) {
  std::string out;
  // Started by w2s: w2s sets the environment before it hands over, so w2s-torch starts once.
  ASSERT_EQ(run_logging_libraries(quoted(w2s::test::w2s_binary()) + " model info " +
                                      quoted(w2s::test::assets_dir() / "models" / "hf" / "stories260K-llama"),
                                  &out, "-u OMP_WAIT_POLICY -u GLIBC_TUNABLES"),
            0)
      << out;
  EXPECT_EQ(programs_started(out), 2) << out;  // w2s, then w2s-torch
  // Started directly without the environment: it sets it and executes itself again, once.
  ASSERT_EQ(run_logging_libraries(quoted(torch_side()) + " --version", &out, "-u OMP_WAIT_POLICY -u GLIBC_TUNABLES"), 0)
      << out;
  EXPECT_EQ(programs_started(out), 2) << out;
  // Only one of the two set: it still starts again, for the other.
  ASSERT_EQ(run_logging_libraries(quoted(torch_side()) + " --version", &out, "-u GLIBC_TUNABLES OMP_WAIT_POLICY=ACTIVE"),
            0)
      << out;
  EXPECT_EQ(programs_started(out), 2) << out;
  // Both set (the user's own values are kept): no second start.
  ASSERT_EQ(run_logging_libraries(quoted(torch_side()) + " --version", &out,
                                  "OMP_WAIT_POLICY=ACTIVE GLIBC_TUNABLES=glibc.malloc.tcache_count=7"),
            0)
      << out;
  EXPECT_EQ(programs_started(out), 1) << out;
}
