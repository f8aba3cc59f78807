// Experiment configuration: the reference study's defaults, option parsing, and the resolved
// configuration recorded in every result record.
#include <algorithm>
#include <charconv>

#include "w2s/icl.h"

namespace w2s::icl {

const char* score_mode_name(ScoreMode s) { return s == ScoreMode::Text ? "text" : "logprobs"; }

ScoreMode parse_score_mode(std::string_view s) {
  if (s == "text") return ScoreMode::Text;
  if (s == "logprobs") return ScoreMode::Logprobs;
  throw Error("unknown score mode '" + std::string(s) + "' (expected text or logprobs)");
}

const char* failed_policy_name(FailedPolicy f) { return f == FailedPolicy::Wrong ? "wrong" : "exclude"; }

FailedPolicy parse_failed_policy(std::string_view s) {
  if (s == "wrong") return FailedPolicy::Wrong;
  if (s == "exclude") return FailedPolicy::Exclude;
  throw Error("unknown failed-request policy '" + std::string(s) + "' (expected wrong or exclude)");
}

std::vector<std::string> default_models() {
  return {"meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-70b-instruct", "qwen/qwen-2.5-72b-instruct"};
}

std::vector<Pair> default_pairs() {
  const auto m = default_models();
  return {{m[0], m[0]}, {m[0], m[1]}, {m[0], m[2]}, {m[1], m[1]}, {m[1], m[2]}, {m[2], m[2]}};
}

std::vector<int> default_shots() { return {0, 2, 4, 8, 16, 32, 64}; }

std::vector<Pair> parse_pairs(std::string_view text) {
  std::vector<Pair> pairs;
  for (const std::string& item : split_list(text, ',')) {
    std::size_t cut = item.find("->");
    std::size_t sep_len = 2;
    if (cut == std::string::npos) {
      cut = item.find(':');
      sep_len = 1;
      if (cut != std::string::npos && item.find(':', cut + 1) != std::string::npos)
        throw Error("pair '" + item + "' has more than one ':'; write it as weak->strong");
    }
    if (cut == std::string::npos)
      throw Error("pair '" + item + "' is not weak:strong (or weak->strong)");
    Pair p{item.substr(0, cut), item.substr(cut + sep_len)};
    auto trim = [](std::string& s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
    };
    trim(p.weak);
    trim(p.strong);
    if (p.weak.empty() || p.strong.empty()) throw Error("pair '" + item + "' has an empty model id");
    pairs.push_back(std::move(p));
  }
  if (pairs.empty()) throw Error("no model pairs given");
  return pairs;
}

std::vector<int> parse_shots(std::string_view text) {
  std::vector<int> shots;
  for (const std::string& item : split_list(text, ',')) {
    int n = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (ec != std::errc() || end != item.data() + item.size() || n < 0)
      throw Error("bad shot count '" + item + "' (expected a non-negative integer)");
    shots.push_back(n);
  }
  if (shots.empty()) throw Error("no shot counts given");
  std::sort(shots.begin(), shots.end());
  shots.erase(std::unique(shots.begin(), shots.end()), shots.end());
  return shots;
}

json::Value config_to_json(const Config& c, std::string_view experiment) {
  json::Value j = json::Value::object();
  j["experiment"] = std::string(experiment);
  j["run_name"] = c.run_name;
  j["results_dir"] = c.results_dir.string();
  json::Value& d = j["dataset"];
  d["variant"] = c.dataset.variant;
  d["data_dir"] = c.dataset.data_dir;
  d["dataset_file"] = c.dataset.dataset_file;
  d["test_size"] = c.dataset.test_size;
  d["seed"] = static_cast<long long>(c.dataset.seed);
  if (experiment == "baseline" || experiment == "gold-sweep") j["models"] = c.models;
  if (experiment == "weak-sweep") {
    json::Value pairs = json::Value::array();
    for (const auto& p : c.pairs) pairs.push_back(json::Object{{"weak", p.weak}, {"strong", p.strong}});
    j["pairs"] = pairs;
  }
  if (experiment != "baseline") j["shots"] = c.shots;
  j["parser"] = parser_name(c.parser);
  j["score"] = score_mode_name(c.score);
  j["failed_policy"] = failed_policy_name(c.failed_policy);
  json::Value& s = j["sampling"];
  s["temperature"] = c.temperature;
  s["max_tokens"] = c.max_tokens;
  s["seed"] = c.seed ? json::Value(static_cast<long long>(*c.seed)) : json::Value();
  s["top_p"] = c.top_p;
  if (c.score == ScoreMode::Logprobs) s["top_logprobs"] = c.top_logprobs;
  if (!c.reasoning.empty()) s["reasoning"] = llm::to_json(c.reasoning);
  if (!c.routing.empty()) s["provider"] = llm::to_json(c.routing);
  j["client"] = c.client;
  return j;
}

}  // namespace w2s::icl
