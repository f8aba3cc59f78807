// Internals shared by the analysis sources.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "w2s/analysis.h"

namespace w2s::analysis::detail {

namespace fs = std::filesystem;

// One record with its per-example outcomes aligned to its group's example order.
struct Eval {
  fs::path path;
  const results::ResultRecord* record = nullptr;
  std::vector<bool> correct;
  std::vector<std::string> answers;
  std::vector<double> scores;    // binary tasks with scores only
  std::vector<bool> positive;    // gold == "1"
  bool has_scores = false;

  double accuracy() const;
  std::optional<double> auroc() const;  // from scores, else the record's metrics.auroc
};

// Aligns every record to the example order of the first one; throws naming both files when the
// example ids or gold answers differ.
std::vector<Eval> align(const std::vector<const results::LoadedRecord*>& records);

// One value of a statistic per bootstrap resample; nullopt where it is undefined on that resample
// (an AUROC of a resample with one class only, a PGR whose gap is below the zero guard).
using Samples = std::vector<std::optional<double>>;

// Paired bootstrap over the examples of one group: the same resamples for every record of the
// group, so differences and ratios keep their pairing. Deterministic under Options::seed.
class Bootstrap {
 public:
  Bootstrap(std::size_t n_examples, const Options& options);
  bool enabled() const { return !indices_.empty(); }
  const Samples& accuracy(const Eval& e);  // always defined
  const Samples& auroc(const Eval& e);

 private:
  std::vector<std::vector<std::uint32_t>> indices_;
  std::map<const Eval*, Samples> accuracy_, auroc_;
};

// Per-resample PGR, undefined where an input is or where the gap is below zero_guard.
Samples pgr_samples(const Samples& student, const Samples& floor, const Samples& ceiling, double zero_guard);

// Per-resample a − b, undefined where either is.
Samples differences(const Samples& a, const Samples& b);

// Two-sided bootstrap p-value of "no difference": twice the smaller share of the defined
// resampled differences on either side of 0 (at most 1); null when fewer than half are defined.
std::optional<double> bootstrap_p_value(const Samples& differences);

// Sets McNemar's test of a against b on a row: mcnemar_<a_name>_only_correct,
// mcnemar_<b_name>_only_correct, mcnemar_statistic, mcnemar_p, mcnemar_method.
void put_mcnemar(json::Value& row, const McNemar& test, const std::string& a_name, const std::string& b_name);

// Sets key, key_lo, key_hi on a row. The interval comes from the defined samples and is null when
// fewer than half of the resamples are defined.
void put_estimate(json::Value& row, const std::string& key, std::optional<double> point, const Samples* samples,
                  double confidence);

// Shares: numerator / denominator, null when the denominator is 0.
std::optional<double> share(std::int64_t numerator, std::int64_t denominator);

// `v` with `decimals` decimals; a value that rounds to zero prints without a sign (never "-0.000").
std::string fixed(double v, int decimals);

// "<name> (<variant>) [sha256 ...]" — what makes two records "the same data".
std::string dataset_key(const results::DatasetIdentity& d);

// Model names. Every table keeps the model ids ("model", "weak", "strong" columns) and a name
// column beside each ("model_name", ...). name_models fills the name columns once all tables are
// built, from the ids of the whole report (ModelNames: "org/" dropped where that stays unique).
// display_names gives the shorter labels of the console table and the figures (also without
// "-instruct"/"-chat" where that stays unique): "meta-llama/llama-3.1-70b-instruct" -> "llama-3.1-70b".
void name_models(json::Value& tables);
ModelNames display_names(const json::Value& tables);

// Records of the same role that are duplicates: identical outcomes are merged, others are an error.
// Returns the record to use.
const results::LoadedRecord* pick_unique(const std::vector<const results::LoadedRecord*>& candidates,
                                         const std::string& role);

// Answers of an in-context record that carry no usable answer (not counting failed requests):
// `unparsed` have no option letter (among them the answers cut off before one), `cut_off` were
// cut off at max_tokens (finish_reason "length", with or without a letter).
struct UnusableAnswers {
  std::int64_t unparsed = 0, cut_off = 0;
};
UnusableAnswers unusable_answers(const results::ResultRecord& r);
// The empty labels ("" = the weak model gave no usable answer) among a weak-sweep record's shots.
std::int64_t unusable_weak_labels(const results::ResultRecord& r);
// Above this share of unusable answers a zero-shot point (a floor, ceiling or weak labeller) gets
// a note: its accuracy measures answers the model never gave (lib/icl stops a weak-sweep there).
inline constexpr double kUnusableShareNoted = 0.2;

json::Value icl_tables(const std::vector<const results::LoadedRecord*>& records, const Options& options,
                       json::Value& accuracy_rows);
// The fine-tuning tables of one test set: "train" (one row per student: floor, ceiling, student,
// PGR with bootstrap CIs; "test_set" holds `test_set`) and "train_method_pairs" (two methods on
// one dataset and pair, paired), with each method's PGRs for method_rows (over every test set).
// A student is compared with the floor and ceiling of its own run folder where the records hold
// several of one model (a sweep's seeds).
struct Estimate {  // a PGR and its bootstrap samples (none without a bootstrap)
  std::optional<double> point;
  Samples samples;
  // ceiling - floor >= zero guard. A PGR without a clear gap is shown, flagged, but left out of
  // means and medians (counted as left out).
  bool clear_gap = true;
  std::optional<double> floor, ceiling, student;  // the points the PGR comes from (for the PGR of the means)
};
using MethodCell = std::tuple<std::string, std::string, std::string, std::string>;  // test set, dataset, weak, strong
struct MethodPgrs {  // one method's PGRs: per cell, one per run (a sweep's seeds, ...)
  std::map<MethodCell, std::vector<Estimate>> auroc, accuracy;
};
struct TrainTables {
  json::Value rows = json::Value::array();
  json::Value method_pair_rows = json::Value::array();
  std::map<std::string, MethodPgrs> pgrs_by_method;
};
TrainTables train_tables(const std::vector<const results::LoadedRecord*>& records, const std::string& test_set,
                         const Options& options);
// "train_dataset_methods" (cells: per test set, pair and method, the mean PGR over its runs) and
// "train_methods" (per method: how many test sets, the mean and median over its cells), all with
// bootstrap intervals.
struct MethodTables {
  json::Value cells = json::Value::array();
  json::Value methods = json::Value::array();
};
MethodTables method_rows(const std::map<std::string, MethodPgrs>& by_method, const Options& options);

// True when ceiling - floor is at least the zero guard: a gap that a PGR can be a share of.
bool clear_gap(double floor, double ceiling, double zero_guard);

// ---- in context and fine-tuning side by side (paradigms.cpp) ----
// "paradigms": per dataset and (weak, strong) pair found in both paradigms, one row per in-context
// weak-sweep point (per shot count) and per fine-tuned student: floor, ceiling, student accuracy and
// PGR, each with its own paradigm's floor and ceiling, all on the test examples the group's records
// share, with one paired bootstrap. "paradigm_tests": each in-context point against each fine-tuned
// student: accuracy difference (paired bootstrap interval and p-value) and McNemar. Built from the
// rows of "icl_pairs", "icl_accuracy" and "train" in `tables` (they name each role's record); where
// the paradigms cannot be compared, a note says why.
struct ParadigmTables {
  json::Value rows = json::Value::array();
  json::Value tests = json::Value::array();
};
ParadigmTables paradigm_tables(const std::vector<const results::LoadedRecord*>& icl,
                               const std::vector<const results::LoadedRecord*>& train, const json::Value& tables,
                               const Options& options, std::vector<std::string>& notes);

// ---- runs side by side (runs.cpp) ----
// The folder of a record's run (the nearest ancestor named like its run: results/<run>/...), else
// the run name: two results folders with runs of the same name are two runs.
std::string run_folder(const results::LoadedRecord& r);
// A record's config as "a.b.c" -> value text, without the settings that only say where a run went
// (run_name, results_dir, the stage's name, ...).
std::map<std::string, std::string> flat_config(const json::Value& config);
// The settings in which group `which` differs from the other groups (those every record of a group
// agrees on), as {"sampling.temperature": "0.7", ...}.
json::Value differing_settings(const std::vector<std::vector<const results::LoadedRecord*>>& groups,
                               std::size_t which);
// Per record, the settings whose value is not the same in all `records` (a sweep's grid
// variables), leaving out the keys in `shown_apart` (shown in columns of their own).
std::vector<json::Value> varying_settings(const std::vector<const results::LoadedRecord*>& records,
                                         const std::set<std::string>& shown_apart);
// The in-context records of one test set, in groups that can be analysed together. One group when
// no two records of one role (kind, model, labelling model, shots) disagree; else one group per
// run folder, labelled by it and by its differing settings, each borrowing the roles it lacks from
// the others where they agree.
struct RunGroup {
  std::string run;       // the run folder ("" for the single group)
  json::Value settings;  // its differing settings (object)
  std::vector<const results::LoadedRecord*> records;
};
std::vector<RunGroup> split_disagreeing_runs(const std::vector<const results::LoadedRecord*>& records);
// Replaces each row's "settings" object by one "setting.<key>" column per key that any row of its
// table has (null where a row's run has none), so every row keeps the same columns.
void put_settings_columns(json::Value& tables);

// "train_curves": one row per logged step of every fine-tuning stage whose log.jsonl (the
// trainer's log, published beside the stage's record.json) is among the inputs: the training
// loss, learning rate and gradient norm of each optimizer step, and the val / test loss, AUROC
// and accuracy of each evaluation. A stage published into several run folders (a stage-cache hit)
// counts once. Lines that cannot be read are a note naming the file and line.
json::Value train_curves(const std::vector<const results::LoadedRecord*>& records, std::vector<std::string>& notes);

}  // namespace w2s::analysis::detail
