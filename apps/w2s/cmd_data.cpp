// `w2s data`: inspect, fetch and export datasets (TruthfulQA variants and the training registry).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

#include "cli.h"
#include "w2s/data.h"

namespace {

namespace po = w2s::cli::po;

const char* kUsage =
    "w2s data <action> [name] [options]\n\n"
    "actions:\n"
    "  truthfulqa             TruthfulQA variant: sources + sha256, counts, split, first --show test questions\n"
    "  train-datasets         the training dataset registry and which files are present\n"
    "  show <name>            load a training dataset: split sizes, label balance, notices, examples\n"
    "  fetch                  download every missing public file (sha256-verified) into the data directory";

}  // namespace

int w2s::cli::run_data(int argc, char** argv) {
  po::options_description options("Options");
  std::string action, name, variant;
  std::size_t show = 3;
  w2s::data::TruthfulQaOptions tqa;
  w2s::data::TrainingDataOptions train;
  std::string variants_help = "TruthfulQA variant:";
  for (const auto& [v, what] : w2s::data::truthfulqa_variants()) variants_help += "\n  " + v + ": " + what;
  options.add_options()
      ("action", po::value<std::string>(&action), "truthfulqa | train-datasets | show | fetch")
      ("name", po::value<std::string>(&name), "training dataset name (for show)")
      ("data-dir", po::value<std::string>(), "data directory (default: $W2S_DATA_DIR, then ./data)")
      ("dataset-file", po::value<std::string>(), "file to read instead of the default source (mc1-jsonl, binary-2025, "
                                                 "jsonl: TRAIN.jsonl[,TEST.jsonl])")
      ("no-download", po::bool_switch(), "never download; fail with where to put missing files")
      ("show", po::value<std::size_t>(&show)->default_value(show), "number of examples to print")
      ("export", po::value<std::string>(), "write the loaded dataset as JSONL to this file")
      ("variant", po::value<std::string>(&variant)->default_value(tqa.variant), variants_help.c_str())
      ("test-size", po::value<std::size_t>(&tqa.test_size)->default_value(tqa.test_size), "TruthfulQA test questions")
      ("n-train", po::value<std::size_t>(&train.n_train)->default_value(train.n_train), "training examples (show)")
      ("n-val", po::value<std::size_t>(&train.n_val)->default_value(train.n_val), "validation examples (show)")
      ("n-test", po::value<std::size_t>(&train.n_test)->default_value(train.n_test), "test examples (show)")
      ("data-seed", po::value<std::int64_t>(),
       fmt::format("data seed; truthfulqa: option shuffles seed+id, split seed (default {}); show: formatting "
                   "and shuffles (default {})", tqa.seed, train.seed).c_str());
  po::positional_options_description positional;
  positional.add("action", 1).add("name", 1);
  auto vm = w2s::cli::parse(argc, argv, kUsage, options, positional,
                            {{"tqa-seed", "data-seed"}, {"seed", "data-seed"}});
  if (!vm) return 0;

  std::optional<std::string> data_dir, dataset_file, export_path;
  if (vm->count("data-dir")) data_dir = (*vm)["data-dir"].as<std::string>();
  if (vm->count("dataset-file")) dataset_file = (*vm)["dataset-file"].as<std::string>();
  if (vm->count("export")) export_path = (*vm)["export"].as<std::string>();
  const bool allow_download = !(*vm)["no-download"].as<bool>();

  // What both dataset families take from the options, and how they print and export.
  auto set_common = [&](auto& o) {
    o.data_dir = data_dir;
    o.dataset_file = dataset_file;
    o.allow_download = allow_download;
    if (vm->count("data-seed")) o.seed = (*vm)["data-seed"].as<std::int64_t>();
  };
  auto print = [&](const auto& loaded, const std::string& description, auto export_jsonl) {
    std::cout << description;
    if (export_path) {
      export_jsonl(loaded, *export_path);
      std::cout << "\nwrote " << *export_path << "\n";
    }
    return 0;
  };
  if (action == "truthfulqa") {
    tqa.variant = variant;
    set_common(tqa);
    const auto loaded = w2s::data::load_truthfulqa(tqa);
    return print(loaded, w2s::data::describe_truthfulqa(loaded, show), w2s::data::export_truthfulqa_jsonl);
  }
  if (action == "train-datasets") {
    std::cout << w2s::data::describe_training_registry(w2s::data::resolve_data_dir(data_dir));
    return 0;
  }
  if (action == "show") {
    if (name.empty()) throw w2s::Error("w2s data show needs a dataset name (see w2s data train-datasets)");
    train.name = name;
    set_common(train);
    const auto loaded = w2s::data::load_training_data(train);
    return print(loaded, w2s::data::describe_training_data(loaded, show), w2s::data::export_training_jsonl);
  }
  if (action == "fetch") {
    const auto dir = w2s::data::resolve_data_dir(data_dir);
    // Every file is tried: one that cannot be fetched is reported and the others still are.
    std::vector<std::string> failed;
    for (const auto& f : w2s::data::known_remote_files()) {
      try {
        const auto path = w2s::data::ensure_data_file(dir, f, allow_download);
        const std::string sha256 = w2s::sha256_file_hex(path);
        std::cout << path.string() << "  sha256 " << sha256
                  << (sha256 == f.sha256 ? "  ok" : "  DIFFERS from the pinned " + f.sha256) << "\n";
      } catch (const w2s::Error& e) {
        w2s::log::error("{}", e.what());
        failed.push_back(f.relative_path);
      }
    }
    if (failed.empty()) return 0;
    throw w2s::Error(fmt::format("{} of {} files could not be fetched: {}", failed.size(),
                                 w2s::data::known_remote_files().size(), fmt::join(failed, ", ")));
  }
  throw w2s::Error(action.empty() ? "w2s data needs an action: truthfulqa, train-datasets, show or fetch"
                                  : "w2s data: unknown action '" + action + "' (truthfulqa, train-datasets, show, fetch)");
}
