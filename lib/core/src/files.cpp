// Durable file I/O: whole-file reads, atomic replacement, durable appends.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "w2s/core.h"

namespace w2s {
namespace fs = std::filesystem;

namespace {
[[noreturn]] void io_error(const char* what, const fs::path& path) {
  throw Error(fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(errno)));
}

void write_all(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      io_error("write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The holder's line in a lock file: printable ASCII only (the file may have been edited, or be
// half written), at most 200 bytes; "" when there is none.
std::string lock_holder(int fd) {
  char buf[200];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  std::string holder;
  for (ssize_t i = 0; i < n; ++i)
    if (buf[i] >= 0x20 && buf[i] < 0x7f) holder.push_back(buf[i]);
  return holder;
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse directory handles
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) io_error("read", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) io_error("read", path);
  return std::move(ss).str();
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  const fs::path dir = path.parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  // A unique temp name per writer: concurrent writers of one path never share a temp file.
  std::random_device rd;
  const fs::path tmp = path.string() + fmt::format(".tmp.{}.{:08x}", ::getpid(), rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_error("create", tmp);
  try {
    write_all(fd, content, tmp);
    if (::fsync(fd) != 0) io_error("fsync", tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    io_error("rename into place", path);
  }
  fsync_dir(dir);
}

AppendOnlyFile::AppendOnlyFile(const fs::path& path, unsigned mode) : path_(path) {
  const fs::path dir = path.parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd_ < 0) io_error("open", path);
}

AppendOnlyFile::~AppendOnlyFile() {
  ::fdatasync(fd_);
  ::close(fd_);
}

void AppendOnlyFile::append_line(std::string_view line) {
  std::string buf(line);
  buf.push_back('\n');
  write_all(fd_, buf, path_);  // one write() for a whole line, so O_APPEND keeps lines intact
}

void AppendOnlyFile::sync() {
  if (::fdatasync(fd_) != 0) io_error("sync", path_);
}

ExclusiveFileLock::ExclusiveFileLock(const fs::path& path, const std::function<void(const std::string&)>& on_wait) {
  const fs::path dir = path.parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) io_error("open", path);
  auto fail = [&] {
    const int saved = errno;
    ::close(fd_);
    errno = saved;
    io_error("lock", path);
  };
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) fail();
    if (on_wait) on_wait(lock_holder(fd_));
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) fail();
  }
  // Who holds it, for the next one that waits (read by lock_holder; the file is only ever this line).
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string holder = fmt::format("pid {} on host {} since {}", ::getpid(), host, now_iso8601());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, holder.data(), holder.size(), 0) < 0)
    log::debug("lock {}: cannot record its holder: {}", path.string(), std::strerror(errno));
}

ExclusiveFileLock::~ExclusiveFileLock() { ::close(fd_); }  // closing releases the lock

}  // namespace w2s
