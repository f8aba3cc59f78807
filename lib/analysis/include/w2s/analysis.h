// w2s analysis: PGR, uncertainty, response matching and figures, computed from result records
// (w2s/results.h) only. Definitions and the mapping from records to roles: docs/analysis.md.
//
// Conventions: accuracies, AUROC, PGR and shares are fractions (PGR 1.0 = the full gap
// recovered); undefined values (degenerate denominator, empty condition) are std::nullopt in C++
// and null in JSON/CSV ("" in CSV), never 0 or infinity.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"
#include "w2s/results.h"

namespace w2s::analysis {

// PGR is undefined when |ceiling - floor| is below this (fractions; 1e-3 = 0.1 percentage points,
// the reference's threshold); a PGR whose ceiling - floor is below it (no clear gap, a ceiling at
// or below the floor) is flagged and left out of means and medians.
inline constexpr double kPgrZeroGuard = 1e-3;

struct Options {
  std::int64_t bootstrap_resamples = 1000;  // 0 disables the bootstrap (no CIs)
  std::int64_t seed = 0;                    // seeds the resampling (PyRandom: same CIs on every platform)
  double confidence = 0.95;                 // two-sided percentile interval
  double zero_guard = kPgrZeroGuard;
};

// ---- metric primitives -----------------------------------------------------------------------

// (student - floor) / (ceiling - floor); nullopt when |ceiling - floor| < zero_guard.
std::optional<double> pgr(double student, double floor, double ceiling, double zero_guard = kPgrZeroGuard);

struct McNemar {
  std::int64_t only_a_correct = 0;   // b: a right, b wrong
  std::int64_t only_b_correct = 0;   // c: a wrong, b right
  std::optional<double> statistic;   // chi-square (continuity-corrected); null for the exact test
  double p_value = 1.0;              // two-sided
  std::string method;                // "exact-binomial" (b + c < 25) or "chi2-continuity"
};
// Paired correctness of two classifiers on the same examples (equal lengths, else throws).
McNemar mcnemar(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct);
inline constexpr std::int64_t kMcNemarExactBelow = 25;  // discordant pairs below this: exact test

// Cohen's kappa between two label sequences (equal lengths); nullopt when empty or when chance
// agreement is 1 (both constant and equal).
std::optional<double> cohen_kappa(const std::vector<std::string>& a, const std::vector<std::string>& b);

// AUROC: w2s::results::auroc (shared with lib/icl and lib/train).

// The q quantile of Student's t distribution with `df` degrees of freedom (0 < q < 1, df >= 1):
// the interval of a mean over a few runs (seeds) is mean ± t(1 - (1 - confidence) / 2, n - 1) · sd / √n.
double student_t_quantile(double q, double df);

// Percentile interval of bootstrap samples (linear interpolation between order statistics, as
// numpy's default); nullopt when empty.
struct Interval {
  double lo = 0.0;
  double hi = 0.0;
};
std::optional<Interval> percentile_interval(std::vector<double> samples, double confidence);

// ---- analysis of a set of records ------------------------------------------------------------

// Tables are JSON arrays of flat row objects (same keys in every row of a table):
//   "icl_accuracy"  every accuracy point (baseline / gold / weak-label student) with its CI;
//   "icl_pairs"     per weak->strong pair and shots: the four PGR variants, McNemar, kappa,
//                   response matching and the correlation-pattern fields of the reference;
//   "train"         per dataset, weak->strong pair and method: floor / ceiling / student accuracy
//                   and AUROC, PGR on both, McNemar (student vs ceiling), kappa (student vs floor);
//   "train_methods" per method: PGR (AUROC and accuracy) mean and median across datasets;
//   "train_method_pairs" per dataset, pair and two methods: the PGR difference with its paired
//                   bootstrap interval and p-value, McNemar between the two students;
//   "train_curves"  per logged step of each stage (the trainer's log.jsonl beside its record):
//                   loss, learning rate, and the val / test loss, AUROC and accuracy.
//   "paradigms"     per dataset and (weak, strong) pair run both in context and by fine-tuning:
//                   each in-context point (per shots) and fine-tuned student with its own
//                   paradigm's floor, ceiling and PGR, on the test examples they all share;
//   "paradigm_tests" per in-context point and fine-tuned student: the accuracy difference (paired
//                   bootstrap) and McNemar on the common examples. Where the paradigms are not
//                   comparable (other data, no common pair or example) a note says so.
// A PGR whose ceiling is not clearly above its floor (by the zero guard) is flagged and left out
// of means and medians (counted). In-context runs that disagree on a role are analysed side by
// side, one run folder each, with their differing settings as "setting.<key>" columns.
// Column meanings: docs/analysis.md.
// Records are compared only within a test set: the same dataset (name, variant, source hashes),
// split, example ids and gold answers. Runs on different test sets (another --test-size, dataset
// file, variant or data seed) are reported side by side, one test set each; every table's
// "test_set" column holds the label (for fine-tuning, the dataset's name when it has one test set).
struct TestSet {
  std::string label;  // "truthfulqa mc1-4-local, test split, n=100" (+ a fingerprint where two would read alike)
  results::DatasetIdentity dataset;
  std::int64_t n = 0;  // examples
};

struct Report {
  Options options;
  std::vector<std::filesystem::path> inputs;  // the record files used
  results::DatasetIdentity dataset;           // of the (first) ICL test set, or a summary of the datasets
  std::vector<TestSet> test_sets;             // of the in-context tables, in order of first appearance
  json::Value tables = json::Value::object();
  std::vector<std::string> notes;             // skipped inputs and test sets, and why
};

// Maps records to roles and computes every table, per test set. A test set that cannot be
// analysed (a missing floor or ceiling, ambiguous duplicates) becomes a note naming the files;
// when none can be, the error is thrown (w2s::Error).
Report analyze(const std::vector<results::LoadedRecord>& records, const Options& options = {});

// Fixed-width console summary of the tables.
std::string console_table(const Report& report);

// Writes analysis.json (a result record of kind "analysis", tables in `extra`) and one CSV per
// non-empty table (<table>.csv) into out_dir; returns the paths written.
std::vector<std::filesystem::path> write_report(const Report& report, const std::filesystem::path& out_dir);

// ---- figures ---------------------------------------------------------------------------------

struct PlotOptions {
  std::string gnuplot = "gnuplot";  // executable (looked up on PATH)
};

struct Figures {
  std::vector<std::filesystem::path> files;  // PNG and SVG of every figure drawn
  std::vector<std::string> failures;         // one message per figure that could not be drawn
};

// Renders every figure the report has data for as PNG (pngcairo) and SVG, with the .dat and .gp
// files beside them (run `gnuplot <name>.gp` in out_dir to re-render after restyling). Degenerate
// data (a condition that is empty, a constant series, one point) still gives a figure. A figure
// that fails is reported in `failures` and the others are still drawn. Throws w2s::Error when
// there is nothing to plot or gnuplot is missing (the .dat/.gp are kept).
Figures plot(const Report& report, const std::filesystem::path& out_dir, const PlotOptions& options = {});

// ---- one page --------------------------------------------------------------------------------

// `w2s report`: a single self-contained HTML page (UTF-8, no script, nothing loaded from outside)
// with the console summary, every figure of `figure_files` (the SVGs, inline as data), every
// non-empty table, every record with its failed / unparsed / cut-off / refused counts and cost,
// the settings of each run and every note.
std::string html_report(const std::vector<results::LoadedRecord>& records, const Report& report,
                        const std::vector<std::filesystem::path>& figure_files);

}  // namespace w2s::analysis
