// Experiment configuration: the reference study's defaults, the option values that need their
// own reading (pairs), and the configuration recorded in every result record.
#include <algorithm>

#include "w2s/icl.h"

namespace w2s::icl {

const options::NameTable<ScoreMode>& names_of(ScoreMode) {
  static const options::NameTable<ScoreMode> names{"score mode",
                                                   {{ScoreMode::Text, "text"}, {ScoreMode::Logprobs, "logprobs"}}};
  return names;
}

const options::NameTable<FailedPolicy>& names_of(FailedPolicy) {
  static const options::NameTable<FailedPolicy> names{
      "failed-request policy", {{FailedPolicy::Wrong, "wrong"}, {FailedPolicy::Exclude, "exclude"}}};
  return names;
}

const options::NameTable<LabelPool>& names_of(LabelPool) {
  static const options::NameTable<LabelPool> names{"label pool", {{LabelPool::Shots, "shots"}, {LabelPool::Full, "full"}}};
  return names;
}

std::vector<std::string> default_models() {
  return {"meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-70b-instruct", "qwen/qwen-2.5-72b-instruct"};
}

std::vector<Pair> default_pairs() {
  const auto m = default_models();
  return {{m[0], m[0]}, {m[0], m[1]}, {m[0], m[2]}, {m[1], m[1]}, {m[1], m[2]}, {m[2], m[2]}};
}

std::vector<int> default_shots() { return {0, 2, 4, 8, 16, 32, 64}; }

void option_from_text(std::string_view text, Pair& pair) {
  const std::string item(text);
  std::size_t cut = item.find("->");
  std::size_t sep_len = 2;
  if (cut == std::string::npos) {
    cut = item.find(':');
    sep_len = 1;
    if (cut != std::string::npos && item.find(':', cut + 1) != std::string::npos)
      throw Error("pair '" + item + "' has more than one ':'; write it as weak->strong");
  }
  if (cut == std::string::npos) throw Error("pair '" + item + "' is not weak:strong (or weak->strong)");
  Pair p{item.substr(0, cut), item.substr(cut + sep_len)};
  auto trim = [](std::string& s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
  };
  trim(p.weak);
  trim(p.strong);
  if (p.weak.empty() || p.strong.empty()) throw Error("pair '" + item + "' has an empty model id");
  pair = std::move(p);
}

std::string option_to_text(const Pair& pair) {
  const bool colon = pair.weak.find(':') != std::string::npos || pair.strong.find(':') != std::string::npos;
  return pair.weak + (colon ? "->" : ":") + pair.strong;
}

json::Value option_to_json(const Pair& pair) { return json::Object{{"weak", pair.weak}, {"strong", pair.strong}}; }

std::vector<Pair> parse_pairs(std::string_view text) {
  std::vector<Pair> pairs;
  for (const std::string& item : split_list(text, ',')) option_from_text(item, pairs.emplace_back());
  if (pairs.empty()) throw Error("no model pairs given");
  return pairs;
}

json::Value config_to_json(const Config& config, std::string_view experiment) {
  Config c = config;
  c.experiment = std::string(experiment);
  return options::record(c);
}

}  // namespace w2s::icl
