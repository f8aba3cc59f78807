// Hand-made result records for the analysis tests, written with the results writer.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "assets.h"
#include <fmt/format.h>

#include "w2s/analysis.h"

namespace w2s::test {

inline const std::vector<std::string> kGold = {"A", "B", "C", "D", "A", "B", "C", "D", "A", "B"};

inline results::DatasetIdentity tqa(const std::string& variant = "mc1-4-local") {
  return {"truthfulqa", variant, {{"mc_task.json", std::string(64, 'f')}}, "test", {{"test", 10}}, 42};
}

// An ICL record whose per-question answers are `answers` (gold kGold unless given).
inline results::ResultRecord icl_record(results::Kind kind, const std::string& model, int shots,
                                        const std::vector<std::string>& answers, const std::string& weak = "",
                                        const std::vector<std::string>& gold = kGold) {
  results::ResultRecord r;
  r.kind = kind;
  r.run = "fixture";
  r.dataset = tqa();
  r.evaluated_model = model;
  r.shots = shots;
  if (kind == results::Kind::GoldSweep) r.label_source = {"gold", ""};
  if (kind == results::Kind::WeakSweep) {
    r.label_source = {"weak", weak};
    r.models = {{weak, "weak"}, {model, "student"}};
  } else {
    r.models = {{model, "subject"}};
  }
  for (std::size_t i = 0; i < answers.size(); ++i) {
    results::Prediction p;
    p.id = std::to_string(i);
    p.prediction = answers[i];
    p.gold = gold[i];
    p.correct = answers[i] == gold[i];
    r.predictions.push_back(p);
  }
  r.metrics = results::accuracy_metrics(r.predictions);
  return r;
}

// Answers that are right on exactly the questions in `right` (else a fixed wrong letter).
inline std::vector<std::string> right_on(const std::vector<int>& right, const std::vector<std::string>& gold = kGold) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    const bool r = std::find(right.begin(), right.end(), static_cast<int>(i)) != right.end();
    out.push_back(r ? gold[i] : (gold[i] == "A" ? "B" : "A"));
  }
  return out;
}

inline std::vector<results::LoadedRecord> load(const std::filesystem::path& dir) {
  return results::load_record_files({dir}).records;
}

}  // namespace w2s::test
