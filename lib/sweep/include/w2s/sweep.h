// w2s sweep: a grid of `w2s train` runs (datasets × losses × probe methods × s2s rounds × seeds ×
// weak/strong pairs × any train option), expanded into jobs, and run on a local pool of workers or
// as Slurm job arrays (docs/training.md, "Sweeps").
//
//   grid file ──read_grid──► Grid ──expand(base options)──► Plan { shared stages, students }
//                                                             │
//                        write_jobs_file ─► <results>/sweeps/<name>/jobs.json
//                             │                               │
//               run_pool (N child processes)        submit_slurm (two sbatch arrays)
//                             └──── each job: w2s sweep --jobs jobs.json --array A --array-index I
//                                               └─► run_job: train::run_shared_stage / run_pipeline
//
// The floor and the ceiling of each weak -> strong pair (per dataset, seed, ...) are "shared
// stages": one job trains each once, before the students that reuse it from the stage cache
// (<results>/<shared_folder>/<dataset>/stages/<key>/, locked with flock while a stage trains).
// A killed sweep, rerun, finds its finished stages in that cache.
//
// Errors are w2s::Error with a message for the user (file:line for the grid file).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "w2s/train.h"

namespace w2s::sweep {

// One `w2s train` option and its text, as on the command line (dashed name, no leading dashes).
using Setting = std::pair<std::string, std::string>;

// One list of the grid: an option and the values it takes. Besides the `w2s train` options
// (dataset, loss, seed, s2s-iters, ...), two axes set several options at once:
//   models        "WEAK -> STRONG" pairs (weak-model-name and strong-model-name)
//   probe-method  none | relabel | filter | <probe>-relabel | <probe>-filter (knn-filter, topo-relabel)
struct Axis {
  std::string option;
  std::vector<std::string> values;
};

struct Grid {
  std::string name;                // the sweep's name: run names and the sweep folder derive from it
  std::optional<std::string> preset;  // train::preset_options
  std::vector<Setting> fixed;      // every job, in file order
  std::vector<Axis> axes;          // the product, first axis outermost
};

// Reads a grid file: INI lines as `w2s train --config` reads them (`key = value`, snake_case or
// dashed keys, # comments), where top-level keys are `w2s train` options (or `preset`) that every
// job gets, and each key of the [grid] section is an axis whose values are separated by `|`
// (values may hold commas: random model specs, lora_modules). A key repeated in [grid] adds values.
// The grid's name is the file's stem. Unknown keys and bad values throw naming file:line.
Grid read_grid(const std::filesystem::path& path);

// Adds "option=v1|v2|..." (the --grid flag) as an axis; the same option again adds values.
void add_axis(Grid& grid, const std::string& assignment);

// A training run of the grid: its settings (one value per axis) on top of the base options.
struct Job {
  std::string id;                  // "w2s-3": students are numbered in grid order
  std::vector<Setting> settings;   // the axis values that made it
  train::PipelineOptions options;  // run_name is the sweep's name and the settings
  std::vector<std::size_t> needs;  // indices into Plan::shared
};

// A floor or ceiling that one or more students reuse.
struct SharedJob {
  std::string id;                  // "floor-0", "ceiling-1"
  train::SharedStage stage;
  train::PipelineOptions options;  // of the first student that needs it
  std::string description;         // "floor of random:... on sst2, seed 42"
};

struct Plan {
  std::string name;
  std::filesystem::path folder;    // <results>/sweeps/<name>: jobs.json, logs, Slurm scripts
  std::vector<SharedJob> shared;
  std::vector<Job> students;
};

// The product of the axes applied to `base` (the preset and fixed settings already applied by the
// caller; see base_options). Run names: "<name>-<setting>-<setting>..." for the axes with more than
// one value (not the dataset: its runs keep one folder per dataset under a run name). Every job is
// validated (train::validate); a bad value names the axis.
Plan expand(const Grid& grid, const train::PipelineOptions& base);

// The grid's preset (or the reference defaults) with its fixed settings applied.
train::PipelineOptions base_options(const Grid& grid);

// Sets one `w2s train` option from its text (dashed or snake_case name); throws w2s::Error naming
// the option for an unknown name or a bad value.
void apply_setting(train::PipelineOptions& options, const Setting& setting);

// The plan as `w2s sweep --plan` prints it: the shared stages, then each student with what it needs.
std::string format_plan(const Plan& plan);

// ---- running jobs -------------------------------------------------------------------------------

// Which of the two lists an index refers to: the Slurm arrays and the pool's children.
enum class Array { Shared, Students };
Array parse_array(const std::string& name);  // "shared" | "students"
const char* array_name(Array array);

// jobs.json in plan.folder: every job's complete `w2s train` options (as flag text), so that a
// worker runs exactly what was planned even if the grid file is edited meanwhile. Returns its path.
std::filesystem::path write_jobs_file(const Plan& plan);

// Runs one job of a jobs file in this process (what each worker and each Slurm task does).
train::PipelineSummary run_job(const std::filesystem::path& jobs_file, Array array, std::size_t index);

// The local pool: one worker per GPU (CUDA_VISIBLE_DEVICES set per worker) or `workers` CPU
// workers, each running jobs as child processes `<w2s> sweep --jobs F --array A --array-index I`.
struct PoolOptions {
  std::filesystem::path w2s_binary;  // the executable the children run
  std::int64_t workers = 1;          // CPU workers (ignored when gpus is not empty)
  std::vector<std::string> gpus;     // device ids, one worker each
  bool progress = true;              // a line per job start / end with the overall ETA
  int retries = 1;                   // a failed job is run again this many times
  // A job running longer is ended (SIGTERM, then SIGKILL) and fails without a retry, as Slurm
  // ends a task at its --time; none: jobs run as long as they take.
  std::optional<double> time_limit_seconds;
  // After SIGTERM (a time limit, or the pool stopped by SIGINT/SIGTERM), how long a child has to
  // end before it is killed: no wait on a child is unbounded.
  double stop_grace_seconds = 30.0;
};

// Seconds of a Slurm --time value ("M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S"); none for
// "UNLIMITED" or "infinite". Throws w2s::Error naming the value for anything else, or for 0.
std::optional<double> parse_time_limit(const std::string& text);

struct JobOutcome {
  std::string id;
  bool ok = false;
  int attempts = 0;
  std::string failure;              // "exit code 1", "skipped: floor-0 failed"
  std::filesystem::path log;        // the child's stdout and stderr (last attempt)
  double wall_seconds = 0;
};

struct PoolReport {
  std::vector<JobOutcome> jobs;     // shared jobs, then students
  std::size_t failures() const;
};

// Runs every shared job, then each student once the shared jobs it needs have finished. Logs of
// the children: plan.folder/logs/<job id>.log. SIGINT/SIGTERM stop the children and return.
PoolReport run_pool(const Plan& plan, const std::filesystem::path& jobs_file, const PoolOptions& options);

// "3 of 12 jobs failed:\n  w2s-2  exit code 1  (log: ...)\n" or "" when none did.
std::string format_failures(const PoolReport& report);

// ---- Slurm ---------------------------------------------------------------------------------------

struct SlurmOptions {
  std::filesystem::path w2s_binary;  // as the compute nodes see it (a shared filesystem)
  std::string sbatch = "sbatch";
  std::optional<std::int64_t> max_parallel;  // the %P of --array=0-N%P
  std::optional<std::string> partition, gres, time, mem;
  std::optional<std::int64_t> cpus_per_task;
};

struct SlurmSubmission {
  std::filesystem::path shared_script, students_script;  // kept in plan.folder
  std::string shared_job_id, students_job_id;
};

// The sbatch script of one array (its tasks run `w2s sweep --jobs F --array A --array-index
// $SLURM_ARRAY_TASK_ID`; logs in plan.folder/logs/).
std::string slurm_script(const Plan& plan, const std::filesystem::path& jobs_file, Array array,
                         const SlurmOptions& options);

// Writes both scripts into plan.folder and submits them with sbatch: the shared array first, then
// the students' with --dependency=afterok:<shared job id>. Throws when sbatch fails.
SlurmSubmission submit_slurm(const Plan& plan, const std::filesystem::path& jobs_file, const SlurmOptions& options);

}  // namespace w2s::sweep
