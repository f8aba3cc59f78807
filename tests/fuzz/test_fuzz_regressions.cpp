// Every fuzz target (tests/fuzz/fuzz_*.cpp) over its seed corpus and over every input a fuzzer found
// (regressions/<target>/: crashes, hangs, broken invariants, each kept once fixed), in the normal
// suite and with the normal compiler. Each input must be accepted or refused with w2s::Error; a
// crash, a sanitizer report, another exception or a broken invariant fails the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz_target.h"

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = W2S_FUZZ_SOURCE_DIR;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class FuzzTarget : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzTarget, HasASeedCorpusAndADictionary) {
  EXPECT_FALSE(files_in(kFuzzDir / "corpus" / GetParam()).empty()) << "tests/fuzz/corpus/" << GetParam();
  EXPECT_TRUE(fs::is_regular_file(kFuzzDir / "dict" / (GetParam() + ".dict"))) << "tests/fuzz/dict/" << GetParam();
}

// Each input within seconds: a hang found by a fuzzer comes back as a failure here, not as a stuck suite.
TEST_P(FuzzTarget, EveryCorpusAndRegressionInputIsAcceptedOrRefusedCleanly) {
  const auto target = w2s::fuzz::targets().at(GetParam());
  int accepted = 0;
  for (const char* folder : {"corpus", "regressions"}) {
    for (const auto& file : files_in(kFuzzDir / folder / GetParam())) {
      SCOPED_TRACE(file.string());
      const auto started = std::chrono::steady_clock::now();
      accepted += w2s::fuzz::run_target(target, bytes_of(file));
      EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 20.0);
    }
  }
  // The seeds are real files: most of them must parse, or the target no longer reaches past the
  // first check and fuzzes nothing.
  EXPECT_GT(accepted, 0) << "no input of " << GetParam() << " was accepted";
}

std::vector<std::string> target_names() {
  std::vector<std::string> names;
  for (const auto& [name, target] : w2s::fuzz::targets()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Fuzz, FuzzTarget, ::testing::ValuesIn(target_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
