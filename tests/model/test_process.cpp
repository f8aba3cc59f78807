// The torch process set-up (w2s/model.h): threads sized to the model, freed memory kept in the
// process (the environment configure_torch_process starts it with).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "w2s/model_torch.h"

namespace {

using namespace w2s::model;

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Minor page faults of allocating, filling and freeing a 64 MB tensor, after one such round.
long faults_of_a_second_64mb_tensor() {
  auto round = [] { return torch::ones({16 << 20}, torch::kFloat32).sum().item<float>(); };
  EXPECT_EQ(round(), static_cast<float>(16 << 20));
  const long before = minor_faults();
  round();
  return minor_faults() - before;
}

constexpr long kPagesOf64Mb = (64 << 20) / 4096;

// AddressSanitizer brings its own allocator in place of glibc's malloc, whose tunables the torch
// environment sets: under it there is nothing of glibc's to check.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

}  // namespace

TEST(Process, ThreadsAreSizedToTheModelUnlessAsked) {
  const int torch_default = torch::get_num_threads();
  EXPECT_EQ(default_threads(64), 1);
  EXPECT_EQ(default_threads(kOneThreadBelowHidden - 1), 1);
  EXPECT_EQ(default_threads(kOneThreadBelowHidden), torch_default);
  CausalLM small = random_causal_lm(tiny_config("llama", 259, 64, 1, 4, 2), 0);
  EXPECT_EQ(torch::get_num_threads(), 1);
  CausalLM wide = random_causal_lm(tiny_config("llama", 259, 512, 1, 8, 4), 0);
  EXPECT_EQ(torch::get_num_threads(), torch_default);
  Placement asked;
  asked.threads = 3;
  small->place(asked);
  EXPECT_EQ(torch::get_num_threads(), 3);
  // resolve_placement carries --threads to the placement (0: sized per model).
  EXPECT_EQ(resolve_placement({"cpu", "float32", 2}).threads, 2);
  EXPECT_EQ(resolve_placement({"cpu", "float32", 0}).threads, 0);
}

// Runs in two processes: without the torch environment it checks glibc's default and executes
// itself again (configure_torch_process) with this test alone; that second run checks the reuse.
TEST(Process, FreedMemoryStaysInTheProcessInTheTorchEnvironment) {
  if (!kGlibcMalloc) GTEST_SKIP() << "AddressSanitizer's allocator replaces glibc's malloc and its tunables";
  if (!torch_environment_set()) {
    // glibc's default: a 64 MB block is its own mapping, returned when freed and faulted in anew.
    ASSERT_GT(faults_of_a_second_64mb_tensor(), kPagesOf64Mb / 2);
    std::string filter = "--gtest_filter=Process.FreedMemoryStaysInTheProcessInTheTorchEnvironment";
    char name[] = "test_model_process";
    char* argv[] = {name, filter.data(), nullptr};
    configure_torch_process(argv);
    FAIL() << "configure_torch_process returned instead of executing the test again";
  }
  EXPECT_STREQ(std::getenv("OMP_WAIT_POLICY"), "PASSIVE");
  faults_of_a_second_64mb_tensor();  // the heap grows once
  EXPECT_LT(faults_of_a_second_64mb_tensor(), kPagesOf64Mb / 16);
}
