// Tiny sweeps through the `w2s` binary: random-initialised models, an SST-2 subset, 4 optimizer
// steps per stage (a few seconds each).
#pragma once

#include <filesystem>
#include <string>

namespace w2s::test {

// A grid file in `dir`: the tiny settings (results in `results`), then `grid_section` (the lines
// after "[grid]"). Returns its path (dir/<name>.ini, so the sweep is called `name`).
std::filesystem::path write_tiny_grid(const std::filesystem::path& dir, const std::string& name,
                                      const std::filesystem::path& results, const std::string& grid_section);

extern const char* const kTinyWeak;
extern const char* const kTinyStrong;

// `w2s sweep <args>`: exit code, stdout and stderr in `output`.
int run_sweep(const std::string& args, std::string* output);

}  // namespace w2s::test
