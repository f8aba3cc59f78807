// cli::run_torch_side: how `w2s`, which does not link libtorch, runs a command that needs a model.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.h"
#include "w2s/core.h"
#include "w2s/model.h"

namespace w2s::cli {

int run_torch_side(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the w2s executable (/proc/self/exe): " + ec.message());
  const fs::path torch_side = self.parent_path() / "w2s-torch";
  // argv[0] is "w2s <command>": w2s-torch is given "w2s-torch <command> <the rest>".
  const std::string command = std::string(argv[0]).substr(std::string(argv[0]).rfind(' ') + 1);
  std::vector<std::string> words = {torch_side.string(), command};
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  model::set_torch_environment();
  execv(torch_side.c_str(), args.data());
  throw Error("w2s " + command + " runs in " + torch_side.string() + ", which cannot be started: " +
              std::strerror(errno) + " (it is built and installed beside w2s; a build with -DW2S_WITH_TORCH=OFF has "
              "no model commands)");
}

}  // namespace w2s::cli
