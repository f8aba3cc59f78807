// configure_torch_process: what a program that links libtorch does first (w2s/model.h).
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "w2s/model.h"

namespace w2s::model {

void configure_torch_process(char** argv) {
  if (torch_environment_set()) return;
  set_torch_environment();
  execv("/proc/self/exe", argv);
  // Still here: the program runs on with libgomp's and glibc's defaults.
  log::warn("cannot execute /proc/self/exe again with OMP_WAIT_POLICY and GLIBC_TUNABLES set ({}); OpenMP threads "
            "will spin while they wait and freed memory goes back to the kernel",
            std::strerror(errno));
}

}  // namespace w2s::model
