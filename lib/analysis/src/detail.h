// Internals shared by the analysis sources.
#pragma once

#include <map>
#include <string>
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

// Paired bootstrap over the examples of one group: the same resamples for every record of the
// group, so differences and ratios keep their pairing. Deterministic under Options::seed.
class Bootstrap {
 public:
  Bootstrap(std::size_t n_examples, const Options& options);
  bool enabled() const { return !indices_.empty(); }
  const std::vector<double>& accuracy(const Eval& e);  // one value per resample
  const std::vector<double>& auroc(const Eval& e);     // NaN where a resample has one class only

 private:
  std::vector<std::vector<std::uint32_t>> indices_;
  std::map<const Eval*, std::vector<double>> accuracy_, auroc_;
};

// Per-resample PGR (NaN where undefined).
std::vector<double> pgr_samples(const std::vector<double>& student, const std::vector<double>& floor,
                                const std::vector<double>& ceiling, double zero_guard);

// Two-sided bootstrap p-value of "no difference": twice the smaller share of the defined
// resampled differences on either side of 0 (at most 1); null when fewer than half are defined.
std::optional<double> bootstrap_p_value(const std::vector<double>& differences);

// Sets key, key_lo, key_hi on a row. The interval comes from the defined (non-NaN) samples and is
// null when fewer than half of the resamples are defined.
// Sets McNemar's test of a against b on a row: mcnemar_<a_name>_only_correct,
// mcnemar_<b_name>_only_correct, mcnemar_statistic, mcnemar_p, mcnemar_method.
void put_mcnemar(json::Value& row, const McNemar& test, const std::string& a_name, const std::string& b_name);

void put_estimate(json::Value& row, const std::string& key, std::optional<double> point,
                  const std::vector<double>* samples, double confidence);

// Shares: numerator / denominator, null when the denominator is 0.
std::optional<double> share(std::int64_t numerator, std::int64_t denominator);

// "<name> (<variant>) [sha256 ...]" — what makes two records "the same data".
std::string dataset_key(const results::DatasetIdentity& d);

// Short, readable model label for tables and figures:
// "meta-llama/llama-3.1-70b-instruct" -> "llama-3.1-70b".
std::string short_model_name(const std::string& model);

// Records of the same role that are duplicates: identical outcomes are merged, others are an error.
// Returns the record to use.
const results::LoadedRecord* pick_unique(const std::vector<const results::LoadedRecord*>& candidates,
                                         const std::string& role);

json::Value icl_tables(const std::vector<const results::LoadedRecord*>& records, const Options& options,
                       json::Value& accuracy_rows);
// The fine-tuning tables: "train" (one row per student: floor, ceiling, student, PGR with
// bootstrap CIs), "train_methods" (PGR mean and median per method across datasets) and
// "train_method_pairs" (two methods on one dataset and pair, paired).
struct TrainTables {
  json::Value rows = json::Value::array();
  json::Value method_rows = json::Value::array();
  json::Value method_pair_rows = json::Value::array();
};
TrainTables train_tables(const std::vector<const results::LoadedRecord*>& records, const Options& options);

}  // namespace w2s::analysis::detail
