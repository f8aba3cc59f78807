// w2s data: where datasets live, and the TruthfulQA constructions of the in-context experiment.
//
// Data location: --data-dir, then $W2S_DATA_DIR, then ./data. Missing public files are
// downloaded from their source and checked against pinned sha256 sums; offline, the error says
// where to put them. Bad files give errors naming the file and line.
//
// Models: --models-dir, then $W2S_MODELS_DIR, then ./models; a Hugging Face id is downloaded
// there with checksums (ensure_hf_model).
//
// NOTE: this header is the contract between lib/data and lib/icl; lib/data fills in the rest.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "w2s/core.h"
#include "w2s/options.h"

namespace w2s::data {

// --data-dir if given, else $W2S_DATA_DIR, else ./data.
std::filesystem::path resolve_data_dir(const std::optional<std::string>& cli_data_dir);

struct SourceFile {
  std::string path;
  std::string sha256;
};

// ---------------------------------------------------------------------------------------------
// Files under the data directory, and fetching the public ones.
// ---------------------------------------------------------------------------------------------

// A dataset file with a pinned public source. `relative_path` is where it lives under the data
// directory (e.g. "truthfulqa/TruthfulQA.csv"); `urls` are tried in order; a download counts only
// when its sha256 equals `sha256`.
struct RemoteFile {
  std::string relative_path;
  std::string sha256;
  std::vector<std::string> urls;
  std::string origin;  // repository@commit and path, for messages and docs
  // The file's bytes when they are built into the w2s binary (the main job's data, data/sst2-demo/
  // in the repository): written out when missing, never downloaded. Empty for the others.
  std::string_view bundled = {};
};

// The pinned public files (TruthfulQA, SST-2, BoolQ dev) and the built-in SST-2 subset of the
// demo (sst2-demo). SciQ-binary is derived, not listed.
const std::vector<RemoteFile>& known_remote_files();

// Returns data_dir/relative_path when it exists. Otherwise, for a built-in file: writes its
// bytes there (no network, whatever allow_download says). For a known remote file with
// allow_download: prints a notice on stderr, downloads each URL in turn to a temporary file
// next to the target, verifies sha256, and renames it into place. Throws w2s::Error that says
// exactly which file to put where when the file is missing and cannot be fetched (offline,
// download disabled, checksum mismatch, unknown file); for a file with no public download,
// `how_to_make_it` (if given) tells the user how to produce it.
std::filesystem::path ensure_data_file(const std::filesystem::path& data_dir, const std::string& relative_path,
                                       bool allow_download, std::string_view how_to_make_it = {});
// The same for an explicitly given remote file (tests use file:// URLs).
std::filesystem::path ensure_data_file(const std::filesystem::path& data_dir, const RemoteFile& file,
                                       bool allow_download);

// SourceFile for a file that exists: its path and sha256.
SourceFile describe_source(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Hugging Face models: a hub id ("org/name" or "org/name@revision") → a local model directory.
// ---------------------------------------------------------------------------------------------

// --models-dir if given, else $W2S_MODELS_DIR, else ./models.
std::filesystem::path resolve_models_dir(const std::optional<std::string>& cli_models_dir);

struct HubOptions {
  std::filesystem::path models_dir = resolve_models_dir(std::nullopt);
  // Base URL of the hub: $W2S_HF_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co
  // (tests point it at a file:// tree laid out like the hub's URLs).
  std::string endpoint = default_endpoint();
  // $HF_TOKEN (else $HUGGING_FACE_HUB_TOKEN): sent as a Bearer token, for gated models such as
  // Llama 3. Never printed.
  std::string token = default_token();
  bool allow_download = true;

  static std::string default_endpoint();
  static std::string default_token();
};

// True for "org/name" or "org/name@revision" (letters, digits, '.', '_', '-'; no leading '.').
bool looks_like_hf_model_id(const std::string& text);

// Where a hub model lives locally: models_dir/org/name (revision "main"), or
// models_dir/org/name@revision for another revision.
std::filesystem::path hf_model_dir(const std::filesystem::path& models_dir, const std::string& repo_id);

// True when `dir` holds config.json, tokenizer.json and safetensors weights (model.safetensors,
// or model.safetensors.index.json and every shard it names).
bool is_complete_model_dir(const std::filesystem::path& dir);

// Returns hf_model_dir(...) when it is complete (no network). Otherwise resolves the revision to
// a commit (GET {endpoint}/api/models/{id}/revision/{rev}), lists its files with sizes and
// checksums ({endpoint}/api/models/{id}/tree/{commit}), prints what it will download and how
// much, and fetches config.json, tokenizer.json, tokenizer_config.json, generation_config.json
// and special_tokens_map.json (the last three when present) and the safetensors weights (single
// file or index + shards) from {endpoint}/{id}/resolve/{commit}/{file}. Each file goes to a
// temporary name, is checked (sha256 for LFS files, the git blob sha1 for the others) and
// renamed into place; files already in place with the listed size are kept, so an interrupted
// download resumes. Writes .w2s-hub.json (repo, commit, files) into the directory.
// Throws w2s::Error naming the repository and the directory to fill by hand when: downloading
// is disabled, the hub cannot be reached, access is refused (401/403: a gated model; accept its
// licence on huggingface.co and set HF_TOKEN), the repository does not exist, it has no
// safetensors weights (only .bin/.pt), a checksum does not match, or the disk is too small.
std::filesystem::path ensure_hf_model(const std::string& repo_id, const HubOptions& options = {});

// A model as named on the command line: an existing directory, or anything that is not a hub id,
// as it is; a hub id ("org/name[@revision]") as its directory under resolve_models_dir(models_dir),
// downloaded there first when missing (ensure_hf_model).
std::filesystem::path resolve_model_path(const std::string& spec, const std::optional<std::string>& models_dir);

// One multiple-choice item as loaded (before the reference's option shuffling).
struct McItem {
  std::string question;
  std::vector<std::string> choices;
  int label = 0;  // index of the true choice
};

// One question after the reference formatting (docs/reference-behaviour.md §3).
struct Question {
  int question_id = 0;               // row index in the loaded item list
  std::string id;                    // the id in result records: the question id as text (TruthfulQA),
                                     // the training example id (a registry dataset in context)
  std::string text;                  // question + "\n\n" + "A) ..." lines, no trailing newline
  std::string answer;                // gold letter
  std::vector<std::string> letters;  // "A", "B", ... (the valid option letters)
  std::vector<std::string> options;  // option texts in displayed order
};

// ---------------------------------------------------------------------------------------------
// TruthfulQA
// ---------------------------------------------------------------------------------------------

// One row of the official TruthfulQA.csv. Columns are selected by header name, so both the
// 2021 header and the 2025 one (with "Best Incorrect Answer") load. List cells are split on ';'
// and trimmed (upstream's "; " separator).
struct TruthfulQaCsvRow {
  std::size_t line = 0;  // 1-based line where the record starts
  std::string type, category, question, best_answer;
  std::optional<std::string> best_incorrect_answer;  // 2025 header only
  std::vector<std::string> correct_answers, incorrect_answers;
  std::string source;
};

// Errors (w2s::Error, naming file and line): non-UTF-8 bytes, a missing column, a record with
// the wrong number of fields, an unterminated quote.
std::vector<TruthfulQaCsvRow> read_truthfulqa_csv(const std::filesystem::path& path);

// The MC1 targets of data/mc_task.json, in file order, options in key order; label = position of
// the one key with value 1. Errors name the file and item (index and question).
std::vector<McItem> read_mc_task_json(const std::filesystem::path& path);

// A JSONL file of {"question": str, "choices": [str, ...], "label": int}; other fields are
// ignored. Errors name the file and line (broken JSON, non-UTF-8, missing field, label out of range).
std::vector<McItem> read_mc_jsonl(const std::filesystem::path& path);

// The reference formatting of docs/reference-behaviour.md §3 for items[i] with question_id = i:
// strip trailing newlines, [correct] + other options (one duplicate of the correct text is
// dropped, a second is an error), PyRandom(seed + i).shuffle, letters A, B, ...
std::vector<Question> format_questions(const std::vector<McItem>& items, std::int64_t seed = 42);

// TruthfulQA variants:
//   "mc1-4-local"  mc_task.json MC1 items with >= 4 options, true + first 3 false answers (690)
//   "binary-local" all 817 items, true + first false MC1 answer
//   "mc1-full"     all 817 items, every MC1 option
//   "mc1-jsonl"    a user's JSONL of {question, choices, label} (e.g. EleutherAI/truthful_qa_mc)
struct TruthfulQa {
  std::string variant;
  std::vector<SourceFile> sources;
  std::int64_t seed = 42;
  std::vector<McItem> items;    // as loaded for the variant, before shuffling (question_id order)
  std::vector<Question> all;    // in question_id order
  std::vector<Question> train;  // split order; few-shot N = train[0:N]
  std::vector<Question> test;
};

struct TruthfulQaOptions {
  std::string variant = "mc1-4-local";
  std::optional<std::string> data_dir;      // see resolve_data_dir
  std::optional<std::string> dataset_file;  // for "mc1-jsonl" (or to override the source file)
  std::size_t test_size = 200;
  std::int64_t seed = 42;
  bool allow_download = true;
};

// Flags (w2s baseline / gold-sweep / weak-sweep) and the recorded config.
inline const options::Fields<TruthfulQaOptions>& option_fields(const TruthfulQaOptions*) {
  using T = TruthfulQaOptions;
  static const auto fields =
      options::Fields<T>(options::kFlag | options::kRecord)
          .add("variant", &T::variant, "TruthfulQA variant: mc1-4-local, binary-local, mc1-full, mc1-jsonl")
          .add("data_dir", &T::data_dir, "data folder (default: $W2S_DATA_DIR, then ./data)")
          .add("dataset_file", &T::dataset_file, "JSONL of {question, choices, label} (variant mc1-jsonl)")
          .add("test_size", &T::test_size, "test questions (rest: train)")
          .add("seed", &T::seed,
               "split / option-shuffle seed (in context on a registry dataset: its data seed, default 0 as in w2s train)")
          .flag("data-seed")
          .add("allow_download", &T::allow_download, "fetch missing public files (tests switch it off)",
               options::kNone);
  return fields;
}

// Loads the variant's source file(s) (see ensure_data_file), builds the items, formats them and
// splits: PyRandom(seed).sample(all, len(all)); test = first test_size, train = the rest.
// Throws w2s::Error for an unknown variant, a bad file, or test_size > number of questions.
TruthfulQa load_truthfulqa(const TruthfulQaOptions& options);

// Variant names accepted by load_truthfulqa, with one-line descriptions.
std::vector<std::pair<std::string, std::string>> truthfulqa_variants();

// ---------------------------------------------------------------------------------------------
// Binary classification datasets for fine-tuning (docs/reference-behaviour.md §13 and §15).
// ---------------------------------------------------------------------------------------------
struct TextExample {
  std::string id;   // sha1(txt) hex, first 8 characters
  std::string txt;  // the formatted model input
  int label = 0;    // gold hard label, 0 or 1
};

struct TrainingDataOptions {
  std::string name = "sst2";                 // registry name, or "jsonl" for a user file
  std::optional<std::string> data_dir;       // see resolve_data_dir
  std::optional<std::string> dataset_file;   // user JSONL with {"text", "label"} (name "jsonl")
  std::size_t n_train = 10000;               // train pool = n_train + n_val; val comes first
  std::size_t n_val = 1000;
  std::size_t n_test = 5000;
  std::int64_t seed = 0;                     // formatting RNG and shuffles
  bool allow_download = true;
};
// Flags and the recorded config; a stage-cache key holds the data's identity instead (name, seed,
// source checksums) and the hashes of the examples drawn.
inline const options::Fields<TrainingDataOptions>& option_fields(const TrainingDataOptions*) {
  using D = TrainingDataOptions;
  using options::kFlag;
  static const auto fields =
      options::Fields<D>(options::kFlag | options::kRecord)
          .add("dataset", &D::name, "dataset: a registry name (sst2, boolq-dev-split, sciq-binary, ...) or jsonl")
          .add("data_dir", &D::data_dir, "data directory (default $W2S_DATA_DIR, else ./data)", kFlag)
          .add("dataset_file", &D::dataset_file, "JSONL of {\"text\", \"label\"} for --dataset jsonl")
          .omit_unset()
          .add("n_train", &D::n_train, "training examples (split 50/50 into the weak and strong halves)")
          .add("n_val", &D::n_val, "validation examples")
          .add("n_test", &D::n_test, "test examples")
          .add("data_seed", &D::seed, "seed of the data formatting and shuffles")
          .add("allow_download", &D::allow_download, "fetch missing public files (tests switch it off)",
               options::kNone);
  return fields;
}

struct TrainingData {
  std::string name;
  std::vector<SourceFile> sources;
  std::int64_t seed = 0;
  std::vector<TextExample> train, val, test;  // balanced 50/50; test disjoint from train/val
  std::vector<std::string> notices;           // e.g. "asked for 10000 train examples, have 6920"
};

// Names known to the registry (the 25 reference datasets plus the local variants).
std::vector<std::string> training_dataset_names();

// What a registry entry reads and how it labels, for `w2s data train-datasets` and docs.
struct TrainingDatasetInfo {
  std::string name;
  std::string source;      // upstream dataset and split map, e.g. "super_glue wic (test -> validation)"
  std::string files;       // expected files under the data directory, e.g. "wic/train.jsonl, wic/validation.jsonl"
  std::string fields;      // source fields the template reads
  std::string label_rule;  // "label", "rand", "label == 0", ...
};
std::vector<TrainingDatasetInfo> training_dataset_info();

// Loads a registry dataset (docs/reference-behaviour.md §13): per split, shuffle the rows with a
// PyRandom(seed) permutation, format them in that order with one shared PyRandom(seed), drop
// empty texts, balance 50/50 by undersampling the majority class, take the first n, id =
// sha1(txt)[:8]. The test split is built first and train-pool rows whose text is in it are
// dropped (so test never overlaps train/val); val = first n_val of the pool, train = the rest.
// Short splits are used whole and reported in `notices`. Throws w2s::Error for an unknown name,
// a missing file (with the expected path), or a bad row (file:line and field).
TrainingData load_training_data(const TrainingDataOptions& options);

// One source row through a registry dataset's template (`rng` is the split's shared formatting
// generator). The label is 0/1; `txt` may be empty (the pipeline drops those rows).
TextExample format_training_row(const std::string& name, const json::Value& row, PyRandom& rng);

// The reference's 50/50 split of the train set into the weak model's and the strong model's
// halves (train_test_split(test_size=0.5, seed=42): weak = its "train" part, strong = its "test"
// part). The permutation is PyRandom(seed).shuffle, not HF's numpy one: strong = the first
// ceil(n/2) of the permuted rows, weak = the rest.
struct Halves {
  std::vector<TextExample> weak, strong;
};
Halves split_weak_strong(const std::vector<TextExample>& train, std::int64_t seed = 42);

// ---------------------------------------------------------------------------------------------
// Reports and exports for `w2s data` (plain text for a researcher checking their data).
// ---------------------------------------------------------------------------------------------

// Variant, sources with sha256, counts, split sizes, gold-letter balance, and the first
// `show` test questions as the model sees them.
std::string describe_truthfulqa(const TruthfulQa& tqa, std::size_t show);
// One JSON line per question in question_id order: {question_id, split, question, choices,
// label, text, answer}. Loaded back with variant "mc1-jsonl" it gives the same questions and
// split. Atomic write.
void export_truthfulqa_jsonl(const TruthfulQa& tqa, const std::filesystem::path& path);

// The registry as a table; `data_dir` marks which datasets have their files present.
std::string describe_training_registry(const std::filesystem::path& data_dir);
// Sources, split sizes with label balance, notices, and the first `show` examples of each split.
std::string describe_training_data(const TrainingData& data, std::size_t show);
// One JSON line per example: {split, id, text, label} (train, val, test). Atomic write.
void export_training_jsonl(const TrainingData& data, const std::filesystem::path& path);

}  // namespace w2s::data
