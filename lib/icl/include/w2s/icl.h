// w2s icl: in-context weak-to-strong experiments on TruthfulQA (spec icl-truthfulqa.md).
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
#include "w2s/results.h"

namespace w2s::icl {

// ---------------------------------------------------------------------------------------------
// Prompt layout [REF §5]
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
// Answer parsing [REF §7]
// ---------------------------------------------------------------------------------------------

enum class ParserKind { Strict, Reference };
const char* parser_name(ParserKind p);          // "strict" | "reference"
ParserKind parse_parser_kind(std::string_view s);  // throws w2s::Error on other names

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
// result is normalised over the letters. Empty when the completion has no logprobs or no letter
// appears among the first token's alternatives.
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
const char* score_mode_name(ScoreMode s);          // "text" | "logprobs"
ScoreMode parse_score_mode(std::string_view s);

// What a failed request (no completion after the client's retries) does to the metrics.
enum class FailedPolicy { Wrong, Exclude };
const char* failed_policy_name(FailedPolicy f);    // "wrong" | "exclude"
FailedPolicy parse_failed_policy(std::string_view s);

struct Pair {
  std::string weak;
  std::string strong;
};

// The reference study: 8B, 70B, Qwen-72B; the six pairs in the reference's order; the notebook
// shot list 0,2,4,8,16,32,64.
std::vector<std::string> default_models();
std::vector<Pair> default_pairs();
std::vector<int> default_shots();

// "w1:s1,w2:s2". Items with more than one ':' (ids like "x/y:free") must use "w->s" instead.
// Throws w2s::Error naming the bad item.
std::vector<Pair> parse_pairs(std::string_view text);
// "0,2,4"; non-negative, duplicates removed, ascending. Throws on bad numbers.
std::vector<int> parse_shots(std::string_view text);

struct Config {
  std::string run_name = "icl";
  std::filesystem::path results_dir = "results";
  data::TruthfulQaOptions dataset;
  std::vector<std::string> models = default_models();  // baseline, gold-sweep
  std::vector<Pair> pairs = default_pairs();           // weak-sweep
  std::vector<int> shots = default_shots();            // gold-sweep, weak-sweep
  ParserKind parser = ParserKind::Strict;
  ScoreMode score = ScoreMode::Text;
  FailedPolicy failed_policy = FailedPolicy::Wrong;
  // Sampling [REF §6]
  double temperature = 0.0;
  int max_tokens = 100;
  std::optional<std::int64_t> seed;
  std::optional<double> top_p;
  // With score logprobs: the top_logprobs asked for (0..20). A server that allows fewer gets its
  // largest allowed value instead (the client's one automatic retry); records say what was sent.
  int top_logprobs = 20;
  // Reasoning models: OpenRouter's `reasoning` object, sent when set (see llm::ReasoningOptions).
  llm::ReasoningOptions reasoning;
  llm::ProviderRouting routing;
  // Dry run: the provider answers only from its cache and fails the rest with "dry run" (see
  // llm::ClientOptions::dry_run); no record is written.
  bool dry_run = false;
  // Called with each batch before it is sent (e.g. to print the client's cost estimate).
  std::function<void(const std::vector<llm::ChatRequest>&)> before_batch;
  // Recorded verbatim in every record's config (e.g. the client's base URL, cache, budget);
  // must not hold secrets.
  json::Value client = json::Value::object();
};

// The resolved configuration as recorded in result records (`experiment` names the command).
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

// Writes the reference's own result files (spec icl-truthfulqa.md §9) for the records listed in
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

// "N answers were cut off at max_tokens by reasoning — raise --max-tokens or ..." when reasoning
// used up max_tokens before any answer came (metrics.extra.cut_off_by_reasoning); "" otherwise.
std::string cut_off_warning(const RunSummary& summary);

}  // namespace w2s::icl
