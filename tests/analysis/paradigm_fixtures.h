// In-context records on the fine-tuning fixture's sst2 data (train_fixtures.h), in the format of
// lib/icl's registry-dataset runs: letters A = class 0 and B = class 1, extra.class_of_letter.
#pragma once

#include "train_fixtures.h"

namespace w2s::test {

// An in-context record on write_train_fixture's sst2 data (same name, sources and seed) over the
// first n examples of kBinaryGold (ids <id_prefix>0 ...), right on the positions in `right`.
inline results::ResultRecord icl_sst2(results::Kind kind, const std::string& model, int shots, const std::vector<int>& right,
                               const std::string& weak = "", std::int64_t seed = 0, const std::string& id_prefix = "ex",
                               int n = 6) {
  std::vector<std::string> gold;
  for (int i = 0; i < n; ++i) gold.push_back(kBinaryGold[static_cast<std::size_t>(i)] == 1 ? "B" : "A");
  results::ResultRecord r = icl_record(kind, model, shots, right_on(right, gold), weak, gold);
  r.dataset = {"sst2", "", {{"sst2.jsonl", std::string(64, 'd')}}, "test", {{"test", n}}, seed};
  for (int i = 0; i < n; ++i) r.predictions[static_cast<std::size_t>(i)].id = id_prefix + std::to_string(i);
  r.extra = json::Value::object();
  r.extra.set("class_of_letter", json::Value(json::Object{{"A", 0}, {"B", 1}}));
  return r;
}

// Weak org/small and strong org/big in context on the first 6 of the fine-tuning fixture's 8 test
// examples (ex0-ex5; gold A A A A B B):
//   weak zero-shot right on 0,1,4          3/6 = 0.5   (the in-context floor)
//   strong zero-shot right on 0-4          5/6
//   strong with 2 gold shots right on all  6/6 = 1     (the in-context ceiling at 2 shots)
//   student, 2 weak shots, right on 0-4    5/6         PGR (5/6 - 1/2) / (1 - 1/2) = 2/3
//   student, 4 weak shots, right on all    6/6         no gold sweep at 4 shots: no ceiling, no PGR
inline void write_icl_sst2(const std::filesystem::path& dir, std::int64_t seed = 0, const std::string& weak = "org/small",
               const std::string& id_prefix = "ex") {
  results::write_record(dir / "weak0.json", icl_sst2(results::Kind::Baseline, weak, 0, {0, 1, 4}, "", seed, id_prefix));
  results::write_record(dir / "strong0.json", icl_sst2(results::Kind::Baseline, "org/big", 0, {0, 1, 2, 3, 4}, "", seed, id_prefix));
  results::write_record(dir / "gold2.json", icl_sst2(results::Kind::GoldSweep, "org/big", 2, {0, 1, 2, 3, 4, 5}, "", seed, id_prefix));
  results::write_record(dir / "w2s2.json", icl_sst2(results::Kind::WeakSweep, "org/big", 2, {0, 1, 2, 3, 4}, weak, seed, id_prefix));
  results::write_record(dir / "w2s4.json",
                        icl_sst2(results::Kind::WeakSweep, "org/big", 4, {0, 1, 2, 3, 4, 5}, weak, seed, id_prefix));
}

}  // namespace w2s::test
