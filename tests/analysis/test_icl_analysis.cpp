#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "console_checks.h"
#include "detail.h"
#include "fixtures.h"

using namespace w2s;
using namespace w2s::analysis;
using results::Kind;
namespace fs = std::filesystem;

namespace {

// The per-question table worked out by hand in this file's comments:
//   q   gold weak strong student   (w,s,x)
//   0   A    A    A      A         111 both
//   1   B    B    B      B         111 both
//   2   C    C    C      C         111 both
//   3   D    D    D      A         110 neither
//   4   A    B    A      A         011 strong only
//   5   B    C    B      B         011 strong only
//   6   C    D    C      D         010 weak only
//   7   D    A    D      A         010 weak only
//   8   A    C    B      A         001 neither
//   9   B    C    D      A         000 neither
const std::vector<std::string> kWeak = {"A", "B", "C", "D", "B", "C", "D", "A", "C", "C"};
const std::vector<std::string> kStrong = {"A", "B", "C", "D", "A", "B", "C", "D", "B", "D"};
const std::vector<std::string> kStudent = {"A", "B", "C", "A", "A", "B", "D", "A", "A", "A"};

fs::path write_pair_fixture(const std::string& name) {
  const fs::path dir = test::scratch_dir(name);
  results::write_record(dir / "baseline_w.json", test::icl_record(Kind::Baseline, "org/weak-1b", 0, kWeak));
  results::write_record(dir / "baseline_s.json", test::icl_record(Kind::Baseline, "org/strong-70b", 0, kStrong));
  results::write_record(dir / "gold_w5.json", test::icl_record(Kind::GoldSweep, "org/weak-1b", 5, test::right_on({0, 1, 2, 3, 4})));
  results::write_record(dir / "gold_s5.json",
                        test::icl_record(Kind::GoldSweep, "org/strong-70b", 5, test::right_on({0, 1, 2, 3, 4, 5, 6, 7, 8})));
  results::write_record(dir / "w2s_5.json", test::icl_record(Kind::WeakSweep, "org/strong-70b", 5, kStudent, "org/weak-1b"));
  return dir;
}

const json::Value& only_row(const Report& r, const char* table) {
  EXPECT_EQ(r.tables.at(table).size(), 1u);
  return r.tables.at(table).at(0);
}

void expect_near(const json::Value& row, const char* key, double want) {
  ASSERT_TRUE(row.at(key).is_number()) << key << " = " << json::dump(row.at(key));
  EXPECT_NEAR(row.at(key).as_double(), want, 1e-12) << key;
}

}  // namespace

TEST(IclAnalysis, EveryMetricOnAHandMadePair) {
  const fs::path dir = write_pair_fixture("icl_known");
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  const json::Value& row = only_row(r, "icl_pairs");
  EXPECT_EQ(row.get_string("weak"), "org/weak-1b");
  EXPECT_EQ(row.get_string("strong_name"), "strong-70b");
  EXPECT_EQ(row.get_int("shots"), 5);
  EXPECT_FALSE(row.get_bool("self_pair"));
  expect_near(row, "student_accuracy", 0.6);
  expect_near(row, "weak_zero_shot", 0.4);
  expect_near(row, "strong_zero_shot", 0.8);
  expect_near(row, "weak_gold", 0.5);
  expect_near(row, "strong_gold", 0.9);
  expect_near(row, "pgr_weak0_strong0", 0.5);
  expect_near(row, "pgr_weak0_stronggold", 0.4);
  expect_near(row, "pgr_weakgold_stronggold", 0.25);
  expect_near(row, "pgr_weakgold_strong0", 1.0 / 3.0);
  EXPECT_TRUE(row.at("pgr_weak0_strong0_lo").is_null());  // no bootstrap asked for
  EXPECT_EQ(row.get_int("mcnemar_student_only_correct"), 1);
  EXPECT_EQ(row.get_int("mcnemar_strong_only_correct"), 3);
  expect_near(row, "mcnemar_p", 0.625);
  EXPECT_EQ(row.get_string("mcnemar_method"), "exact-binomial");
  expect_near(row, "kappa_student_weak", 0.28 / 0.78);
  // The 8 patterns.
  expect_near(row, "all_correct", 0.3);
  expect_near(row, "all_wrong", 0.1);
  expect_near(row, "only_weak_correct", 0.0);
  expect_near(row, "only_strong_correct", 0.2);
  expect_near(row, "only_w2s_correct", 0.1);
  expect_near(row, "weak_strong_correct_w2s_wrong", 0.1);
  expect_near(row, "weak_w2s_correct_strong_wrong", 0.0);
  expect_near(row, "strong_w2s_correct_weak_wrong", 0.2);
  // Conditional on the student.
  expect_near(row, "w2s_wrong_weak_right", 0.25);
  expect_near(row, "w2s_wrong_strong_right", 0.75);
  expect_near(row, "w2s_wrong_both_right", 0.25);
  expect_near(row, "w2s_right_weak_wrong", 0.5);
  expect_near(row, "w2s_right_strong_wrong", 1.0 / 6.0);
  expect_near(row, "w2s_right_both_wrong", 1.0 / 6.0);
  // Response matching, all questions and weak-wrong questions.
  expect_near(row, "w2s_matches_both", 0.3);
  expect_near(row, "w2s_matches_weak", 0.2);
  expect_near(row, "w2s_matches_strong", 0.2);
  expect_near(row, "w2s_matches_neither", 0.3);
  EXPECT_EQ(row.get_int("weak_wrong_n"), 6);
  expect_near(row, "weak_wrong_matches_both", 0.0);
  expect_near(row, "weak_wrong_matches_weak", 2.0 / 6.0);
  expect_near(row, "weak_wrong_matches_strong", 2.0 / 6.0);
  expect_near(row, "weak_wrong_matches_neither", 2.0 / 6.0);
  expect_near(row, "w2s_wrong_matches_weak_wrong", 0.5);
  expect_near(row, "w2s_wrong_matches_strong_wrong", 0.0);
  expect_near(row, "w2s_wrong_unique", 0.5);
  // Conditional correctness.
  expect_near(row, "w2s_acc_given_weak_correct", 0.75);
  expect_near(row, "w2s_acc_given_weak_wrong", 0.5);
  expect_near(row, "w2s_acc_given_strong_correct", 5.0 / 8.0);
  expect_near(row, "w2s_acc_given_strong_wrong", 0.5);
  expect_near(row, "w2s_acc_given_both_correct", 0.75);
  expect_near(row, "w2s_acc_given_both_wrong", 0.5);
  expect_near(row, "w2s_wrong_given_strong_correct", 3.0 / 8.0);

  // Accuracy table: 2 zero-shot, 2 gold, 1 student.
  EXPECT_EQ(r.tables.at("icl_accuracy").size(), 5u);
  EXPECT_EQ(r.tables.at("train").size(), 0u);
}

TEST(IclAnalysis, DegenerateDenominatorsAndEmptyConditionsAreNull) {
  const fs::path dir = test::scratch_dir("icl_degenerate");
  const auto all = test::right_on({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // Weak and strong equally good at zero shots, and both always right.
  results::write_record(dir / "b_w.json", test::icl_record(Kind::Baseline, "w", 0, all));
  results::write_record(dir / "b_s.json", test::icl_record(Kind::Baseline, "s", 0, all));
  results::write_record(dir / "x.json", test::icl_record(Kind::WeakSweep, "s", 3, test::right_on({0, 1}), "w"));
  results::write_record(dir / "self.json", test::icl_record(Kind::WeakSweep, "w", 3, test::right_on({0}), "w"));
  Options o;
  o.bootstrap_resamples = 50;
  const Report r = analyze(test::load(dir), o);
  ASSERT_EQ(r.tables.at("icl_pairs").size(), 2u);
  for (const auto& row : r.tables.at("icl_pairs").as_array()) {
    for (const char* key : {"pgr_weak0_strong0", "pgr_weak0_strong0_lo", "pgr_weak0_strong0_hi", "pgr_weak0_stronggold",
                            "pgr_weakgold_stronggold", "pgr_weakgold_strong0", "weak_gold", "strong_gold",
                            "weak_wrong_matches_both", "w2s_acc_given_strong_wrong", "w2s_acc_given_weak_wrong",
                            "w2s_acc_given_both_wrong"})
      EXPECT_TRUE(row.at(key).is_null()) << key << " = " << json::dump(row.at(key));
    EXPECT_EQ(row.get_int("weak_wrong_n"), 0);
    expect_near(row, "w2s_acc_given_strong_correct", row.get_double("student_accuracy"));
  }
  EXPECT_TRUE(r.tables.at("icl_pairs").at(1).get_bool("self_pair"));
}

TEST(IclAnalysis, BootstrapIsDeterministicAndContainsThePoint) {
  const fs::path dir = write_pair_fixture("icl_bootstrap");
  Options o;
  o.bootstrap_resamples = 200;
  o.seed = 11;
  const Report a = analyze(test::load(dir), o);
  const Report b = analyze(test::load(dir), o);
  EXPECT_EQ(json::dump(a.tables), json::dump(b.tables));
  o.seed = 12;
  const Report c = analyze(test::load(dir), o);
  EXPECT_NE(json::dump(a.tables), json::dump(c.tables));
  const json::Value& row = only_row(a, "icl_pairs");
  for (const char* key : {"student_accuracy", "weak_zero_shot", "strong_gold", "pgr_weak0_strong0", "pgr_weak0_stronggold"}) {
    const double v = row.get_double(key), lo = row.get_double(std::string(key) + "_lo"),
                 hi = row.get_double(std::string(key) + "_hi");
    EXPECT_LE(lo, v) << key;
    EXPECT_GE(hi, v) << key;
    EXPECT_LT(lo, hi) << key;
  }
}

// Issue 16 item 14: records on another test set are analysed on their own; one that cannot be
// (no baselines on its test set) is left out with a note naming the file, the rest is reported.
TEST(IclAnalysis, RecordsOnAnotherTestSetAreReportedApart) {
  const fs::path dir = write_pair_fixture("icl_mismatch");
  auto other = test::icl_record(Kind::WeakSweep, "org/strong-70b", 10, kStudent, "org/weak-1b");
  other.predictions[3].id = "33";
  results::write_record(dir / "w2s_10.json", other);
  Report r = analyze(test::load(dir));
  ASSERT_EQ(r.test_sets.size(), 1u);
  // Both test sets read "n=10": their labels carry a fingerprint each.
  const std::string& label = r.test_sets[0].label;
  EXPECT_EQ(label.rfind("truthfulqa mc1-4-local, test split, n=10 [", 0), 0u) << label;
  EXPECT_EQ(only_row(r, "icl_pairs").get_string("test_set"), label);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("test set truthfulqa mc1-4-local, test split, n=10 ["), std::string::npos) << r.notes[0];
  EXPECT_EQ(r.notes[0].find(label), std::string::npos) << r.notes[0];
  EXPECT_NE(r.notes[0].find("missing floor"), std::string::npos) << r.notes[0];
  EXPECT_NE(r.notes[0].find((dir / "w2s_10.json").string()), std::string::npos) << r.notes[0];
  EXPECT_NE(console_table(r).find("note: test set"), std::string::npos);

  // A complete second experiment on 9 examples (another --test-size): both are reported.
  const std::vector<std::string> nine(test::kGold.begin(), test::kGold.begin() + 9);
  auto first9 = [](const std::vector<std::string>& v) { return std::vector<std::string>(v.begin(), v.begin() + 9); };
  fs::remove(dir / "w2s_10.json");
  results::write_record(dir / "small" / "baseline_w.json",
                        test::icl_record(Kind::Baseline, "org/weak-1b", 0, first9(kWeak), "", nine));
  results::write_record(dir / "small" / "baseline_s.json",
                        test::icl_record(Kind::Baseline, "org/strong-70b", 0, first9(kStrong), "", nine));
  results::write_record(dir / "small" / "w2s_5.json",
                        test::icl_record(Kind::WeakSweep, "org/strong-70b", 5, first9(kStudent), "org/weak-1b", nine));
  Options o;
  o.bootstrap_resamples = 0;
  r = analyze(test::load(dir), o);
  ASSERT_EQ(r.test_sets.size(), 2u);
  EXPECT_TRUE(r.notes.empty());
  std::set<std::string> labels;
  for (const auto& row : r.tables.at("icl_pairs").as_array()) labels.insert(row.get_string("test_set"));
  EXPECT_EQ(labels, (std::set<std::string>{"truthfulqa mc1-4-local, test split, n=10",
                                           "truthfulqa mc1-4-local, test split, n=9"}));
  const std::string table = console_table(r);
  EXPECT_NE(table.find("In-context on truthfulqa mc1-4-local, test split, n=10;"), std::string::npos) << table;
  EXPECT_NE(table.find("In-context on truthfulqa mc1-4-local, test split, n=9;"), std::string::npos) << table;
}

TEST(IclAnalysis, TheSameIdsWithOtherGoldAnswersAreAnotherTestSet) {
  const fs::path dir = write_pair_fixture("icl_other_gold");
  std::vector<std::string> gold = test::kGold;
  gold[0] = "D";
  results::write_record(dir / "gold_w10.json", test::icl_record(Kind::GoldSweep, "org/weak-1b", 10, kWeak, "", gold));
  const Report r = analyze(test::load(dir));
  EXPECT_EQ(r.test_sets.size(), 2u);
  EXPECT_EQ(r.tables.at("icl_pairs").size(), 1u);
}

// A different variant is another test set too; one with only a gold sweep still gets its accuracy rows.
TEST(IclAnalysis, AnotherDatasetVariantIsAnotherTestSet) {
  const fs::path dir = write_pair_fixture("icl_mixed");
  auto other = test::icl_record(Kind::GoldSweep, "org/weak-1b", 10, kWeak);
  other.dataset = test::tqa("binary-local");
  results::write_record(dir / "gold_w10.json", other);
  const Report r = analyze(test::load(dir));
  ASSERT_EQ(r.test_sets.size(), 2u);
  EXPECT_EQ(r.test_sets[1].dataset.variant, "binary-local");
  int binary_rows = 0;
  for (const auto& row : r.tables.at("icl_accuracy").as_array())
    if (row.get_string("test_set") == "truthfulqa binary-local, test split, n=10") {
      ++binary_rows;
      EXPECT_NE(row.get_string("file").find("gold_w10.json"), std::string::npos);
    }
  EXPECT_EQ(binary_rows, 1);
}

// A gold sweep alone (no weak-label runs): its accuracy-vs-shots table, on the console and as a figure.
TEST(IclAnalysis, GoldSweepOnlyGetsItsAccuracyTableAndFigure) {
  const fs::path dir = test::scratch_dir("icl_gold_only");
  results::write_record(dir / "baseline_w.json", test::icl_record(Kind::Baseline, "org/weak-1b", 0, kWeak));
  results::write_record(dir / "baseline_s.json", test::icl_record(Kind::Baseline, "org/strong-70b", 0, kStrong));
  for (int n : {2, 8, 64}) {
    results::write_record(dir / fmt::format("gold_w{}.json", n),
                          test::icl_record(Kind::GoldSweep, "org/weak-1b", n, test::right_on({0, 1, 2, 3, 4})));
    results::write_record(dir / fmt::format("gold_s{}.json", n),
                          test::icl_record(Kind::GoldSweep, "org/strong-70b", n, test::right_on({0, 1, 2, 3, 4, 5, 6, 7, 8})));
  }
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  EXPECT_EQ(r.tables.at("icl_pairs").size(), 0u);
  const std::string table = console_table(r);
  const auto lines = test::table_lines(table, "accuracy / gold shots");
  ASSERT_EQ(lines.size(), 3u) << table;
  test::expect_aligned(lines, {"accuracy / gold shots"}, {"0", "2", "8", "64"});
  EXPECT_NE(lines[1].find("strong-70b"), std::string::npos) << table;
  EXPECT_NE(lines[1].find("0.800  0.900  0.900  0.900"), std::string::npos) << table;

  const auto figures = plot(r, dir / "plots");
  EXPECT_TRUE(figures.failures.empty()) << figures.failures.front();
  EXPECT_EQ(figures.files.size(), 2u);
  const std::string svg = read_file(dir / "plots" / "accuracy_vs_shots.svg");
  EXPECT_NE(svg.find("Accuracy vs number of gold shots"), std::string::npos);
  EXPECT_NE(svg.find("weak-1b gold labels"), std::string::npos);
  EXPECT_NE(svg.find("strong-70b gold labels"), std::string::npos);
  const std::string data = read_file(dir / "plots" / "accuracy_vs_shots.dat");
  EXPECT_NE(data.find("\n0 80.0000"), std::string::npos) << data;  // the curve starts at the zero-shot baseline
}

// With several test sets, each gets its own figures in its own folder.
TEST(IclAnalysis, EachTestSetGetsItsOwnFigures) {
  const fs::path dir = write_pair_fixture("icl_two_sets_plots");
  auto other = test::icl_record(Kind::GoldSweep, "org/weak-1b", 10, kWeak);
  other.dataset = test::tqa("binary-local");
  results::write_record(dir / "gold_w10.json", other);
  Options o;
  o.bootstrap_resamples = 0;
  const auto figures = plot(analyze(test::load(dir), o), dir / "plots");
  EXPECT_TRUE(figures.failures.empty()) << figures.failures.front();
  EXPECT_TRUE(fs::exists(dir / "plots" / "truthfulqa-mc1-4-local-test-split-n-10" / "pgr_vs_shots.png"));
  EXPECT_TRUE(fs::exists(dir / "plots" / "truthfulqa-binary-local-test-split-n-10" / "accuracy_vs_shots.png"));
  EXPECT_FALSE(fs::exists(dir / "plots" / "truthfulqa-binary-local-test-split-n-10" / "pgr_vs_shots.png"));
}

TEST(IclAnalysis, MissingFloorOrCeilingNamesTheFile) {
  const fs::path dir = write_pair_fixture("icl_missing");
  fs::remove(dir / "baseline_w.json");
  std::string msg = test::error_of([&] { analyze(test::load(dir)); });
  EXPECT_NE(msg.find("missing floor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("w2s_5.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("org/weak-1b"), std::string::npos) << msg;

  write_pair_fixture("icl_missing");
  fs::remove(dir / "baseline_s.json");
  msg = test::error_of([&] { analyze(test::load(dir)); });
  EXPECT_NE(msg.find("missing ceiling"), std::string::npos) << msg;
}

TEST(IclAnalysis, ConflictingDuplicatesAreRefusedIdenticalOnesMerged) {
  const fs::path dir = write_pair_fixture("icl_duplicates");
  fs::copy_file(dir / "baseline_w.json", dir / "copy_of_baseline_w.json");
  EXPECT_EQ(analyze(test::load(dir)).tables.at("icl_pairs").size(), 1u);
  results::write_record(dir / "baseline_w_rerun.json", test::icl_record(Kind::Baseline, "org/weak-1b", 0, kStudent));
  const std::string msg = test::error_of([&] { analyze(test::load(dir)); });
  EXPECT_NE(msg.find("baseline_w_rerun.json"), std::string::npos) << msg;
}

TEST(IclAnalysis, GoldSweepAtZeroShotsStandsInForTheBaseline) {
  const fs::path dir = write_pair_fixture("icl_gold0");
  fs::rename(dir / "baseline_w.json", dir / "unused.txt");
  results::write_record(dir / "gold_w0.json", test::icl_record(Kind::GoldSweep, "org/weak-1b", 0, kWeak));
  Options o;
  o.bootstrap_resamples = 0;
  expect_near(only_row(analyze(test::load(dir), o), "icl_pairs"), "pgr_weak0_strong0", 0.5);
}

TEST(IclAnalysis, WritesSchemaValidJsonCsvAndConsoleTable) {
  const fs::path dir = write_pair_fixture("icl_outputs");
  Options o;
  o.bootstrap_resamples = 100;
  const Report r = analyze(test::load(dir), o);
  const auto written = write_report(r, dir / "analysis");
  EXPECT_TRUE(fs::exists(dir / "analysis" / "icl_pairs.csv"));
  EXPECT_TRUE(fs::exists(dir / "analysis" / "icl_accuracy.csv"));
  EXPECT_FALSE(fs::exists(dir / "analysis" / "train.csv"));  // empty tables are not written
  const auto record = results::read_record(dir / "analysis" / "analysis.json");  // validates
  EXPECT_EQ(record.kind, Kind::Analysis);
  EXPECT_EQ(record.extra.at("tables"), r.tables);
  const std::string csv = read_file(dir / "analysis" / "icl_pairs.csv");
  EXPECT_EQ(csv.substr(0, 30), "weak,strong,weak_name,strong_n");
  EXPECT_NE(csv.find("org/weak-1b,org/strong-70b,weak-1b,strong-70b,5,false,10,0.6,"), std::string::npos) << csv;
  const std::string table = console_table(r);
  EXPECT_NE(table.find("weak-1b -> strong-70b"), std::string::npos) << table;
  EXPECT_NE(table.find("0.600 ["), std::string::npos) << table;
  // A second analysis over the folder skips the analysis record.
  const Report again = analyze(test::load(dir), o);
  EXPECT_EQ(again.notes.size(), 1u);
  EXPECT_EQ(json::dump(again.tables), json::dump(r.tables));
}

// Issue 16 item 16: columns take their widths from the content (a long model name keeps the rows in
// line), a PGR of -0 (student = floor, ceiling below the floor) prints as 0.000, McNemar is labelled.
TEST(IclAnalysis, ConsoleTableAlignsLongNamesAndNeverPrintsNegativeZero) {
  const fs::path dir = test::scratch_dir("icl_console_alignment");
  const std::string long_weak = "some-organisation/a-very-long-weak-model-name-that-overflows-fixed-columns";
  results::write_record(dir / "baseline_long.json", test::icl_record(Kind::Baseline, long_weak, 0, kStrong));
  results::write_record(dir / "baseline_w.json", test::icl_record(Kind::Baseline, "org/w", 0, kStudent));
  results::write_record(dir / "baseline_s.json", test::icl_record(Kind::Baseline, "org/s", 0, kWeak));
  for (int n : {2, 64}) {
    // Each student answers as its weak model, which beats the strong one: PGR = 0 / (0.4 - 0.8) = -0.
    results::write_record(dir / fmt::format("w2s_long_{}.json", n),
                          test::icl_record(Kind::WeakSweep, "org/s", n, kStrong, long_weak));
    results::write_record(dir / fmt::format("w2s_w_{}.json", n),
                          test::icl_record(Kind::WeakSweep, "org/s", n, kStudent, "org/w"));
  }
  Options o;
  o.bootstrap_resamples = 50;
  const Report r = analyze(test::load(dir), o);
  for (const auto& row : r.tables.at("icl_pairs").as_array())
    if (row.get_string("weak") == long_weak) {
      ASSERT_TRUE(row.at("pgr_weak0_strong0").is_number());
      EXPECT_EQ(row.get_double("pgr_weak0_strong0"), 0.0);
      EXPECT_FALSE(std::signbit(row.get_double("pgr_weak0_strong0")));
      EXPECT_FALSE(std::signbit(row.get_double("pgr_weak0_strong0_lo")));
    }
  const std::string table = console_table(r);
  EXPECT_EQ(table.find("-0.000"), std::string::npos) << table;
  EXPECT_NE(table.find("0.000 [0.000,0.000]"), std::string::npos) << table;
  const auto lines = test::table_lines(table, "weak -> strong");
  EXPECT_EQ(lines.size(), 5u) << table;
  test::expect_aligned(lines, {"student accuracy", "PGR zs/zs", "PGR zs/gold", "matches both"},
                 {"shots", "PGR gold/gold", "McNemar p", "kappa"});
  const auto written = write_report(r, dir / "analysis");
  const std::string csv = read_file(dir / "analysis" / "icl_pairs.csv");
  EXPECT_EQ(csv.find(",-0.0,"), std::string::npos) << csv;
}

TEST(ConsoleNumbers, RoundingToZeroDropsTheSign) {
  EXPECT_EQ(detail::fixed(-0.0, 3), "0.000");
  EXPECT_EQ(detail::fixed(-0.0004, 3), "0.000");
  EXPECT_EQ(detail::fixed(-0.00004, 4), "0.0000");
  EXPECT_EQ(detail::fixed(-0.0005001, 3), "-0.001");
  EXPECT_EQ(detail::fixed(-1.5, 1), "-1.5");
  EXPECT_EQ(detail::fixed(-10.0, 0), "-10");
  EXPECT_EQ(detail::fixed(0.25, 2), "0.25");
}

// Records of failed evaluation points (most requests failed: endpoint down, key rejected, budget
// reached) are left out of every table, CSV and figure, each with a note saying why; a student
// whose floor or ceiling failed is left out with them.
TEST(IclAnalysis, FailedEvaluationPointsAreLeftOutWithANote) {
  const fs::path dir = write_pair_fixture("icl_failed_points");
  results::ResultRecord failed = test::icl_record(Kind::GoldSweep, "org/strong-70b", 8, std::vector<std::string>(10, ""));
  for (auto& p : failed.predictions) p.error = "API key rejected (401): no auth credentials found";
  failed.metrics = results::accuracy_metrics(failed.predictions);
  failed.failure = "10 of 10 requests failed for good (first: API key rejected (401): no auth credentials found)";
  results::write_record(dir / "gold_s8.json", failed);
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  for (const auto& row : r.tables.at("icl_accuracy").as_array()) EXPECT_NE(row.get_int("shots"), 8) << json::dump(row);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("left out " + (dir / "gold_s8.json").string() + ": the evaluation point failed (10 of 10"),
            std::string::npos)
      << r.notes[0];
  EXPECT_EQ(std::count(r.inputs.begin(), r.inputs.end(), dir / "gold_s8.json"), 0);
  write_report(r, dir / "analysis");
  EXPECT_EQ(read_file(dir / "analysis" / "icl_accuracy.csv").find("gold_s8.json"), std::string::npos);
  EXPECT_NE(console_table(r).find("note: left out"), std::string::npos);

  // The floor failed: the student that needs it goes too, said so, instead of a missing-floor error.
  results::ResultRecord floor = test::icl_record(Kind::Baseline, "org/weak-1b", 0, kWeak);
  floor.failure = "10 of 10 requests failed for good (first: budget cap reached)";
  results::write_record(dir / "baseline_w.json", floor);
  fs::remove_all(dir / "analysis");
  const Report without_floor = analyze(test::load(dir), o);
  EXPECT_EQ(without_floor.tables.at("icl_pairs").size(), 0u);
  std::string notes;
  for (const auto& n : without_floor.notes) notes += n + "\n";
  EXPECT_NE(notes.find("left out " + (dir / "w2s_5.json").string() + ": its floor (the zero-shot point of org/weak-1b) failed"),
            std::string::npos)
      << notes;
}

// Issue 21.2: the in-context PGR table flags a ceiling below the floor as the training tables do.
TEST(IclAnalysis, CeilingBelowTheFloorIsFlagged) {
  const fs::path dir = test::scratch_dir("icl_inverted");
  results::write_record(dir / "baseline_w.json",
                        test::icl_record(Kind::Baseline, "org/w", 0, test::right_on({0, 1, 2, 3, 4, 5, 6, 7})));
  results::write_record(dir / "baseline_s.json", test::icl_record(Kind::Baseline, "org/s", 0, test::right_on({0, 1, 2, 3})));
  results::write_record(dir / "w2s_2.json",
                        test::icl_record(Kind::WeakSweep, "org/s", 2, test::right_on({0, 1, 2, 3, 4, 5}), "org/w"));
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  const json::Value& row = only_row(r, "icl_pairs");
  expect_near(row, "pgr_weak0_strong0", 0.5);  // (0.6 - 0.8) / (0.4 - 0.8)
  EXPECT_TRUE(row.at("ceiling_not_above_floor_weak0_strong0").as_bool());
  EXPECT_TRUE(row.at("ceiling_not_above_floor_weak0_stronggold").is_null());  // no gold sweep: no such PGR
  const std::string console = console_table(r);
  EXPECT_CONTAINS(console, "0.500!");
  EXPECT_CONTAINS(console, "! the ceiling is at or below the floor");
  const fs::path normal = write_pair_fixture("icl_not_inverted");
  const Report plain = analyze(test::load(normal), o);
  EXPECT_FALSE(only_row(plain, "icl_pairs").at("ceiling_not_above_floor_weak0_strong0").as_bool());
  EXPECT_EQ(console_table(plain).find("at or below the floor"), std::string::npos);
}

// Issue 21.5: a weak model whose answers mostly have no option letter is not silently "0.000":
// the accuracy rows count unparsed and cut-off answers, a note names the point, and weak labels
// that are empty are counted per pair.
TEST(IclAnalysis, UnusableAnswersAndEmptyWeakLabelsAreFlagged) {
  const fs::path dir = write_pair_fixture("icl_unusable");
  auto weak = test::icl_record(Kind::Baseline, "org/weak-1b", 0, std::vector<std::string>(10, ""));
  for (int i = 0; i < 6; ++i) weak.predictions[i].finish_reason = "length";
  weak.metrics = results::accuracy_metrics(weak.predictions);
  results::write_record(dir / "baseline_w.json", weak);
  auto student = results::read_record(dir / "w2s_5.json");
  student.extra = json::Value::object();
  json::Value labels = json::Value::array();
  for (const char* l : {"", "B", "", "", "A"}) labels.push_back(l);
  json::Value few_shot = json::Value::object();
  few_shot.set("labels", labels);
  student.extra.set("few_shot", few_shot);
  results::write_record(dir / "w2s_5.json", student);
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(test::load(dir), o);
  bool found = false;
  for (const auto& row : r.tables.at("icl_accuracy").as_array())
    if (row.get_string("model") == "org/weak-1b" && row.get_string("curve") == "zero-shot") {
      found = true;
      EXPECT_EQ(row.get_int("unparsed"), 10);
      EXPECT_EQ(row.get_int("cut_off"), 6);
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(only_row(r, "icl_pairs").get_int("weak_labels_unusable"), 3);
  const std::string console = console_table(r);
  EXPECT_CONTAINS(console, "10 of 10 answers of org/weak-1b have no option letter (6 cut off at max_tokens)");
  EXPECT_CONTAINS(console, "3 of its 5 weak labels (from org/weak-1b) are empty");
  // The plain fixture has neither note.
  const Report plain = analyze(test::load(write_pair_fixture("icl_usable")), o);
  EXPECT_EQ(console_table(plain).find("no option letter"), std::string::npos);
  EXPECT_EQ(only_row(plain, "icl_pairs").get_int("weak_labels_unusable"), 0);
}

// Issue 21.8: runs of one model that differ in settings are put side by side (not refused), each
// labelled by its run folder, with the differing settings as columns; `w2s analyze A B` compares
// two results folders whose runs share a name.
TEST(IclAnalysis, RunsThatDifferInSettingsAreSideBySide) {
  const fs::path root = test::scratch_dir("icl_side_by_side");
  for (const auto& [folder, temperature, student] :
       {std::tuple{"A", 0.0, kStudent}, std::tuple{"B", 0.7, test::right_on({0, 1, 2, 3, 4, 5, 6, 7})}}) {
    const fs::path run = root / folder / "icl";
    json::Value config = json::Value::object();
    json::Value sampling = json::Value::object();
    sampling.set("temperature", temperature);
    config.set("sampling", sampling);
    config.set("run_name", "icl");
    auto with_config = [&](results::ResultRecord r) {
      r.run = "icl";
      r.config = config;
      return r;
    };
    results::write_record(run / "baseline_w.json", with_config(test::icl_record(Kind::Baseline, "org/weak-1b", 0, kWeak)));
    results::write_record(run / "baseline_s.json", with_config(test::icl_record(Kind::Baseline, "org/strong-70b", 0, kStrong)));
    results::write_record(run / "w2s_5.json",
                          with_config(test::icl_record(Kind::WeakSweep, "org/strong-70b", 5, student, "org/weak-1b")));
  }
  Options o;
  o.bootstrap_resamples = 0;
  const Report r = analyze(results::load_record_files({root / "A", root / "B"}).records, o);
  ASSERT_EQ(r.test_sets.size(), 2u);
  const json::Value& pairs = r.tables.at("icl_pairs");
  ASSERT_EQ(pairs.size(), 2u);
  std::set<std::string> temperatures;
  for (const auto& row : pairs.as_array()) {
    EXPECT_CONTAINS(row.get_string("run"), "icl");
    temperatures.insert(row.get_string("setting.sampling.temperature"));
    EXPECT_CONTAINS(row.get_string("test_set"), "| run ");
    EXPECT_FALSE(row.find("setting.run_name"));  // where a run went is no setting
  }
  EXPECT_EQ(temperatures, (std::set<std::string>{"0.0", "0.7"}));
  EXPECT_DOUBLE_EQ(pairs.at(1).get_double("student_accuracy"), 0.8);
  const std::string console = console_table(r);
  EXPECT_CONTAINS(console, (root / "B" / "icl").string() + " (sampling.temperature=0.7)");
  // The same records in one folder, identical runs: one analysis, no run columns filled.
  const Report one = analyze(results::load_record_files({root / "A"}).records, o);
  ASSERT_EQ(one.test_sets.size(), 1u);
  EXPECT_EQ(one.tables.at("icl_pairs").at(0).get_string("run"), "");
}
