// The main job's data is built into the binary, so `w2s train --preset demo` runs with no network
// and from any directory. The assembler includes the repository's files byte for byte (`.incbin`);
// CMake passes their folder as W2S_BUNDLED_DATA_DIR and rebuilds this file when they change (ccache
// does not cache a file with `.incbin`, so it never serves stale bytes).
#include "bundled_data.h"

#include <cstddef>

#ifndef W2S_BUNDLED_DATA_DIR
#error "W2S_BUNDLED_DATA_DIR must name the repository's data/sst2-demo folder (lib/data/CMakeLists.txt)"
#endif

// Defines bundled_<name>() over the bytes of W2S_BUNDLED_DATA_DIR/<file>, between two labels local
// to this object file.
#define W2S_BUNDLE(name, file)                                                                 \
  extern "C" const char w2s_bundled_##name##_begin[];                                         \
  extern "C" const char w2s_bundled_##name##_end[];                                           \
  __asm__(".pushsection .rodata\n"                                                             \
          "w2s_bundled_" #name "_begin:\n"                                                     \
          ".incbin \"" W2S_BUNDLED_DATA_DIR "/" file "\"\n"                                    \
          "w2s_bundled_" #name "_end:\n"                                                       \
          ".popsection\n");                                                                    \
  std::string_view bundled_##name() {                                                          \
    return {w2s_bundled_##name##_begin,                                                        \
            static_cast<std::size_t>(w2s_bundled_##name##_end - w2s_bundled_##name##_begin)}; \
  }

namespace w2s::data::detail {

W2S_BUNDLE(sst2_demo_train, "train.tsv")
W2S_BUNDLE(sst2_demo_dev, "dev.tsv")

}  // namespace w2s::data::detail
