// Helpers for the icl tests over real HTTP: the TruthfulQA files, a test server answering with
// ScriptedModels, client options pointed at it, and the `w2s` command line against it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "assets.h"
#include "openrouter_server.h"
#include "scripted_policy.h"
#include "w2s/icl.h"

namespace w2s::test {

inline const char* k8b = "meta-llama/llama-3.1-8b-instruct";
inline const char* k70b = "meta-llama/llama-3.1-70b-instruct";
inline const char* kQwen = "qwen/qwen-2.5-72b-instruct";

inline data::TruthfulQa load_tqa(std::size_t test_size = 200) {
  data::TruthfulQaOptions o;
  o.data_dir = (assets_dir() / "data").string();
  o.test_size = test_size;
  o.allow_download = false;
  return data::load_truthfulqa(o);
}

// Every question of an in-context dataset (test, shot pool, extra pool), for ScriptedModels.
inline std::vector<data::Question> all_questions(const icl::Dataset& ds) {
  std::vector<data::Question> out = ds.test;
  out.insert(out.end(), ds.shot_pool.begin(), ds.shot_pool.end());
  out.insert(out.end(), ds.extra_pool.begin(), ds.extra_pool.end());
  return out;
}

// A registry dataset from the test assets, drawn as `w2s train --n-train N ...` draws it.
inline icl::Dataset load_registry(const std::string& name, std::size_t test_size, std::size_t n_train = 200,
                                  std::size_t n_val = 40, std::size_t n_test = 100, std::int64_t seed = 0) {
  data::TrainingDataOptions o;
  o.data_dir = (assets_dir() / "data").string();
  o.allow_download = false;
  o.n_train = n_train;
  o.n_val = n_val;
  o.n_test = n_test;
  o.seed = seed;
  return icl::load_registry_dataset(name, o, test_size, false);
}

// Server whose answers follow ScriptedModels on the loaded data.
struct ScriptedServer {
  explicit ScriptedServer(const data::TruthfulQa& ds, double latency_s = 0.0, ServerOptions options = {})
      : ScriptedServer(ds.all, latency_s, std::move(options)) {}
  explicit ScriptedServer(const std::vector<data::Question>& questions, double latency_s = 0.0,
                          ServerOptions options = {})
      : models(questions), server({}, options) {
    server.set_policy([this, latency_s](const json::Value& body, int) {
      return Reply::ok(models.answer(body)).with_latency(latency_s);
    });
  }
  ScriptedModels models;
  OpenRouterServer server;
};

inline llm::ClientOptions client_options(const ScriptedServer& s, const std::filesystem::path& cache_dir) {
  llm::ClientOptions o;
  o.base_url = s.server.base_url();
  o.api_key = "sk-test";
  o.cache_dir = cache_dir;
  o.progress = false;
  o.backoff_base_s = 0.001;
  o.key_check = llm::KeyCheck::Off;
  return o;
}

inline std::vector<llm::Message> messages_of(const json::Value& body) {
  std::vector<llm::Message> out;
  for (const auto& m : body.at("messages").as_array()) out.push_back({m.at("role").as_string(), m.at("content").as_string()});
  return out;
}

inline json::Value messages_json(const json::Value& body) { return body.at("messages"); }

inline int distinct_bodies(const OpenRouterServer& server) {
  std::set<std::string> seen;
  for (const auto& b : server.received_bodies()) seen.insert(json::dump_canonical(b));
  return static_cast<int>(seen.size());
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline void expect_valid_records(const std::filesystem::path& dir, std::size_t expected_count) {
  std::size_t count = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    ++count;
    const auto problems = results::validate(json::parse_file(e.path()));
    EXPECT_TRUE(problems.empty()) << e.path() << ": " << (problems.empty() ? "" : problems.front());
  }
  EXPECT_EQ(count, expected_count) << dir;
}

// `OPENROUTER_API_KEY=sk-test w2s <command>` on the real TruthfulQA files (20 test questions)
// against `base_url`, with cache and results under `dir`, run name "run".
inline std::string w2s_command(const std::string& command, const std::string& base_url,
                               const std::filesystem::path& dir) {
  return "OPENROUTER_API_KEY=sk-test " + shell_quote(w2s_binary().string()) + " " + command +
         " --test-size 20 --data-dir " + shell_quote((assets_dir() / "data").string()) + " --base-url " + base_url +
         " --cache-dir " + shell_quote((dir / "cache").string()) + " --results-dir " +
         shell_quote((dir / "results").string()) + " --run-name run --key-check off --no-progress";
}

}  // namespace w2s::test
