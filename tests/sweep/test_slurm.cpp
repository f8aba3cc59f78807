// A real single-node Slurm (Debian's slurm-wlm and munge): the test starts munged, slurmctld and
// slurmd on loopback in its own folder with free ports, submits a tiny CPU sweep with
// `w2s sweep --slurm`, waits for both arrays (bounded), checks the results, and always shuts the
// daemons down. Skipped, with the reason, when not root or when the binaries are missing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "assets.h"
#include "sweep_fixture.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;

// A TCP port on 127.0.0.1 that nothing listens on now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::optional<pid_t> pid_in(const fs::path& file) {
  std::ifstream in(file);
  long pid = 0;
  if (in >> pid && pid > 0) return static_cast<pid_t>(pid);
  return std::nullopt;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

class SlurmCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "a single-node Slurm needs root (slurmd runs jobs as any user)";
    for (const char* binary : {"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"})
      if (!fs::exists(binary)) GTEST_SKIP() << binary << " is missing (install slurm-wlm and munge)";
    // Daemon files under /tmp: the munge socket path must stay short (108 bytes).
    std::string templ = "/tmp/w2s-slurm-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    for (const char* sub : {"state", "spool", "log", "munge"}) fs::create_directories(dir_ / sub);
    // The munge key: 1024 random bytes, readable by root only.
    {
      std::random_device random;
      std::string key(1024, '\0');
      for (char& c : key) c = static_cast<char>(random());
      w2s::test::write_text(dir_ / "munge" / "munge.key", key);
      fs::permissions(dir_ / "munge" / "munge.key", fs::perms::owner_read | fs::perms::owner_write);
    }
    const fs::path munge = dir_ / "munge";
    ASSERT_EQ(shell(fmt::format("/usr/sbin/munged -f --key-file={0}/munge.key --socket={0}/munge.socket "
                                "--pid-file={0}/munged.pid --log-file={0}/munged.log --seed-file={0}/seed",
                                munge.string())),
              0)
        << log_tail();
    const int ctld_port = free_port(), slurmd_port = free_port();
    ASSERT_GT(ctld_port, 0);
    ASSERT_GT(slurmd_port, 0);
    ASSERT_NE(ctld_port, slurmd_port);
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    // Slurm 24.05 and later set up cgroups in slurmd unless told not to, and fail where no cgroup
    // filesystem is mounted (a container or chroot); 22.05 (Debian 12) needs no cgroup.conf and
    // does not know "disabled".
    std::string version;  // "slurm 26.05.5"
    shell("/usr/sbin/slurmctld -V", &version);
    if (std::atoi(version.substr(version.find(' ') + 1).c_str()) >= 24)
      w2s::test::write_text(dir_ / "cgroup.conf", "CgroupPlugin=disabled\n");
    w2s::test::write_text(
        dir_ / "slurm.conf",
        fmt::format("ClusterName=w2stest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={1}\nSlurmdPort={2}\n"
                    "AuthType=auth/munge\nAuthInfo=socket={0}/munge/munge.socket\nCredType=cred/munge\n"
                    "SlurmUser=root\nSlurmdUser=root\nStateSaveLocation={0}/state\nSlurmdSpoolDir={0}/spool\n"
                    "SlurmctldPidFile={0}/slurmctld.pid\nSlurmdPidFile={0}/slurmd.pid\n"
                    "SlurmctldLogFile={0}/log/slurmctld.log\nSlurmdLogFile={0}/log/slurmd.log\n"
                    "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
                    "SelectTypeParameters=CR_Core\nJobCompType=jobcomp/none\n"
                    "AccountingStorageType=accounting_storage/none\nMpiDefault=none\nReturnToService=2\n"
                    "NodeName=localhost NodeAddr=127.0.0.1 CPUs={3} RealMemory=1000 State=UNKNOWN\n"
                    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n",
                    dir_.string(), ctld_port, slurmd_port, cpus));
    ::setenv("SLURM_CONF", (dir_ / "slurm.conf").c_str(), 1);
    started_ = true;
    ASSERT_EQ(shell("/usr/sbin/slurmctld -f " + conf()), 0) << log_tail();
    ASSERT_EQ(shell("/usr/sbin/slurmd -f " + conf() + " -N localhost"), 0) << log_tail();
    // The node reports idle within seconds; give it a minute on a busy machine.
    std::string state;
    for (int i = 0; i < 600; ++i) {
      shell("sinfo -h -o %T", &state);
      if (state.rfind("idle", 0) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(state.rfind("idle", 0), 0u) << "node state: " << state << log_tail();
  }

  void TearDown() override {
    if (!started_ && dir_.empty()) return;
    if (started_) shell("scontrol shutdown");
    // Wait (bounded) for the daemons to end, then make sure they have.
    for (const char* pid_file : {"slurmctld.pid", "slurmd.pid", "munge/munged.pid"}) {
      const auto pid = pid_in(dir_ / pid_file);
      if (!pid) continue;
      if (std::string(pid_file) == "munge/munged.pid") ::kill(*pid, SIGTERM);
      for (int i = 0; i < 100 && alive(*pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (alive(*pid)) ::kill(*pid, SIGKILL);
    }
    ::unsetenv("SLURM_CONF");
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);  // kept for a look at the logs after a failure
  }

  std::string conf() const { return (dir_ / "slurm.conf").string(); }

  static int shell(const std::string& command, std::string* output = nullptr) {
    return w2s::test::run_command(command, output);
  }

  std::string log_tail() const {
    std::string out;
    for (const char* log : {"log/slurmctld.log", "log/slurmd.log", "munge/munged.log"})
      if (fs::exists(dir_ / log)) {
        std::string text = w2s::read_file(dir_ / log);
        out += fmt::format("\n--- {} (last 2000 bytes)\n{}", log, text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
      }
    return out;
  }

  fs::path dir_;
  bool started_ = false;
};

TEST_F(SlurmCluster, SweepRunsAsTwoDependentJobArrays) {
  const fs::path dir = w2s::test::scratch_dir("sweep_slurm");
  const fs::path results = dir / "results";
  const fs::path grid = w2s::test::write_tiny_grid(dir, "slurm", results, "loss = xent | logconf\n");
  std::string output;
  ASSERT_EQ(w2s::test::run_sweep("'" + grid.string() + "' --slurm --max-parallel 2 --time 10:00", &output), 0)
      << output << log_tail();
  EXPECT_CONTAINS(output, "(2 shared stages,");
  EXPECT_CONTAINS(output, "(2 students after job ");
  const fs::path folder = results / "sweeps" / "slurm";
  EXPECT_CONTAINS(w2s::read_file(folder / "shared.sbatch"), "#SBATCH --array=0-1%2\n");
  EXPECT_CONTAINS(w2s::read_file(folder / "students.sbatch"), "#SBATCH --time=10:00\n");

  // Both arrays leave the queue when done; a failed shared array leaves the students pending on a
  // dependency that can never be satisfied. At most 5 minutes.
  std::string queue;
  for (int i = 0; i < 3000; ++i) {
    shell("squeue -h -o '%i %T %r'", &queue);
    if (queue.empty() || queue.find("DependencyNeverSatisfied") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string logs;
  if (fs::is_directory(folder / "logs"))
    for (const auto& entry : fs::directory_iterator(folder / "logs"))
      logs += "\n--- " + entry.path().string() + "\n" + w2s::read_file(entry.path());
  ASSERT_TRUE(queue.empty()) << "queue: " << queue << logs << log_tail();
  for (const std::string loss : {"xent", "logconf"}) {
    const fs::path run = results / ("slurm-loss=" + loss) / "sst2";
    ASSERT_TRUE(fs::is_regular_file(run / "w2s" / "record.json")) << logs;
    EXPECT_EQ(w2s::results::read_record(run / "w2s" / "record.json").extra.get_string("method"), loss);
  }
  // The tasks ran the jobs file's jobs: shared stages in the first array, students after them.
  EXPECT_CONTAINS(w2s::read_file(folder / "logs" / "shared-0.log"), "floor: training");
  EXPECT_CONTAINS(w2s::read_file(folder / "logs" / "shared-1.log"), "ceiling: training");
  EXPECT_CONTAINS(w2s::read_file(folder / "logs" / "students-1.log"), "floor: stage cache hit");
  EXPECT_CONTAINS(w2s::read_file(folder / "logs" / "students-1.log"), "ceiling: stage cache hit");
}

}  // namespace
