// `w2s sweep`: a grid of `w2s train` runs, planned (--plan), run on a local pool (--workers,
// --gpus) or submitted as Slurm job arrays (--slurm); `--jobs F --array A --array-index I` is what
// each worker and Slurm task runs. Parsing only: the logic is lib/sweep.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli.h"
#include "options_binding.h"
#include "w2s/sweep.h"

namespace {

namespace po = w2s::cli::po;
namespace fs = std::filesystem;

// This executable, for the children and the Slurm tasks to run.
fs::path self_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw w2s::Error("cannot find the w2s executable (/proc/self/exe): " + ec.message());
  return p;
}

template <class T>
std::optional<T> optional_value(const po::variables_map& vm, const char* name) {
  if (!vm.count(name)) return std::nullopt;
  return vm[name].as<T>();
}

}  // namespace

int w2s::cli::run_sweep(int argc, char** argv) {
  using w2s::train::PipelineOptions;
  po::options_description options("Sweep options");
  options.add_options()
      ("grid-file", po::value<std::string>()->value_name("FILE"),
       "grid file: `w2s train` options for every run, and a [grid] section of option = v1 | v2 | ... lists "
       "(docs/training.md, \"Sweeps\")")
      ("grid", po::value<std::vector<std::string>>()->composing()->value_name("OPTION=V1|V2"),
       "one more list of the grid (repeatable), e.g. --grid 'loss=xent|logconf'")
      ("preset", po::value<std::string>(), "start every run from a named option set (reference, demo)")
      ("plan", po::bool_switch(), "print the shared stages and the runs, and exit")
      ("workers", po::value<std::int64_t>()->default_value(1), "CPU workers of the local pool")
      ("gpus", po::value<std::string>()->value_name("IDS"),
       "one worker per GPU (comma-separated ids; CUDA_VISIBLE_DEVICES of each worker)")
      ("slurm", po::bool_switch(), "submit two Slurm job arrays (shared stages, then students) instead")
      ("partition", po::value<std::string>(), "Slurm: --partition")
      ("gres", po::value<std::string>(), "Slurm: --gres (e.g. gpu:1)")
      ("time", po::value<std::string>()->value_name("LIMIT"),
       fmt::format("each job's time limit, in Slurm's --time format (90, 4:00:00, 2-00:00:00, UNLIMITED): Slurm's "
                   "--time of each task, and the local pool ends a job that runs longer (SIGTERM, SIGKILL {:g} s "
                   "later; no retry)",
                   w2s::sweep::PoolOptions{}.stop_grace_seconds)
           .c_str())
      ("mem", po::value<std::string>(), "Slurm: --mem of each task")
      ("cpus-per-task", po::value<std::int64_t>(), "Slurm: --cpus-per-task")
      ("max-parallel", po::value<std::int64_t>(), "Slurm: tasks of an array running at once (--array=0-N%P)")
      ("sbatch", po::value<std::string>()->default_value("sbatch"), "Slurm: the sbatch executable")
      ("no-progress", po::bool_switch(), "no progress lines (the pool's, and in each run)")
      ("jobs", po::value<std::string>()->value_name("FILE"),
       "run one job of a sweep's jobs.json (what each worker and Slurm task does); with --array and --array-index")
      ("array", po::value<std::string>(), "shared or students")
      ("array-index", po::value<std::int64_t>(), "the job's index in its array ($SLURM_ARRAY_TASK_ID)");
  po::options_description train_options("`w2s train` options, for every run (the grid's lists override them)");
  const w2s::cli::OptionsBinding<PipelineOptions> flags(
      train_options, option_fields(static_cast<const PipelineOptions*>(nullptr)), PipelineOptions{},
      [](const std::string& flag) { return flag != "run-name" && flag != "no-progress"; });
  options.add(train_options);
  po::positional_options_description positional;
  positional.add("grid-file", 1);
  auto vm = w2s::cli::parse(argc, argv,
                            "w2s sweep <grid file> [--grid OPTION=V1|V2 ...] [--plan | --workers N | --gpus 0,1 | "
                            "--slurm] [options]",
                            options, positional);
  if (!vm) return 0;

  if (vm->count("jobs")) {  // one job, in this process
    if (!vm->count("array") || !vm->count("array-index")) throw po::error("--jobs needs --array and --array-index");
    const auto index = (*vm)["array-index"].as<std::int64_t>();
    if (index < 0) throw po::error("--array-index must be >= 0");
    const auto summary = w2s::sweep::run_job((*vm)["jobs"].as<std::string>(),
                                             w2s::sweep::parse_array((*vm)["array"].as<std::string>()),
                                             static_cast<std::size_t>(index));
    std::cout << w2s::train::format_summary(summary);
    return 0;
  }

  w2s::sweep::Grid grid;
  if (vm->count("grid-file")) grid = w2s::sweep::read_grid((*vm)["grid-file"].as<std::string>());
  else if (vm->count("grid")) grid.name = "sweep";
  else throw po::error("give a grid file, or lists with --grid");
  if (vm->count("grid"))
    for (const auto& assignment : (*vm)["grid"].as<std::vector<std::string>>()) w2s::sweep::add_axis(grid, assignment);
  if (vm->count("preset")) grid.preset = (*vm)["preset"].as<std::string>();
  PipelineOptions base = w2s::sweep::base_options(grid);
  flags.apply(*vm, base);
  const bool progress = !(*vm)["no-progress"].as<bool>();
  if (!progress) base.progress = false;
  // Unless --threads (or the grid) says otherwise, the CPU workers of one machine share its cores,
  // and a Slurm task uses the CPUs it asked for (threads is in no stage key).
  const bool slurm = (*vm)["slurm"].as<bool>();
  if (base.run.threads == 0 && slurm && vm->count("cpus-per-task"))
    base.run.threads = static_cast<int>((*vm)["cpus-per-task"].as<std::int64_t>());
  if (base.run.threads == 0 && !slurm && !vm->count("gpus"))
    base.run.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency() /
                                                    std::max<std::int64_t>(1, (*vm)["workers"].as<std::int64_t>())));
  const w2s::sweep::Plan plan = w2s::sweep::expand(grid, base);
  // Checked before anything starts, for Slurm too (sbatch would refuse it only after the first array).
  const auto time_limit = optional_value<std::string>(*vm, "time");
  const std::optional<double> time_limit_seconds =
      time_limit ? w2s::sweep::parse_time_limit(*time_limit) : std::nullopt;

  if ((*vm)["plan"].as<bool>()) {
    std::cout << w2s::sweep::format_plan(plan);
    return 0;
  }
  const fs::path jobs_file = w2s::sweep::write_jobs_file(plan);
  if (slurm) {
    w2s::sweep::SlurmOptions s;
    s.w2s_binary = self_path();
    s.sbatch = (*vm)["sbatch"].as<std::string>();
    s.max_parallel = optional_value<std::int64_t>(*vm, "max-parallel");
    s.partition = optional_value<std::string>(*vm, "partition");
    s.gres = optional_value<std::string>(*vm, "gres");
    s.time = time_limit;
    s.mem = optional_value<std::string>(*vm, "mem");
    s.cpus_per_task = optional_value<std::int64_t>(*vm, "cpus-per-task");
    const auto submitted = w2s::sweep::submit_slurm(plan, jobs_file, s);
    std::cout << "submitted Slurm job " << submitted.shared_job_id << " (" << plan.shared.size()
              << " shared stages, " << submitted.shared_script.string() << ")\n"
              << "submitted Slurm job " << submitted.students_job_id << " (" << plan.students.size()
              << " students after job " << submitted.shared_job_id << ", " << submitted.students_script.string()
              << ")\nlogs: " << (plan.folder / "logs").string() << "\n";
    return 0;
  }

  w2s::sweep::PoolOptions pool;
  pool.w2s_binary = self_path();
  pool.workers = (*vm)["workers"].as<std::int64_t>();
  if (pool.workers < 1) throw po::error("--workers must be >= 1");
  if (vm->count("gpus")) pool.gpus = w2s::split_list((*vm)["gpus"].as<std::string>());
  pool.progress = progress;
  pool.time_limit_seconds = time_limit_seconds;
  const auto report = w2s::sweep::run_pool(plan, jobs_file, pool);
  const std::size_t ok = report.jobs.size() - report.failures();
  std::cout << "sweep " << plan.name << ": " << ok << " of " << report.jobs.size() << " jobs done; results under "
            << base.results_dir.string() << " (w2s analyze " << base.results_dir.string() << ")\n";
  if (report.failures() == 0) return 0;
  std::cout << w2s::sweep::format_failures(report);
  return 1;
}
