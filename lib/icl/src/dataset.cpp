// The data of an in-context experiment in one shape (icl::Dataset): TruthfulQA as the reference
// splits it, or a registry dataset drawn exactly as `w2s train` draws it; and the weak labels of a
// fine-tuning run's floor (`--weak-labels-from`).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_map>

#include "w2s/icl.h"

namespace w2s::icl {

namespace fs = std::filesystem;

DatasetKind dataset_kind(const std::string& name) {
  if (name == kTruthfulQa) return DatasetKind::TruthfulQa;
  const auto names = data::training_dataset_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return DatasetKind::Registry;
  throw Error(fmt::format("--dataset: unknown dataset '{}' (known: {}, {})", name, kTruthfulQa, fmt::join(names, ", ")));
}

Dataset::Dataset(const data::TruthfulQa& truthfulqa)
    : kind(DatasetKind::TruthfulQa),
      name(kTruthfulQa),
      variant(truthfulqa.variant),
      sources(truthfulqa.sources),
      seed(truthfulqa.seed),
      split_sizes({{"train", static_cast<std::int64_t>(truthfulqa.train.size())},
                   {"test", static_cast<std::int64_t>(truthfulqa.test.size())}}),
      test(truthfulqa.test),
      shot_pool(truthfulqa.train) {
  // Questions made by hand (tests) may come without their record id: it is the question id.
  for (auto* split : {&test, &shot_pool})
    for (auto& q : *split)
      if (q.id.empty()) q.id = std::to_string(q.question_id);
}

Dataset load_registry_dataset(const std::string& name, const data::TrainingDataOptions& options, std::size_t test_size,
                              bool all_test_when_fewer) {
  if (dataset_kind(name) != DatasetKind::Registry) throw Error(fmt::format("'{}' is not a registry dataset", name));
  registry_prompt(name);  // refuses a dataset without an in-context prompt before its files are read
  data::TrainingDataOptions o = options;
  o.name = name;
  const data::TrainingData data = data::load_training_data(o);
  for (const auto& notice : data.notices) log::info("{}: {}", name, notice);
  if (test_size == 0) throw Error("--test-size must be at least 1");
  if (test_size > data.test.size()) {
    if (!all_test_when_fewer)
      throw Error(fmt::format("--test-size {} is more than the {} test examples of {} (with --n-test {}); lower "
                              "--test-size",
                              test_size, data.test.size(), name, o.n_test));
    test_size = data.test.size();
  }
  Dataset ds;
  ds.kind = DatasetKind::Registry;
  ds.name = name;
  ds.sources = data.sources;
  ds.seed = data.seed;
  ds.class_of_letter = json::Object{{"A", 0}, {"B", 1}};
  ds.split_sizes = {{"train", static_cast<std::int64_t>(data.train.size())},
                    {"val", static_cast<std::int64_t>(data.val.size())},
                    {"test", static_cast<std::int64_t>(test_size)}};
  for (std::size_t i = 0; i < test_size; ++i) ds.test.push_back(registry_question(name, data.test[i]));
  for (const auto& x : data::split_weak_strong(data.train).strong) ds.shot_pool.push_back(registry_question(name, x));
  for (const auto& x : data.val) ds.extra_pool.push_back(registry_question(name, x));
  return ds;
}

results::DatasetIdentity dataset_identity(const Dataset& ds, const std::string& split) {
  results::DatasetIdentity d;
  d.name = ds.name;
  d.variant = ds.variant;
  for (const auto& s : ds.sources) d.sources.push_back({s.path, s.sha256});
  d.split = split;
  d.split_sizes = ds.split_sizes;
  d.seed = ds.seed;
  return d;
}

namespace {

// The floor stage folder under what the user named: the folder itself (it holds the floor's
// record), its floor/ folder, or the floor/ folder of its one dataset folder (results/<run>/<dataset>/).
fs::path find_floor_dir(const fs::path& path) {
  if (!fs::is_directory(path)) throw Error(fmt::format("--weak-labels-from: {} is not a folder", path.string()));
  std::vector<fs::path> candidates{path, path / "floor"};
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_directory()) candidates.push_back(entry.path() / "floor");
  std::vector<fs::path> found;
  for (const auto& dir : candidates) {
    if (!fs::exists(dir / "record.json") || !fs::exists(dir / "predictions.jsonl")) continue;
    if (results::read_record(dir / "record.json").kind == results::Kind::TrainFloor) found.push_back(dir);
  }
  if (found.empty())
    throw Error(fmt::format("--weak-labels-from: no finished floor stage (a folder with the floor's record.json and "
                            "predictions.jsonl) in {} or its floor/ folders; give a w2s train run folder "
                            "(results/<run>/) or its floor stage folder",
                            path.string()));
  if (found.size() > 1)
    throw Error(fmt::format("--weak-labels-from: {} holds {} floor stages ({}, ...); give the floor stage folder",
                            path.string(), found.size(), found.front().string()));
  return found.front();
}

std::set<std::string> checksums(const std::vector<data::SourceFile>& sources) {
  std::set<std::string> out;
  for (const auto& s : sources) out.insert(s.sha256);
  return out;
}

}  // namespace

FloorLabels read_floor_labels(const fs::path& path, const Dataset& ds, std::size_t n) {
  if (ds.kind != DatasetKind::Registry)
    throw Error("--weak-labels-from: TruthfulQA has no fine-tuning runs; give --dataset with a registry dataset");
  FloorLabels out;
  out.floor_dir = find_floor_dir(path);
  const results::ResultRecord floor = results::read_record(out.floor_dir / "record.json");
  std::set<std::string> theirs;
  for (const auto& s : floor.dataset.sources) theirs.insert(s.sha256);
  std::vector<std::string> differences;
  if (floor.dataset.name != ds.name) differences.push_back(fmt::format("dataset {}, here {}", floor.dataset.name, ds.name));
  if (floor.dataset.seed != ds.seed)
    differences.push_back(fmt::format("data seed {}, here {}", floor.dataset.seed, ds.seed));
  if (theirs != checksums(ds.sources)) differences.push_back("other data files (source sha256)");
  if (!differences.empty())
    throw Error(fmt::format("--weak-labels-from: the floor in {} was trained on other data ({}); run the weak-sweep "
                            "with the fine-tuning run's --dataset, --data-seed and data files",
                            out.floor_dir.string(), fmt::join(differences, ", ")));
  out.weak_model = floor.evaluated_model;

  const fs::path file = out.floor_dir / "predictions.jsonl";
  std::ifstream in(file);
  if (!in) throw Error("cannot read " + file.string());
  std::unordered_map<std::string, double> p1;
  std::string line;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json::Value row;
    try {
      row = json::parse(line);
      if (row.get_string("split") != "strong_half") continue;
      const double p = row.at("soft_pred").as_double();
      if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("soft_pred {} is not a probability", p));
      p1[row.at("id").as_string()] = p;
    } catch (const std::exception& e) {
      throw Error(fmt::format("{}:{}: {}", file.string(), line_no, e.what()));
    }
  }
  std::size_t missing = 0;
  std::string first_missing;
  for (std::size_t i = 0; i < n; ++i) {
    const auto it = p1.find(ds.shot_pool[i].id);
    if (it == p1.end()) {
      if (missing++ == 0) first_missing = ds.shot_pool[i].id;
      continue;
    }
    out.p1.push_back(it->second);
    out.labels.push_back(it->second >= 0.5 ? "B" : "A");
  }
  if (missing > 0)
    throw Error(fmt::format("--weak-labels-from: {} of the {} shots have no floor prediction on the strong half in {} "
                            "(first: id {}); the fine-tuning run drew other examples: give the weak-sweep its "
                            "--n-train, --n-val and --n-test",
                            missing, n, file.string(), first_missing));
  return out;
}

}  // namespace w2s::icl
