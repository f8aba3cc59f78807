#include "assets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "w2s/shell.h"

namespace w2s::test {
namespace fs = std::filesystem;

fs::path assets_dir() {
  const char* env = std::getenv("W2S_TEST_ASSETS");
  if (!env || !*env) {
    ADD_FAILURE() << "W2S_TEST_ASSETS is not set (point it at the shared assets folder, e.g. ../shared)";
    return {};
  }
  fs::path p = fs::absolute(env);
  if (!fs::is_directory(p / "data")) ADD_FAILURE() << "W2S_TEST_ASSETS=" << p << " has no data/ folder";
  return p;
}

fs::path scratch_dir(const std::string& name) {
  fs::path p = fs::path(W2S_BINARY_DIR) / "test-scratch" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

fs::path w2s_binary() { return fs::path(W2S_BINARY_DIR) / "apps" / "w2s" / "w2s"; }
fs::path source_dir() { return fs::path(W2S_SOURCE_DIR); }

std::string debian_python3() {
  if (const char* p = std::getenv("W2S_PYTHON")) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

int run_command(const std::string& command, std::string* output) {
  std::string out;
  const int status = run_shell(command, out);
  if (output) *output = std::move(out);
  return status;
}

void write_text(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

}  // namespace w2s::test
