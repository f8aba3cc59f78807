// w2s baseline | gold-sweep | weak-sweep: the in-context experiments on TruthfulQA (lib/icl).
// Parses options, loads the data, builds the client, dispatches, prints the summary table.
#include <fmt/format.h>

#include <iostream>

#include "cli.h"
#include "client_options.h"
#include "w2s/data.h"
#include "w2s/icl.h"
#include "w2s/llm.h"

namespace {

namespace po = w2s::cli::po;
using namespace w2s;

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string default_pairs_text() {
  std::vector<std::string> items;
  for (const auto& p : icl::default_pairs()) items.push_back(p.weak + ":" + p.strong);
  return join(items);
}

std::string default_shots_text() {
  std::vector<std::string> items;
  for (int n : icl::default_shots()) items.push_back(std::to_string(n));
  return join(items);
}

po::options_description experiment_options(const std::string& experiment) {
  const icl::Config d;
  po::options_description o("Experiment");
  if (experiment == "weak-sweep")
    o.add_options()("pairs", po::value<std::string>()->default_value(
                                default_pairs_text(), "the reference's 6: 8B:8B,8B:70B,8B:Qwen,70B:70B,70B:Qwen,Qwen:Qwen"),
                    "weak:strong model pairs, comma-separated (weak->strong for ids containing ':')");
  else
    o.add_options()("models", po::value<std::string>()->default_value(join(d.models)), "model ids, comma-separated");
  if (experiment != "baseline")
    o.add_options()("shots", po::value<std::string>()->default_value(default_shots_text()),
                    "few-shot counts N (shots are train[0:N], nested)");
  o.add_options()
      ("run-name", po::value<std::string>()->default_value(d.run_name), "records go to <results-dir>/<run-name>/")
      ("results-dir", po::value<std::string>()->default_value(d.results_dir.string()), "results folder")
      ("reference-files", po::bool_switch(),
       "also write the reference study's own JSON files into <results-dir>/<run-name>/reference/")
      ("parser", po::value<std::string>()->default_value("strict"),
       "answer parser: strict (an option letter or a parse failure) or reference (bit-exact reference chain)")
      ("score", po::value<std::string>()->default_value("text"),
       "text, or logprobs (first-token top_logprobs over the option letters: probabilities, AUROC)")
      ("failed-policy", po::value<std::string>()->default_value("wrong"),
       "failed requests count as wrong, or are excluded from the accuracy")
      ("temperature", po::value<double>()->default_value(d.temperature), "sampling temperature")
      ("max-tokens", po::value<int>()->default_value(d.max_tokens), "completion token limit")
      ("seed", po::value<long long>(), "sampling seed sent to the API (where supported)")
      ("top-p", po::value<double>(), "nucleus sampling top_p")
      ("provider-order", po::value<std::string>(), "OpenRouter providers to try, in order (comma-separated)")
      ("no-fallbacks", po::bool_switch(), "OpenRouter: only the providers in --provider-order")
      ("require-parameters", po::bool_switch(), "OpenRouter: only providers supporting every parameter sent");
  po::options_description data("Data");
  data.add_options()
      ("data-dir", po::value<std::string>(), "data folder (default: $W2S_DATA_DIR, then ./data)")
      ("variant", po::value<std::string>()->default_value(d.dataset.variant),
       "TruthfulQA variant: mc1-4-local, binary-local, mc1-full, mc1-jsonl")
      ("dataset-file", po::value<std::string>(), "JSONL of {question, choices, label} (variant mc1-jsonl)")
      ("test-size", po::value<std::size_t>()->default_value(d.dataset.test_size), "test questions (rest: train)")
      ("data-seed", po::value<long long>()->default_value(d.dataset.seed), "split / option-shuffle seed");
  o.add(data);
  cli::add_client_options(o);
  return o;
}

data::TruthfulQaOptions dataset_options_from(const po::variables_map& vm) {
  data::TruthfulQaOptions d;
  if (vm.count("data-dir")) d.data_dir = vm["data-dir"].as<std::string>();
  d.variant = vm["variant"].as<std::string>();
  if (vm.count("dataset-file")) d.dataset_file = vm["dataset-file"].as<std::string>();
  d.test_size = vm["test-size"].as<std::size_t>();
  d.seed = vm["data-seed"].as<long long>();
  return d;
}

// What the records say about the client: never the key.
json::Value recorded_client_options(const llm::ClientOptions& client) {
  json::Value j = json::Value::object();
  j["base_url"] = client.base_url;
  j["cache_dir"] = client.cache_dir.string();
  j["no_cache"] = client.no_cache;
  j["refresh"] = client.refresh;
  j["max_cost_usd"] = client.max_cost_usd;
  j["max_attempts"] = client.max_attempts;
  return j;
}

icl::Config config_from(const po::variables_map& vm, const llm::ClientOptions& client) {
  icl::Config c;
  c.run_name = vm["run-name"].as<std::string>();
  if (c.run_name.empty() || c.run_name.find('/') != std::string::npos)
    throw Error("--run-name must be a non-empty name without '/'");
  c.results_dir = vm["results-dir"].as<std::string>();
  if (vm.count("models")) c.models = split_list(vm["models"].as<std::string>());
  if (vm.count("pairs")) c.pairs = icl::parse_pairs(vm["pairs"].as<std::string>());
  if (vm.count("shots")) c.shots = icl::parse_shots(vm["shots"].as<std::string>());
  c.parser = icl::parse_parser_kind(vm["parser"].as<std::string>());
  c.score = icl::parse_score_mode(vm["score"].as<std::string>());
  c.failed_policy = icl::parse_failed_policy(vm["failed-policy"].as<std::string>());
  c.temperature = vm["temperature"].as<double>();
  c.max_tokens = vm["max-tokens"].as<int>();
  if (vm.count("seed")) c.seed = vm["seed"].as<long long>();
  if (vm.count("top-p")) c.top_p = vm["top-p"].as<double>();
  if (vm.count("provider-order")) c.routing.order = split_list(vm["provider-order"].as<std::string>());
  if (vm["no-fallbacks"].as<bool>()) c.routing.allow_fallbacks = false;
  if (vm["require-parameters"].as<bool>()) c.routing.require_parameters = true;
  c.dataset = dataset_options_from(vm);
  c.dry_run = client.dry_run;
  c.client = recorded_client_options(client);
  return c;
}

void print_estimate(const std::map<std::string, llm::ModelEstimate>& estimate, const char* heading) {
  double low = 0, high = 0;
  std::string lines;
  for (const auto& [model, e] : estimate) {
    lines += fmt::format("\n  {:<44} {:>6} requests ({} cached)  ~{} prompt tokens  {}", model, e.requests, e.cached,
                         e.prompt_tokens,
                         e.requests == e.cached ? std::string("$0 (all cached)")
                         : e.priced             ? fmt::format("${:.4f} .. ${:.4f}", e.prompt_cost_usd, e.max_cost_usd)
                                                : std::string("no /models price"));
    low += e.prompt_cost_usd;
    high += e.max_cost_usd;
  }
  log::info("{} ${:.4f} .. ${:.4f}{}", heading, low, high, lines);
}

int run_experiment(int argc, char** argv, const std::string& experiment) {
  const std::string usage = "w2s " + experiment + " [options]";
  const auto vm = cli::parse(argc, argv, usage, experiment_options(experiment));
  if (!vm) return 0;
  llm::ClientOptions client_options = cli::client_options_from(*vm);
  if (client_options.ledger_tag.empty()) client_options.ledger_tag = experiment;
  icl::Config config = config_from(*vm, client_options);
  const data::TruthfulQa dataset = data::load_truthfulqa(config.dataset);
  log::info("TruthfulQA {}: {} questions, train {}, test {} (seed {})", dataset.variant, dataset.all.size(),
            dataset.train.size(), dataset.test.size(), dataset.seed);

  llm::OpenRouterClient client(client_options);
  if (!config.dry_run)
    config.before_batch = [&](const std::vector<llm::ChatRequest>& batch) {
      print_estimate(client.estimate(batch), "cost estimate for this batch (prompt only .. with max_tokens):");
    };
  icl::RunSummary summary;
  if (experiment == "baseline") summary = icl::run_baseline(config, dataset, client);
  else if (experiment == "gold-sweep") summary = icl::run_gold_sweep(config, dataset, client);
  else summary = icl::run_weak_sweep(config, dataset, client);

  if (config.dry_run) {
    print_estimate(client.dry_run_estimate(), "dry run, nothing sent or written; estimated cost:");
    return 0;
  }
  std::cout << icl::format_summary(summary);
  std::cout << "records: " << (config.results_dir / config.run_name).string() << "/\n";
  if ((*vm)["reference-files"].as<bool>()) {
    const auto dir = config.results_dir / config.run_name / "reference";
    const auto files = icl::write_reference_files(summary, dataset, dir);
    std::cout << "reference-format files: " << files.size() << " in " << dir.string() << "/\n";
  }
  return 0;
}

}  // namespace

int w2s::cli::run_baseline(int argc, char** argv) { return run_experiment(argc, argv, "baseline"); }
int w2s::cli::run_gold_sweep(int argc, char** argv) { return run_experiment(argc, argv, "gold-sweep"); }
int w2s::cli::run_weak_sweep(int argc, char** argv) { return run_experiment(argc, argv, "weak-sweep"); }
