// The libFuzzer entry point of one fuzz_<name> executable: exactly one harness is linked in.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const w2s::fuzz::Target target = [] {
    if (w2s::fuzz::targets().size() != 1) {
      std::fprintf(stderr, "w2s fuzz: %zu targets linked into one fuzzer, expected 1\n", w2s::fuzz::targets().size());
      std::abort();
    }
    return w2s::fuzz::targets().begin()->second;
  }();
  w2s::fuzz::run_target(target, std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
