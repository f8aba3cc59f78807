#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "console_checks.h"
#include "detail.h"
#include "train_fixtures.h"

using namespace w2s;
using namespace w2s::analysis;
using results::Kind;
namespace fs = std::filesystem;

namespace {
json::Value row_for(const Report& r, const std::string& dataset, const std::string& method) {
  for (const auto& row : r.tables.at("train").as_array())
    if (row.get_string("dataset") == dataset && row.get_string("method") == method) return row;
  throw Error("no row for " + dataset + " " + method);
}
}  // namespace

TEST(TrainAnalysis, FloorCeilingStudentPgrOnAccuracyAndAuroc) {
  const fs::path dir = test::scratch_dir("train_known");
  test::write_train_fixture(dir, "sst2");
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  ASSERT_EQ(r.tables.at("train").size(), 2u);
  const json::Value& logconf = row_for(r, "sst2", "logconf");
  EXPECT_DOUBLE_EQ(logconf.get_double("floor_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(logconf.get_double("ceiling_accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(logconf.get_double("student_accuracy"), 0.75);
  EXPECT_DOUBLE_EQ(logconf.get_double("pgr_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(logconf.get_double("floor_auroc"), 0.5);
  EXPECT_DOUBLE_EQ(logconf.get_double("ceiling_auroc"), 1.0);
  // Positives 0.6 0.4 0.8 0.9 vs negatives 0.1 0.2 0.3 0.7: 14 of 16 pairs ordered.
  EXPECT_DOUBLE_EQ(logconf.get_double("student_auroc"), 14.0 / 16.0);
  EXPECT_DOUBLE_EQ(logconf.get_double("pgr_auroc"), 0.75);
  EXPECT_EQ(logconf.get_int("mcnemar_student_only_correct"), 0);
  EXPECT_EQ(logconf.get_int("mcnemar_ceiling_only_correct"), 2);
  EXPECT_DOUBLE_EQ(logconf.get_double("mcnemar_p"), 0.5);
  EXPECT_EQ(logconf.get_string("weak_name"), "small");

  const json::Value& xent = row_for(r, "sst2", "xent");
  EXPECT_DOUBLE_EQ(xent.get_double("student_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(xent.get_double("pgr_accuracy"), 0.0);

  ASSERT_EQ(r.tables.at("train_methods").size(), 2u);
  const json::Value& m = r.tables.at("train_methods").at(0);
  EXPECT_EQ(m.get_string("method"), "logconf");
  EXPECT_EQ(m.get_int("datasets"), 1);
  EXPECT_DOUBLE_EQ(m.get_double("pgr_auroc_mean"), 0.75);
}

TEST(TrainAnalysis, EqualFloorAndCeilingGiveUndefinedPgr) {
  const fs::path dir = test::scratch_dir("train_degenerate");
  test::write_train_fixture(dir, "boolq");
  // Ceiling identical to floor.
  fs::copy_file(dir / "boolq" / "floor.json", dir / "floor_copy.json");
  auto ceiling = results::read_record(dir / "floor_copy.json");
  fs::remove(dir / "floor_copy.json");
  ceiling.kind = Kind::TrainCeiling;
  ceiling.evaluated_model = "org/big";
  results::write_record(dir / "boolq" / "ceiling.json", ceiling);
  Options o;
  o.bootstrap_resamples = 40;
  const Report r = analyze(test::load(dir), o);
  for (const auto& row : r.tables.at("train").as_array()) {
    EXPECT_TRUE(row.at("pgr_accuracy").is_null());
    EXPECT_TRUE(row.at("pgr_auroc").is_null());
    EXPECT_TRUE(row.at("pgr_auroc_lo").is_null());
  }
  EXPECT_TRUE(r.tables.at("train_methods").at(0).at("pgr_auroc_mean").is_null());
  EXPECT_EQ(r.tables.at("train_methods").at(0).get_int("pgr_auroc_defined"), 0);
}

TEST(TrainAnalysis, CeilingBelowFloorIsFlaggedInTablesCsvAndConsole) {
  const fs::path dir = test::scratch_dir("train_inverted");
  test::write_train_fixture(dir, "sst2");
  // The "ceiling" scores 0.5 (accuracy and AUROC) and the floor 1.0: PGR is defined but no share of a gap.
  auto floor = results::read_record(dir / "sst2" / "ceiling.json");
  auto ceiling = results::read_record(dir / "sst2" / "floor.json");
  floor.kind = Kind::TrainFloor;
  floor.evaluated_model = "org/small";
  ceiling.kind = Kind::TrainCeiling;
  ceiling.evaluated_model = "org/big";
  results::write_record(dir / "sst2" / "floor.json", floor);
  results::write_record(dir / "sst2" / "ceiling.json", ceiling);
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  const json::Value& logconf = row_for(r, "sst2", "logconf");
  EXPECT_DOUBLE_EQ(logconf.get_double("pgr_accuracy"), 0.5);  // (0.75 - 1) / (0.5 - 1)
  EXPECT_TRUE(logconf.at("ceiling_not_above_floor_accuracy").as_bool());
  EXPECT_TRUE(logconf.at("ceiling_not_above_floor_auroc").as_bool());
  const std::string console = console_table(r);
  EXPECT_CONTAINS(console, "0.500!");
  EXPECT_CONTAINS(console, "! the ceiling is at or below the floor");
  const fs::path out = test::scratch_dir("train_inverted_out");
  write_report(r, out);
  const std::string csv = read_file(out / "train.csv");
  EXPECT_CONTAINS(csv, "ceiling_not_above_floor_accuracy");
  EXPECT_CONTAINS(csv, ",true,");

  // The usual order: flagged false, no marker.
  const fs::path plain = test::scratch_dir("train_plain");
  test::write_train_fixture(plain, "sst2");
  const Report normal = analyze(test::load(plain), o);
  EXPECT_FALSE(row_for(normal, "sst2", "logconf").at("ceiling_not_above_floor_auroc").as_bool());
  EXPECT_EQ(console_table(normal).find("at or below the floor"), std::string::npos);
}

// Issue 16.10: methods are named by what was done (extra.method), and a cached stage that two
// runs reused is one student, not a method compared with itself.
TEST(TrainAnalysis, MethodsAreNamedByWhatWasDoneAndReusedStagesCountOnce) {
  const fs::path dir = test::scratch_dir("train_dedupe");
  test::write_train_fixture(dir, "sst2");
  fs::remove_all(dir / "sst2" / "logconf");
  fs::remove_all(dir / "sst2" / "xent");
  const auto& g = test::kBinaryGold;
  auto student = [&](const std::string& run, const std::string& method, const std::vector<double>& scores) {
    auto r = test::train_record(Kind::TrainW2S, "sst2", "org/big", "org/small", run, g, scores);
    r.extra = json::Value(json::Object{{"method", method}});
    results::write_record(dir / "sst2" / run / "w2s.json", r);
  };
  const std::vector<double> learned = {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9};
  student("first-try", "xent+knn-relabel", learned);
  student("second-try", "xent+knn-relabel", learned);  // the same cached stage, another run name
  student("logconf-run", "logconf", {0.1, 0.2, 0.6, 0.7, 0.3, 0.4, 0.8, 0.9});
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  ASSERT_EQ(r.tables.at("train").size(), 2u);
  EXPECT_DOUBLE_EQ(row_for(r, "sst2", "xent+knn-relabel").get_double("pgr_accuracy"), 0.5);
  EXPECT_NO_THROW(row_for(r, "sst2", "logconf"));
  ASSERT_EQ(r.tables.at("train_method_pairs").size(), 1u);  // not xent+knn-relabel against itself

  // The same method with other outcomes (say another learning rate): told apart by run name.
  student("third-try", "xent+knn-relabel", {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9});
  const Report three = analyze(test::load(dir), o);
  ASSERT_EQ(three.tables.at("train").size(), 3u);
  EXPECT_NO_THROW(row_for(three, "sst2", "xent+knn-relabel [third-try]"));
  const bool first_named = [&] {
    for (const auto& row : three.tables.at("train").as_array())
      if (row.get_string("method") == "xent+knn-relabel [first-try]" ||
          row.get_string("method") == "xent+knn-relabel [second-try]")
        return true;
    return false;
  }();
  EXPECT_TRUE(first_named);
}

TEST(TrainAnalysis, BootstrapCisContainThePointAndAreSeeded) {
  const fs::path dir = test::scratch_dir("train_bootstrap");
  test::write_train_fixture(dir, "sst2");
  Options o;
  o.bootstrap_resamples = 100;
  o.seed = 3;
  const Report a = analyze(test::load(dir), o);
  EXPECT_EQ(json::dump(a.tables), json::dump(analyze(test::load(dir), o).tables));
  for (const auto& row : a.tables.at("train").as_array())
    for (const char* key : {"student_accuracy", "student_auroc", "floor_auroc"}) {
      EXPECT_LE(row.get_double(std::string(key) + "_lo"), row.get_double(key)) << key;
      EXPECT_GE(row.get_double(std::string(key) + "_hi"), row.get_double(key)) << key;
    }
}

TEST(TrainAnalysis, MissingCeilingNamesTheFiles) {
  const fs::path dir = test::scratch_dir("train_errors");
  test::write_train_fixture(dir, "sst2");
  fs::remove(dir / "sst2" / "ceiling.json");
  try {
    analyze(test::load(dir));
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing ceiling"), std::string::npos) << msg;
    EXPECT_NE(msg.find("train-ceiling"), std::string::npos) << msg;
    EXPECT_NE(msg.find("w2s.json"), std::string::npos) << msg;
  }
}

// A student trained on another version of the data is on a test set of its own, without a floor
// or ceiling there: it is left out with a note naming it, and the rest is analysed.
TEST(TrainAnalysis, AStudentOnAnotherVersionOfTheDataIsLeftOutWithANote) {
  const fs::path dir = test::scratch_dir("train_other_version");
  test::write_train_fixture(dir, "sst2");
  auto other = results::read_record(dir / "sst2" / "xent" / "w2s.json");
  other.dataset.sources[0].sha256 = std::string(64, 'e');
  results::write_record(dir / "sst2" / "xent" / "w2s.json", other);
  const Report r = analyze(test::load(dir));
  ASSERT_EQ(r.tables.at("train").size(), 1u);
  EXPECT_EQ(r.tables.at("train").as_array()[0].get_string("method"), "logconf");
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  EXPECT_NE(notes.find("missing floor"), std::string::npos) << notes;
  EXPECT_NE(notes.find("xent/w2s.json"), std::string::npos) << notes;
}

// Two runs of one dataset on different test sets (another --test-size or data seed) are two
// groups, each with its own floor and ceiling, reported side by side under telling labels.
TEST(TrainAnalysis, RunsOnDifferentTestSetsOfOneDatasetAreReportedSideBySide) {
  const fs::path dir = test::scratch_dir("train_two_test_sets");
  test::write_train_fixture(dir / "small", "sst2");
  test::write_train_fixture(dir / "large", "sst2");
  for (const auto& entry : fs::recursive_directory_iterator(dir / "large"))
    if (entry.path().extension() == ".json") {
      auto record = results::read_record(entry.path());
      for (auto& p : record.predictions) p.id = "other-" + p.id;
      results::write_record(entry.path(), record);
    }
  test::write_train_fixture(dir / "elsewhere", "boolq");
  const Report r = analyze(test::load(dir));
  EXPECT_TRUE(r.notes.empty()) << r.notes.front();
  std::map<std::string, int> rows_per_test_set;
  for (const auto& row : r.tables.at("train").as_array()) {
    ++rows_per_test_set[row.get_string("test_set")];
    EXPECT_DOUBLE_EQ(row.get_double("pgr_accuracy"), row.get_string("method") == "logconf" ? 0.5 : 0.0);
  }
  ASSERT_EQ(rows_per_test_set.size(), 3u);
  EXPECT_EQ(rows_per_test_set["boolq"], 2);  // the only test set of its dataset: named by the dataset
  int sst2_sets = 0;
  for (const auto& [label, n] : rows_per_test_set)
    if (label.rfind("sst2, test split, n=8 [", 0) == 0) sst2_sets += n == 2;
  EXPECT_EQ(sst2_sets, 2);  // alike but for their examples: told apart by a fingerprint
  for (const auto& row : r.tables.at("train_methods").as_array()) EXPECT_EQ(row.get_int("datasets"), 3);
  EXPECT_EQ(r.tables.at("train_method_pairs").size(), 3u);  // logconf vs xent, once per test set
  EXPECT_NE(console_table(r).find("sst2, test split, n=8 ["), std::string::npos);
}

TEST(TrainAnalysis, MethodPairsComparePgrOnTheSameExamples) {
  const fs::path dir = test::scratch_dir("train_method_pairs");
  test::write_train_fixture(dir, "sst2");
  // A third student that predicts exactly what the logconf one does.
  results::write_record(dir / "sst2" / "twin" / "w2s.json",
                        test::train_record(Kind::TrainW2S, "sst2", "org/big", "org/small", "twin", test::kBinaryGold,
                                           {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9}));
  Options o;
  o.bootstrap_resamples = 200;
  o.seed = 5;
  const Report r = analyze(test::load(dir), o);
  const json::Value& pairs = r.tables.at("train_method_pairs");
  ASSERT_EQ(pairs.size(), 3u);  // logconf, twin, xent: every two
  auto pair_row = [&](const std::string& a, const std::string& b) -> std::pair<const json::Value*, double> {
    for (const auto& row : pairs.as_array()) {
      if (row.get_string("method_a") == a && row.get_string("method_b") == b) return {&row, 1.0};
      if (row.get_string("method_a") == b && row.get_string("method_b") == a) return {&row, -1.0};
    }
    throw Error("no pair " + a + " " + b);
  };

  const auto [lx, sign] = pair_row("logconf", "xent");
  const json::Value& logconf = row_for(r, "sst2", "logconf");
  const json::Value& xent = row_for(r, "sst2", "xent");
  for (const std::string metric : {"auroc", "accuracy"}) {
    SCOPED_TRACE(metric);
    const double delta = lx->get_double("delta_pgr_" + metric);
    EXPECT_DOUBLE_EQ(delta, sign * (logconf.get_double("pgr_" + metric) - xent.get_double("pgr_" + metric)));
    EXPECT_LE(lx->get_double("delta_pgr_" + metric + "_lo"), delta);
    EXPECT_GE(lx->get_double("delta_pgr_" + metric + "_hi"), delta);
    EXPECT_GE(lx->get_double("p_" + metric), 0.0);
    EXPECT_LE(lx->get_double("p_" + metric), 1.0);
  }
  // logconf is right on 6 of 8, xent on 4 of 8, and xent never where logconf is wrong.
  const std::int64_t a_only = lx->get_int("mcnemar_a_only_correct"), b_only = lx->get_int("mcnemar_b_only_correct");
  EXPECT_EQ(sign > 0 ? a_only : b_only, 2);
  EXPECT_EQ(sign > 0 ? b_only : a_only, 0);
  EXPECT_DOUBLE_EQ(lx->get_double("mcnemar_p"), 0.5);

  // Identical students: no difference in any resample.
  const json::Value& twins = *pair_row("logconf", "twin").first;
  for (const std::string metric : {"auroc", "accuracy"}) {
    EXPECT_DOUBLE_EQ(twins.get_double("delta_pgr_" + metric), 0.0);
    EXPECT_DOUBLE_EQ(twins.get_double("delta_pgr_" + metric + "_lo"), 0.0);
    EXPECT_DOUBLE_EQ(twins.get_double("delta_pgr_" + metric + "_hi"), 0.0);
    EXPECT_DOUBLE_EQ(twins.get_double("p_" + metric), 1.0);
  }
  EXPECT_DOUBLE_EQ(twins.get_double("mcnemar_p"), 1.0);

  // Without resampling: the point differences and McNemar only.
  o.bootstrap_resamples = 0;
  const Report unresampled = analyze(test::load(dir), o);
  const json::Value& plain = unresampled.tables.at("train_method_pairs").at(0);
  EXPECT_FALSE(plain.at("delta_pgr_auroc").is_null());
  EXPECT_TRUE(plain.at("delta_pgr_auroc_lo").is_null());
  EXPECT_TRUE(plain.at("p_auroc").is_null());
}

TEST(TrainAnalysis, BootstrapPValue) {
  EXPECT_DOUBLE_EQ(*detail::bootstrap_p_value({0.1, 0.2, 0.3, 0.4}), 0.0);
  EXPECT_DOUBLE_EQ(*detail::bootstrap_p_value({-0.1, 0.2, 0.3, 0.4}), 0.5);
  EXPECT_DOUBLE_EQ(*detail::bootstrap_p_value({-0.1, -0.2, 0.3, 0.4}), 1.0);
  EXPECT_DOUBLE_EQ(*detail::bootstrap_p_value({0.0, 0.0}), 1.0);
  // Undefined resamples are left out; fewer than half defined: no p-value.
  EXPECT_DOUBLE_EQ(*detail::bootstrap_p_value({std::nullopt, 0.2, 0.3, -0.4}), 2.0 / 3.0);
  EXPECT_FALSE(detail::bootstrap_p_value({std::nullopt, std::nullopt, std::nullopt, 0.4}).has_value());
  EXPECT_EQ(detail::differences({1.0, std::nullopt, 3.0}, {0.5, 1.0, std::nullopt}),
            (detail::Samples{0.5, std::nullopt, std::nullopt}));
}

// Issue 16 item 16: long dataset and model names keep the fine-tuning tables in line; the McNemar
// column says what it holds.
TEST(TrainAnalysis, ConsoleTablesAlignLongNames) {
  const fs::path dir = test::scratch_dir("train_console_alignment");
  test::write_train_fixture(dir, "sst2");
  test::write_train_fixture(dir, "a-dataset-with-a-rather-long-name", "some-organisation/a-long-weak-model-name-1b",
                            "some-organisation/strong");
  Options o;
  o.bootstrap_resamples = 20;
  const std::string table = console_table(analyze(test::load(dir), o));
  const auto train = test::table_lines(table, "dataset");
  EXPECT_EQ(train.size(), 5u) << table;
  test::expect_aligned(train, {"weak -> strong", "method", "PGR (AUROC)", "PGR (acc)"},
                       {"floor", "ceiling", "student", "acc", "McNemar p", "kappa"});
  EXPECT_NE(table.find("McNemar p: student vs ceiling"), std::string::npos) << table;
  const auto methods = test::table_lines(table, "  method");
  EXPECT_EQ(methods.size(), 3u) << table;
  test::expect_aligned(methods, {"method", "mean", "median"}, {"datasets", "defined"});  // mean, median: with CIs
  const auto pairs = test::table_lines(table, "dataset", 2);
  EXPECT_EQ(pairs.size(), 3u) << table;
  test::expect_aligned(pairs, {"weak -> strong", "A", "delta PGR (AUROC)", "delta PGR (acc)"}, {"McNemar p"});
}

// A sweep over seeds: each run folder holds its own floor (another seed trains another floor), so a
// student is paired with the floor of its run; the runs of one method on one dataset are averaged
// (train_dataset_methods), and the method's mean across datasets has a bootstrap interval.
TEST(TrainAnalysis, ASweepsSeedsPairEachStudentWithItsRunsFloorAndAverage) {
  const fs::path dir = test::scratch_dir("train_sweep_seeds");
  const auto& g = test::kBinaryGold;
  const std::vector<double> ceiling = {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9};        // accuracy 1
  const std::vector<double> half = {0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4};           // accuracy 0.5
  const std::vector<double> three_quarters = {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9};  // accuracy 0.75
  struct Run {
    std::string name;
    std::vector<double> floor, student;
  };
  // seed 1: floor 0.5, student 0.75 (PGR 0.5); seed 2: floor 0.75, student 1 (PGR 1).
  for (const Run& run : {Run{"s-seed=1", half, three_quarters}, Run{"s-seed=2", three_quarters, ceiling}}) {
    const fs::path folder = dir / run.name / "sst2";
    results::write_record(folder / "floor.json", test::train_record(Kind::TrainFloor, "sst2", "org/small", "", run.name, g, run.floor));
    results::write_record(folder / "ceiling.json", test::train_record(Kind::TrainCeiling, "sst2", "org/big", "", run.name, g, ceiling));
    auto student = test::train_record(Kind::TrainW2S, "sst2", "org/big", "org/small", run.name, g, run.student);
    student.extra = json::Value::object();
    student.extra.set("method", "xent");
    results::write_record(folder / "w2s.json", student);
  }
  Options o;
  o.bootstrap_resamples = 200;
  const Report r = analyze(test::load(dir), o);
  ASSERT_EQ(r.tables.at("train").size(), 2u);
  EXPECT_DOUBLE_EQ(r.tables.at("train").at(0).get_double("pgr_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(r.tables.at("train").at(1).get_double("pgr_accuracy"), 1.0);
  EXPECT_CONTAINS(r.tables.at("train").at(1).get_string("floor_file"), "s-seed=2");
  ASSERT_EQ(r.tables.at("train_dataset_methods").size(), 1u);
  const json::Value& cell = r.tables.at("train_dataset_methods").at(0);
  EXPECT_EQ(cell.get_string("method"), "xent");
  EXPECT_EQ(cell.get_int("runs"), 2);
  EXPECT_DOUBLE_EQ(cell.get_double("pgr_accuracy"), 0.75);
  ASSERT_EQ(r.tables.at("train_methods").size(), 1u);
  const json::Value& method = r.tables.at("train_methods").at(0);
  EXPECT_DOUBLE_EQ(method.get_double("pgr_accuracy_mean"), 0.75);
  EXPECT_DOUBLE_EQ(method.get_double("pgr_accuracy_median"), 0.75);
  ASSERT_TRUE(method.at("pgr_auroc_mean_lo").is_number()) << json::dump(method);
  EXPECT_LE(method.get_double("pgr_auroc_mean_lo"), method.get_double("pgr_auroc_mean"));
  EXPECT_GE(method.get_double("pgr_auroc_mean_hi"), method.get_double("pgr_auroc_mean"));
  EXPECT_LT(method.get_double("pgr_auroc_mean_lo"), method.get_double("pgr_auroc_mean_hi"));
  EXPECT_CONTAINS(console_table(r), "PGR per dataset and method: the mean over its runs");
}

// Issue 21.2: a PGR whose ceiling is not clearly above its floor is shown, flagged, but left out of
// the means and medians, with the number left out stated; the PGR of the mean floor, student and
// ceiling is reported beside the mean.
TEST(TrainAnalysis, PgrWithoutAClearGapIsLeftOutOfMeansAndCounted) {
  const fs::path dir = test::scratch_dir("train_left_out");
  const auto& g = test::kBinaryGold;
  const std::vector<double> full = {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9};            // accuracy 1
  const std::vector<double> half = {0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4};            // accuracy 0.5
  const std::vector<double> three_quarters = {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9};  // accuracy 0.75
  struct Cell {
    std::string dataset;
    std::vector<double> floor, ceiling, student;
  };
  // PGR (accuracy): a 0.5, b 1.0 but flagged (ceiling 0.5 below floor 1.0), c 1.0.
  for (const Cell& c : {Cell{"a", half, full, three_quarters}, Cell{"b", full, half, half}, Cell{"c", half, full, full}}) {
    results::write_record(dir / c.dataset / "floor.json", test::train_record(Kind::TrainFloor, c.dataset, "org/small", "", "", g, c.floor));
    results::write_record(dir / c.dataset / "ceiling.json", test::train_record(Kind::TrainCeiling, c.dataset, "org/big", "", "", g, c.ceiling));
    auto student = test::train_record(Kind::TrainW2S, c.dataset, "org/big", "org/small", "run", g, c.student);
    student.extra = json::Value::object();
    student.extra.set("method", "logconf");
    results::write_record(dir / c.dataset / "w2s.json", student);
  }
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  const json::Value& b = row_for(r, "b", "logconf");
  EXPECT_DOUBLE_EQ(b.get_double("pgr_accuracy"), 1.0);  // shown ...
  EXPECT_TRUE(b.at("ceiling_not_above_floor_accuracy").as_bool());  // ... flagged
  ASSERT_EQ(r.tables.at("train_methods").size(), 1u);
  const json::Value& m = r.tables.at("train_methods").at(0);
  EXPECT_DOUBLE_EQ(m.get_double("pgr_accuracy_mean"), 0.75);    // (0.5 + 1.0) / 2, not (0.5 + 1 + 1) / 3
  EXPECT_DOUBLE_EQ(m.get_double("pgr_accuracy_median"), 0.75);
  EXPECT_EQ(m.get_int("pgr_accuracy_defined"), 2);
  EXPECT_EQ(m.get_int("pgr_accuracy_left_out"), 1);
  // Mean floor 2/3, ceiling 5/6, student 3/4: (3/4 - 2/3) / (5/6 - 2/3) = 1/2.
  EXPECT_NEAR(m.get_double("pgr_accuracy_of_means"), 0.5, 1e-12);
  // The per-dataset cell of b has no usable run.
  for (const auto& cell : r.tables.at("train_dataset_methods").as_array())
    if (cell.get_string("dataset") == "b") {
      EXPECT_TRUE(cell.at("pgr_accuracy").is_null());
      EXPECT_EQ(cell.get_int("pgr_accuracy_left_out"), 1);
    }

  const std::string console = console_table(r);
  EXPECT_CONTAINS(console, "1.000!");
  EXPECT_CONTAINS(console, "left out of every mean and median");
  const auto methods = test::table_lines(console, "  method");
  ASSERT_EQ(methods.size(), 2u) << console;
  EXPECT_CONTAINS(methods[0], "left out");
  const fs::path out = test::scratch_dir("train_left_out_out");
  write_report(r, out);
  const std::string csv = read_file(out / "train_methods.csv");
  EXPECT_CONTAINS(csv, "pgr_accuracy_left_out");
  EXPECT_CONTAINS(csv, "pgr_accuracy_of_means");
}

// Issue 21.8: a sweep's "train" rows carry their run and seed, and the settings in which the
// students differ (here the learning rate) as columns.
TEST(TrainAnalysis, SweepRowsCarryRunSeedAndTheDifferingSettings) {
  const fs::path dir = test::scratch_dir("train_sweep_columns");
  const auto& g = test::kBinaryGold;
  const std::vector<double> full = {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9}, half = {0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4};
  const std::vector<double> three_quarters = {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9};
  for (const auto& [run, seed, lr] : {std::tuple{"lr=1e-4,seed=1", 1, 1e-4}, std::tuple{"lr=3e-4,seed=2", 2, 3e-4}}) {
    json::Value args = json::Value::object();
    args.set("seed", seed);
    args.set("lr", lr);
    json::Value config = json::Value::object();
    config.set("train_args", args);
    config.set("run_name", run);
    const fs::path folder = dir / run / "sst2";
    auto write = [&](const std::string& file, results::ResultRecord r) {
      r.config = config;
      results::write_record(folder / file, r);
    };
    write("floor.json", test::train_record(Kind::TrainFloor, "sst2", "org/small", "", run, g, half));
    write("ceiling.json", test::train_record(Kind::TrainCeiling, "sst2", "org/big", "", run, g, full));
    write("w2s.json", test::train_record(Kind::TrainW2S, "sst2", "org/big", "org/small", run, g, seed == 1 ? three_quarters : full));
  }
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  const json::Value& rows = r.tables.at("train");
  ASSERT_EQ(rows.size(), 2u);
  std::map<std::int64_t, std::string> lr_by_seed;
  for (const auto& row : rows.as_array()) lr_by_seed[row.get_int("seed")] = row.get_string("setting.train_args.lr");
  EXPECT_EQ(lr_by_seed, (std::map<std::int64_t, std::string>{{1, "0.0001"}, {2, "0.0003"}}));
  EXPECT_EQ(rows.at(0).get_string("run").substr(0, 3), "lr=");
  EXPECT_FALSE(rows.at(0).find("setting.train_args.seed"));  // a column of its own
  const fs::path out = test::scratch_dir("train_sweep_columns_out");
  write_report(r, out);
  EXPECT_CONTAINS(read_file(out / "train.csv"), ",run,seed,setting.train_args.lr");
  const auto console = test::table_lines(console_table(r), "dataset");
  ASSERT_EQ(console.size(), 3u);
  EXPECT_CONTAINS(console[0], "run             seed");
  EXPECT_CONTAINS(console[1], "lr=1e-4,seed=1     1");
}
