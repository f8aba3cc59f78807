#include <gtest/gtest.h>

#include <map>
#include <set>

#include "train_fixtures.h"

using namespace w2s;
using namespace w2s::analysis;
using results::Kind;
namespace fs = std::filesystem;

namespace {

// Three models, shots 0/5/10: gold sweeps for each, weak-label sweeps for three pairs and one
// self pair; the middle model has no pair as weak->strongest so the grid shows "No data" cells.
fs::path icl_fixture(const fs::path& dir) {
  const std::vector<std::string> models = {"org/small-8b-instruct", "org/mid-70b-instruct", "other/big-72b"};
  const std::vector<std::vector<int>> zero = {{0, 1, 2, 3}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6, 7}};
  for (std::size_t m = 0; m < models.size(); ++m) {
    results::write_record(dir / ("baseline_" + std::to_string(m) + ".json"),
                          test::icl_record(Kind::Baseline, models[m], 0, test::right_on(zero[m])));
    for (int n : {5, 10}) {
      std::vector<int> right = zero[m];
      right.push_back(8);
      if (n == 10) right.push_back(9);
      results::write_record(dir / fmt::format("gold_{}_{}.json", m, n),
                            test::icl_record(Kind::GoldSweep, models[m], n, test::right_on(right)));
    }
  }
  const std::vector<std::pair<int, int>> pairs = {{0, 1}, {0, 2}, {1, 2}, {0, 0}};
  for (auto [w, s] : pairs)
    for (int n : {0, 5, 10}) {
      std::vector<int> right = {0, 1, 2, 3, 4};
      for (int k = 0; k < n / 5 + s; ++k) right.push_back(5 + k);
      auto answers = test::right_on(right);
      answers[9] = test::right_on(zero[w])[9];  // sometimes copies the weak model's mistake
      results::write_record(dir / fmt::format("w2s_{}_{}_{}.json", w, s, n),
                            test::icl_record(Kind::WeakSweep, models[s], n, answers, models[w]));
    }
  return dir;
}

void expect_figure(const fs::path& dir, const std::string& name, const std::vector<std::string>& svg_texts) {
  for (const char* ext : {".png", ".svg", ".dat", ".gp"}) EXPECT_TRUE(fs::exists(dir / (name + ext))) << name << ext;
  EXPECT_GT(fs::file_size(dir / (name + ".png")), 8000u) << name;
  const std::string svg = read_file(dir / (name + ".svg"));
  for (const auto& t : svg_texts) EXPECT_NE(svg.find(t), std::string::npos) << name << ".svg lacks " << t;
}

}  // namespace

TEST(Plots, EveryIclFigure) {
  const fs::path dir = icl_fixture(test::scratch_dir("plots_icl"));
  Options o;
  o.bootstrap_resamples = 30;
  const auto figures = plot(analyze(test::load(dir), o), dir / "plots");
  EXPECT_TRUE(figures.failures.empty()) << figures.failures.front();
  EXPECT_EQ(figures.files.size(), 12u);
  const fs::path p = dir / "plots";
  expect_figure(p, "accuracy_vs_shots", {"Accuracy vs number of shots", "Accuracy (%)", "small-8b -> mid-70b",
                                         "big-72b gold labels"});
  expect_figure(p, "self_supervision", {"Self-supervision", "small-8b -> small-8b"});
  expect_figure(p, "pgr_vs_shots", {"Performance gap recovered", "floor: weak zero-shot, ceiling: strong zero-shot",
                                    "Floor (0%)", "Ceiling (100%)"});
  expect_figure(p, "response_matching_all_questions_grid", {"all questions", "No data", "Strong only", "Neither"});
  expect_figure(p, "response_matching_when_weak_wrong_grid", {"got wrong", "No data"});
  expect_figure(p, "w2s_conditional_correctness_grid", {"W2S correct | Strong wrong", "No data"});
  // The script re-renders on its own.
  fs::remove(p / "pgr_vs_shots.png");
  EXPECT_EQ(test::run_command("cd " + p.string() + " && gnuplot pgr_vs_shots.gp"), 0);
  EXPECT_TRUE(fs::exists(p / "pgr_vs_shots.png"));
}

TEST(Plots, EveryTrainingFigure) {
  const fs::path dir = test::scratch_dir("plots_train");
  test::write_train_fixture(dir, "sst2");
  test::write_train_fixture(dir, "boolq");
  Options o;
  o.bootstrap_resamples = 30;
  const auto figures = plot(analyze(test::load(dir), o), dir / "plots");
  EXPECT_TRUE(figures.failures.empty()) << figures.failures.front();
  EXPECT_EQ(figures.files.size(), 8u);
  const fs::path p = dir / "plots";
  expect_figure(p, "train_auroc_bars", {"test AUROC", "floor (weak on gold)", "W2S: logconf", "boolq"});
  expect_figure(p, "train_accuracy_bars", {"test accuracy"});
  expect_figure(p, "train_pgr_auroc", {"PGR per method across datasets (AUROC)", "xent", "mean"});
  expect_figure(p, "train_pgr_accuracy", {"PGR (%)"});
}

TEST(Plots, MissingGnuplotIsAClearError) {
  const fs::path dir = test::scratch_dir("plots_no_gnuplot");
  test::write_train_fixture(dir, "sst2");
  PlotOptions po;
  po.gnuplot = "/nonexistent/gnuplot";
  Options o;
  o.bootstrap_resamples = 0;
  try {
    plot(analyze(test::load(dir), o), dir / "plots", po);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot-nox"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(dir / "plots" / "train_pgr_auroc.gp"));  // scripts kept for later
}

// Issue 12 item 9: `weak60/a` and `oracle/a` both shorten to `a`. Every series, legend entry, grid
// title and console row keeps its own name, so none is lost or merged.
TEST(Plots, ModelsWithTheSameShortNameKeepDistinctLabels) {
  const fs::path dir = test::scratch_dir("plots_name_clash");
  const std::vector<std::string> models = {"weak60/a", "oracle/a", "org/b-instruct"};
  const std::vector<std::vector<int>> zero = {{0, 1, 2}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6}};
  for (std::size_t m = 0; m < models.size(); ++m) {
    results::write_record(dir / fmt::format("baseline_{}.json", m),
                          test::icl_record(Kind::Baseline, models[m], 0, test::right_on(zero[m])));
    results::write_record(dir / fmt::format("gold_{}.json", m),
                          test::icl_record(Kind::GoldSweep, models[m], 4, test::right_on(zero[m])));
  }
  const std::vector<std::pair<int, int>> pairs = {{0, 1}, {1, 0}, {0, 2}};
  for (auto [w, s] : pairs)
    for (int n : {0, 4})
      results::write_record(dir / fmt::format("w2s_{}_{}_{}.json", w, s, n),
                            test::icl_record(Kind::WeakSweep, models[s], n, test::right_on({0, 1, 2, 3}), models[w]));
  Options o;
  o.bootstrap_resamples = 0;
  const Report report = analyze(test::load(dir), o);
  plot(report, dir / "plots");

  // accuracy_vs_shots: one titled series per pair and per strong model's gold curve, all different.
  const std::string gp = read_file(dir / "plots" / "accuracy_vs_shots.gp");
  std::vector<std::string> titles;
  for (auto at = gp.find(" title \""); at != std::string::npos; at = gp.find(" title \"", at + 1)) {
    const auto open = at + 8;
    titles.push_back(gp.substr(open, gp.find('"', open) - open));
  }
  const std::set<std::string> distinct(titles.begin(), titles.end());
  EXPECT_EQ(distinct.size(), titles.size()) << gp;
  for (const char* t : {"weak60/a -> oracle/a", "oracle/a -> weak60/a", "weak60/a -> b", "oracle/a gold labels",
                        "weak60/a gold labels", "b gold labels"})
    EXPECT_EQ(distinct.count(t), 1u) << t << " missing from " << gp;
  EXPECT_EQ(titles.size(), 1u /* plot title */ + 3u /* pairs */ + 3u /* gold curves */) << gp;

  // Grid titles name both models of each cell.
  const std::string grid = read_file(dir / "plots" / "response_matching_all_questions_grid.gp");
  EXPECT_NE(grid.find("set title \"weak60/a -> oracle/a\""), std::string::npos) << grid;
  EXPECT_NE(grid.find("set title \"oracle/a -> weak60/a\""), std::string::npos) << grid;

  // Console table and the tables' name columns.
  const std::string console = console_table(report);
  EXPECT_NE(console.find("weak60/a -> oracle/a"), std::string::npos) << console;
  EXPECT_NE(console.find("oracle/a -> weak60/a"), std::string::npos) << console;
  const std::map<std::string, std::string> name_of = {
      {"weak60/a", "weak60/a"}, {"oracle/a", "oracle/a"}, {"org/b-instruct", "b-instruct"}};
  for (const auto& row : report.tables.at("icl_pairs").as_array()) {
    EXPECT_EQ(row.get_string("weak_name"), name_of.at(row.get_string("weak")));
    EXPECT_EQ(row.get_string("strong_name"), name_of.at(row.get_string("strong")));
  }
}

namespace {

// Every figure of `figures` drew, and each named one exists.
void expect_drawn(const Figures& figures, const fs::path& dir, const std::vector<std::string>& names) {
  for (const auto& failure : figures.failures) ADD_FAILURE() << failure;
  for (const auto& name : names) expect_figure(dir, name, {});
}

}  // namespace

// Issue 16 item 13: a weak model that is never wrong (empty "when weak wrong" condition, PGR
// undefined everywhere because floor = ceiling), one shot value, constant series: every figure is
// still drawn, with explicit axis ranges (gnuplot's autoscale fails on such data).
TEST(Plots, DegenerateIclDataStillGivesEveryFigure) {
  const fs::path dir = test::scratch_dir("plots_degenerate_icl");
  const std::vector<std::string> models = {"org/perfect-weak", "org/perfect-strong"};
  for (const auto& m : models)
    results::write_record(dir / (model_short_name(m) + ".json"), test::icl_record(Kind::Baseline, m, 0, test::kGold));
  // One shot value only; the student is right everywhere too (a constant series at 100%).
  results::write_record(dir / "w2s.json", test::icl_record(Kind::WeakSweep, models[1], 8, test::kGold, models[0]));
  results::write_record(dir / "self.json", test::icl_record(Kind::WeakSweep, models[0], 8, test::kGold, models[0]));
  Options o;
  o.bootstrap_resamples = 20;
  const Report report = analyze(test::load(dir), o);
  ASSERT_TRUE(report.tables.at("icl_pairs").at(0).at("pgr_weak0_strong0").is_null());
  const fs::path p = dir / "plots";
  const auto figures = plot(report, p);
  expect_drawn(figures, p,
               {"accuracy_vs_shots", "self_supervision", "pgr_vs_shots", "response_matching_all_questions_grid",
                "response_matching_when_weak_wrong_grid", "w2s_conditional_correctness_grid"});
  EXPECT_EQ(figures.files.size(), 12u);
  for (const char* name : {"accuracy_vs_shots", "pgr_vs_shots", "response_matching_when_weak_wrong_grid"}) {
    const std::string gp = read_file(p / (std::string(name) + ".gp"));
    EXPECT_NE(gp.find("set xrange ["), std::string::npos) << gp;
    EXPECT_NE(gp.find("set yrange ["), std::string::npos) << gp;
    EXPECT_EQ(gp.find("autoscale"), std::string::npos) << gp;
  }
  expect_figure(p, "pgr_vs_shots", {"No PGR defined"});
  expect_figure(p, "response_matching_when_weak_wrong_grid", {"the weak model is never wrong"});
}

// Fine-tuning: a ceiling equal to the floor (PGR undefined on every dataset) and one method.
TEST(Plots, DegenerateTrainingDataStillGivesEveryFigure) {
  const fs::path dir = test::scratch_dir("plots_degenerate_train");
  using results::Kind;
  const auto& g = test::kBinaryGold;
  const std::vector<double> scores = {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9};
  results::write_record(dir / "floor.json", test::train_record(Kind::TrainFloor, "sst2", "org/w", "", "", g, scores));
  results::write_record(dir / "ceiling.json", test::train_record(Kind::TrainCeiling, "sst2", "org/s", "", "", g, scores));
  results::write_record(dir / "w2s.json", test::train_record(Kind::TrainW2S, "sst2", "org/s", "org/w", "xent", g, scores));
  Options o;
  o.bootstrap_resamples = 0;
  const fs::path p = dir / "plots";
  const auto figures = plot(analyze(test::load(dir), o), p);
  expect_drawn(figures, p, {"train_accuracy_bars", "train_pgr_accuracy"});
  expect_figure(p, "train_pgr_accuracy", {"No PGR defined"});
}

// A figure gnuplot fails on is reported, and the figures after it are still drawn.
TEST(Plots, OneFailingFigureDoesNotStopTheOthers) {
  const fs::path dir = icl_fixture(test::scratch_dir("plots_one_fails"));
  const fs::path gnuplot = dir / "gnuplot-failing-on-pgr";
  write_file_atomic(gnuplot, "#!/bin/sh\n[ \"$1\" = pgr_vs_shots.gp ] && { echo 'simulated failure' >&2; exit 3; }\n"
                             "exec gnuplot \"$@\"\n");
  fs::permissions(gnuplot, fs::perms::owner_all);
  PlotOptions po;
  po.gnuplot = gnuplot.string();
  Options o;
  o.bootstrap_resamples = 0;
  const fs::path p = dir / "plots";
  const auto figures = plot(analyze(test::load(dir), o), p, po);
  ASSERT_EQ(figures.failures.size(), 1u);
  EXPECT_NE(figures.failures[0].find("pgr_vs_shots"), std::string::npos) << figures.failures[0];
  EXPECT_NE(figures.failures[0].find("simulated failure"), std::string::npos) << figures.failures[0];
  EXPECT_EQ(figures.files.size(), 10u);
  for (const char* name : {"response_matching_all_questions_grid", "w2s_conditional_correctness_grid"})
    expect_figure(p, name, {});
  EXPECT_FALSE(fs::exists(p / "pgr_vs_shots.png"));
}

// Issue 16 item 15: shots 0, 2, 4, ..., 64 on a log2(1 + n) axis with the counts as tics; a PGR of
// 500 % (a 10-point gap) kept off the axis range and marked at its edge; legends outside; grid
// rows = weak models and columns = strong models only; AUROC bars from chance.
TEST(Plots, AxesLegendsAndGridsReadAtAGlance) {
  const fs::path dir = test::scratch_dir("plots_axes");
  const std::vector<std::string> models = {"org/w-8b", "org/m-70b", "org/s-405b"};
  const std::vector<int> last_right = {3, 4, 7};  // zero-shot 0.4, 0.5, 0.8
  const std::vector<int> shots = {0, 2, 4, 8, 16, 32, 64};
  auto first = [](int k) {
    std::vector<int> v;
    for (int i = 0; i <= k; ++i) v.push_back(i);
    return v;
  };
  for (std::size_t m = 0; m < models.size(); ++m) {
    results::write_record(dir / fmt::format("baseline_{}.json", m),
                          test::icl_record(Kind::Baseline, models[m], 0, test::right_on(first(last_right[m]))));
    for (int n : shots)
      if (n)
        results::write_record(dir / fmt::format("gold_{}_{}.json", m, n),
                              test::icl_record(Kind::GoldSweep, models[m], n,
                                               test::right_on(first(std::min(9, last_right[m] + (n >= 16))))));
  }
  for (auto [w, s] : std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {1, 2}})
    for (int n : shots)
      results::write_record(dir / fmt::format("w2s_{}_{}_{}.json", w, s, n),
                            test::icl_record(Kind::WeakSweep, models[s], n,
                                             test::right_on(first(n >= 8 ? 8 : last_right[w] + 1)), models[w]));
  Options o;
  o.bootstrap_resamples = 0;  // no error bars: the y ranges follow the points alone
  const fs::path p = dir / "plots";
  const Report report = analyze(test::load(dir), o);
  const auto figures = plot(report, p);
  for (const auto& failure : figures.failures) ADD_FAILURE() << failure;

  const std::string pgr = read_file(p / "pgr_vs_shots.gp");
  EXPECT_NE(pgr.find("sx(n) = log(n + 1) / log(2)"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("set xtics (\"0\" sx(0), \"2\" sx(2), \"4\" sx(4), \"8\" sx(8), \"16\" sx(16), \"32\" sx(32), "
                     "\"64\" sx(64))"),
            std::string::npos)
      << pgr;
  EXPECT_NE(pgr.find("using (sx($1)):2:3:4"), std::string::npos) << pgr;
  // w-8b -> m-70b recovers 500 % of a 10-point gap at 8+ shots: the axis stops at +200 %, the
  // point is marked at the edge.
  EXPECT_NE(pgr.find(":210]"), std::string::npos) << pgr;  // +200 % and a margin
  EXPECT_EQ(pgr.find(":500"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("$2 > 210 ?"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("beyond the axis"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("set key at screen 0.8,"), std::string::npos) << pgr;  // right of the panels
  EXPECT_EQ(pgr.find("set key bottom"), std::string::npos) << pgr;
  expect_figure(p, "pgr_vs_shots", {"beyond the axis", "64"});

  // Every accuracy point lies inside the y range with a margin.
  const std::string acc = read_file(p / "accuracy_vs_shots.gp");
  EXPECT_NE(acc.find("set yrange [45:95]"), std::string::npos) << acc;  // points from 50 to 90 %
  EXPECT_NE(acc.find("set key outside right"), std::string::npos) << acc;

  // Grid: weak models {w-8b, m-70b} x strong models {m-70b, s-405b}, not 3 x 3.
  const std::string grid = read_file(p / "response_matching_all_questions_grid.gp");
  EXPECT_NE(grid.find("set multiplot layout 2,2"), std::string::npos) << grid;
  EXPECT_NE(grid.find("set key at screen"), std::string::npos) << grid;
  EXPECT_EQ(grid.find("set title \"s-405b -> "), std::string::npos) << grid;  // never a weak model
}

// AUROC bars from chance; a PGR of 400 % (a gap of 12.5 points) is cut at +200 % and named.
TEST(Plots, TrainingAxesStartAtChanceAndClampPgr) {
  const fs::path dir = test::scratch_dir("plots_auroc_axis");
  test::write_train_fixture(dir, "sst2");  // floor AUROC 0.5, ceiling 1.0
  using results::Kind;
  const auto& g = test::kBinaryGold;
  results::write_record(dir / "tiny" / "floor.json", test::train_record(Kind::TrainFloor, "tiny-gap", "org/small", "", "", g,
                                                                        {0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4}));
  results::write_record(dir / "tiny" / "ceiling.json", test::train_record(Kind::TrainCeiling, "tiny-gap", "org/big", "", "",
                                                                          g, {0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6, 0.8}));
  results::write_record(dir / "tiny" / "w2s.json", test::train_record(Kind::TrainW2S, "tiny-gap", "org/big", "org/small",
                                                                      "xent", g, {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9}));
  Options o;
  o.bootstrap_resamples = 0;
  const auto figures = plot(analyze(test::load(dir), o), dir / "plots");
  EXPECT_TRUE(figures.failures.empty());
  const std::string gp = read_file(dir / "plots" / "train_auroc_bars.gp");
  EXPECT_NE(gp.find("set yrange [45:"), std::string::npos) << gp;  // just below chance: a floor at 50 still shows
  EXPECT_NE(gp.find("first 50 nohead"), std::string::npos) << gp;   // the chance line
  EXPECT_NE(gp.find("chance = 50"), std::string::npos) << gp;
  EXPECT_NE(read_file(dir / "plots" / "train_accuracy_bars.gp").find("set yrange [0:"), std::string::npos);
  const std::string pgr = read_file(dir / "plots" / "train_pgr_auroc.gp");
  EXPECT_NE(pgr.find(":210]"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("beyond the axis: tiny-gap / xent 400%, mean over datasets / xent 225%"), std::string::npos) << pgr;
  // Issue 21.3: the bar cut at the frame is marked there, and its interval has caps.
  EXPECT_NE(pgr.find("title \"cut at the axis\""), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("with yerrorbars"), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("set errorbars 3"), std::string::npos) << pgr;
  // In pgr_vs_shots an interval cut at the axis gets a triangle on its cap and a legend entry, and
  // no plot of the figure goes without a title of its own (gnuplot would print its command).
  const fs::path icl_dir = test::scratch_dir("plots_icl_cut");
  const auto icl = plot(analyze(test::load(icl_fixture(icl_dir)), Options{}), icl_dir / "plots");
  EXPECT_TRUE(icl.failures.empty());
  const std::string panels = read_file(icl_dir / "plots" / "pgr_vs_shots.gp");
  EXPECT_NE(panels.find("title \"interval cut at the axis\""), std::string::npos) << panels;
  expect_figure(icl_dir / "plots", "pgr_vs_shots", {"interval cut at the axis"});
  EXPECT_EQ(read_file(icl_dir / "plots" / "pgr_vs_shots.svg").find("index 0 using"), std::string::npos);
  expect_figure(dir / "plots", "train_pgr_auroc", {"beyond the axis: tiny-gap / xent 400%"});
}

// Issue 16 item 9 in figures: a PGR whose ceiling lies below its floor (here 50 %: the student sits
// halfway between a weak model that beats the strong one) is crossed out and named in the legend;
// the training PGR chart names such rows in its title.
TEST(Plots, PgrWithTheCeilingBelowTheFloorIsMarked) {
  const fs::path dir = test::scratch_dir("plots_inverted");
  results::write_record(dir / "baseline_w.json",
                        test::icl_record(Kind::Baseline, "org/w", 0, test::right_on({0, 1, 2, 3, 4, 5, 6, 7})));
  results::write_record(dir / "baseline_s.json", test::icl_record(Kind::Baseline, "org/s", 0, test::right_on({0, 1, 2, 3})));
  for (int n : {2, 4})
    results::write_record(dir / fmt::format("w2s_{}.json", n),
                          test::icl_record(Kind::WeakSweep, "org/s", n, test::right_on({0, 1, 2, 3, 4, 5}), "org/w"));
  using results::Kind;
  const auto& g = test::kBinaryGold;
  const std::vector<double> good = {0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9}, chance = {0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4};
  results::write_record(dir / "t" / "floor.json", test::train_record(Kind::TrainFloor, "flipped", "org/w", "", "", g, good));
  results::write_record(dir / "t" / "ceiling.json", test::train_record(Kind::TrainCeiling, "flipped", "org/s", "", "", g, chance));
  results::write_record(dir / "t" / "w2s.json", test::train_record(Kind::TrainW2S, "flipped", "org/s", "org/w", "logconf", g,
                                                                   {0.1, 0.2, 0.3, 0.7, 0.6, 0.4, 0.8, 0.9}));
  Options o;
  o.bootstrap_resamples = 0;
  const fs::path p = dir / "plots";
  const auto figures = plot(analyze(test::load(dir), o), p);
  for (const auto& failure : figures.failures) ADD_FAILURE() << failure;
  const std::string pgr = read_file(p / "pgr_vs_shots.gp");
  EXPECT_NE(pgr.find("title \"ceiling below floor\""), std::string::npos) << pgr;
  EXPECT_NE(pgr.find("with points pt 2 ps 3"), std::string::npos) << pgr;
  const std::string data = read_file(p / "pgr_vs_shots.dat");
  EXPECT_NE(data.find("pgr_weak0_strong0 (ceiling below floor)\n# shots PGR (percent)\n2 50.0000\n4 50.0000"),
            std::string::npos)
      << data;
  expect_figure(p, "train_pgr_auroc", {"ceiling at or below the floor (left out of the means): flipped / logconf"});
}
