// w2s baseline | gold-sweep | weak-sweep: the in-context experiments on TruthfulQA or a registry
// dataset (lib/icl).
// Binds the flags (icl::Config's field list), loads the data, builds the client, dispatches, prints
// the summary table.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include "cli.h"
#include "options_binding.h"
#include "w2s/data.h"
#include "w2s/icl.h"
#include "w2s/llm.h"
#if W2S_WITH_TORCH
#include "w2s/model.h"
#endif

namespace {

namespace po = w2s::cli::po;
using namespace w2s;

template <class S>
std::vector<std::string> flag_names_of() {
  std::vector<std::string> names;
  for (const auto& f : option_fields(static_cast<const S*>(nullptr)).flags()) names.push_back(f.name);
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The flags of one command, from icl::Config's field list, in three help sections: the experiment
// (models for baseline and gold-sweep, pairs for weak-sweep, shots for the sweeps), the data, and
// the API client.
class ExperimentFlags {
 public:
  // Lines wide enough that a model id (and a weak:strong pair of them) is never broken in the help.
  static constexpr unsigned kHelpWidth = 140;

  ExperimentFlags(const std::string& experiment, const icl::Config& defaults)
      : experiment_group_("Experiment", kHelpWidth),
        data_group_("Data", kHelpWidth),
        client_group_("API client (OpenRouter or any OpenAI-compatible endpoint)", kHelpWidth),
        local_group_("Local models (--provider local)", kHelpWidth),
        all_(kHelpWidth) {
    const auto& fields = option_fields(static_cast<const icl::Config*>(nullptr));
    auto data = flag_names_of<data::TruthfulQaOptions>();
    for (const auto& name : flag_names_of<icl::RegistrySizes>()) data.push_back(name);
    data.push_back("dataset");
    const auto client = flag_names_of<llm::ClientOptions>();
    const auto ours = [experiment, data, client](const std::string& name) {
      if (contains(data, name) || contains(client, name)) return false;
      if (name == "models") return experiment != "weak-sweep";
      if (name == "pairs") return experiment == "weak-sweep";
      if (name == "shots") return experiment != "baseline";
      if (name == "label-pool" || name == "weak-labels-from") return experiment == "weak-sweep";
      return true;
    };
    bindings_.reserve(3);
    bindings_.emplace_back(experiment_group_, fields, defaults, ours);
    experiment_group_.add_options()(
        "reference-files", po::bool_switch(),
        "also write the reference study's own JSON files into <results-dir>/<run-name>/reference/")(
        "provider", po::value<std::string>()->default_value("api"),
        "api (OpenRouter or an OpenAI-compatible endpoint) or local (model directories or Hugging Face ids run "
        "in this process; free, deterministic; docs/icl.md)");
    bindings_.emplace_back(data_group_, fields, defaults,
                           [data](const std::string& name) { return contains(data, name); });
    bindings_.emplace_back(client_group_, fields, defaults,
                           [client](const std::string& name) { return contains(client, name); });
    all_.add(experiment_group_).add(data_group_).add(client_group_);
#if W2S_WITH_TORCH
    local_binding_.emplace(local_group_, option_fields(static_cast<const model::LocalProviderOptions*>(nullptr)),
                           model::LocalProviderOptions{});
    all_.add(local_group_);
#endif
  }

  const po::options_description& description() const { return all_; }
  void apply(const po::variables_map& vm, icl::Config& config) const {
    for (const auto& b : bindings_) b.apply(vm, config);
  }
#if W2S_WITH_TORCH
  void apply(const po::variables_map& vm, model::LocalProviderOptions& local) const { local_binding_->apply(vm, local); }
#endif

 private:
  po::options_description experiment_group_, data_group_, client_group_, local_group_, all_;
  std::vector<cli::OptionsBinding<icl::Config>> bindings_;
#if W2S_WITH_TORCH
  std::optional<cli::OptionsBinding<model::LocalProviderOptions>> local_binding_;
#endif
};

// The client, announcing each batch's cost estimate before sending it.
class EstimatingProvider : public llm::Provider {
 public:
  explicit EstimatingProvider(llm::OpenRouterClient& client) : client_(client) {}
  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result) override;

 private:
  llm::OpenRouterClient& client_;
};

void print_estimate(const std::map<std::string, llm::ModelEstimate>& estimate, const char* heading) {
  double low = 0, high = 0;
  std::string lines;
  for (const auto& [model, e] : estimate) {
    lines += fmt::format("\n  {:<44} {:>6} requests ({} cached)  ~{} prompt tokens  {}", model, e.requests, e.cached,
                         e.prompt_tokens,
                         e.requests == e.cached ? std::string("$0 (all cached)")
                         : e.priced             ? fmt::format("${:.4f} .. ${:.4f}{}", e.prompt_cost_usd, e.max_cost_usd,
                                                              e.price_assumed ? " (at --assume-price)" : "")
                                                : std::string("no /models price"));
    low += e.prompt_cost_usd;
    high += e.max_cost_usd;
  }
  log::info("{} ${:.4f} .. ${:.4f}{}", heading, low, high, lines);
}

// Exit codes of the API commands (docs/icl.md): 0 every request answered; 1 an error stopped the
// command (its message says why and how to go on); 2 bad options; 3 the records are written but
// some requests failed (rerun the command to retry them: answers already received are cached).
constexpr int kExitFailedRequests = 3;

// The last words of a command: what needs the user's attention, and the exit code.
int exit_status(const icl::RunSummary& summary) {
  if (const std::string warning = icl::cut_off_warning(summary); !warning.empty()) log::warn("{}", warning);
  if (const std::string warning = icl::logprobs_missing_warning(summary); !warning.empty()) log::warn("{}", warning);
  const std::int64_t failed = summary.cost.total.failed_requests;
  if (failed == 0) return 0;
  log::error(
      "{} request(s) failed for good (their predictions carry the error); run the same command again to "
      "retry them: the answers already received come from the cache at no cost",
      failed);
  return kExitFailedRequests;
}

std::vector<llm::Completion> EstimatingProvider::run_batch(const std::vector<llm::ChatRequest>& requests,
                                                           const llm::ResultCallback& on_result) {
  print_estimate(client_.estimate(requests), "cost estimate for this batch (prompt only .. with max_tokens):");
  return client_.run_batch(requests, on_result);
}

icl::RunSummary run(const std::string& experiment, const icl::Config& config, const icl::Dataset& dataset,
                    llm::Provider& provider) {
  if (experiment == "baseline") return icl::run_baseline(config, dataset, provider);
  if (experiment == "gold-sweep") return icl::run_gold_sweep(config, dataset, provider);
  return icl::run_weak_sweep(config, dataset, provider);
}

#if W2S_TORCH_IN_PROCESS
// Every model checked before the first question, with the largest prompt the command gives it:
// the most shots before a test question with gold labels, and for a weak-sweep's strong model
// with empty assistant turns as well (weak answers that did not parse; some templates refuse
// them); a weak model labels zero-shot.
void check_local_models(model::LocalProvider& models, const std::string& experiment, const icl::Config& config,
                        const icl::Dataset& dataset) {
  if (dataset.test.empty()) return;
  const int most_shots = experiment == "baseline" || config.shots.empty()
                             ? 0
                             : std::min<int>(*std::max_element(config.shots.begin(), config.shots.end()),
                                             static_cast<int>(dataset.shot_pool.size()));
  std::vector<icl::Shot> gold, unparsed;
  for (int i = 0; i < most_shots; ++i) {
    gold.push_back({dataset.shot_pool[i].text, dataset.shot_pool[i].answer});
    unparsed.push_back({dataset.shot_pool[i].text, ""});
  }
  const std::vector<icl::Shot> zero_shot;
  std::set<std::pair<std::string, const std::vector<icl::Shot>*>> checked;
  auto check = [&](const std::string& id, const std::vector<icl::Shot>& shots) {
    if (checked.insert({id, &shots}).second) models.check_model(id, icl::build_messages(shots, dataset.test.front().text));
  };
  if (experiment == "weak-sweep") {
    for (const auto& pair : config.pairs) {
      if (!config.weak_labels_from) check(pair.weak, zero_shot);  // a floor's labels need no weak model here
      check(pair.strong, gold), check(pair.strong, unparsed);
    }
  } else {
    for (const auto& id : config.models) check(id, gold);
  }
}
#endif

// --provider local: the models run here, behind the same response cache as the API's answers
// (keyed by the model files' checksums), so a killed sweep resumes where it stopped.
icl::RunSummary run_local(const po::variables_map& vm, const ExperimentFlags& flags, const std::string& experiment,
                          const icl::Config& config, const icl::Dataset& dataset) {
#if W2S_TORCH_IN_PROCESS
  if (config.client.dry_run) throw po::error("--dry-run estimates API cost: local models cost nothing");
  model::LocalProviderOptions local;
  flags.apply(vm, local);
  auto resolve = [&local](const std::string& model) { return data::resolve_model_path(model, local.models_dir); };
  local.progress = config.client.progress;
  auto models = model::make_local_provider(local, resolve, config.client.cache_dir / "file-hashes.json");
  check_local_models(*models, experiment, config, dataset);
  llm::CachedProvider cached(*models, [&models](const std::string& m) { return models->endpoint(m); },
                             config.client);
  return run(experiment, config, dataset, cached);
#else
  (void)vm, (void)flags, (void)experiment, (void)config, (void)dataset;
  throw Error("--provider local needs a build with libtorch (this w2s was built without it)");
#endif
}

// Flags that belong to one kind of dataset, refused with the other (by name, exit 2).
const std::vector<std::string>& truthfulqa_only_flags() {
  static const std::vector<std::string> names{"variant", "dataset-file", "reference-files"};
  return names;
}

// The data the command runs on: TruthfulQA (the default), or a registry dataset drawn with the
// options and defaults of `w2s train` (its --data-seed default is w2s train's, not TruthfulQA's 42).
icl::Dataset load_dataset(const po::variables_map& vm, const std::string& experiment, icl::Config& config) {
  const icl::DatasetKind kind = [&] {
    try {
      return icl::dataset_kind(config.dataset_name);
    } catch (const Error& e) {
      throw po::error(e.what());
    }
  }();
  const auto given = [&vm](const std::string& flag) { return vm.count(flag) && !vm[flag].defaulted(); };
  if (kind == icl::DatasetKind::TruthfulQa) {
    for (const auto& flag : flag_names_of<icl::RegistrySizes>())
      if (given(flag)) throw po::error("--" + flag + " is for a registry dataset (--dataset NAME), not TruthfulQA");
    if (given("weak-labels-from"))
      throw po::error("--weak-labels-from needs a registry dataset (--dataset NAME): TruthfulQA has no fine-tuning runs");
    const icl::Dataset dataset = data::load_truthfulqa(config.dataset);
    log::info("TruthfulQA {}: train {}, test {} (seed {})", dataset.variant, dataset.shot_pool.size(),
              dataset.test.size(), dataset.seed);
    return dataset;
  }
  for (const auto& flag : truthfulqa_only_flags())
    if (given(flag)) throw po::error("--" + flag + " is a TruthfulQA option; --dataset " + config.dataset_name + " has none");
  if (!given("data-seed")) config.dataset.seed = data::TrainingDataOptions{}.seed;
  config.dataset.variant.clear();  // the recorded config names no TruthfulQA variant
  data::TrainingDataOptions options;
  options.data_dir = config.dataset.data_dir;
  options.allow_download = config.dataset.allow_download;
  options.seed = config.dataset.seed;
  options.n_train = config.registry.n_train;
  options.n_val = config.registry.n_val;
  options.n_test = config.registry.n_test;
  icl::Dataset dataset = icl::load_registry_dataset(config.dataset_name, options, config.dataset.test_size,
                                                    !given("test-size"));
  config.dataset.test_size = dataset.test.size();
  log::info("{} (in context, {}): test {}, shot pool {} (the strong half), val {} (seed {})", dataset.name, experiment,
            dataset.test.size(), dataset.shot_pool.size(), dataset.extra_pool.size(), dataset.seed);
  return dataset;
}

int run_experiment(int argc, char** argv, const std::string& experiment) {
  const std::string usage = "w2s " + experiment + " [options]";
  const icl::Config defaults;
  const ExperimentFlags flags(experiment, defaults);
  const auto vm = cli::parse(argc, argv, usage, flags.description());
  if (!vm) return 0;
  icl::Config config = defaults;
  flags.apply(*vm, config);
  if (config.run_name.empty() || config.run_name.find('/') != std::string::npos)
    throw po::error("--run-name must be a non-empty name without '/'");
  try {  // option values are checked before the data is loaded or anything is sent: exit 2
    llm::validate(config.sampling.reasoning);
  } catch (const Error& e) {
    throw po::error(e.what());
  }
  if (config.client.ledger_tag.empty()) config.client.ledger_tag = experiment;
  const std::string provider_name = (*vm)["provider"].as<std::string>();
#if W2S_WITH_TORCH && !W2S_TORCH_IN_PROCESS
  if (provider_name == "local") return cli::run_torch_side(argc, argv);  // the models run in w2s-torch
#endif
  const icl::Dataset dataset = load_dataset(*vm, experiment, config);

  icl::RunSummary summary;
  if (provider_name == "local") {
    summary = run_local(*vm, flags, experiment, config, dataset);
  } else if (provider_name == "api") {
    llm::OpenRouterClient client(config.client);
    EstimatingProvider estimating(client);
    llm::Provider& provider = config.client.dry_run ? static_cast<llm::Provider&>(client) : estimating;
    summary = run(experiment, config, dataset, provider);
    if (config.client.dry_run) {
      print_estimate(client.dry_run_estimate(), "dry run, nothing sent or written; estimated cost:");
      return 0;
    }
  } else {
    throw po::error("--provider: '" + provider_name + "' is not api or local");
  }
  std::cout << icl::format_summary(summary);
  std::cout << "records: " << (config.results_dir / config.run_name).string() << "/\n";
  if ((*vm)["reference-files"].as<bool>()) {
    const auto dir = config.results_dir / config.run_name / "reference";
    const auto files = icl::write_reference_files(summary, dataset, dir);
    std::cout << "reference-format files: " << files.size() << " in " << dir.string() << "/\n";
  }
  return exit_status(summary);
}

}  // namespace

int w2s::cli::run_baseline(int argc, char** argv) { return run_experiment(argc, argv, "baseline"); }
int w2s::cli::run_gold_sweep(int argc, char** argv) { return run_experiment(argc, argv, "gold-sweep"); }
int w2s::cli::run_weak_sweep(int argc, char** argv) { return run_experiment(argc, argv, "weak-sweep"); }
