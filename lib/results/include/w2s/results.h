// w2s results: the common result schema shared by the in-context experiments (lib/icl), the
// fine-tuning pipeline (lib/train) and the analysis (lib/analysis).
//
// One ResultRecord = one evaluation point: one evaluated model, one label source, one number of
// shots (ICL) or one training stage, on one dataset split. It carries the full resolved
// configuration, the dataset identity, metrics, per-example predictions, cost and timing.
//
// The JSON layout is specified in docs/result-schema.md and docs/result-schema.json (JSON
// Schema draft 7). write_record validates before writing and writes atomically; read_record
// validates on read. Analysis reads only these files.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"
#include "w2s/options.h"

namespace w2s::results {

inline constexpr const char* kSchemaVersion = "1.0";

// What produced the record. "analysis" records are written by `w2s analyze`.
enum class Kind { Baseline, GoldSweep, WeakSweep, WeakLabels, TrainFloor, TrainCeiling, TrainW2S, TrainS2S, Analysis };
const char* kind_name(Kind k);        // "baseline", "gold-sweep", "weak-sweep", "weak-labels",
                                      // "train-floor", "train-ceiling", "train-w2s", "train-s2s", "analysis"
Kind parse_kind(std::string_view s);  // throws w2s::Error on an unknown name

struct SourceFile {
  std::string path;    // as given by the user (or the downloaded location)
  std::string sha256;  // of the file's bytes
};

// Enough to trace a result to exact data.
struct DatasetIdentity {
  std::string name;                       // "truthfulqa", "sst2", ...
  std::string variant;                    // "mc1-4-local", "binary-local", ... ("" if none)
  std::vector<SourceFile> sources;
  std::string split;                      // split the metrics are on: "test", "train", "val"
  std::map<std::string, std::int64_t> split_sizes;  // e.g. {"train": 490, "test": 200}
  std::int64_t seed = 0;                  // split / shuffle seed
};

// roles: "weak", "strong", "student" (the strong model taught by weak labels), "subject" (a model
// evaluated on its own, e.g. a zero-shot baseline).
struct ModelRole {
  std::string id;    // API model id or local model path/name
  std::string role;
};

// Where the few-shot examples' or training labels came from.
struct LabelSource {
  std::string kind = "none";  // "none" | "gold" | "weak" | "student" (previous s2s round) | "probe" (relabelled)
  std::string model;          // the labelling model for "weak"/"student", else ""
};

struct Metrics {
  std::int64_t n = 0;                       // examples evaluated (incl. failed / unparsed)
  std::int64_t num_correct = 0;
  double accuracy = 0.0;                    // num_correct / n (failed and unparsed count as wrong)
  std::optional<double> accuracy_answered;  // over examples with a parsed answer, when it differs
  std::optional<double> auroc;              // where scores exist (tie-aware)
  std::int64_t parse_failures = 0;
  std::int64_t failed = 0;                  // requests that failed for good (API) / 0 for training
  std::optional<double> loss;               // training: the stage's loss on this split
  json::Value extra;                        // other metrics (object or null), e.g. {"ce_gold": ...}
};

struct Prediction {
  std::string id;                       // stable example id (ICL: question_id; train: sha1(txt)[:8])
  std::string prediction;               // parsed answer ("C", "1"); "" when none
  std::string gold;                     // gold answer ("D", "0")
  bool correct = false;
  std::optional<double> score;          // binary: P(label "1"); MC: probability of `prediction`
  std::map<std::string, double> probabilities;  // per option / class, where available
  std::optional<double> label_used;     // training: the (soft) label the model was trained on
  std::optional<std::string> raw_completion;    // API runs: the model's text
  std::optional<std::string> reasoning;         // API runs: reasoning text, never parsed as the answer
  std::optional<std::int64_t> reasoning_tokens; // API runs: reasoning tokens, when reported
  std::optional<std::string> finish_reason;     // API runs: "stop", "length" (cut off at max_tokens), ...
  // API runs scored by logprobs: "logprobs", or how the answer fell back to its text:
  // "text-no-logprobs" (the server returned none), "text-no-letter" (no option letter among the
  // first token's alternatives).
  std::optional<std::string> scored_by;
  std::optional<std::string> error;     // failed request: its final error
  // API runs: the model or a filter refused (neither an answer nor unparsed): the refusal text and
  // its category ("content_filter", "refusal", "moderation").
  std::optional<std::string> refusal;
  std::optional<std::string> refusal_category;
};

struct ModelCost {
  double usd = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t requests = 0;      // billed requests sent (excluding cache hits)
  std::int64_t cache_hits = 0;
  std::int64_t failed_requests = 0;
  double replayed_usd = 0.0;      // what the cache hits cost when first paid (written when > 0)
  double upstream_usd = 0.0;      // BYOK upstream charges (written when > 0)
  // Attempts that may have been billed without a reported cost: the worst case of those not
  // reconciled, and what GET /generation said the others cost (neither in usd; written when > 0).
  double possibly_billed_usd = 0.0;
  double reconciled_usd = 0.0;
};

struct Cost {
  ModelCost total;
  std::string source = "none";  // "usage" (provider-reported usage.cost), "pricing" (/models × tokens),
                                // "mixed", or "none" (local / no price known)
  std::map<std::string, ModelCost> by_model;
};

struct Timing {
  std::string started_at;   // ISO 8601 UTC
  std::string finished_at;
  double wall_seconds = 0.0;
};

struct ResultRecord {
  std::string schema_version = kSchemaVersion;
  Kind kind = Kind::Baseline;
  std::string run;                     // run name (results/<run>/)
  std::string created_at;              // ISO 8601 UTC; filled by write_record when empty
  std::string tool_version;            // filled by write_record when empty
  std::string tool_git_commit;         // filled by write_record when empty
  json::Value config;                  // the full resolved configuration (object)
  DatasetIdentity dataset;
  std::vector<ModelRole> models;       // every model involved, with its role
  std::string evaluated_model;         // the model whose predictions these are
  LabelSource label_source;
  std::optional<std::int64_t> shots;   // ICL: number of few-shot examples
  std::optional<std::string> stage;    // training: "floor", "ceiling", "w2s", "s2s-1", ...
  Metrics metrics;
  std::vector<Prediction> predictions;
  Cost cost;
  Timing timing;
  json::Value extra;                   // kind-specific payload (object or null)
  // Set when the evaluation point failed (most of its API requests failed for good: endpoint
  // down, key rejected, budget reached): why. Its metrics measure the failures, not the model;
  // analysis leaves the record out. Written only when set.
  std::optional<std::string> failure;
};

json::Value to_json(const ResultRecord& r);
// `origin` names the file in error messages.
ResultRecord from_json(const json::Value& v, std::string_view origin = "<record>");

// The JSON Schema (docs/result-schema.json), compiled in.
const json::Value& schema();

// Validates a JSON document against the schema; returns the problems, each with its JSON path
// ("$.metrics.accuracy: expected number, found string"). Empty = valid.
std::vector<std::string> validate(const json::Value& doc);
// The same against any schema written in the subset the validator supports: type (a name or a
// list of names), required, properties, additionalProperties, items, enum, minimum, maximum and
// local $ref. Throws w2s::Error when the schema uses another validation keyword.
std::vector<std::string> validate(const json::Value& doc, const json::Value& schema);

// Validates (throws w2s::Error listing the problems) and writes atomically, pretty-printed.
void write_record(const std::filesystem::path& path, ResultRecord record);

// Reads and validates one record; errors name the file.
ResultRecord read_record(const std::filesystem::path& path);

// One record and the file it came from (analysis names files in its errors).
struct LoadedRecord {
  std::filesystem::path path;
  ResultRecord record;
};

// The records under the given files/directories, as load_records finds them, each with its
// path; a *.json file that is not valid JSON (truncated, invalid UTF-8) or a record that does not
// validate is left out with a warning and a note "<file>: <why>", so that analysis goes on
// with the rest and reports what it left out.
struct LoadedRecords {
  std::vector<LoadedRecord> records;
  std::vector<std::string> left_out;
};
LoadedRecords load_record_files(const std::vector<std::filesystem::path>& paths);

// All records under the given files/directories (recursively, *.json files whose top level has
// "schema_version"), sorted by path. Other JSON files are skipped; invalid records throw.
std::vector<ResultRecord> load_records(const std::vector<std::filesystem::path>& paths);

// Accuracy, num_correct and n from predictions (failed/unparsed count as wrong); also
// parse_failures (empty prediction, no error), failed (error set) and accuracy_answered (over
// predictions with an answer, set only when some have none). n == 0 gives accuracy 0.
Metrics accuracy_metrics(const std::vector<Prediction>& predictions);

// How AUROC treats tied scores: the project's one tie-mode enum (lib/train names it AurocMode).
// TieAware: Mann-Whitney U with mid-ranks, equal to scikit-learn's roc_auc_score. Reference:
// EleutherAI/w2s's rank sum, where ties are ranked in input order (its value depends on that order;
// docs/reference-behaviour.md §18, quirk #8).
enum class AurocTies { TieAware, Reference };
const options::NameTable<AurocTies>& names_of(AurocTies);  // tie-aware, reference (`--auroc`)

// Area under the ROC curve of `scores` against `positive`; nullopt when either class is absent.
// A score that is NaN or infinite (a diverged model's) is refused with an Error naming it.
// The one AUROC of the project: the ICL scores, the training stages and the analysis all use it.
std::optional<double> auroc(const std::vector<double>& scores, const std::vector<bool>& positive,
                            AurocTies ties = AurocTies::TieAware);

}  // namespace w2s::results
