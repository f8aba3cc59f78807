#include "fuzz_target.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "w2s/core.h"

namespace w2s::fuzz {

std::map<std::string, Target>& targets() {
  static std::map<std::string, Target> all;
  return all;
}

bool add_target(const char* name, Target target) {
  targets()[name] = target;
  return true;
}

bool run_target(Target target, std::string_view input) {
  try {
    target(input);
    return true;
  } catch (const w2s::Error&) {
    return false;
  }
}

void invariant_broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "w2s fuzz: invariant broken at %s:%d: %s\n", file, line, what);
  std::abort();
}

std::filesystem::path input_file(std::string_view input, const std::string& name) {
  // Removed at exit (a crash leaves it, with the input that crashed).
  struct ScratchDir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("w2s-fuzz-" + std::to_string(::getpid()));
    ScratchDir() { std::filesystem::create_directories(path); }
    ~ScratchDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const ScratchDir dir;
  const auto path = dir.path / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(input.data(), static_cast<std::streamsize>(input.size()));
  return path;
}

}  // namespace w2s::fuzz
