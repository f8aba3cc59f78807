// In context and fine-tuning side by side (docs/analysis.md): fine-tuning fixture records and
// in-context records on the same registry dataset (the format of lib/icl's registry runs: letters
// A = class 0, B = class 1, extra.class_of_letter), with hand-computed accuracies, PGRs and an exact
// McNemar p-value; and the cases that cannot be compared, each with its note.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "paradigm_fixtures.h"

using namespace w2s;
using results::Kind;
namespace fs = std::filesystem;

namespace {

const json::Value* row_where(const json::Value& rows, const std::string& column, const json::Value& value,
                             const std::string& column2, const json::Value& value2) {
  for (const auto& r : rows.as_array())
    if (json::dump(r.at(column)) == json::dump(value) && json::dump(r.at(column2)) == json::dump(value2)) return &r;
  return nullptr;
}

bool any_note(const analysis::Report& report, const std::string& text) {
  for (const auto& n : report.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Paradigms, SideBySideOnTheCommonTestExamplesWithHandComputedPgrsAndAPairedTest) {
  const fs::path dir = test::scratch_dir("paradigms_side_by_side");
  test::write_train_fixture(dir / "train", "sst2");
  test::write_icl_sst2(dir / "icl");
  const auto records = test::load(dir);
  const analysis::Report report = analysis::analyze(records, {200, 0, 0.95});
  const json::Value& rows = report.tables.at("paradigms");
  ASSERT_EQ(rows.size(), 4u) << json::dump(rows);  // 2 in-context points, 2 fine-tuned students

  // In context, 2 shots: floor 1/2, ceiling 1, student 5/6, PGR 2/3, all on the 6 common examples.
  const json::Value* two = row_where(rows, "paradigm", "in-context", "shots", 2);
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->get_int("n"), 6);
  EXPECT_DOUBLE_EQ(two->get_double("floor_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(two->get_double("ceiling_accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(two->get_double("student_accuracy"), 5.0 / 6.0);
  EXPECT_NEAR(two->get_double("pgr_accuracy"), 2.0 / 3.0, 1e-12);
  EXPECT_LE(two->get_double("pgr_accuracy_lo"), two->get_double("pgr_accuracy"));
  EXPECT_GE(two->get_double("pgr_accuracy_hi"), two->get_double("pgr_accuracy"));
  // 4 shots: no gold sweep of the strong model at 4 shots, so no ceiling and no PGR.
  const json::Value* four = row_where(rows, "paradigm", "in-context", "shots", 4);
  ASSERT_NE(four, nullptr);
  EXPECT_TRUE(four->at("ceiling_accuracy").is_null());
  EXPECT_TRUE(four->at("pgr_accuracy").is_null());
  EXPECT_DOUBLE_EQ(four->get_double("student_accuracy"), 1.0);

  // Fine-tuning on the same 6 examples (ex0-ex5 of the fixture): floor right on 1,3,4 (1/2),
  // ceiling on all (1); logconf right on 0,1,2,4 (2/3): PGR (2/3 - 1/2) / (1/2) = 1/3; xent right
  // on 0,1 (1/3): PGR -1/3.
  const json::Value* logconf = row_where(rows, "paradigm", "fine-tuning", "method", "logconf");
  const json::Value* xent = row_where(rows, "paradigm", "fine-tuning", "method", "xent");
  ASSERT_NE(logconf, nullptr);
  ASSERT_NE(xent, nullptr);
  EXPECT_DOUBLE_EQ(logconf->get_double("floor_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(logconf->get_double("ceiling_accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(logconf->get_double("student_accuracy"), 4.0 / 6.0);
  EXPECT_NEAR(logconf->get_double("pgr_accuracy"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(xent->get_double("pgr_accuracy"), -1.0 / 3.0, 1e-12);
  EXPECT_EQ(logconf->get_string("floor"), "fine-tuned weak model (gold)");
  EXPECT_EQ(two->get_string("floor"), "weak model zero-shot");
  // On all 8 of its examples the fine-tuning table keeps its own numbers (logconf 0.75).
  EXPECT_DOUBLE_EQ(report.tables.at("train").at(0).get_double("student_accuracy") +
                       report.tables.at("train").at(1).get_double("student_accuracy"),
                   0.75 + 0.5);
  EXPECT_TRUE(any_note(report, "compared on the 6 test examples all their records share"));

  // Paired test, in context (2 shots: right on 0-4) vs xent (right on 0,1): discordant pairs 3 to
  // 0 (examples 2, 3, 4), so the exact two-sided McNemar p = 2 * (1/2)^3 = 0.25; the accuracy
  // difference 5/6 - 2/6 = 1/2.
  const json::Value& tests = report.tables.at("paradigm_tests");
  ASSERT_EQ(tests.size(), 4u);
  const json::Value* vs_xent = row_where(tests, "shots", 2, "method", "xent");
  ASSERT_NE(vs_xent, nullptr);
  EXPECT_DOUBLE_EQ(vs_xent->get_double("delta_accuracy"), 0.5);
  EXPECT_EQ(vs_xent->get_int("mcnemar_in_context_only_correct"), 3);
  EXPECT_EQ(vs_xent->get_int("mcnemar_fine_tuned_only_correct"), 0);
  EXPECT_EQ(vs_xent->get_string("mcnemar_method"), "exact-binomial");
  EXPECT_DOUBLE_EQ(vs_xent->get_double("mcnemar_p"), 0.25);
  EXPECT_GT(vs_xent->get_double("delta_accuracy_lo"), 0.0);  // the student is right wherever xent is
  EXPECT_LE(vs_xent->get_double("delta_accuracy_hi"), 5.0 / 6.0);
  EXPECT_FALSE(vs_xent->at("bootstrap_p").is_null());
  // vs logconf (right on 0,1,2,4): one discordant pair (example 3), p = 1.
  const json::Value* vs_logconf = row_where(tests, "shots", 2, "method", "logconf");
  ASSERT_NE(vs_logconf, nullptr);
  EXPECT_EQ(vs_logconf->get_int("mcnemar_in_context_only_correct"), 1);
  EXPECT_DOUBLE_EQ(vs_logconf->get_double("mcnemar_p"), 1.0);

  // Console, CSV, figure.
  const std::string console = analysis::console_table(report);
  EXPECT_CONTAINS(console, "In context and fine-tuning side by side");
  EXPECT_CONTAINS(console, "0.667");  // the in-context PGR
  EXPECT_CONTAINS(console, "2 shots");
  const fs::path out = dir / "analysis";
  analysis::write_report(report, out);
  ASSERT_TRUE(fs::exists(out / "paradigms.csv"));
  EXPECT_CONTAINS(read_file(out / "paradigms.csv"), "paradigm,shots,method,n,floor");
  ASSERT_TRUE(fs::exists(out / "paradigm_tests.csv"));
  const analysis::Figures figures = analysis::plot(report, dir / "plots");
  EXPECT_TRUE(figures.failures.empty()) << (figures.failures.empty() ? "" : figures.failures.front());
  EXPECT_TRUE(fs::exists(dir / "plots" / "paradigms-sst2.png"));
  ASSERT_TRUE(fs::exists(dir / "plots" / "paradigms-sst2.svg"));
  const std::string svg = read_file(dir / "plots" / "paradigms-sst2.svg");
  EXPECT_CONTAINS(svg, "fine-tuned logconf");
  EXPECT_CONTAINS(svg, "in context (weak labels as shots)");
}

// A PGR whose ceiling is not above its floor is no share of a gap: the figure crosses the in-context
// point out and says so in the fine-tuned student's legend entry, as pgr_vs_shots does.
TEST(Paradigms, TheFigureCrossesOutPgrsWithoutAGap) {
  const fs::path dir = test::scratch_dir("paradigms_no_gap_figure");
  test::write_train_fixture(dir / "train", "sst2");
  test::write_icl_sst2(dir / "icl");
  analysis::Report report = analysis::analyze(test::load(dir), {200, 0, 0.95});
  ASSERT_TRUE(analysis::plot(report, dir / "plain").failures.empty());
  EXPECT_EQ(read_file(dir / "plain" / "paradigms-sst2.svg").find("no gap to recover"), std::string::npos);
  for (auto& row : report.tables["paradigms"].as_array())
    if (row.get_string("paradigm") == "fine-tuning" || row.get_int("shots") == 2)
      row.set("ceiling_not_above_floor_accuracy", true);
  const analysis::Figures figures = analysis::plot(report, dir / "flagged");
  ASSERT_TRUE(figures.failures.empty()) << figures.failures.front();
  const std::string svg = read_file(dir / "flagged" / "paradigms-sst2.svg");
  EXPECT_CONTAINS(svg, "ceiling not above floor: no gap to recover");
  EXPECT_CONTAINS(svg, "fine-tuned logconf (ceiling not above floor: no gap to recover)");
  const std::string data = read_file(dir / "flagged" / "paradigms-sst2.dat");
  EXPECT_CONTAINS(data, "in-context PGR, ceiling not above floor");
}

// A student taught by an in-context weak model's labels (w2s train --weak-labels-from) pairs with
// the in-context runs of that weak model; its floor is its run's fine-tuned floor.
TEST(Paradigms, AStudentTaughtByInContextLabelsPairsWithItsLabeller) {
  const fs::path dir = test::scratch_dir("paradigms_labeller");
  test::write_train_fixture(dir / "train", "sst2", "org/finetuned-small", "org/big");
  auto student = results::read_record(dir / "train" / "sst2" / "xent" / "w2s.json");
  student.label_source = {"weak", "org/small"};
  student.extra = json::Value::object();
  student.extra.set("method", "xent+in-context-labels");
  student.extra.set("weak_labels_from", "icl/weak_labels.json");
  student.extra.set("in_context_labels",
                    json::Value(json::Object{{"path", "icl/weak_labels.json"}, {"model", "org/small"}}));
  results::write_record(dir / "train" / "sst2" / "xent" / "w2s.json", student);
  fs::remove(dir / "train" / "sst2" / "logconf" / "w2s.json");
  test::write_icl_sst2(dir / "icl");
  const analysis::Report report = analysis::analyze(test::load(dir), {100, 0, 0.95});
  const json::Value& rows = report.tables.at("paradigms");
  const json::Value* tuned = row_where(rows, "paradigm", "fine-tuning", "method", "xent+in-context-labels");
  ASSERT_NE(tuned, nullptr) << json::dump(rows);
  EXPECT_EQ(tuned->get_string("weak"), "org/small");
  EXPECT_NEAR(tuned->get_double("pgr_accuracy"), -1.0 / 3.0, 1e-12);
  EXPECT_CONTAINS(tuned->get_string("floor_file"), "floor.json");
}

// Records that cannot be compared give a note, not a side-by-side.
TEST(Paradigms, NotComparableCasesGiveANoteInsteadOfATable) {
  struct Case {
    std::string name;
    std::int64_t seed;
    std::string weak, id_prefix, note;
    bool letters_swapped = false;  // class_of_letter {"A": 1, "B": 0}: the gold classes disagree
  };
  const std::vector<Case> cases = {
      {"seed", 1, "org/small", "ex", "in context and fine-tuning on sst2 not compared: they are on different data"},
      {"pair", 0, "api/other-small", "ex", "no (weak, strong) pair in both (in context: api/other-small -> org/big"},
      {"ids", 0, "org/small", "other", "not compared: no test example in common"},
      {"gold", 0, "org/small", "ex", "not compared: example ex0 has no gold class or another one", true},
  };
  for (const auto& c : cases) {
    const fs::path dir = test::scratch_dir("paradigms_not_comparable_" + c.name);
    test::write_train_fixture(dir / "train", "sst2");
    test::write_icl_sst2(dir / "icl", c.seed, c.weak, c.id_prefix);
    for (const auto& file : fs::directory_iterator(dir / "icl")) {
      if (!c.letters_swapped) break;
      auto r = results::read_record(file.path());
      r.extra.set("class_of_letter", json::Value(json::Object{{"A", 1}, {"B", 0}}));
      results::write_record(file.path(), r);
    }
    const analysis::Report report = analysis::analyze(test::load(dir), {50, 0, 0.95});
    EXPECT_EQ(report.tables.at("paradigms").size(), 0u) << c.name;
    EXPECT_TRUE(any_note(report, c.note)) << c.name << ": " << analysis::console_table(report);
    // each paradigm's own tables are still there
    EXPECT_GT(report.tables.at("train").size(), 0u) << c.name;
    EXPECT_GT(report.tables.at("icl_pairs").size(), 0u) << c.name;
  }
}
