// Helpers for lib/llm tests: fast client options pointed at a test server, request factories.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "assets.h"
#include "openrouter_server.h"
#include "w2s/llm.h"

namespace w2s::llm::testing {

inline constexpr const char* kTestKey = "sk-or-v1-TESTKEY-0123456789abcdef";

// Backoff shrunk to milliseconds; no progress line; cache and ledger in a fresh scratch dir.
inline ClientOptions fast_options(const test::OpenRouterServer& server, const std::string& name) {
  ClientOptions o;
  o.base_url = server.base_url();
  o.api_key = kTestKey;
  o.cache_dir = test::scratch_dir(name);
  o.backoff_base_s = 0.001;
  o.backoff_cap_s = 0.01;
  o.request_timeout_s = 5;
  o.progress = false;
  return o;
}

inline ChatRequest make_request(int i, const std::string& model = "test/small", int max_tokens = 1) {
  ChatRequest r;
  r.model = model;
  r.messages = {{"system", "Answer with one letter."},
                {"user", "Question " + std::to_string(i) + ": which option is right?"}};
  r.temperature = 0.0;
  r.max_tokens = max_tokens;
  return r;
}

inline std::vector<ChatRequest> make_requests(int n, const std::string& model = "test/small",
                                              int max_tokens = 1) {
  std::vector<ChatRequest> out;
  for (int i = 0; i < n; ++i) out.push_back(make_request(i, model, max_tokens));
  return out;
}

// The user message's question number, for policies that treat requests differently.
inline int question_number(const json::Value& body) {
  const std::string& text = body.at("messages").at(1).at("content").as_string();
  return std::stoi(text.substr(text.find(' ') + 1));
}

inline std::vector<json::Value> read_ledger(const std::filesystem::path& path) {
  std::vector<json::Value> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line, path.string()));
  return lines;
}

// Captures what is written to stderr (where w2s::log writes) while it lives.
class LogCapture {
 public:
  LogCapture() { ::testing::internal::CaptureStderr(); }
  ~LogCapture() { text(); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // Every captured line that contains `needle` (capture ends at the first call).
  std::vector<std::string> lines_with(const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream in(text());
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
  }

 private:
  const std::string& text() {
    if (!text_) text_ = ::testing::internal::GetCapturedStderr();
    return *text_;
  }
  std::optional<std::string> text_;
};

}  // namespace w2s::llm::testing

// The helpers and the test server by their short names, in every client test.
namespace w2s::llm {
using test::OpenRouterServer;
using test::Reply;
using testing::fast_options;
using testing::make_request;
using testing::make_requests;
using testing::read_ledger;
}  // namespace w2s::llm
