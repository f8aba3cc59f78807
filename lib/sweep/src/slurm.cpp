// Slurm: two job arrays written beside the results and submitted with sbatch, the students' array
// starting after the shared stages' array has succeeded (--dependency=afterok).
#include <sys/wait.h>

#include <cstdio>

#include <fmt/format.h>

#include "w2s/sweep.h"

namespace w2s::sweep {

namespace fs = std::filesystem;

namespace {

// 'text' for a POSIX shell.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a command, returns its stdout; throws with the output when it fails.
std::string run_captured(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw Error("cannot run " + command);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0)
    throw Error(fmt::format("{} failed (status {}): {}", command, WIFEXITED(status) ? WEXITSTATUS(status) : status, out));
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
                   quoted(fs::absolute(o.w2s_binary).string()), quoted(fs::absolute(jobs_file).string()),
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
  out.shared_job_id = parsed_job_id(run_captured(fmt::format("{} --parsable {}", o.sbatch, quoted(out.shared_script))));
  out.students_job_id = parsed_job_id(run_captured(fmt::format("{} --parsable --dependency=afterok:{} {}", o.sbatch,
                                                               out.shared_job_id, quoted(out.students_script))));
  return out;
}

}  // namespace w2s::sweep
