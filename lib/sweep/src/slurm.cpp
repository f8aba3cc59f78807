// Slurm: two job arrays written beside the results and submitted with sbatch, the students' array
// starting after the shared stages' array has succeeded (--dependency=afterok).
#include <fmt/format.h>

#include "w2s/shell.h"
#include "w2s/sweep.h"

namespace w2s::sweep {

namespace fs = std::filesystem;

namespace {

// Runs a command, returns its output; throws with the output when it fails.
std::string run_captured(const std::string& command) {
  std::string out;
  if (const int status = run_shell(command, out); status != 0)
    throw Error(fmt::format("{} failed (status {}): {}", command, status, out));
  return out;
}

// `sbatch --parsable` prints "<job id>[;<cluster>]".
std::string parsed_job_id(const std::string& output) {
  std::string id = output.substr(0, output.find_first_of(";\n"));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw Error("sbatch printed no job id: " + output);
  return id;
}

}  // namespace

std::string slurm_script(const Plan& plan, const fs::path& jobs_file, Array array, const SlurmOptions& o) {
  const std::size_t n = array == Array::Shared ? plan.shared.size() : plan.students.size();
  if (n == 0) throw Error(fmt::format("the {} array has no jobs", array_name(array)));
  const fs::path logs = fs::absolute(plan.folder / "logs");
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# w2s sweep {}: the {} array ({} jobs), written by `w2s sweep --slurm`.\n", plan.name,
                   array_name(array), n);
  s += fmt::format("#SBATCH --job-name=w2s-{}-{}\n", plan.name, array_name(array));
  s += fmt::format("#SBATCH --array=0-{}{}\n", n - 1, o.max_parallel ? fmt::format("%{}", *o.max_parallel) : "");
  s += fmt::format("#SBATCH --output={}/{}-%a.log\n", logs.string(), array_name(array));
  if (o.partition) s += "#SBATCH --partition=" + *o.partition + "\n";
  if (o.gres) s += "#SBATCH --gres=" + *o.gres + "\n";
  if (o.time) s += "#SBATCH --time=" + *o.time + "\n";
  if (o.mem) s += "#SBATCH --mem=" + *o.mem + "\n";
  if (o.cpus_per_task) s += fmt::format("#SBATCH --cpus-per-task={}\n", *o.cpus_per_task);
  s += fmt::format("exec {} sweep --jobs {} --array {} --array-index \"$SLURM_ARRAY_TASK_ID\"\n",
                   shell_quote(fs::absolute(o.w2s_binary).string()), shell_quote(fs::absolute(jobs_file).string()),
                   array_name(array));
  return s;
}

SlurmSubmission submit_slurm(const Plan& plan, const fs::path& jobs_file, const SlurmOptions& o) {
  SlurmSubmission out;
  fs::create_directories(plan.folder / "logs");
  out.shared_script = plan.folder / "shared.sbatch";
  out.students_script = plan.folder / "students.sbatch";
  write_file_atomic(out.shared_script, slurm_script(plan, jobs_file, Array::Shared, o));
  write_file_atomic(out.students_script, slurm_script(plan, jobs_file, Array::Students, o));
  out.shared_job_id = parsed_job_id(run_captured(fmt::format("{} --parsable {}", o.sbatch, shell_quote(out.shared_script.string()))));
  out.students_job_id = parsed_job_id(run_captured(fmt::format("{} --parsable --dependency=afterok:{} {}", o.sbatch,
                                                               out.shared_job_id, shell_quote(out.students_script.string()))));
  return out;
}

}  // namespace w2s::sweep
