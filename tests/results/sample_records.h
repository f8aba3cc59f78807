// Records used by the results tests: one with every field set, one with only what is required.
#pragma once

#include "w2s/results.h"

namespace w2s::test {

inline results::ResultRecord full_record() {
  using namespace w2s::results;
  ResultRecord r;
  r.kind = Kind::WeakSweep;
  r.run = "demo";
  r.created_at = "2026-01-02T03:04:05Z";
  r.tool_version = "0.1.0";
  r.tool_git_commit = "abcdef123456";
  r.config = json::parse(R"({"temperature": 0.0, "shots": [0, 5], "nested": {"a": null, "b": true}})");
  r.dataset = {"truthfulqa", "mc1-4-local", {{"data/truthfulqa/mc_task.json", std::string(64, 'a')}}, "test",
               {{"test", 2}, {"train", 490}}, 42};
  r.models = {{"meta/llama-8b", "weak"}, {"meta/llama-70b", "strong"}};
  r.evaluated_model = "meta/llama-70b";
  r.label_source = {"weak", "meta/llama-8b"};
  r.shots = 5;
  r.stage = "w2s";
  r.metrics.n = 2;
  r.metrics.num_correct = 1;
  r.metrics.accuracy = 0.5;
  r.metrics.accuracy_answered = 1.0;
  r.metrics.auroc = 0.75;
  r.metrics.parse_failures = 1;
  r.metrics.failed = 0;
  r.metrics.loss = 0.6931;
  r.metrics.extra = json::parse(R"({"ce_gold": 0.7})");
  Prediction a;
  a.id = "17";
  a.prediction = "C";
  a.gold = "C";
  a.correct = true;
  a.score = 0.9;
  a.probabilities = {{"A", 0.05}, {"B", 0.05}, {"C", 0.9}};
  a.label_used = 0.25;
  a.raw_completion = "The answer is (C).\n";
  a.reasoning = "Astrology has no evidence behind it.";
  a.reasoning_tokens = 7;
  a.finish_reason = "stop";
  Prediction b;
  b.id = "18";
  b.gold = "A";
  b.error = "HTTP 429 after 8 attempts";
  r.predictions = {a, b};
  r.cost.total = {0.0123, 1000, 20, 2, 1, 0, 0.004, 0.002};
  r.cost.source = "usage";
  r.cost.by_model["meta/llama-70b"] = r.cost.total;
  r.timing = {"2026-01-02T03:00:00Z", "2026-01-02T03:04:05Z", 245.5};
  r.extra = json::parse(R"({"weak_labels_train": ["A", "B"]})");
  return r;
}

inline results::ResultRecord minimal_record() {
  results::ResultRecord r;
  r.dataset.name = "sst2";
  r.evaluated_model = "m";
  return r;
}

}  // namespace w2s::test
