// From a registry entry to balanced train/val/test sets (docs/reference-behaviour.md §13).
//
// Shuffles are the project's own seeded permutation, PyRandom(seed).shuffle over row indices;
// the reference uses HF datasets' numpy permutation, which is not reproduced. Every shuffle uses
// a fresh PyRandom(seed), as the reference reseeds each of its shuffles with the same seed.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "text_files.h"
#include "training.h"

namespace w2s::data {
namespace fs = std::filesystem;
using detail::DatasetSpec;
using detail::Layout;

namespace {

struct RawRow {
  json::Value fields;
  std::string origin;  // "file:line" for errors
};
using Rows = std::vector<RawRow>;

// The raw splits a dataset provides. `val` is set only where the source has its own
// validation rows (boolq-dev-split); otherwise val comes from the front of the train pool.
struct RawSplits {
  Rows train, test;
  std::optional<Rows> val;
};

// Rows are split into fixed partitions with this seed, independent of --seed, so every run
// sees the same test rows (like the reference's sciq pool, split with seed 0).
constexpr std::int64_t kPartitionSeed = 0;

std::vector<std::size_t> permutation(std::size_t n, std::int64_t seed) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  PyRandom rng(seed);
  rng.shuffle(idx);
  return idx;
}

Rows pick(const Rows& rows, const std::vector<std::size_t>& order, std::size_t begin, std::size_t end) {
  Rows out;
  for (std::size_t i = begin; i < end && i < order.size(); ++i) out.push_back(rows[order[i]]);
  return out;
}

fs::path require(const fs::path& data_dir, const std::string& relative_path, const DatasetSpec& spec,
                 bool allow_download) {
  return ensure_data_file(
      data_dir, relative_path, allow_download,
      fmt::format("Training dataset '{}' reads it: export the source split as JSONL with the original fields "
                  "({}), e.g. with Python `datasets`: load_dataset(...)[split].to_json(\"{}\"). Source: {}. See "
                  "docs/data.md.",
                  spec.name, spec.fields, (data_dir / relative_path).string(), spec.source));
}

Rows read_jsonl_rows(const fs::path& path, std::vector<SourceFile>& sources) {
  Rows rows;
  detail::for_each_jsonl(path, [&](const json::Value& v, std::size_t line) {
    if (!v.is_object()) throw Error("expected a JSON object per line");
    rows.push_back({v, fmt::format("{}:{}", path.string(), line)});
  });
  sources.push_back(describe_source(path));
  return rows;
}

// GLUE-style TSV with a `sentence<TAB>label` header.
Rows read_sst2_tsv(const fs::path& path, std::vector<SourceFile>& sources) {
  const auto records = detail::parse_tsv(detail::read_utf8_file(path));
  if (records.empty()) throw Error(fmt::format("{}:1: empty file, expected a sentence<TAB>label header", path.string()));
  const int sentence = detail::column_index(records[0].fields, "sentence");
  const int label = detail::column_index(records[0].fields, "label");
  if (sentence < 0 || label < 0)
    throw Error(fmt::format("{}:1: expected columns 'sentence' and 'label' in the header", path.string()));
  Rows rows;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.fields.size() != records[0].fields.size())
      throw Error(fmt::format("{}:{}: {} fields, but the header has {}", path.string(), r.line, r.fields.size(),
                              records[0].fields.size()));
    const std::string& y = r.fields[static_cast<std::size_t>(label)];
    if (y != "0" && y != "1") throw Error(fmt::format("{}:{}: label '{}' is not 0 or 1", path.string(), r.line, y));
    json::Value v = json::Value::object();
    v.set("sentence", r.fields[static_cast<std::size_t>(sentence)]);
    v.set("label", y == "1" ? 1 : 0);
    rows.push_back({std::move(v), fmt::format("{}:{}", path.string(), r.line)});
  }
  sources.push_back(describe_source(path));
  return rows;
}

RawSplits read_raw_splits(const DatasetSpec& spec, const TrainingDataOptions& o, std::vector<SourceFile>& sources) {
  const fs::path dir = resolve_data_dir(o.data_dir);
  auto file = [&](const std::string& name) { return require(dir, spec.folder + "/" + name, spec, o.allow_download); };
  RawSplits raw;
  switch (spec.layout) {
    case Layout::TrainTest:
      raw.train = read_jsonl_rows(file(spec.train_file), sources);
      raw.test = read_jsonl_rows(file(spec.test_file), sources);
      break;
    case Layout::Sst2Tsv:
      raw.train = read_sst2_tsv(file(spec.train_file), sources);
      raw.test = read_sst2_tsv(file(spec.test_file), sources);
      break;
    case Layout::PooledSciq: {
      // The reference pools all HF splits and holds out 3000 rows with a fixed seed.
      Rows pool;
      for (const char* split : {"train.jsonl", "validation.jsonl", "test.jsonl"})
        for (auto& r : read_jsonl_rows(file(split), sources)) pool.push_back(std::move(r));
      const auto order = permutation(pool.size(), kPartitionSeed);
      const std::size_t n_test = std::min<std::size_t>(3000, pool.size() / 2);
      raw.test = pick(pool, order, 0, n_test);
      raw.train = pick(pool, order, n_test, pool.size());
      break;
    }
    case Layout::BoolqDevSplit: {
      const Rows dev = read_jsonl_rows(file(spec.train_file), sources);
      const auto order = permutation(dev.size(), kPartitionSeed);
      const std::size_t n_train = dev.size() / 2, n_val = dev.size() / 4;
      raw.train = pick(dev, order, 0, n_train);
      raw.val = pick(dev, order, n_train, n_train + n_val);
      raw.test = pick(dev, order, n_train + n_val, dev.size());
      break;
    }
    case Layout::SciqBinary: {
      // Two rows share a question (right answer / distractor); split by question so no question
      // is in both train and test. Questions in a fixed random order fill the test side first.
      const Rows rows = read_jsonl_rows(file(spec.train_file), sources);
      std::vector<std::string> questions;
      std::unordered_map<std::string, std::vector<std::size_t>> by_question;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const json::Value* q = rows[i].fields.find("question");
        if (!q || !q->is_string()) throw Error(fmt::format("{}: missing string field \"question\"", rows[i].origin));
        auto [it, fresh] = by_question.try_emplace(q->as_string());
        if (fresh) questions.push_back(q->as_string());
        it->second.push_back(i);
      }
      const auto order = permutation(questions.size(), kPartitionSeed);
      const std::size_t n_test = std::min<std::size_t>(3000, rows.size() / 2);
      for (std::size_t qi : order)
        for (std::size_t i : by_question[questions[qi]]) (raw.test.size() < n_test ? raw.test : raw.train).push_back(rows[i]);
      break;
    }
    case Layout::UserJsonl: {
      if (!o.dataset_file || o.dataset_file->empty())
        throw Error("training dataset 'jsonl' needs --dataset-file TRAIN.jsonl[,TEST.jsonl] with {\"text\", \"label\"} rows");
      const auto paths = split_list(*o.dataset_file);
      if (paths.empty() || paths.size() > 2) throw Error("--dataset-file takes TRAIN.jsonl or TRAIN.jsonl,TEST.jsonl");
      for (const auto& p : paths)
        if (!fs::exists(p)) throw Error(fmt::format("dataset file {} does not exist", p));
      raw.train = read_jsonl_rows(paths[0], sources);
      if (paths.size() == 2) {
        raw.test = read_jsonl_rows(paths[1], sources);
      } else {
        // No test file: hold out a fixed 20% of the rows.
        Rows all = std::move(raw.train);
        const auto order = permutation(all.size(), kPartitionSeed);
        const std::size_t n_test = all.size() / 5;
        raw.test = pick(all, order, 0, n_test);
        raw.train = pick(all, order, n_test, all.size());
      }
      break;
    }
  }
  return raw;
}

// Steps 1-6 of docs/reference-behaviour.md §13 for one split. Rows whose text is in `exclude` are dropped
// before balancing.
std::vector<TextExample> process_split(const DatasetSpec& spec, const Rows& rows, std::size_t n, std::int64_t seed,
                                       const std::string& role, const std::unordered_set<std::string>& exclude,
                                       std::vector<std::string>& notices) {
  PyRandom format_rng(seed);
  std::vector<TextExample> formatted;
  std::size_t excluded = 0;
  for (std::size_t i : permutation(rows.size(), seed)) {
    detail::Labeled l;
    try {
      l = spec.format(rows[i].fields, format_rng);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", rows[i].origin, e.what()));
    }
    if (l.txt.empty()) continue;
    if (exclude.count(l.txt)) {
      ++excluded;
      continue;
    }
    formatted.push_back(TextExample{"", std::move(l.txt), l.label});
  }
  if (excluded)
    notices.push_back(fmt::format("{}: dropped {} {} rows whose text is also in the test set", spec.name, excluded, role));

  // Balance by undersampling: keep the minority class, a shuffled prefix of the majority class,
  // minority first, then shuffle the concatenation.
  if (formatted.empty())
    throw Error(fmt::format("training dataset '{}' ({} split): no examples (of {} rows read)", spec.name, role,
                            rows.size()));
  std::size_t positives = 0;
  for (const auto& e : formatted) positives += e.label == 1;
  const std::size_t negatives = formatted.size() - positives;
  if (positives == 0 || negatives == 0)
    throw Error(fmt::format("training dataset '{}' ({} split): only one class among {} rows; need both labels",
                            spec.name, role, formatted.size()));
  // Ties go to the label seen first, as the reference's Counter does.
  const int majority = positives != negatives ? (positives > negatives ? 1 : 0) : formatted.front().label;
  std::vector<TextExample> minority_rows, majority_rows;
  for (auto& e : formatted) (e.label == majority ? majority_rows : minority_rows).push_back(std::move(e));
  PyRandom(seed).shuffle(majority_rows);
  majority_rows.resize(minority_rows.size());
  std::vector<TextExample> balanced = std::move(minority_rows);
  for (auto& e : majority_rows) balanced.push_back(std::move(e));
  PyRandom(seed).shuffle(balanced);

  if (balanced.size() < n)
    notices.push_back(fmt::format("{}: asked for {} {} examples, have {} after balancing; using all", spec.name, n, role,
                                  balanced.size()));
  else
    balanced.resize(n);
  for (auto& e : balanced) e.id = sha1_hex(e.txt).substr(0, 8);
  return balanced;
}

}  // namespace

TrainingData load_training_data(const TrainingDataOptions& options) {
  const DatasetSpec& spec = detail::find_dataset_spec(options.name);
  TrainingData data;
  data.name = options.name;
  data.seed = options.seed;
  const RawSplits raw = read_raw_splits(spec, options, data.sources);

  data.test = process_split(spec, raw.test, options.n_test, options.seed, "test", {}, data.notices);
  std::unordered_set<std::string> test_texts;
  for (const auto& e : data.test) test_texts.insert(e.txt);
  if (raw.val) {
    data.val = process_split(spec, *raw.val, options.n_val, options.seed, "val", test_texts, data.notices);
    data.train = process_split(spec, raw.train, options.n_train, options.seed, "train", test_texts, data.notices);
  } else {
    std::vector<TextExample> pool = process_split(spec, raw.train, options.n_train + options.n_val, options.seed,
                                                  "train+val", test_texts, data.notices);
    const std::size_t n_val = std::min(options.n_val, pool.size());
    data.val.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n_val));
    data.train.assign(pool.begin() + static_cast<std::ptrdiff_t>(n_val), pool.end());
  }
  return data;
}

Halves split_weak_strong(const std::vector<TextExample>& train, std::int64_t seed) {
  // HF train_test_split(test_size=0.5): the "test" part is the first ceil(n/2) of the permutation.
  const auto order = permutation(train.size(), seed);
  const std::size_t n_strong = (train.size() + 1) / 2;
  Halves h;
  for (std::size_t i = 0; i < order.size(); ++i) (i < n_strong ? h.strong : h.weak).push_back(train[order[i]]);
  return h;
}

}  // namespace w2s::data
