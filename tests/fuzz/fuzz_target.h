// One fuzz target per parser of untrusted or hand-edited input (docs/reliability.md). A harness is
// written once, as W2S_FUZZ_TARGET(name) { ... }, and built two ways:
//   * with clang and -DW2S_FUZZ=ON, as the libFuzzer executable fuzz_<name> (scripts/fuzz.sh);
//   * in the normal test suite, into test_fuzz_regressions, which runs every target over its seed
//     corpus and over every input a fuzzer ever found (regressions/<name>/), with any compiler.
// A target gets the input bytes; a w2s::Error is the parser refusing bad input, which is fine.
// Any other exception, a crash, a sanitizer report, a hang or a broken W2S_FUZZ_CHECK is a finding.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace w2s::fuzz {

using Target = void (*)(std::string_view input);

// The targets linked into this executable, by name.
std::map<std::string, Target>& targets();
bool add_target(const char* name, Target target);

// Runs a target on one input; a w2s::Error is a refusal and returns false, true when accepted.
bool run_target(Target target, std::string_view input);

// Prints the broken invariant and aborts (libFuzzer keeps the input as a crash).
[[noreturn]] void invariant_broken(const char* what, const char* file, int line);

// `input` written to a file of this process's own scratch folder, named `name` (parsers that read
// files take it from there). The same path is reused by every run.
std::filesystem::path input_file(std::string_view input, const std::string& name);

}  // namespace w2s::fuzz

#define W2S_FUZZ_TARGET(name)                                                                      \
  static void w2s_fuzz_##name(std::string_view input);                                             \
  [[maybe_unused]] static const bool w2s_fuzz_added_##name = w2s::fuzz::add_target(#name, w2s_fuzz_##name); \
  static void w2s_fuzz_##name(std::string_view input)

#define W2S_FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : w2s::fuzz::invariant_broken(#condition, __FILE__, __LINE__))
