// Test fixtures shared by every test binary.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "w2s/core.h"

// Expects `needle` inside the string `haystack`, printing the haystack when it is not.
#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

namespace w2s::test {

// The shared assets directory (with data/ and models/), from $W2S_TEST_ASSETS. Fails the
// calling test (never skips) when it is unset or missing: CI must not pass by skipping.
std::filesystem::path assets_dir();

// A fresh, empty directory under the build tree for one test; removed and re-created per call.
std::filesystem::path scratch_dir(const std::string& name);

// Path of the built `w2s` executable and the source tree (for golden files).
std::filesystem::path w2s_binary();
std::filesystem::path source_dir();

// The python3 that carries Debian's python3-torch, -sklearn and -jsonschema: $W2S_PYTHON, else
// /usr/bin/python3 (a python3 earlier on PATH, e.g. pyenv's, may lack them).
std::string debian_python3();

// Runs a shell command, returns its exit code; stdout+stderr are captured into `output`.
int run_command(const std::string& command, std::string* output = nullptr);

// Writes a test file, creating its directories.
void write_text(const std::filesystem::path& path, const std::string& content);

// The message of the w2s::Error thrown by f ("" when nothing was thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const w2s::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace w2s::test
