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
      ("top-logprobs", po::value<int>()->default_value(d.top_logprobs),
       "with --score logprobs: alternatives per token asked for (0-20; a server that allows fewer gets its "
       "largest allowed value, recorded in the config)")
      ("reasoning-effort", po::value<std::string>(),
       "reasoning models: OpenRouter reasoning.effort (minimal, low, medium, high)")
      ("reasoning-max-tokens", po::value<int>(), "reasoning models: reasoning token budget (reasoning.max_tokens)")
      ("reasoning-exclude", po::bool_switch(), "reasoning models: think, but do not return the reasoning text")
      ("no-reasoning", po::bool_switch(), "reasoning models: no reasoning at all (reasoning.enabled = false)")
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

// OpenRouter's reasoning object: an effort or a token budget (not both), or no reasoning at all.
llm::ReasoningOptions reasoning_options_from(const po::variables_map& vm) {
  llm::ReasoningOptions r;
  if (vm.count("reasoning-effort")) r.effort = vm["reasoning-effort"].as<std::string>();
  if (vm.count("reasoning-max-tokens")) {
    r.max_tokens = vm["reasoning-max-tokens"].as<int>();
    if (*r.max_tokens < 1) throw Error("--reasoning-max-tokens must be at least 1");
  }
  if (!r.effort.empty() && r.max_tokens)
    throw Error("--reasoning-effort and --reasoning-max-tokens exclude each other (OpenRouter takes one of them)");
  if (vm["reasoning-exclude"].as<bool>()) r.exclude = true;
  if (vm["no-reasoning"].as<bool>()) {
    if (!r.effort.empty() || r.max_tokens || r.exclude)
      throw Error("--no-reasoning excludes the other --reasoning-* options");
    r.enabled = false;
  }
  return r;
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
  j["count_upstream_cost"] = client.count_upstream_cost;
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
  c.top_logprobs = vm["top-logprobs"].as<int>();
  if (c.top_logprobs < 0 || c.top_logprobs > 20) throw Error("--top-logprobs must be between 0 and 20");
  c.reasoning = reasoning_options_from(vm);
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

// Exit codes of the API commands (docs/icl.md): 0 every request answered; 1 an error stopped the
// command (its message says why and how to go on); 2 bad options; 3 the records are written but
// some requests failed (rerun the command to retry them: answers already received are cached).
constexpr int kExitFailedRequests = 3;

// The last words of a command: what needs the user's attention, and the exit code.
int exit_status(const icl::RunSummary& summary) {
  if (const std::string warning = icl::cut_off_warning(summary); !warning.empty()) log::warn("{}", warning);
  const std::int64_t failed = summary.cost.total.failed_requests;
  if (failed == 0) return 0;
  log::error("{} request(s) failed for good (their predictions carry the error); run the same command again to "
                "retry them: the answers already received come from the cache at no cost",
                failed);
  return kExitFailedRequests;
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
  return exit_status(summary);
}

int run_baseline(int argc, char** argv) { return run_experiment(argc, argv, "baseline"); }
int run_gold_sweep(int argc, char** argv) { return run_experiment(argc, argv, "gold-sweep"); }
int run_weak_sweep(int argc, char** argv) { return run_experiment(argc, argv, "weak-sweep"); }

w2s::cli::Registrar baseline{{"baseline", "zero-shot accuracy of each model on TruthfulQA (API)", 20, run_baseline}};
w2s::cli::Registrar gold_sweep{
    {"gold-sweep", "each model with N gold-labelled few-shot examples (API)", 21, run_gold_sweep}};
w2s::cli::Registrar weak_sweep{
    {"weak-sweep", "strong models with N weak-model-labelled few-shot examples (API)", 22, run_weak_sweep}};

}  // namespace
