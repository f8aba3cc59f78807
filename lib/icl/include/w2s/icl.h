// w2s icl: in-context weak-to-strong experiments on TruthfulQA (docs/icl.md; the reference behaviour
// it follows: docs/reference-behaviour.md §2-§11).
//
//   * prompt layout     build_messages()           src/prompt.cpp — the one place it is defined
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

struct Config {
  // The command: "baseline", "gold-sweep", "weak-sweep" (set by the run functions; it decides
  // which of models, pairs and shots the records carry).
  std::string experiment;
  std::string run_name = "icl";
  std::filesystem::path results_dir = "results";
  data::TruthfulQaOptions dataset;
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
          .group("dataset", &C::dataset, option_fields(static_cast<const data::TruthfulQaOptions*>(nullptr)))
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
// Experiments
// ---------------------------------------------------------------------------------------------

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
RunSummary run_baseline(const Config& config, const data::TruthfulQa& dataset, llm::Provider& provider);
RunSummary run_gold_sweep(const Config& config, const data::TruthfulQa& dataset, llm::Provider& provider);
// Weak labels are computed once per weak model over train[0:max shots] and saved; an existing
// weak-labels record made with the same model, data, sampling, parser and score mode that covers
// max shots is reused without requests. When a weak model's labelling request failed, the sweep
// stops (throws w2s::Error saying how to resume) before building any prompt from its labels.
RunSummary run_weak_sweep(const Config& config, const data::TruthfulQa& dataset, llm::Provider& provider);

// Writes the reference's own result files (docs/reference-behaviour.md §8) for the records listed in
// `summary` into `dir`, for the reference's plotting scripts:
//   baseline    weak_labels/<slug>_baseline.json (per model), weak_labels/baseline_<ts>.json
//   gold-sweep  gold_sweep_<ts>.json
//   weak-sweep  weak_sweep_<ts>.json, weak_labels/w2s_<weak-slug>_to_<strong-slug>_<ts>.json
// with the reference's fields plus the optional ones old readers ignore (cost, parse_failures,
// raw_completions, weak_labels_train). <ts> is the local time %Y%m%d_%H%M%S. Returns the paths.
std::vector<std::filesystem::path> write_reference_files(const RunSummary& summary, const data::TruthfulQa& dataset,
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
