#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "assets.h"
#include "w2s/core.h"

namespace fs = std::filesystem;

TEST(Files, AtomicWriteReplacesWholeFile) {
  fs::path dir = w2s::test::scratch_dir("atomic");
  fs::path p = dir / "sub" / "out.json";
  w2s::write_file_atomic(p, "first");
  EXPECT_EQ(w2s::read_file(p), "first");
  w2s::write_file_atomic(p, "second, longer content");
  EXPECT_EQ(w2s::read_file(p), "second, longer content");
  for (auto& e : fs::directory_iterator(p.parent_path()))
    EXPECT_EQ(e.path().filename(), "out.json") << "temp file left behind: " << e.path();
}

// A writer killed at random moments never leaves a torn file: readers see an old or a new version.
TEST(Files, KilledWriterNeverLeavesTornFile) {
  fs::path dir = w2s::test::scratch_dir("atomic_kill");
  fs::path p = dir / "result.json";
  const std::string a(200000, 'a'), b(300000, 'b');
  w2s::write_file_atomic(p, a);
  for (int round = 0; round < 20; ++round) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) {
        w2s::write_file_atomic(p, b);
        w2s::write_file_atomic(p, a);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500 + round * 300));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    std::string got = w2s::read_file(p);
    ASSERT_TRUE(got == a || got == b) << "torn file of size " << got.size();
  }
}

TEST(Files, ReadMissingFileNamesPath) {
  try {
    w2s::read_file("/nonexistent/dir/file.txt");
    FAIL();
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.txt"), std::string::npos);
  }
}

TEST(Files, AppendOnlyFileAppendsWholeLines) {
  fs::path p = w2s::test::scratch_dir("append") / "sub" / "log.jsonl";
  {
    w2s::AppendOnlyFile a(p);
    a.append_line("{\"a\":1}");
    w2s::AppendOnlyFile b(p);  // a second writer appends after the first's lines
    b.append_line("{\"a\":2}");
    a.append_line("{\"a\":3}");
    a.sync();
  }
  EXPECT_EQ(w2s::read_file(p), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
  w2s::AppendOnlyFile again(p);  // reopening keeps what is there
  again.append_line("x");
  EXPECT_EQ(w2s::read_file(p), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\nx\n");
}

TEST(Hash, KnownVectors) {
  EXPECT_EQ(w2s::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(w2s::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(w2s::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  fs::path p = w2s::test::scratch_dir("hash") / "f";
  w2s::write_file_atomic(p, "abc");
  EXPECT_EQ(w2s::sha256_file_hex(p), w2s::sha256_hex("abc"));
}

TEST(Names, SlugAndShortName) {
  EXPECT_EQ(w2s::model_slug("meta-llama/llama-3.1-8b-instruct"), "meta-llama_llama-3.1-8b-instruct");
  EXPECT_EQ(w2s::model_short_name("meta-llama/llama-3.1-8b-instruct"), "llama-3.1-8b-instruct");
  EXPECT_EQ(w2s::split_list(" a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Files, ExclusiveFileLockMakesASecondHolderWait) {
  const fs::path lock_path = w2s::test::scratch_dir("lock") / "sub" / "lock";
  std::atomic<bool> waited{false}, acquired{false};
  std::string holder;  // written by the second thread before `waited`
  std::thread second;
  {
    const w2s::ExclusiveFileLock first(lock_path);
    second = std::thread([&] {
      const w2s::ExclusiveFileLock lock(lock_path, [&](const std::string& h) {
        holder = h;
        waited = true;
      });
      acquired = true;
    });
    while (!waited) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(acquired);  // still blocked while the first lock is held
  }
  second.join();
  EXPECT_TRUE(acquired);
  // The waiter was told who held the lock: this process, by the line the first holder wrote.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ(holder.rfind(fmt::format("pid {} on host {} since 20", ::getpid(), host), 0), 0u) << holder;
  // Free again: no wait.
  bool waited_again = false;
  const w2s::ExclusiveFileLock third(lock_path, [&](const std::string&) { waited_again = true; });
  EXPECT_FALSE(waited_again);
}

TEST(Files, ExclusiveFileLockIsReleasedWhenItsHolderIsKilled) {
  const fs::path lock_path = w2s::test::scratch_dir("lock_killed") / "lock";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const w2s::ExclusiveFileLock held(lock_path);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    _exit(0);
  }
  // Wait until the child holds the lock, then kill it: the lock must come free.
  bool child_holds = false;
  for (int i = 0; i < 400 && !child_holds; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int fd = ::open(lock_path.c_str(), O_RDWR);
    if (fd >= 0) {
      child_holds = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
      ::close(fd);
    }
  }
  ASSERT_TRUE(child_holds);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  bool waited = false;
  const w2s::ExclusiveFileLock lock(lock_path, [&](const std::string&) { waited = true; });
  EXPECT_FALSE(waited);
}
