// The README's study (scripts/paradigms-study.sh) at a tiny size, end to end with the built w2s: a
// fine-tuning run and the in-context commands on sst2 with the two small real models of the test
// assets, both paradigms taught by the same weak labels, then analyze, plot and report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "assets.h"
#include "w2s/core.h"

namespace fs = std::filesystem;
using namespace w2s;

namespace {

// One JSON value per line of a trainer's predictions.jsonl.
std::vector<json::Value> jsonl(const fs::path& file) {
  std::vector<json::Value> rows;
  for (const auto& line : split_list(read_file(file), '\n'))
    if (!line.empty()) rows.push_back(json::parse(line, file.string()));
  return rows;
}

}  // namespace

TEST(ParadigmsStudy, BothParadigmsAreTaughtByTheSameWeakLabelsAndAnalysedSideBySide) {
  const fs::path dir = test::scratch_dir("paradigms_study");
  const fs::path models = test::assets_dir() / "models" / "hf";
  const std::string command =
      "cd '" + dir.string() + "' && W2S='" + test::w2s_binary().string() + "' W2S_DATA_DIR='" +
      (test::assets_dir() / "data").string() + "' WEAK='" + (models / "fake-gpt2-tiny-random").string() +
      "' STRONG='" + (models / "stories260K-llama").string() +
      "' N_TRAIN=60 N_VAL=16 N_TEST=20 SHOTS=0,2 THREADS=1 bash '" +
      (test::source_dir() / "scripts" / "paradigms-study.sh").string() + "'";
  std::string output;
  ASSERT_EQ(test::run_command(command, &output), 0) << output;
  const fs::path run = dir / "results" / "paradigms";

  // The fine-tuned floor's P(1) on the strong half: the weak labels of both paradigms.
  std::map<std::string, double> floor_p1;
  for (const auto& row : jsonl(run / "sst2" / "floor" / "predictions.jsonl"))
    if (row.get_string("split") == "strong_half") floor_p1[row.get_string("id")] = row.get_double("soft_pred");
  ASSERT_EQ(floor_p1.size(), 30u);  // half of 60

  // Fine-tuning: the student trained on exactly those labels.
  std::size_t taught = 0;
  for (const auto& row : jsonl(run / "sst2" / "w2s" / "predictions.jsonl")) {
    if (row.get_string("split") != "strong_half") continue;
    ASSERT_EQ(floor_p1.count(row.get_string("id")), 1u) << json::dump(row);
    EXPECT_NEAR(row.get_double("label_used"), floor_p1.at(row.get_string("id")), 1e-6) << json::dump(row);
    ++taught;
  }
  EXPECT_EQ(taught, floor_p1.size());

  // In context: the two shots are the first examples of the strong half, labelled B where the
  // floor's P(1) >= 0.5.
  const fs::path sweeps = run / "weak-sweep";
  ASSERT_TRUE(fs::is_directory(sweeps));
  const fs::path pair = fs::directory_iterator(sweeps)->path();
  const json::Value two = json::parse_file(pair / "shots-2.json");
  const json::Value& shots = two.at("extra").at("few_shot");
  ASSERT_EQ(shots.at("ids").size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string id = shots.at("ids").at(i).as_string();
    ASSERT_EQ(floor_p1.count(id), 1u) << id;
    EXPECT_EQ(shots.at("labels").at(i).as_string(), floor_p1.at(id) >= 0.5 ? "B" : "A") << id;
  }
  EXPECT_EQ(two.at("label_source").get_string("kind"), "weak");
  EXPECT_EQ(two.at("dataset").get_string("name"), "sst2");

  // One analysis with both paradigms on the 20 common test examples, its figure and its page.
  const json::Value analysis = json::parse_file(run / "analysis" / "analysis.json");
  const json::Value& rows = analysis.at("extra").at("tables").at("paradigms");
  std::map<std::string, int> paradigms;
  for (const auto& row : rows.as_array()) {
    ++paradigms[row.get_string("paradigm")];
    EXPECT_EQ(row.get_int("n"), 20) << json::dump(row);
    EXPECT_FALSE(row.at("student_accuracy").is_null()) << json::dump(row);
  }
  EXPECT_EQ(paradigms["in-context"], 2);  // shots 0 and 2
  EXPECT_EQ(paradigms["fine-tuning"], 1);
  EXPECT_EQ(analysis.at("extra").at("tables").at("paradigm_tests").size(), 2u);
  EXPECT_TRUE(fs::exists(run / "plots" / "paradigms-sst2.png"));
  const std::string page = read_file(run / "report" / "report.html");
  EXPECT_CONTAINS(page, "In context and fine-tuning side by side");
}
