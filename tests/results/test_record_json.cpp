#include <gtest/gtest.h>

#include <algorithm>

#include "assets.h"
#include "sample_records.h"
#include "w2s/results.h"

using namespace w2s;
using namespace w2s::results;

namespace {
// Serialise, re-parse from text, rebuild the record and serialise again: both texts must match.
void expect_text_round_trip(const ResultRecord& r) {
  const std::string text = json::dump(to_json(r), 2);
  const ResultRecord back = from_json(json::parse(text), "round-trip");
  EXPECT_EQ(json::dump(to_json(back), 2), text);
}
}  // namespace

TEST(RecordJson, FullRecordRoundTripsEveryField) {
  const ResultRecord r = test::full_record();
  expect_text_round_trip(r);
  const ResultRecord back = from_json(json::parse(json::dump(to_json(r))));
  EXPECT_EQ(back.kind, Kind::WeakSweep);
  EXPECT_EQ(back.run, "demo");
  EXPECT_EQ(back.config, r.config);
  EXPECT_EQ(back.dataset.variant, "mc1-4-local");
  ASSERT_EQ(back.dataset.sources.size(), 1u);
  EXPECT_EQ(back.dataset.sources[0].sha256, std::string(64, 'a'));
  EXPECT_EQ(back.dataset.split_sizes.at("train"), 490);
  EXPECT_EQ(back.dataset.seed, 42);
  ASSERT_EQ(back.models.size(), 2u);
  EXPECT_EQ(back.models[1].role, "strong");
  EXPECT_EQ(back.label_source.model, "meta/llama-8b");
  EXPECT_EQ(back.shots, 5);
  EXPECT_EQ(back.stage, "w2s");
  EXPECT_EQ(back.metrics.accuracy_answered, 1.0);
  EXPECT_EQ(back.metrics.auroc, 0.75);
  EXPECT_EQ(back.metrics.loss, 0.6931);
  EXPECT_EQ(back.metrics.extra, r.metrics.extra);
  ASSERT_EQ(back.predictions.size(), 2u);
  const Prediction& a = back.predictions[0];
  EXPECT_EQ(a.score, 0.9);
  EXPECT_EQ(a.probabilities.at("C"), 0.9);
  EXPECT_EQ(a.label_used, 0.25);
  EXPECT_EQ(a.raw_completion, "The answer is (C).\n");
  EXPECT_EQ(a.reasoning, "Astrology has no evidence behind it.");
  EXPECT_EQ(a.reasoning_tokens, 7);
  EXPECT_EQ(a.finish_reason, "stop");
  EXPECT_FALSE(a.error);
  EXPECT_FALSE(back.predictions[1].finish_reason);
  EXPECT_EQ(back.predictions[1].error, "HTTP 429 after 8 attempts");
  EXPECT_EQ(back.predictions[1].prediction, "");
  EXPECT_EQ(back.cost.total.prompt_tokens, 1000);
  EXPECT_EQ(back.cost.total.replayed_usd, 0.004);
  EXPECT_EQ(back.cost.total.upstream_usd, 0.002);
  EXPECT_EQ(back.cost.by_model.at("meta/llama-70b").usd, 0.0123);
  EXPECT_EQ(back.timing.wall_seconds, 245.5);
  EXPECT_EQ(back.extra, r.extra);
}

TEST(RecordJson, MinimalRecordRoundTripsWithDefaults) {
  const ResultRecord r = test::minimal_record();
  const json::Value doc = to_json(r);
  EXPECT_TRUE(doc.at("shots").is_null());
  EXPECT_TRUE(doc.at("stage").is_null());
  EXPECT_TRUE(doc.at("metrics").at("auroc").is_null());
  EXPECT_TRUE(doc.at("config").is_object());  // a null config is written as {}
  const ResultRecord back = from_json(doc);
  EXPECT_FALSE(back.shots);
  EXPECT_FALSE(back.stage);
  EXPECT_FALSE(back.metrics.auroc);
  EXPECT_EQ(back.label_source.kind, "none");
  EXPECT_EQ(back.cost.source, "none");
  EXPECT_TRUE(back.predictions.empty());
  EXPECT_EQ(json::dump(to_json(back)), json::dump(doc));
}

TEST(RecordJson, OptionalTopLevelBlocksMayBeAbsent) {
  json::Value doc = to_json(test::minimal_record());
  auto& o = doc.as_object();
  for (const char* key : {"run", "shots", "stage", "cost", "timing", "extra"})
    o.erase(std::find_if(o.begin(), o.end(), [&](const auto& kv) { return kv.first == key; }));
  ASSERT_TRUE(validate(doc).empty());
  const ResultRecord back = from_json(doc);
  EXPECT_EQ(back.run, "");
  EXPECT_EQ(back.cost.total.usd, 0.0);
}

TEST(RecordJson, KindNamesRoundTripAndUnknownKindIsAnError) {
  for (Kind k : {Kind::Baseline, Kind::GoldSweep, Kind::WeakSweep, Kind::WeakLabels, Kind::TrainFloor,
                 Kind::TrainCeiling, Kind::TrainW2S, Kind::TrainS2S, Kind::Analysis})
    EXPECT_EQ(parse_kind(kind_name(k)), k);
  try {
    parse_kind("silver-sweep");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("silver-sweep"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("gold-sweep"), std::string::npos);
  }
}

// Every kind in the C++ enum is in the schema's enum and vice versa.
TEST(RecordJson, SchemaKindEnumMatchesCode) {
  const auto& kinds = schema().at("properties").at("kind").at("enum").as_array();
  EXPECT_EQ(kinds.size(), 9u);
  for (const auto& k : kinds) EXPECT_NO_THROW(parse_kind(k.as_string()));
}

TEST(RecordJson, EmbeddedSchemaIsTheDocsFile) {
  EXPECT_EQ(schema(), json::parse_file(test::source_dir() / "docs" / "result-schema.json"));
}

TEST(RecordJson, AccuracyMetricsCountsFailuresAsWrong) {
  std::vector<Prediction> ps(4);
  ps[0].prediction = "A", ps[0].correct = true;
  ps[1].prediction = "B", ps[1].correct = false;
  ps[2].prediction = "";                     // unparsed
  ps[3].error = "timeout";                   // failed request
  const Metrics m = accuracy_metrics(ps);
  EXPECT_EQ(m.n, 4);
  EXPECT_EQ(m.num_correct, 1);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.25);
  EXPECT_EQ(m.parse_failures, 1);
  EXPECT_EQ(m.failed, 1);
  ASSERT_TRUE(m.accuracy_answered);
  EXPECT_DOUBLE_EQ(*m.accuracy_answered, 0.5);

  const Metrics all_answered = accuracy_metrics({ps[0], ps[1]});
  EXPECT_FALSE(all_answered.accuracy_answered);
  EXPECT_EQ(accuracy_metrics({}).accuracy, 0.0);
}
