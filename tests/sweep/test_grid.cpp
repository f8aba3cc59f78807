// The grid file, its expansion into shared stages and students, the plan text and the jobs file
// (no training).
#include <gtest/gtest.h>

#include "assets.h"
#include "w2s/sweep.h"

namespace {

namespace fs = std::filesystem;
using w2s::sweep::Array;

const char* kWeak = "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1";
const char* kStrong = "random:hidden=16,layers=1,heads=2,kv_heads=2,tokenizer=words,vocab=512,seed=2";

fs::path grid_file(const std::string& test, const std::string& text) {
  const fs::path path = w2s::test::scratch_dir(test) / "study.ini";
  w2s::test::write_text(path, text);
  return path;
}

TEST(SweepGrid, ReadsFixedOptionsAndListsAndExpandsTheProduct) {
  const auto path = grid_file("sweep_grid_product", std::string("# a study\npreset = demo\nn_epochs = 1\n") +
                                                        "weight-decay = 0.05\n\n[grid]\n"
                                                        "dataset = sst2 | boolq\n"
                                                        "loss = xent | logconf\n"
                                                        "seed = 1 | 2\n"
                                                        "probe_method = none | knn-filter\n");
  const auto grid = w2s::sweep::read_grid(path);
  EXPECT_EQ(grid.name, "study");
  ASSERT_EQ(grid.axes.size(), 4u);
  EXPECT_EQ(grid.axes[1].option, "loss");
  EXPECT_EQ(grid.axes[3].option, "probe-method");
  const auto base = w2s::sweep::base_options(grid);
  EXPECT_EQ(base.trainer.n_epochs, 1.0);
  EXPECT_EQ(base.trainer.weight_decay, 0.05);
  EXPECT_EQ(base.data.name, "sst2-demo");  // from the preset

  const auto plan = w2s::sweep::expand(grid, base);
  ASSERT_EQ(plan.students.size(), 16u);
  // Per dataset and seed one floor and one ceiling; the loss and the probe do not enter them.
  EXPECT_EQ(plan.shared.size(), 8u);
  EXPECT_EQ(plan.folder, base.results_dir / "sweeps" / "study");
  const auto& first = plan.students[0];
  EXPECT_EQ(first.options.data.name, "sst2");
  EXPECT_EQ(first.options.loss.kind, w2s::train::Loss::Xent);
  EXPECT_EQ(first.options.trainer.seed, 1);
  EXPECT_FALSE(first.options.probe.active());
  EXPECT_EQ(first.options.run_name, "study-loss=xent-seed=1-probe-method=none");  // not the dataset
  const auto& last = plan.students.back();
  EXPECT_EQ(last.options.data.name, "boolq");
  EXPECT_EQ(last.options.loss.kind, w2s::train::Loss::Logconf);
  EXPECT_EQ(last.options.trainer.seed, 2);
  EXPECT_TRUE(last.options.probe.filter);
  EXPECT_EQ(last.options.probe.kind, w2s::train::Probe::Knn);
  // The four students of one dataset and seed (both losses, both probe methods) share their floor
  // and ceiling; the last axis turns fastest.
  EXPECT_EQ(plan.students[0].needs, plan.students[1].needs);  // knn-filter
  EXPECT_EQ(plan.students[0].needs, plan.students[4].needs);  // logconf
  EXPECT_NE(plan.students[0].needs, plan.students[2].needs);  // seed 2
  EXPECT_EQ(plan.shared[first.needs[0]].stage, w2s::train::SharedStage::Floor);
  EXPECT_EQ(plan.shared[first.needs[1]].stage, w2s::train::SharedStage::Ceiling);

  const std::string text = w2s::sweep::format_plan(plan);
  EXPECT_CONTAINS(text, "sweep study: 8 shared stages, 16 student runs");
  EXPECT_CONTAINS(text, "floor-0     floor of random:hidden=8");
  EXPECT_CONTAINS(text, "on sst2, seed 1");
  EXPECT_CONTAINS(text, "the probes' strong-model activations: computed by the first student that needs them");
  EXPECT_CONTAINS(text, "[dataset=boolq loss=logconf seed=2 probe-method=knn-filter]  needs floor-");
}

TEST(SweepGrid, ModelPairsShareTheFloorOfTheirWeakModel) {
  w2s::sweep::Grid grid;
  grid.name = "pairs";
  w2s::sweep::add_axis(grid, std::string("models=") + kWeak + " -> " + kStrong + " | " + kWeak + " -> " + kWeak);
  const auto plan = w2s::sweep::expand(grid, w2s::train::PipelineOptions{});
  ASSERT_EQ(plan.students.size(), 2u);
  EXPECT_EQ(plan.students[1].options.strong_model, kWeak);
  EXPECT_EQ(plan.students[0].options.run_name, "pairs-pair1");
  EXPECT_EQ(plan.students[1].options.run_name, "pairs-pair2");
  ASSERT_EQ(plan.shared.size(), 3u);  // one floor, two ceilings
  EXPECT_EQ(plan.students[0].needs[0], plan.students[1].needs[0]);
  EXPECT_NE(plan.students[0].needs[1], plan.students[1].needs[1]);
}

// In-context weak labels as a grid variable: each run records its file; floor and ceiling are
// trained once for both (they do not read the labels).
TEST(SweepGrid, WeakLabelsFromIsARunVariableThatSharesTheFloor) {
  w2s::sweep::Grid grid;
  grid.name = "labels";
  w2s::sweep::add_axis(grid, "weak_labels_from=icl/a.json | icl/b.json");
  w2s::train::PipelineOptions base;
  base.weak_model = kWeak;
  base.strong_model = kStrong;
  const auto plan = w2s::sweep::expand(grid, base);
  ASSERT_EQ(plan.students.size(), 2u);
  EXPECT_EQ(plan.students[0].options.weak_labels_from, fs::path("icl/a.json"));
  EXPECT_EQ(plan.students[1].options.weak_labels_from, fs::path("icl/b.json"));
  EXPECT_NE(plan.students[0].options.run_name, plan.students[1].options.run_name);
  EXPECT_EQ(plan.shared.size(), 2u);  // one floor, one ceiling
  EXPECT_EQ(plan.students[0].needs, plan.students[1].needs);
  // Each run's recorded config names its labels.
  EXPECT_EQ(w2s::options::record(plan.students[1].options).get_string("weak_labels_from"), "icl/b.json");
}

TEST(SweepGrid, ErrorsNameTheFileAndLine) {
  auto error = [](const std::string& test, const std::string& text) {
    const auto path = grid_file(test, text);
    return w2s::test::error_of([&] { w2s::sweep::read_grid(path); });
  };
  EXPECT_CONTAINS(error("sweep_grid_e1", "n_epochs = 1\nno_such_option = 3\n"),
                  "study.ini:2: unknown option 'no-such-option'");
  EXPECT_CONTAINS(error("sweep_grid_e2", "[grid]\nloss = xent | hinge\n"), "study.ini:2: loss: unknown loss 'hinge'");
  EXPECT_CONTAINS(error("sweep_grid_e3", "[grid]\nloss = xent ||\n"), "study.ini:2: loss: an empty value");
  EXPECT_CONTAINS(error("sweep_grid_e4", "[grid]\nrun_name = a | b\n"), "study.ini:2: run-name: the sweep names");
  EXPECT_CONTAINS(error("sweep_grid_e5", "[other]\n"), "study.ini:1: unknown section [other]");
  EXPECT_CONTAINS(error("sweep_grid_e6", "[grid]\nmodels = a\n"), "study.ini:2: models: expected 'WEAK -> STRONG'");
  EXPECT_CONTAINS(error("sweep_grid_e7", "n_epochs\n"), "study.ini:1: expected 'key = value'");
  EXPECT_CONTAINS(error("sweep_grid_e8", "[grid]\nprobe_method = topo-sort\n"), "study.ini:2: probe-method: expected none");
  // A combination that `w2s train` refuses names the job and its settings.
  w2s::sweep::Grid grid;
  grid.name = "bad";
  w2s::sweep::add_axis(grid, "batch-size=32|10");
  w2s::train::PipelineOptions base;
  base.trainer.minibatch_size = 4;
  EXPECT_CONTAINS(w2s::test::error_of([&] { w2s::sweep::expand(grid, base); }),
                  "job w2s-1 (batch-size=10): --batch-size (10) must be a positive multiple");
}

// Issue 22: five lines of ten values each make 10^5 runs, which were built one by one (a few more
// lines and memory runs out). The product is refused first, however large.
TEST(SweepGrid, AGridOfTooManyRunsIsRefusedBeforeAnyJobIsBuilt) {
  std::string text = "[grid]\n";
  for (const char* key : {"seed", "n_epochs", "weight_decay", "n_warmup_steps", "eval_every"}) {
    text += std::string(key) + " = ";
    for (int v = 1; v <= 10; ++v) text += (v > 1 ? " | " : "") + std::to_string(v);
    text += "\n";
  }
  const auto grid = w2s::sweep::read_grid(grid_file("sweep_grid_too_many", text));
  EXPECT_CONTAINS(w2s::test::error_of([&] { w2s::sweep::expand(grid, w2s::sweep::base_options(grid)); }),
                  "grid study: 10 seed x 10 n-epochs x 10 weight-decay x 10 n-warmup-steps x 10 eval-every values "
                  "make more than 10000 runs");
  // Four of them (10^4 runs) are a sweep.
  w2s::sweep::Grid four = grid;
  four.axes.pop_back();
  EXPECT_EQ(w2s::sweep::expand(four, w2s::sweep::base_options(four)).students.size(), 10000u);
}

// The jobs file holds every option of every job, so that a worker runs what was planned.
TEST(SweepGrid, JobsFileRoundTripsEveryOption) {
  const fs::path results = w2s::test::scratch_dir("sweep_grid_jobs");
  w2s::sweep::Grid grid;
  grid.name = "jobs";
  grid.fixed = {{"results-dir", results.string()}, {"max-grad-norm", "0.5"}, {"knn-metric", "cosine"}, {"probe-layer", "1"}};
  w2s::sweep::add_axis(grid, "strong-lr=0.001|3e-05");
  const auto plan = w2s::sweep::expand(grid, w2s::sweep::base_options(grid));
  const fs::path file = w2s::sweep::write_jobs_file(plan);
  EXPECT_EQ(file, results / "sweeps" / "jobs" / "jobs.json");
  const auto doc = w2s::json::parse_file(file);
  ASSERT_EQ(doc.at("students").size(), 2u);
  const auto& options = doc.at("students").at(1).at("options");
  EXPECT_EQ(options.get_string("strong-lr"), "3e-05");
  EXPECT_EQ(options.get_string("run-name"), "jobs-strong-lr=3e-05");
  EXPECT_EQ(options.get_string("max-grad-norm"), "0.5");
  EXPECT_EQ(options.get_string("knn-metric"), "cosine");
  EXPECT_EQ(options.get_string("probe-layer"), "1");
  EXPECT_EQ(doc.at("shared").at(0).get_string("stage"), "floor");
  // Reading the flags back gives the planned options (the record and the key alike).
  w2s::train::PipelineOptions back;
  for (const auto& [name, text] : options.as_object()) w2s::sweep::apply_setting(back, {name, text.as_string()});
  EXPECT_EQ(w2s::options::record(back), w2s::options::record(plan.students[1].options));
  EXPECT_EQ(w2s::options::key(back), w2s::options::key(plan.students[1].options));
  EXPECT_EQ(back.results_dir, results);
  EXPECT_CONTAINS(w2s::test::error_of([&] { w2s::sweep::run_job(file, Array::Students, 2); }), "no students job 2 (there are 2)");
}

TEST(SweepGrid, SlurmScriptsRunOneJobPerArrayTask) {
  w2s::sweep::Grid grid;
  grid.name = "arr";
  w2s::sweep::add_axis(grid, "loss=xent|logconf|kl");
  w2s::train::PipelineOptions base;
  base.results_dir = "/shared/results";
  const auto plan = w2s::sweep::expand(grid, base);
  w2s::sweep::SlurmOptions o;
  o.w2s_binary = "/opt/w2s/bin/w2s";
  o.max_parallel = 2;
  o.partition = "gpu";
  o.gres = "gpu:1";
  o.time = "04:00:00";
  o.mem = "64G";
  const std::string students = w2s::sweep::slurm_script(plan, "/shared/results/sweeps/arr/jobs.json", Array::Students, o);
  EXPECT_CONTAINS(students, "#SBATCH --array=0-2%2\n");
  EXPECT_CONTAINS(students, "#SBATCH --partition=gpu\n#SBATCH --gres=gpu:1\n#SBATCH --time=04:00:00\n#SBATCH --mem=64G\n");
  EXPECT_CONTAINS(students, "#SBATCH --output=/shared/results/sweeps/arr/logs/students-%a.log\n");
  EXPECT_CONTAINS(students, "exec '/opt/w2s/bin/w2s' sweep --jobs '/shared/results/sweeps/arr/jobs.json' --array students "
                            "--array-index \"$SLURM_ARRAY_TASK_ID\"\n");
  w2s::sweep::SlurmOptions students_options;
  students_options.w2s_binary = "/w2s";
  const std::string shared = w2s::sweep::slurm_script(plan, "/j.json", Array::Shared, students_options);
  EXPECT_CONTAINS(shared, "#SBATCH --array=0-1\n");  // one floor, one ceiling
  EXPECT_EQ(shared.find("--partition"), std::string::npos);
}

}  // namespace
