// w2s icl: in-context weak-to-strong experiments on TruthfulQA and on the binary datasets of the
// training registry (docs/icl.md; the reference behaviour it follows: docs/reference-behaviour.md §2-§11).
//
//   * prompt layout     build_messages()           src/prompt.cpp — the one place it is defined,
//                       registry_prompt()          with each registry dataset's question and options
//   * data              load_dataset()             src/dataset.cpp (TruthfulQA or a registry dataset)
//   * answer parsing    parse_answer_reference()   src/answer_parser.cpp (bit-exact reference chain)
//                       parse_answer_strict()      (default: a valid option letter or a failure)
//   * logprob scoring   letter_probabilities()     src/scoring.cpp (also the one-vs-rest AUROC)
//   * experiments       run_baseline / run_gold_sweep / run_weak_sweep   src/experiments.cpp
//
// Experiments hand every request of a step to llm::Provider::run_batch (identical requests are
// sent once), write one results::ResultRecord per evaluation point as soon as that point is
// complete, and return a summary for the console. Record files, under
// <results_dir>/<run_name>/:
//   baseline/<model-slug>.json
//   gold-sweep/<model-slug>/shots-<N>.json
//   weak-labels/<weak-slug>.json                         (the weak model's train labels)
//   weak-sweep/<weak-slug>__<strong-slug>/shots-<N>.json
// No torch, no HTTP here: the provider decides where completions come from.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "w2s/core.h"
#include "w2s/data.h"
#include "w2s/llm.h"
#include "w2s/options.h"
#include "w2s/results.h"

namespace w2s::icl {

// ---------------------------------------------------------------------------------------------
// Prompt layout (docs/reference-behaviour.md §5)
// ---------------------------------------------------------------------------------------------

// The reference system prompt, verbatim; the same for every call.
extern const char* const kSystemPrompt;

// One few-shot example: a formatted train question and the label shown as the assistant's turn.
struct Shot {
  std::string text;   // data::Question::text
  std::string label;  // gold letter, or the weak model's label (may be "": empty assistant turn)
};

// system prompt, then one user/assistant pair per shot (the assistant content is the bare label),
// then the question as the last user turn. No shots = the zero-shot baseline request.
std::vector<llm::Message> build_messages(const std::vector<Shot>& shots, std::string_view question_text);

// The in-context prompt of a registry dataset (docs/icl.md "Registry datasets"): the training
// formatter's txt, then `question` when the dataset has one (its txt does not end in a question),
// then the two options as letters, A = class 0, B = class 1:
//     {txt}\n\n[{question}\n\n]A) {options[0]}\nB) {options[1]}
struct RegistryPrompt {
  std::string question;                // "" when the txt already asks it
  std::array<std::string, 2> options;  // the texts of class 0 and class 1
};
// Throws w2s::Error naming the dataset when it has no in-context prompt (the user's "jsonl",
// whose classes mean what the user's file says, or a name the registry does not know).
const RegistryPrompt& registry_prompt(const std::string& dataset);
// One registry example as an in-context question: id = the training id, text as above, answer =
// the letter of its class, letters A and B.
data::Question registry_question(const std::string& dataset, const data::TextExample& example);

// ---------------------------------------------------------------------------------------------
// Answer parsing (docs/reference-behaviour.md §7)
// ---------------------------------------------------------------------------------------------

enum class ParserKind { Strict, Reference };
const options::NameTable<ParserKind>& names_of(ParserKind);  // "strict" | "reference"

// The reference's extract_answer_letter, bit for bit, with Python's Unicode semantics for
// strip(), \s, \b and isupper(). Returns "" when no rule fires. Invalid UTF-8 bytes are read as
// U+FFFD first (Python's errors="replace").
std::string parse_answer_reference(std::string_view completion);

// Strict parser: returns one of `letters` or "" (a parse failure). After stripping whitespace the
// completion must be, in full or as its first line / leading token:
//     C     C)     C.     C:     (C)     **C**  *C*  `C`  (emphasis around any of these)
// optionally preceded by an answer phrase (case-insensitive): "Answer:", "The answer is",
// "The correct answer is", "Final answer:", ... A bare letter must end the text or its line
// ("C\n\nbecause ..."); the punctuated forms may be followed by text on the same line
// ("C) Astrological signs ...", "(D) Nothing happens"), and so may any form after an answer phrase
// ("The answer is B because ..."). Letters are upper case only ("a" is an English word).
// Everything else fails: "I think C", "The choice is D.", "Nothing happens, so D) is right".
std::string parse_answer_strict(std::string_view completion, const std::vector<std::string>& letters);

std::string parse_answer(ParserKind parser, std::string_view completion,
                         const std::vector<std::string>& letters);

// ---------------------------------------------------------------------------------------------
// Logprob scoring (`--score logprobs`)
// ---------------------------------------------------------------------------------------------

// Probability of each option letter from the first generated token's top_logprobs: tokens equal
// to a letter after trimming whitespace (e.g. "C", " C") add exp(logprob) to that letter; the
// result is normalised over the letters, computed in log space (log-sum-exp), so that any finite
// logprob, even one above 0 that a server should not send, gives probabilities in [0, 1] summing
// to 1; logprobs that are not finite are left out. Empty when the completion has no logprobs or
// no letter appears among the first token's alternatives.
std::map<std::string, double> letter_probabilities(const llm::Completion& completion,
                                                   const std::vector<std::string>& letters);

// One-vs-rest macro AUROC over the predictions that carry probabilities (sklearn's
// roc_auc_score(multi_class="ovr", average="macro") for MC, the plain AUROC for two options):
// for each letter with both positive (gold == letter) and negative items, the tie-aware
// Mann-Whitney AUROC of probabilities[letter] (0 when absent); averaged over those letters.
// nullopt when no letter qualifies.
std::optional<double> ovr_auroc(const std::vector<results::Prediction>& predictions);

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

enum class ScoreMode { Text, Logprobs };
const options::NameTable<ScoreMode>& names_of(ScoreMode);  // "text" | "logprobs"

// What a failed request (no completion after the client's retries) does to the metrics.
enum class FailedPolicy { Wrong, Exclude };
const options::NameTable<FailedPolicy>& names_of(FailedPolicy);  // "wrong" | "exclude"

struct Pair {
  std::string weak;
  std::string strong;
  friend bool operator==(const Pair& a, const Pair& b) { return a.weak == b.weak && a.strong == b.strong; }
};
// One pair as an option value: "weak:strong", or "weak->strong" for ids that contain ':'
// ("x/y:free"); throws w2s::Error naming the bad item. Recorded as {"weak", "strong"}.
void option_from_text(std::string_view text, Pair& pair);
std::string option_to_text(const Pair& pair);
json::Value option_to_json(const Pair& pair);

// The reference study: meta-llama/llama-3.1-8b-instruct, meta-llama/llama-3.1-70b-instruct,
// qwen/qwen-2.5-72b-instruct; the six pairs in the reference's order; the notebook
// shot list 0,2,4,8,16,32,64.
std::vector<std::string> default_models();
std::vector<Pair> default_pairs();
std::vector<int> default_shots();

// "w1:s1,w2:s2,w3->s3". Throws w2s::Error naming the bad item, or when there is none.
std::vector<Pair> parse_pairs(std::string_view text);

// What is sent with every request [REF §6].
struct Sampling {
  double temperature = 0.0;
  int max_tokens = 100;
  std::optional<std::int64_t> seed;
  std::optional<double> top_p;
  // With score logprobs: the top_logprobs asked for (0..20; 20 when unset). A server that allows
  // fewer gets its largest allowed value instead (the client's one automatic retry); the records
  // then say what was sent.
  std::optional<int> top_logprobs;
  llm::ReasoningOptions reasoning;  // reasoning models: OpenRouter's `reasoning` object, when set
  llm::ProviderRouting routing;     // OpenRouter's `provider` object, when set
};
inline const options::Fields<Sampling>& option_fields(const Sampling*) {
  using S = Sampling;
  static const auto fields =
      options::Fields<S>(options::kFlag | options::kRecord)
          .add("temperature", &S::temperature, "sampling temperature")
          .add("max_tokens", &S::max_tokens, "completion token limit")
          .add("seed", &S::seed, "sampling seed sent to the API (where supported)")
          .add("top_p", &S::top_p, "nucleus sampling top_p")
          .add("top_logprobs", &S::top_logprobs,
               "with --score logprobs: alternatives asked for per token, 0-20 (default 20; a server that allows "
               "fewer gets its largest allowed value, recorded in the config)")
          .omit_unset()
          .group("reasoning", &S::reasoning, option_fields(static_cast<const llm::ReasoningOptions*>(nullptr)))
          .when([](const S& s) { return !s.reasoning.empty(); })
          .group("provider", &S::routing, option_fields(static_cast<const llm::ProviderRouting*>(nullptr)))
          .when([](const S& s) { return !s.routing.empty(); });
  return fields;
}

// What the weak-labels step of a weak-sweep labels: the shots the sweep needs (train[0:max shots]),
// or, for `w2s train --weak-labels-from`, the whole shot pool and the val split.
enum class LabelPool { Shots, Full };
const options::NameTable<LabelPool>& names_of(LabelPool);  // "shots" | "full"

// The registry-dataset sizes: the same fields and defaults as `w2s train` (data::TrainingDataOptions),
// so that both paradigms draw the same examples.
struct RegistrySizes {
  std::size_t n_train = data::TrainingDataOptions{}.n_train;
  std::size_t n_val = data::TrainingDataOptions{}.n_val;
  std::size_t n_test = data::TrainingDataOptions{}.n_test;
};
inline const options::Fields<RegistrySizes>& option_fields(const RegistrySizes*) {
  using R = RegistrySizes;
  static const auto fields = options::Fields<R>(options::kFlag | options::kRecord)
                                 .add("n_train", &R::n_train, "registry dataset: training pool as in w2s train "
                                                              "(the shot pool is its strong half)")
                                 .add("n_val", &R::n_val, "registry dataset: validation examples as in w2s train")
                                 .add("n_test", &R::n_test, "registry dataset: test examples as in w2s train "
                                                            "(--test-size takes the first of them)");
  return fields;
}

// The name `truthfulqa`, or a registry name; anything else is refused listing the names.
enum class DatasetKind { TruthfulQa, Registry };
inline constexpr const char* kTruthfulQa = "truthfulqa";
DatasetKind dataset_kind(const std::string& name);

struct Config {
  // The command: "baseline", "gold-sweep", "weak-sweep" (set by the run functions; it decides
  // which of models, pairs and shots the records carry).
  std::string experiment;
  std::string run_name = "icl";
  std::filesystem::path results_dir = "results";
  std::string dataset_name = kTruthfulQa;  // --dataset
  data::TruthfulQaOptions dataset;         // TruthfulQA's options, and the data folder, test size and seed of all
  RegistrySizes registry;                  // registry datasets only
  LabelPool label_pool = LabelPool::Shots;                   // weak-sweep
  std::optional<std::filesystem::path> weak_labels_from;     // weak-sweep: a fine-tuning run's floor
  std::vector<std::string> models = default_models();  // baseline, gold-sweep
  std::vector<Pair> pairs = default_pairs();           // weak-sweep
  std::vector<int> shots = default_shots();            // gold-sweep, weak-sweep (sorted, once each, when run)
  ParserKind parser = ParserKind::Strict;
  ScoreMode score = ScoreMode::Text;
  FailedPolicy failed_policy = FailedPolicy::Wrong;
  Sampling sampling;
  // The client that answers (its dry_run makes the experiments write nothing); recorded without
  // the key. The run functions take the Provider itself as an argument.
  llm::ClientOptions client;
};
// The flags of the three commands (each binds those it has), and the recorded config.
inline const options::Fields<Config>& option_fields(const Config*) {
  using C = Config;
  using options::kRecord;
  static const auto fields =
      options::Fields<C>(options::kFlag | options::kRecord)
          .add("experiment", &C::experiment, "", kRecord)
          .add("run_name", &C::run_name, "records go to <results-dir>/<run-name>/")
          .add("results_dir", &C::results_dir, "results folder")
          .add("dataset_name", &C::dataset_name,
               "truthfulqa (default) or a binary dataset of the training registry (sst2, boolq, sciq, ...; "
               "w2s data train-datasets lists them)")
          .flag("dataset")
          .group("dataset", &C::dataset, option_fields(static_cast<const data::TruthfulQaOptions*>(nullptr)))
          .group("registry", &C::registry, option_fields(static_cast<const RegistrySizes*>(nullptr)))
          .when([](const C& c) { return dataset_kind(c.dataset_name) == DatasetKind::Registry; })
          .add("models", &C::models,
               "model ids as the endpoint's /models lists them (e.g. meta-llama/llama-3.1-8b-instruct), "
               "comma-separated; unknown ids fail before any request, with the closest listed ids")
          .when([](const C& c) { return c.experiment == "baseline" || c.experiment == "gold-sweep"; })
          .add("pairs", &C::pairs,
               "weak:strong pairs of model ids as /models lists them (e.g. "
               "meta-llama/llama-3.1-8b-instruct:qwen/qwen-2.5-72b-instruct), comma-separated; weak->strong for ids "
               "containing ':'")
          .when([](const C& c) { return c.experiment == "weak-sweep"; })
          .add("shots", &C::shots, "few-shot counts N (shots are train[0:N], nested)")
          .when([](const C& c) { return c.experiment != "baseline"; })
          .add("label_pool", &C::label_pool,
               "what the weak model labels: shots (train[0:max shots]) or full (the whole shot pool and val, for "
               "w2s train --weak-labels-from)")
          .when([](const C& c) { return c.experiment == "weak-sweep"; })
          .add("weak_labels_from", &C::weak_labels_from,
               "weak labels from a fine-tuning run (its folder or its floor stage folder): the floor's predictions "
               "on the strong half, instead of asking the weak model (registry datasets)")
          .omit_unset()
          .when([](const C& c) { return c.experiment == "weak-sweep"; })
          .add("parser", &C::parser,
               "answer parser: strict (an option letter or a parse failure) or reference (bit-exact reference chain)")
          .add("score", &C::score,
               "text, or logprobs (first-token top_logprobs over the option letters: probabilities, AUROC)")
          .add("failed_policy", &C::failed_policy, "failed requests count as wrong, or are excluded from the accuracy")
          .group("sampling", &C::sampling, option_fields(static_cast<const Sampling*>(nullptr)))
          .group("client", &C::client, option_fields(static_cast<const llm::ClientOptions*>(nullptr)));
  return fields;
}

json::Value config_to_json(const Config& config, std::string_view experiment);

// ---------------------------------------------------------------------------------------------
// The data of an experiment: TruthfulQA or a registry dataset, in one shape
// ---------------------------------------------------------------------------------------------

// What the experiments see of a dataset: the test questions, the shot pool (N shots = its first
// N), the extra questions `--label-pool full` labels, and the identity written in the records.
// Questions carry their record id (data::Question::id).
struct Dataset {
  DatasetKind kind = DatasetKind::TruthfulQa;
  std::string name = kTruthfulQa;  // "truthfulqa" or the registry name
  std::string variant;             // TruthfulQA's variant; "" for a registry dataset (as training records)
  std::vector<data::SourceFile> sources;
  std::int64_t seed = 42;
  std::map<std::string, std::int64_t> split_sizes;  // recorded in dataset.split_sizes
  std::vector<data::Question> test;
  std::vector<data::Question> shot_pool;   // TruthfulQA: train; registry: the strong half of train
  std::vector<data::Question> extra_pool;  // registry: val (labelled with --label-pool full)
  json::Value class_of_letter;             // registry: {"A": 0, "B": 1}, in every record's extra; null for TruthfulQA

  Dataset() = default;
  // TruthfulQA as loaded (ids = question ids); implicit, so code holding a data::TruthfulQa runs
  // the experiments on it directly.
  Dataset(const data::TruthfulQa& truthfulqa);  // NOLINT(google-explicit-constructor)
};

// A registry dataset through data::load_training_data with the options of `w2s train` (from the
// config: data folder, seed, n_train, n_val, n_test): test = the first test_size examples of its
// test split, shot pool = split_weak_strong(train).strong, extra pool = val. When
// `all_test_when_fewer` (the --test-size default), a test split smaller than test_size is used
// whole; otherwise a larger test_size is refused.
Dataset load_registry_dataset(const std::string& name, const data::TrainingDataOptions& options, std::size_t test_size,
                              bool all_test_when_fewer);

// The record identity of the dataset, for a record of `split` ("test", or "train" for weak labels).
results::DatasetIdentity dataset_identity(const Dataset& dataset, const std::string& split);

// ---------------------------------------------------------------------------------------------
// Experiments
// ---------------------------------------------------------------------------------------------

// Weak labels from a fine-tuning run (`--weak-labels-from`): `path` is the run folder
// (results/<run>/, or results/<run>/<dataset>/) or its floor stage folder. The floor's
// predictions.jsonl rows of split "strong_half" give P(1) per example id; label = "B" when
// P(1) >= 0.5, else "A". Throws w2s::Error, before any request, when the folder holds no finished
// floor, the floor's data (dataset name, data seed, source checksums) is not `dataset`'s, or an
// id of shot_pool[0:n] has no prediction.
struct FloorLabels {
  std::string weak_model;            // the floor's evaluated model
  std::filesystem::path floor_dir;   // the stage folder read
  std::vector<std::string> labels;   // letters for shot_pool[0:n]
  std::vector<double> p1;            // the floor's P(class 1) for the same examples
};
FloorLabels read_floor_labels(const std::filesystem::path& path, const Dataset& dataset, std::size_t n);

// One evaluation point, for the console table.
struct PointSummary {
  results::Kind kind = results::Kind::Baseline;
  std::string model;         // evaluated model
  std::string label_model;   // weak model for weak-sweep / weak-labels, else ""
  int shots = 0;
  results::Metrics metrics;
  bool failed = false;       // most of its requests failed: the record is marked (results::ResultRecord::failure)
  results::ModelCost cost;   // this point's share (a request shared by points is billed once)
  std::filesystem::path file;
};

struct RunSummary {
  std::vector<PointSummary> points;
  results::Cost cost;        // every request of the run, each counted once
};

// Each writes its records and returns the points in command order. Throws w2s::Error on bad
// configuration (unknown shots > train size, empty model list); failed requests do not throw.
RunSummary run_baseline(const Config& config, const Dataset& dataset, llm::Provider& provider);
RunSummary run_gold_sweep(const Config& config, const Dataset& dataset, llm::Provider& provider);
// Weak labels are computed once per weak model over train[0:max shots] (with LabelPool::Full: the
// whole shot pool and the extra pool) and saved; an existing weak-labels record made with the
// same model, data, sampling, parser and score mode that covers them is reused without requests.
// With config.weak_labels_from, the labels are a fine-tuning floor's predictions instead
// (read_floor_labels) and no weak model is asked. When a weak model's labelling request failed, the sweep
// stops (throws w2s::Error saying how to resume) before building any prompt from its labels.
RunSummary run_weak_sweep(const Config& config, const Dataset& dataset, llm::Provider& provider);

// Writes the reference's own result files (docs/reference-behaviour.md §8) for the records listed in
// `summary` into `dir`, for the reference's plotting scripts:
//   baseline    weak_labels/<slug>_baseline.json (per model), weak_labels/baseline_<ts>.json
//   gold-sweep  gold_sweep_<ts>.json
//   weak-sweep  weak_sweep_<ts>.json, weak_labels/w2s_<weak-slug>_to_<strong-slug>_<ts>.json
// with the reference's fields plus the optional ones old readers ignore (cost, parse_failures,
// raw_completions, weak_labels_train). <ts> is the local time %Y%m%d_%H%M%S. Returns the paths.
// TruthfulQA only (the reference's format has no other dataset): throws w2s::Error otherwise.
std::vector<std::filesystem::path> write_reference_files(const RunSummary& summary, const Dataset& dataset,
                                                         const std::filesystem::path& dir);

// Console table: experiment, model / pair, shots, accuracy, answered accuracy, parse failures,
// answers cut off at max_tokens, failed, cost, cache hits; then the run's total cost (and what the
// answers replayed from the cache cost when first paid), and cut_off_warning() when it applies.
std::string format_summary(const RunSummary& summary);

// With --score logprobs, per model whose server returned no logprobs for some answers (they were
// scored from their text: metrics.extra.logprobs_missing, predictions' scored_by): one line naming
// the model and how many answers fell back; "" when every answer carried logprobs.
std::string logprobs_missing_warning(const RunSummary& summary);

// "N answers were cut off at max_tokens by reasoning — raise --max-tokens or ..." when reasoning
// used up max_tokens before any answer came (metrics.extra.cut_off_by_reasoning); "" otherwise.
std::string cut_off_warning(const RunSummary& summary);

}  // namespace w2s::icl
