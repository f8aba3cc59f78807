// What a run checks and says, on tiny runs of the `w2s` binary (random-initialised models, an
// SST-2 subset, a few seconds each): short runs fit their schedule and warn about an untrained
// "best" checkpoint; a run name keeps one test set; every input is checked before training;
// relabelled students say what they trained on.
#include <gtest/gtest.h>

#include <algorithm>

#include <regex>

#include "assets.h"
#include "tiny_run.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;
using w2s::json::Value;

TEST(RunChecks, ShortRunsFitWarmupAndEvalAndWarnAboutAnUntrainedBestCheckpoint) {
  const auto results = w2s::test::scratch_dir("train_checks_short");
  std::string output;
  // A learning rate of 0 for the strong model: its stages never improve on step 0.
  ASSERT_EQ(run_w2s(with(tiny_args(results, "short"), {{"--strong-lr", "0"}, {"--loss", "logconf"}}), &output), 0)
      << output;
  EXPECT_CONTAINS(output, "floor: the run has only 4 optimizer steps: n_warmup_steps 40 -> 0, eval_every 25 -> 1");
  // The student's logconf weight ramps up over a warmup fitted the same way.
  EXPECT_CONTAINS(output, "logconf_warmup_steps 100 -> 0");
  const fs::path run_dir = results / "short" / "sst2";
  const auto floor = w2s::results::read_record(run_dir / "floor" / "record.json");
  // Issue 21.6: the record holds what the stage trained with; what was asked is in fitted_to_run.
  EXPECT_EQ(floor.config.get_int("optimizer_steps"), 4);
  EXPECT_EQ(floor.config.at("train_args").get_int("n_warmup_steps"), 0);
  EXPECT_EQ(floor.config.at("train_args").get_int("eval_every"), 1);
  EXPECT_EQ(floor.config.at("fitted_to_run").at(0).as_string(), "n_warmup_steps 40 -> 0");

  const auto student = w2s::results::read_record(run_dir / "w2s" / "record.json");
  EXPECT_EQ(student.config.at("loss").get_int("logconf_warmup_steps"), 0);

  const auto ceiling = w2s::results::read_record(run_dir / "ceiling" / "record.json");
  EXPECT_EQ(ceiling.extra.get_int("best_step"), 0);
  ASSERT_NE(ceiling.extra.find("warnings"), nullptr);
  EXPECT_CONTAINS(ceiling.extra.at("warnings").at(0).as_string(), "step 0, the untrained model");
  EXPECT_CONTAINS(output, "warning: ceiling: the best checkpoint by val_auroc is step 0");
  // The warning comes exactly with a step-0 choice (the floor may or may not learn in 4 steps).
  EXPECT_EQ(floor.extra.find("warnings") != nullptr, floor.extra.get_int("best_step") == 0);
}

// Issue 16.3: a rerun under the same run name with another test set is refused before anything is
// trained or overwritten.
TEST(RunChecks, ARunNameKeepsOneTestSet) {
  const auto results = w2s::test::scratch_dir("train_checks_test_set");
  std::string output;
  ASSERT_EQ(run_w2s(tiny_args(results, "same"), &output), 0) << output;
  const fs::path floor_record = results / "same" / "sst2" / "floor" / "record.json";
  const std::string before = w2s::read_file(floor_record);

  EXPECT_NE(run_w2s(with(tiny_args(results, "same"), {{"--n-test", "30"}}), &output), 0);
  EXPECT_CONTAINS(output, "run 'same' already holds records of another test set");
  EXPECT_CONTAINS(output, "40 test examples, now 30");
  EXPECT_CONTAINS(output, "Choose another --run-name");
  EXPECT_EQ(output.find(": training"), std::string::npos) << output;
  EXPECT_NE(run_w2s(with(tiny_args(results, "same"), {{"--data-seed", "1"}}), &output), 0);
  EXPECT_CONTAINS(output, "data seed 0, now 1");
  EXPECT_EQ(w2s::read_file(floor_record), before);

  // The same test set (another student loss) is a normal rerun.
  ASSERT_EQ(run_w2s(with(tiny_args(results, "same"), {{"--loss", "logconf"}}), &output), 0) << output;
  EXPECT_CONTAINS(output, "floor: stage cache hit");
}

// Issue 16.5: every input is checked before anything trains, and all problems come at once.
TEST(RunChecks, PreflightReportsEveryProblemBeforeTraining) {
  const auto scratch = w2s::test::scratch_dir("train_checks_preflight");
  // A weak model directory without its tokenizer, a strong model that does not exist, and a results
  // folder that cannot be created (its parent is a file: a read-only folder would not stop root).
  const fs::path weak = scratch / "weak-model";
  fs::create_directories(weak);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(w2s::test::assets_dir() / "models/hf/stories260K-llama" / f, weak / f);
  w2s::test::write_text(scratch / "not-a-folder", "a file\n");
  const fs::path results = scratch / "not-a-folder" / "results";
  std::string output;
  EXPECT_NE(run_w2s(tiny_args(results, "checks", weak.string(), (scratch / "no-such-model").string()), &output), 0);
  EXPECT_CONTAINS(output, "cannot start the run, 4 problems");
  EXPECT_CONTAINS(output, (weak / "tokenizer.json").string() + " is missing");
  EXPECT_CONTAINS(output, "no-such-model': no such model directory");
  EXPECT_CONTAINS(output, "results: " + (results / "checks").string() + " cannot be created");
  EXPECT_CONTAINS(output, "results: " + (results / "shared").string() + " cannot be created");
  EXPECT_EQ(output.find(": training"), std::string::npos) << output;
}

// Issue 16.10: after --probe-relabel the labels are the probe's, not "weak", and the method says
// what was done.
TEST(RunChecks, ProbeRelabelledStudentsSayWhatTheyTrainedOn) {
  const auto results = w2s::test::scratch_dir("train_checks_relabel");
  std::string output;
  ASSERT_EQ(run_w2s(with(tiny_args(results, "any-name"), {{"--probe-relabel", ""}, {"--k", "5"}}), &output), 0) << output;
  const auto w2s_record = w2s::results::read_record(results / "any-name" / "sst2" / "w2s" / "record.json");
  EXPECT_EQ(w2s_record.label_source.kind, "probe");
  EXPECT_EQ(w2s_record.extra.get_string("method"), "xent+knn-relabel");
  EXPECT_CONTAINS(output, "w2s: training");
  EXPECT_CONTAINS(output, "(probe labels)");
  EXPECT_EQ(output.find("(weak labels)"), std::string::npos) << output;
  const auto floor = w2s::results::read_record(results / "any-name" / "sst2" / "floor" / "record.json");
  EXPECT_EQ(floor.extra.find("method"), nullptr);  // floor and ceiling are no method
}

}  // namespace

// Issue 21.6: every recorded training argument is the one the trainer used (the trainer writes
// what it was handed as the first line of its log), the learning rate is the stage's, and the
// record says where it ran.
TEST(RunChecks, RecordedTrainingArgumentsAreTheOnesTheTrainerUsed) {
  const auto results = w2s::test::scratch_dir("train_checks_effective");
  std::string output;
  ASSERT_EQ(run_w2s(with(tiny_args(results, "effective"), {{"--weak-lr", "0.003"}, {"--strong-lr", "0.0007"}}), &output), 0)
      << output;
  for (const auto& [stage, lr] : {std::pair{"floor", 0.003}, std::pair{"ceiling", 0.0007}, std::pair{"w2s", 0.0007}}) {
    const fs::path dir = results / "effective" / "sst2" / stage;
    const auto record = w2s::results::read_record(dir / "record.json");
    ASSERT_TRUE(fs::exists(dir / "log.jsonl")) << stage;
    const std::string log = w2s::read_file(dir / "log.jsonl");
    const Value used = w2s::json::parse(log.substr(0, log.find('\n')), "log.jsonl");
    ASSERT_EQ(used.get_string("event"), "train_args") << stage;
    const Value& recorded = record.config.at("train_args");
    ASSERT_EQ(recorded.as_object().size(), used.at("train_args").as_object().size()) << stage;
    for (const auto& [name, value] : used.at("train_args").as_object())
      EXPECT_EQ(w2s::json::dump(recorded.at(name)), w2s::json::dump(value)) << stage << " train_args." << name;
    for (const auto& [name, value] : used.at("loss").as_object())
      EXPECT_EQ(w2s::json::dump(record.config.at("loss").at(name)), w2s::json::dump(value)) << stage << " loss." << name;
    EXPECT_DOUBLE_EQ(recorded.get_double("lr"), lr) << stage;
    EXPECT_EQ(record.config.get_int("optimizer_steps"), used.get_int("optimizer_steps")) << stage;
    const Value& env = record.extra.at("environment");
    EXPECT_EQ(env.get_int("threads"), 1) << stage;
    EXPECT_EQ(env.get_string("device"), "cpu");
    EXPECT_EQ(env.get_string("dtype"), "float32");
    EXPECT_FALSE(env.get_string("cpu_model").empty());
    EXPECT_TRUE(std::regex_match(env.get_string("libtorch_version"), std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")));
    EXPECT_EQ(env.get_string("w2s_version"), w2s::tool_version());
    EXPECT_EQ(env.get_string("w2s_commit"), w2s::tool_git_commit());
  }
}

// Issue 22: a learning rate that makes the loss NaN stopped nothing (and a NaN score then hung the
// AUROC). Training stops at the first non-finite loss, gradient or output, fast, with the step and
// the flag to lower; the stage leaves diverged.json and no record, and the later stages never run.
namespace {
TEST(RunChecks, ADivergedStageStopsTheRunAtOnceAndIsRecordedAsDiverged) {
  const auto results = w2s::test::scratch_dir("train_checks_diverged");
  std::string output;
  const double started = w2s::monotonic_seconds();
  EXPECT_EQ(run_w2s(with(tiny_args(results, "diverged"), {{"--weak-lr", "1e30"}}), &output), 1) << output;
  EXPECT_LT(w2s::monotonic_seconds() - started, 120.0) << output;
  EXPECT_CONTAINS(output, "floor: training diverged ");
  EXPECT_CONTAINS(output, "lower --weak-lr");
  const fs::path floor = results / "diverged" / "sst2" / "floor";
  ASSERT_TRUE(fs::exists(floor / "diverged.json")) << output;
  const Value v = w2s::json::parse_file(floor / "diverged.json");
  EXPECT_EQ(v.at("status").as_string(), "diverged");
  EXPECT_EQ(v.at("stage").as_string(), "floor");
  EXPECT_GE(v.at("step").as_int(), 1);
  EXPECT_LE(v.at("step").as_int(), 4);
  EXPECT_GT(v.at("learning_rate").as_double(), 1e29);  // 1e30 on its cosine schedule
  EXPECT_CONTAINS(v.at("message").as_string(), "training diverged");
  EXPECT_FALSE(fs::exists(floor / "record.json"));
  EXPECT_FALSE(fs::exists(results / "diverged" / "sst2" / "ceiling"));
}
}  // namespace
