#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "assets.h"
#include "sample_records.h"
#include "w2s/results.h"

using namespace w2s;
using namespace w2s::results;
namespace fs = std::filesystem;

namespace {

json::Value full_doc() { return to_json(test::full_record()); }

void erase_key(json::Value& obj, std::string_view key) {
  auto& o = obj.as_object();
  o.erase(std::find_if(o.begin(), o.end(), [&](const auto& kv) { return kv.first == key; }));
}

bool mentions(const std::vector<std::string>& problems, std::string_view text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& problems) {
  std::string s;
  for (const auto& p : problems) s += p + "\n";
  return s;
}

struct Case {
  std::string name;
  std::function<void(json::Value&)> mutate;
};

// Valid and invalid variations of a full record; each exercises one keyword of the subset.
std::vector<Case> cases() {
  return {
      {"full", [](json::Value&) {}},
      {"minimal", [](json::Value& d) { d = to_json(test::minimal_record()); }},
      {"shots_integral_double", [](json::Value& d) { d.set("shots", 3.0); }},
      {"shots_null", [](json::Value& d) { d.set("shots", nullptr); }},
      {"score_null", [](json::Value& d) { d["predictions"].as_array()[0].set("score", nullptr); }},
      {"open_config", [](json::Value& d) { d["config"].set("anything", json::parse("[1, {\"x\": null}]")); }},
      {"extra_null", [](json::Value& d) { d.set("extra", nullptr); }},
      {"metrics_extra_open", [](json::Value& d) { d["metrics"].set("extra", json::parse(R"({"f1": [1, 2]})")); }},
      {"no_cost", [](json::Value& d) { erase_key(d, "cost"); }},
      {"bad_kind", [](json::Value& d) { d.set("kind", "silver-sweep"); }},
      {"bad_schema_version", [](json::Value& d) { d.set("schema_version", "2.0"); }},
      {"accuracy_string", [](json::Value& d) { d["metrics"].set("accuracy", "0.5"); }},
      {"accuracy_above_one", [](json::Value& d) { d["metrics"].set("accuracy", 1.5); }},
      {"n_negative", [](json::Value& d) { d["metrics"].set("n", -1); }},
      {"n_bool", [](json::Value& d) { d["metrics"].set("n", true); }},
      {"n_fraction", [](json::Value& d) { d["metrics"].set("n", 2.5); }},
      {"shots_fraction", [](json::Value& d) { d.set("shots", 2.5); }},
      {"shots_negative", [](json::Value& d) { d.set("shots", -5); }},
      {"missing_metrics", [](json::Value& d) { erase_key(d, "metrics"); }},
      {"missing_prediction_id", [](json::Value& d) { erase_key(d["predictions"].as_array()[0], "id"); }},
      {"unknown_top_level", [](json::Value& d) { d.set("accuracy", 0.5); }},
      {"unknown_metric", [](json::Value& d) { d["metrics"].set("f1", 0.5); }},
      {"score_string", [](json::Value& d) { d["predictions"].as_array()[1].set("score", "high"); }},
      {"config_array", [](json::Value& d) { d.set("config", json::Value::array()); }},
      {"extra_string", [](json::Value& d) { d.set("extra", "x"); }},
      {"label_kind_bad", [](json::Value& d) { d["label_source"].set("kind", "silver"); }},
      {"role_bad", [](json::Value& d) { d["models"].as_array()[0].set("role", "teacher"); }},
      {"by_model_missing_usd", [](json::Value& d) { erase_key(d["cost"]["by_model"]["meta/llama-70b"], "usd"); }},
      {"split_size_string", [](json::Value& d) { d["dataset"]["split_sizes"].set("val", "x"); }},
      {"probability_string", [](json::Value& d) { d["predictions"].as_array()[0]["probabilities"].set("D", "0"); }},
      {"predictions_object", [](json::Value& d) { d.set("predictions", json::Value::object()); }},
      {"top_level_array", [](json::Value& d) { d = json::Value::array(); }},
      {"auroc_null", [](json::Value& d) { d["metrics"].set("auroc", nullptr); }},
      {"auroc_negative", [](json::Value& d) { d["metrics"].set("auroc", -0.1); }},
      {"wall_seconds_int", [](json::Value& d) { d["timing"].set("wall_seconds", 3); }},
  };
}

}  // namespace

TEST(Validation, WellFormedRecordsHaveNoProblems) {
  EXPECT_EQ(joined(validate(full_doc())), "");
  EXPECT_EQ(joined(validate(to_json(test::minimal_record()))), "");
}

TEST(Validation, WrongTypeNamesTheJsonPath) {
  json::Value d = full_doc();
  d["metrics"].set("accuracy", "0.5");
  d["predictions"].as_array()[1].set("correct", 1);
  auto problems = validate(d);
  EXPECT_TRUE(mentions(problems, "$.metrics.accuracy: expected number, found string")) << joined(problems);
  EXPECT_TRUE(mentions(problems, "$.predictions[1].correct: expected boolean, found number 1")) << joined(problems);
  EXPECT_EQ(problems.size(), 2u) << joined(problems);
}

TEST(Validation, MissingFieldAndUnknownField) {
  json::Value d = full_doc();
  erase_key(d["dataset"], "name");
  d["cost"]["total"].set("dollars", 3);
  auto problems = validate(d);
  EXPECT_TRUE(mentions(problems, "$.dataset: missing required property \"name\"")) << joined(problems);
  EXPECT_TRUE(mentions(problems, "$.cost.total.dollars: unexpected property")) << joined(problems);
}

TEST(Validation, BadKindListsAllowedValues) {
  json::Value d = full_doc();
  d.set("kind", "silver-sweep");
  auto problems = validate(d);
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("$.kind: \"silver-sweep\" is not one of [\"baseline\""), std::string::npos)
      << problems[0];
}

TEST(Validation, RangesAndKeysWithOddCharacters) {
  json::Value d = full_doc();
  d["metrics"].set("accuracy", 1.5);
  d["cost"]["by_model"]["meta/llama-70b"].set("usd", -1.0);
  auto problems = validate(d);
  EXPECT_TRUE(mentions(problems, "$.metrics.accuracy: 1.5 is above the maximum 1")) << joined(problems);
  EXPECT_TRUE(mentions(problems, "$.cost.by_model[\"meta/llama-70b\"].usd: -1.0 is below the minimum 0"))
      << joined(problems);
}

TEST(Validation, FromJsonThrowsNamingOriginAndProblems) {
  json::Value d = full_doc();
  d.set("shots", "five");
  try {
    from_json(d, "results/x.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("results/x.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("$.shots: expected integer or null, found string"), std::string::npos) << msg;
  }
}

TEST(Validation, SchemaWithUnsupportedKeywordIsRejected) {
  const json::Value s = json::parse(R"({"type": "string", "pattern": "^a"})");
  EXPECT_THROW(validate(json::Value("abc"), s), Error);
}

// The C++ validator and python3-jsonschema (Draft7Validator) agree on every case.
TEST(Validation, AgreesWithPythonJsonschema) {
  const fs::path dir = test::scratch_dir("schema_parity");
  std::string expected;
  for (const auto& c : cases()) {
    json::Value d = full_doc();
    c.mutate(d);
    write_file_atomic(dir / (c.name + ".json"), json::dump(d, 2));
    expected += c.name + (validate(d).empty() ? " valid\n" : " invalid\n");
  }
  const fs::path script = dir / "check.py";
  write_file_atomic(script, R"(import json, sys, pathlib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
for name in sys.argv[3:]:
    doc = json.load(open(pathlib.Path(sys.argv[2]) / (name + ".json")))
    print(name, "valid" if v.is_valid(doc) else "invalid")
)");
  std::string cmd = test::debian_python3() + " " + script.string() + " " + (test::source_dir() / "docs/result-schema.json").string() +
                    " " + dir.string();
  for (const auto& c : cases()) cmd += " " + c.name;
  std::string output;
  ASSERT_EQ(test::run_command(cmd, &output), 0) << output;
  EXPECT_EQ(output, expected);
  // The cases cover both outcomes.
  EXPECT_NE(expected.find(" valid\n"), std::string::npos);
  EXPECT_NE(expected.find(" invalid\n"), std::string::npos);
}
