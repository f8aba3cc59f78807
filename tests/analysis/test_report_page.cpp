// `w2s report` end to end: the page is one self-contained file, and a real headless browser
// (Debian's chromium) loads it offline with no console error and shows the figures.
#include <gtest/gtest.h>

#include <regex>

#include "paradigm_fixtures.h"

using namespace w2s;
using results::Kind;
namespace fs = std::filesystem;

namespace {

// In-context: two models' baselines, a gold sweep and a weak-label sweep. Fine-tuning: two
// methods on sst2, with a trainer log beside one student (training curves); sst2 in context as well.
fs::path report_fixture(const fs::path& dir) {
  results::write_record(dir / "icl" / "baseline_w.json",
                        test::icl_record(Kind::Baseline, "org/weak-8b", 0, test::right_on({0, 1, 2, 3})));
  results::write_record(dir / "icl" / "baseline_s.json",
                        test::icl_record(Kind::Baseline, "org/strong-70b", 0, test::right_on({0, 1, 2, 3, 4, 5, 6, 7})));
  for (int n : {2, 4}) {
    results::write_record(dir / "icl" / fmt::format("gold_s_{}.json", n),
                          test::icl_record(Kind::GoldSweep, "org/strong-70b", n, test::right_on({0, 1, 2, 3, 4, 5, 6, 7, 8})));
    results::write_record(dir / "icl" / fmt::format("w2s_{}.json", n),
                          test::icl_record(Kind::WeakSweep, "org/strong-70b", n, test::right_on({0, 1, 2, 3, 4, 5}),
                                           "org/weak-8b"));
  }
  test::write_train_fixture(dir / "train", "sst2");
  test::write_icl_sst2(dir / "icl-sst2", 0, "org/small");  // sst2 in context too: the two paradigms side by side
  std::string log = R"({"event":"train_args","step":0,"train_args":{"lr":0.0005},"loss":{},"optimizer_steps":8})" "\n";
  for (int step = 0; step <= 8; ++step) {
    if (step > 0)
      log += fmt::format(R"({{"step":{},"lr":{},"loss":{},"grad_norm":0.5}})" "\n", step, 0.0005 * (8 - step + 1) / 8,
                         0.7 - 0.05 * step);
    if (step % 2 == 0)
      log += fmt::format(R"({{"step":{},"epoch":0.5,"eval_val_loss":0.6,"eval_val_accuracy":{},"eval_val_auroc":{},)"
                         R"("eval_val_ce_gold":0.6,"eval_test_loss":0.6,"eval_test_accuracy":{},"eval_test_auroc":{},)"
                         R"("eval_test_ce_gold":0.6}})" "\n",
                         step, 0.5 + 0.04 * step, 0.5 + 0.05 * step, 0.5 + 0.03 * step, 0.5 + 0.045 * step);
  }
  test::write_text(dir / "train" / "sst2" / "logconf" / "log.jsonl", log);
  return dir;
}

}  // namespace

TEST(ReportPage, OneSelfContainedPageThatChromiumShowsWithoutErrors) {
  const fs::path dir = report_fixture(test::scratch_dir("report_page"));
  const fs::path out = dir / "report";
  std::string output;
  ASSERT_EQ(test::run_command(test::w2s_binary().string() + " report " + dir.string() + " --resamples 50 --out " +
                                  out.string(),
                              &output),
            0)
      << output;
  const fs::path page = out / "report.html";
  ASSERT_TRUE(fs::exists(page)) << output;
  const std::string html = read_file(page);

  // Self-contained: nothing is loaded from elsewhere; every figure is inline.
  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*"(https?:|file:|//))"))) << "external reference";
  EXPECT_EQ(html.find("<script"), std::string::npos);
  std::size_t svgs = 0;
  for (const auto& e : fs::recursive_directory_iterator(out / "figures")) svgs += e.path().extension() == ".svg";
  std::size_t inline_figures = 0;
  for (std::size_t at = html.find("data:image/svg+xml;base64,"); at != std::string::npos;
       at = html.find("data:image/svg+xml;base64,", at + 1))
    ++inline_figures;
  EXPECT_GE(svgs, 8u);
  EXPECT_EQ(inline_figures, svgs);
  for (const char* figure : {"accuracy_vs_shots", "pgr_vs_shots", "train_auroc_bars", "train_pgr_auroc", "training_curves",
                             "paradigms-sst2"})
    EXPECT_CONTAINS(html, std::string("alt=\"") + figure + "\"");
  // Every table, the records with their counts and cost, the settings of each run.
  for (const char* table : {"icl_accuracy", "icl_pairs", "train", "train_methods", "train_curves", "paradigms",
                            "paradigm_tests"})
    EXPECT_CONTAINS(html, std::string("<h3>") + table + " (");
  EXPECT_CONTAINS(html, "<th>unparsed</th>");
  EXPECT_CONTAINS(html, "<th>refused</th>");
  EXPECT_CONTAINS(html, "<th>cost (USD)</th>");
  EXPECT_CONTAINS(html, "Settings of each run");
  EXPECT_CONTAINS(html, "In-context on truthfulqa");
  EXPECT_CONTAINS(html, "In context and fine-tuning side by side");

  // A real browser, offline (no network, fresh profile): no console message, the DOM is the page,
  // and the screenshot shows the figures (many colours, a good share of non-white pixels).
  const fs::path profile = test::scratch_dir("report_page_chromium_profile");
  const std::string chromium =
      "timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir=" + profile.string() +
      " --enable-logging=stderr --v=0 --window-size=1400,2400 --hide-scrollbars ";
  const fs::path png = out / "screenshot.png";
  std::string log;
  ASSERT_EQ(test::run_command(chromium + "--screenshot=" + png.string() + " file://" + fs::absolute(page).string() + " 2>&1",
                              &log),
            0)
      << log;
  EXPECT_EQ(log.find("CONSOLE"), std::string::npos) << log;
  EXPECT_EQ(log.find("Uncaught"), std::string::npos) << log;
  EXPECT_EQ(log.find("Failed to load resource"), std::string::npos) << log;
  ASSERT_TRUE(fs::exists(png)) << log;
  std::string dom;
  ASSERT_EQ(test::run_command(chromium + "--dump-dom file://" + fs::absolute(page).string() + " 2>/dev/null", &dom), 0);
  EXPECT_CONTAINS(dom, "<h1>w2s report</h1>");
  EXPECT_CONTAINS(dom, "alt=\"train_auroc_bars\"");

  std::string colours;
  ASSERT_EQ(test::run_command(test::debian_python3() + " " + (test::source_dir() / "tests/analysis/png_colours.py").string() +
                                  " " + png.string(),
                              &colours),
            0)
      << colours;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(colours, m, std::regex(R"(colours (\d+) nonwhite ([0-9.]+))"))) << colours;
  EXPECT_GT(std::stoi(m[1]), 200) << colours;           // figures: many colours and anti-aliased lines
  EXPECT_GT(std::stod(m[2]), 0.05) << colours;          // not a blank page
}
