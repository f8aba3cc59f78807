// End to end on CPU: `w2s train` with stories260K-llama (pretrained, LoRA) as the weak model and
// a larger random-initialised Llama with the same tokenizer as the strong one, on an SST-2
// subset. Checks that every stage completes and writes valid records, that a run killed after
// the floor stage resumes (floor reused, ceiling continued from its checkpoint), and that a
// second run with another student loss reuses floor, ceiling and the weak labels.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "assets.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;
using w2s::json::Value;

std::vector<std::string> train_args(const fs::path& results, const std::string& run, const std::string& loss) {
  const auto assets = w2s::test::assets_dir();
  const auto stories = (assets / "models/hf/stories260K-llama").string();
  return {"train",
          "--weak-model-name", stories,
          "--strong-model-name", "random:hidden=128,layers=4,heads=8,kv_heads=4,seed=7,tokenizer=" + stories,
          "--dataset", "sst2", "--data-dir", (assets / "data").string(),
          "--n-train", "200", "--n-val", "50", "--n-test", "100", "--max-length", "64",
          "--n-epochs", "4", "--minibatch-size", "8", "--batch-size", "16",
          "--n-warmup-steps", "5", "--eval-every", "5", "--save-every", "5",
          "--weak-lr", "5e-3", "--strong-lr", "2e-3", "--logconf-warmup-steps", "10",
          "--loss", loss, "--s2s-iters", "1", "--threads", "1",
          "--results-dir", results.string(), "--run-name", run};
}

std::string shell_command(const std::vector<std::string>& args) {
  std::string cmd = w2s::test::w2s_binary().string();
  for (const auto& a : args) cmd += " '" + a + "'";
  return cmd;
}

// The stage folders of one stage name ("floor" → stages/floor-<key>).
std::vector<fs::path> stage_dirs(const fs::path& results, const std::string& stage) {
  std::vector<fs::path> out;
  const fs::path root = results / "shared" / "sst2" / "stages";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (e.path().filename().string().rfind(stage + "-", 0) == 0) out.push_back(e.path());
  return out;
}

bool any_has(const std::vector<fs::path>& dirs, const std::string& file) {
  for (const auto& d : dirs)
    if (fs::exists(d / file)) return true;
  return false;
}

TEST(PipelineEndToEnd, KillResumeCacheAndRecords) {
  const auto results = w2s::test::scratch_dir("train_e2e");
  w2s::test::assets_dir();
  ASSERT_FALSE(HasFailure()) << "no test assets";

  // 1. Start a run and SIGKILL it once the floor stage is finished and the ceiling stage has
  //    written a checkpoint.
  const auto args = train_args(results, "first", "logconf");
  std::vector<char*> argv;
  const std::string binary = w2s::test::w2s_binary().string();
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  bool killed = false;
  int status = 0;
  for (int i = 0; i < 6000; ++i) {  // up to 5 minutes
    if (any_has(stage_dirs(results, "floor"), "stage.json") && any_has(stage_dirs(results, "ceiling"), "checkpoint.json")) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (waitpid(pid, &status, WNOHANG) == pid) break;  // exited early: the assertions below say why
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (killed) waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "the run ended before the ceiling stage checkpointed (status " << status << ")";
  ASSERT_FALSE(any_has(stage_dirs(results, "ceiling"), "stage.json"));

  // 2. Rerun: the floor is a cache hit, the ceiling resumes from its checkpoint, all stages finish.
  std::string output;
  ASSERT_EQ(w2s::test::run_command(shell_command(args), &output), 0) << output;
  EXPECT_NE(output.find("floor: stage cache hit"), std::string::npos) << output;
  EXPECT_EQ(output.find("floor: training"), std::string::npos) << output;
  const auto ceiling = stage_dirs(results, "ceiling");
  ASSERT_EQ(ceiling.size(), 1u);
  EXPECT_NE(w2s::read_file(ceiling[0] / "log.jsonl").find("\"event\":\"resume\""), std::string::npos);
  EXPECT_FALSE(fs::exists(ceiling[0] / "checkpoint.json"));  // cleaned up once finished

  const fs::path run_dir = results / "first" / "sst2";
  for (const std::string stage : {"floor", "ceiling", "w2s", "s2s-1"}) {
    SCOPED_TRACE(stage);
    const Value doc = w2s::json::parse_file(run_dir / stage / "record.json");
    EXPECT_TRUE(w2s::results::validate(doc).empty());
    const auto record = w2s::results::read_record(run_dir / stage / "record.json");
    EXPECT_EQ(record.stage.value_or(""), stage);
    EXPECT_EQ(record.run, "first");
    EXPECT_EQ(record.predictions.size(), 100u);
    ASSERT_TRUE(record.metrics.auroc.has_value());
    EXPECT_GE(*record.metrics.auroc, 0.0);
    EXPECT_LE(*record.metrics.auroc, 1.0);
    EXPECT_TRUE(record.metrics.extra.contains("ce_gold"));

    const Value res = w2s::json::parse_file(run_dir / stage / "results.json");
    for (const char* field : {"eval_loss", "eval_accuracy", "eval_auroc", "eval_runtime", "eval_samples_per_second",
                              "eval_steps_per_second", "epoch"})
      EXPECT_TRUE(res.contains(field)) << field;
    EXPECT_EQ(res.at("split_sizes").at("test").as_int(), 100);
  }
  const auto floor = w2s::results::read_record(run_dir / "floor" / "record.json");
  const auto student = w2s::results::read_record(run_dir / "w2s" / "record.json");
  const auto s2s = w2s::results::read_record(run_dir / "s2s-1" / "record.json");
  EXPECT_EQ(floor.kind, w2s::results::Kind::TrainFloor);
  EXPECT_EQ(student.kind, w2s::results::Kind::TrainW2S);
  EXPECT_EQ(student.label_source.kind, "weak");
  EXPECT_EQ(s2s.label_source.kind, "student");
  EXPECT_EQ(floor.dataset.split_sizes.at("train"), 100);  // the weak half of 200

  // The student trained on the floor's soft predictions of the strong half: label_used in its
  // predictions.jsonl equals the floor's soft_pred for the same example.
  std::map<std::string, double> weak_labels;
  {
    std::ifstream in(run_dir / "floor" / "predictions.jsonl");
    for (std::string line; std::getline(in, line);) {
      const Value v = w2s::json::parse(line);
      if (v.get_string("split") == "strong_half") weak_labels[v.get_string("id")] = v.get_double("soft_pred");
    }
  }
  ASSERT_EQ(weak_labels.size(), 100u);
  std::size_t checked = 0;
  std::ifstream in(run_dir / "w2s" / "predictions.jsonl");
  for (std::string line; std::getline(in, line);) {
    const Value v = w2s::json::parse(line);
    if (v.get_string("split") != "strong_half") continue;
    EXPECT_DOUBLE_EQ(v.get_double("label_used"), weak_labels.at(v.get_string("id")));
    ++checked;
  }
  EXPECT_EQ(checked, 100u);

  // 3. Another student loss under another run name: floor, ceiling and weak labels come from the
  //    cache; only the students train.
  //    The students also filter their labels with a kNN probe on strong-model activations.
  //    The first run left --device and --dtype at auto; this one names what auto resolved to,
  //    which the cache keys hold, so the stages are still shared.
  const Value first_config = w2s::json::parse_file(run_dir / "config.json");
  EXPECT_TRUE(first_config.get_string("device") == "cpu" || first_config.get_string("device") == "cuda:0");
  EXPECT_TRUE(first_config.get_string("dtype") == "float32" || first_config.get_string("dtype") == "bfloat16");
  auto second = train_args(results, "second", "xent");
  for (const std::string a : {"--probe-filter", "--probe", "knn", "--k", "10"}) second.push_back(a);
  for (const char* option : {"device", "dtype"}) {
    second.push_back(std::string("--") + option);
    second.push_back(first_config.get_string(option));
  }
  ASSERT_EQ(w2s::test::run_command(shell_command(second), &output), 0) << output;
  EXPECT_NE(output.find("floor: stage cache hit"), std::string::npos) << output;
  EXPECT_NE(output.find("ceiling: stage cache hit"), std::string::npos) << output;
  EXPECT_NE(output.find("w2s: training"), std::string::npos) << output;
  EXPECT_EQ(stage_dirs(results, "w2s").size(), 2u);
  EXPECT_EQ(stage_dirs(results, "floor").size(), 1u);
  EXPECT_EQ(w2s::results::read_record(results / "second" / "sst2" / "floor" / "record.json").run, "second");
  for (const auto& dir : stage_dirs(results, "w2s")) {
    if (!fs::exists(dir / "train_filter_sizes.json")) continue;  // the first run's student
    const Value sizes = w2s::json::parse_file(dir / "train_filter_sizes.json");
    EXPECT_EQ(sizes.at("before").as_int(), 100);
    EXPECT_EQ(sizes.at("removed").as_int(), 10);  // int(0.1 · 100)
    EXPECT_TRUE(fs::exists(dir / "test_probe_metrics.json"));
    EXPECT_EQ(w2s::results::read_record(results / "second" / "sst2" / "w2s" / "record.json").dataset.split_sizes.at("train"),
              90);
  }
  EXPECT_NE(output.find("probe knn: 90 train and 45 val examples kept"), std::string::npos) << output;
  // The stage table on stdout marks the reused stages.
  EXPECT_NE(output.find("ceiling"), std::string::npos);
}

// Two runs started together on one results folder train each stage once: whichever comes second
// to a stage waits for the other (a lock in the stage folder) and then reuses it.
TEST(PipelineEndToEnd, ConcurrentRunsTrainEachStageOnce) {
  const auto results = w2s::test::scratch_dir("train_e2e_concurrent");
  const auto data_dir = (w2s::test::assets_dir() / "data").string();
  auto args = [&](const std::string& run) {
    return std::vector<std::string>{
        "train",
        "--weak-model-name", "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1",
        "--strong-model-name", "random:hidden=16,layers=1,heads=2,kv_heads=2,tokenizer=words,vocab=512,seed=2",
        "--dataset", "sst2", "--data-dir", data_dir, "--n-train", "200", "--n-val", "40", "--n-test", "60",
        "--n-epochs", "2", "--minibatch-size", "4", "--batch-size", "4", "--eval-every", "10", "--loss", "xent",
        "--threads", "1", "--no-progress", "--results-dir", results.string(), "--run-name", run};
  };
  std::string out_a, out_b;
  int rc_a = -1, rc_b = -1;
  std::thread a([&] { rc_a = w2s::test::run_command(shell_command(args("a")), &out_a); });
  std::thread b([&] { rc_b = w2s::test::run_command(shell_command(args("b")), &out_b); });
  a.join();
  b.join();
  ASSERT_EQ(rc_a, 0) << out_a;
  ASSERT_EQ(rc_b, 0) << out_b;
  const std::string both = out_a + out_b;
  for (const std::string stage : {"floor", "ceiling", "w2s"}) {
    SCOPED_TRACE(stage);
    std::size_t trained = 0;
    for (std::size_t at = both.find(stage + ": training "); at != std::string::npos; at = both.find(stage + ": training ", at + 1))
      ++trained;
    EXPECT_EQ(trained, 1u) << both;
    EXPECT_EQ(stage_dirs(results, stage).size(), 1u);
    EXPECT_TRUE(fs::exists(results / "a" / "sst2" / stage / "record.json"));
    EXPECT_TRUE(fs::exists(results / "b" / "sst2" / stage / "record.json"));
  }
}

TEST(PipelineEndToEnd, RejectsBadOptionsBeforeLoadingAnything) {
  std::string output;
  const auto cmd = w2s::test::w2s_binary().string() + " train --loss hinge --results-dir " +
                   w2s::test::scratch_dir("train_e2e_bad").string();
  EXPECT_NE(w2s::test::run_command(cmd, &output), 0);
  EXPECT_NE(output.find("unknown loss 'hinge'"), std::string::npos) << output;
  EXPECT_NE(w2s::test::run_command(w2s::test::w2s_binary().string() + " train --batch-size 10 --minibatch-size 4", &output), 0);
  EXPECT_NE(output.find("multiple of --minibatch-size"), std::string::npos) << output;
  EXPECT_NE(w2s::test::run_command(w2s::test::w2s_binary().string() + " train --probe-filter --probe-relabel", &output), 0);
  EXPECT_NE(output.find("cannot be combined"), std::string::npos) << output;
}

}  // namespace
