#include "sweep_fixture.h"

#include <fmt/format.h>

#include "assets.h"

namespace w2s::test {

const char* const kTinyWeak = "random:hidden=8,layers=1,heads=1,kv_heads=1,tokenizer=words,vocab=256,seed=1";
const char* const kTinyStrong = "random:hidden=16,layers=1,heads=2,kv_heads=2,tokenizer=words,vocab=512,seed=2";

std::filesystem::path write_tiny_grid(const std::filesystem::path& dir, const std::string& name,
                                      const std::filesystem::path& results, const std::string& grid_section) {
  const auto path = dir / (name + ".ini");
  write_text(path, fmt::format("# {} (tests/sweep)\n"
                               "weak_model_name = {}\nstrong_model_name = {}\n"
                               "dataset = sst2\ndata_dir = {}\n"
                               "n_train = 64\nn_val = 20\nn_test = 40\nn_epochs = 1\n"
                               "minibatch_size = 8\nbatch_size = 8\ndisable_lora = true\nthreads = 1\n"
                               "results_dir = {}\n\n[grid]\n{}",
                               name, kTinyWeak, kTinyStrong, (assets_dir() / "data").string(), results.string(),
                               grid_section));
  return path;
}

int run_sweep(const std::string& args, std::string* output) {
  return run_command("'" + w2s_binary().string() + "' sweep " + args, output);
}

}  // namespace w2s::test
