// AUROC and accuracy (docs/reference-behaviour.md §18); the tie-aware AUROC against scikit-learn.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

#include "assets.h"
#include "w2s/train.h"

namespace w2s::train {
namespace {

// train::auroc: the mode is a results::AurocTies, so an unqualified call with braced lists would also
// find results::auroc by argument-dependent lookup.
TEST(Metrics, AurocSpecVectors) {
  EXPECT_DOUBLE_EQ(auroc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(train::auroc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}, AurocMode::Reference), 0.75);
  // Ties: tie-aware 0.75; the reference depends on the order of the tie (0.6667 or 0.8333).
  EXPECT_DOUBLE_EQ(auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 0, 1, 1, 0}), 0.75);
  EXPECT_NEAR(train::auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 0, 1, 1, 0}, AurocMode::Reference), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(train::auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 1, 0, 1, 0}, AurocMode::Reference), 5.0 / 6.0, 1e-12);
}

TEST(Metrics, AurocHardensSoftLabelsAndNeedsBothClasses) {
  EXPECT_DOUBLE_EQ(auroc({0.2, 0.7}, {0.3, 0.6}), 1.0);
  EXPECT_DOUBLE_EQ(auroc({0.2, 0.7}, {0.5, 0.6}), 1.0);  // 0.5 is not > 0.5: negative
  EXPECT_THROW(auroc({0.2, 0.7}, {1, 1}), Error);
  EXPECT_THROW(auroc({0.2}, {1, 0}), Error);
}

TEST(Metrics, AccuracyUsesHardLabelsAboveOneHalf) {
  EXPECT_DOUBLE_EQ(accuracy({0.9, 0.1, 0.5, 0.6}, {1, 0, 0, 0.4}), 0.75);
  EXPECT_DOUBLE_EQ(accuracy({0.5}, {0.5}), 1.0);
  EXPECT_THROW(accuracy({}, {}), Error);
}

TEST(Metrics, TieAwareAurocEqualsScikitLearn) {
  // Scores rounded to one decimal so that there are many ties.
  std::mt19937 gen(1234);
  std::uniform_int_distribution<int> tenth(0, 10);
  std::bernoulli_distribution coin(0.4);
  const auto dir = test::scratch_dir("train_metrics_sklearn");
  std::ostringstream script;
  script << "import json, sys\nfrom sklearn.metrics import roc_auc_score\n"
            "for line in open(sys.argv[1]):\n"
            "    d = json.loads(line)\n"
            "    print(repr(roc_auc_score(d['y'], d['s'])))\n";
  write_file_atomic(dir / "auc.py", script.str());
  std::vector<double> ours;
  std::ostringstream cases;
  for (int c = 0; c < 20; ++c) {
    const int n = 5 + c * 13;
    std::vector<double> scores, labels;
    for (int i = 0; i < n; ++i) {
      scores.push_back(tenth(gen) / 10.0);
      labels.push_back(coin(gen) ? 1.0 : 0.0);
    }
    labels[0] = 1.0, labels[1] = 0.0;
    json::Value row = json::Value::object();
    row.set("y", labels);
    row.set("s", scores);
    cases << json::dump(row) << "\n";
    ours.push_back(auroc(scores, labels));
  }
  write_file_atomic(dir / "cases.jsonl", cases.str());
  std::string output;
  ASSERT_EQ(test::run_command(test::debian_python3() + " " + (dir / "auc.py").string() + " " + (dir / "cases.jsonl").string(), &output),
            0)
      << output;
  std::istringstream in(output);
  for (double mine : ours) {
    double theirs = -1;
    ASSERT_TRUE(in >> theirs) << output;
    EXPECT_NEAR(mine, theirs, 1e-12);
  }
}

}  // namespace
}  // namespace w2s::train
