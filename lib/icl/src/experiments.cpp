// baseline, gold-sweep and weak-sweep: build every request of a step, send them in one batch
// (identical requests once), and write each evaluation point's record as soon as it is complete.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <unordered_map>

#include "w2s/icl.h"

namespace w2s::icl {
namespace {

namespace fs = std::filesystem;
using results::Kind;

constexpr int kDefaultTopLogprobs = 20;

// ---------------------------------------------------------------------------------------------
// Record layout under results/<run>/
// ---------------------------------------------------------------------------------------------
fs::path run_dir(const Config& c) { return c.results_dir / c.run_name; }
fs::path baseline_file(const Config& c, const std::string& model) {
  return run_dir(c) / "baseline" / (model_slug(model) + ".json");
}
fs::path gold_file(const Config& c, const std::string& model, int shots) {
  return run_dir(c) / "gold-sweep" / model_slug(model) / ("shots-" + std::to_string(shots) + ".json");
}
fs::path weak_labels_file(const Config& c, const std::string& weak) {
  return run_dir(c) / "weak-labels" / (model_slug(weak) + ".json");
}
fs::path weak_sweep_file(const Config& c, const Pair& p, int shots) {
  return run_dir(c) / "weak-sweep" / (model_slug(p.weak) + "__" + model_slug(p.strong)) /
         ("shots-" + std::to_string(shots) + ".json");
}

// ---------------------------------------------------------------------------------------------
// Requests, predictions, metrics, cost
// ---------------------------------------------------------------------------------------------
llm::ChatRequest make_request(const Config& c, const std::string& model, std::vector<llm::Message> messages) {
  llm::ChatRequest r;
  r.model = model;
  r.messages = std::move(messages);
  r.temperature = c.sampling.temperature;
  r.max_tokens = c.sampling.max_tokens;
  r.seed = c.sampling.seed;
  r.top_p = c.sampling.top_p;
  r.provider = c.sampling.routing;
  r.reasoning = c.sampling.reasoning;
  if (c.score == ScoreMode::Logprobs) {
    r.logprobs = true;
    r.top_logprobs = c.sampling.top_logprobs;
  }
  return r;
}

results::Prediction make_prediction(const Config& c, const data::Question& q, const llm::Completion& done) {
  results::Prediction p;
  p.id = q.id;
  p.gold = q.answer;
  if (!done.ok) {
    p.error = done.error.empty() ? std::string("request failed") : done.error;
    return p;
  }
  p.raw_completion = done.content;
  if (done.refusal) {  // its own outcome: neither an answer nor a format error
    p.refusal = done.refusal->text;
    p.refusal_category = llm::names_of(done.refusal->kind).name(done.refusal->kind);
    if (!done.finish_reason.empty()) p.finish_reason = done.finish_reason;
    return p;
  }
  if (!done.reasoning.empty()) p.reasoning = done.reasoning;
  if (done.reasoning_tokens > 0) p.reasoning_tokens = done.reasoning_tokens;
  if (!done.finish_reason.empty()) p.finish_reason = done.finish_reason;
  if (c.score == ScoreMode::Logprobs) {
    p.scored_by = "logprobs";
    p.probabilities = letter_probabilities(done, q.letters);
    // Highest probability; ties go to the earlier letter.
    double best = -1.0;
    for (const auto& letter : q.letters) {
      auto it = p.probabilities.find(letter);
      if (it != p.probabilities.end() && it->second > best) {
        best = it->second;
        p.prediction = letter;
      }
    }
    if (!p.prediction.empty()) p.score = best;
    else p.scored_by = done.logprobs.empty() ? "text-no-logprobs" : "text-no-letter";
  }
  // Text mode, or no option letter among the first token's alternatives.
  if (p.prediction.empty()) p.prediction = parse_answer(c.parser, done.content, q.letters);
  p.correct = p.prediction == p.gold;
  return p;
}

// Expected calibration error over the predictions with a score (10 equal-width bins).
std::optional<double> expected_calibration_error(const std::vector<results::Prediction>& preds) {
  std::vector<double> conf(10, 0.0), acc(10, 0.0), count(10, 0.0);
  double n = 0;
  for (const auto& p : preds) {
    if (!p.score) continue;
    const int bin = std::min(9, static_cast<int>(*p.score * 10.0));
    conf[bin] += *p.score;
    acc[bin] += p.correct ? 1.0 : 0.0;
    count[bin] += 1.0;
    n += 1.0;
  }
  if (n == 0) return std::nullopt;
  double ece = 0.0;
  for (int b = 0; b < 10; ++b)
    if (count[b] > 0) ece += std::abs(acc[b] - conf[b]) / n;
  return ece;
}

// Answers cut off at max_tokens (finish_reason "length"), and among them those where reasoning
// used up max_tokens before any answer text came.
bool cut_off(const results::Prediction& p) { return p.finish_reason == "length"; }
bool cut_off_by_reasoning(const results::Prediction& p) {
  const bool reasoned = p.reasoning || p.reasoning_tokens.value_or(0) > 0;
  const bool no_answer = p.raw_completion.value_or("").find_first_not_of(" \t\r\n") == std::string::npos;
  return cut_off(p) && reasoned && no_answer;
}

results::Metrics compute_metrics(const Config& c, const std::vector<results::Prediction>& preds) {
  results::Metrics m = results::accuracy_metrics(preds);
  m.failed = std::count_if(preds.begin(), preds.end(), [](const auto& p) { return p.error.has_value(); });
  const std::int64_t refused =
      std::count_if(preds.begin(), preds.end(), [](const auto& p) { return p.refusal.has_value(); });
  m.parse_failures = std::count_if(preds.begin(), preds.end(),
                                   [](const auto& p) { return !p.error && !p.refusal && p.prediction.empty(); });
  const std::int64_t counted = c.failed_policy == FailedPolicy::Exclude ? m.n - m.failed : m.n;
  m.accuracy = counted > 0 ? static_cast<double>(m.num_correct) / static_cast<double>(counted) : 0.0;
  const std::int64_t answered = m.n - m.failed - m.parse_failures - refused;
  m.accuracy_answered = std::nullopt;
  if (answered != counted && answered > 0)
    m.accuracy_answered = static_cast<double>(m.num_correct) / static_cast<double>(answered);
  if (c.score == ScoreMode::Logprobs) m.auroc = ovr_auroc(preds);
  m.extra = json::Value::object();
  m.extra["failed_policy"] = names_of(c.failed_policy).name(c.failed_policy);
  m.extra["accuracy_denominator"] = counted;
  m.extra["truncated"] = std::count_if(preds.begin(), preds.end(), cut_off);
  m.extra["refused"] = refused;
  m.extra["cut_off_by_reasoning"] = std::count_if(preds.begin(), preds.end(), cut_off_by_reasoning);
  if (auto ece = expected_calibration_error(preds)) m.extra["ece"] = *ece;
  if (c.score == ScoreMode::Logprobs) {
    const auto scored_by = [&](const char* how) {
      return std::count_if(preds.begin(), preds.end(), [how](const auto& p) { return p.scored_by == how; });
    };
    m.extra["logprobs_missing"] = scored_by("text-no-logprobs");
    m.extra["no_letter_in_logprobs"] = scored_by("text-no-letter");
  }
  return m;
}

// A point most of whose requests failed for good (endpoint down, key rejected, budget reached)
// measures the failures, not the model: its record says so, and analysis leaves it out.
std::optional<std::string> failure_of(const std::vector<results::Prediction>& preds, const results::Metrics& m) {
  if (m.failed == 0 || 2 * m.failed <= m.n) return std::nullopt;
  const auto first = std::find_if(preds.begin(), preds.end(), [](const auto& p) { return p.error.has_value(); });
  return fmt::format("{} of {} requests failed for good (first: {})", m.failed, m.n, *first->error);
}

// A replay from the response cache adds what it cost when first paid (replayed_usd), once.
void add_cost(results::ModelCost& into, const llm::Completion& done, bool billed_here) {
  if (!billed_here || done.cache_hit) {
    ++into.cache_hits;
    if (billed_here) into.replayed_usd += done.replayed_cost_usd;
    return;
  }
  into.upstream_usd += done.upstream_cost_usd;
  into.possibly_billed_usd += done.possibly_billed_usd;
  into.reconciled_usd += done.reconciled_usd;
  if (!done.ok) ++into.failed_requests;
  if (done.attempts > 0 || done.ok) ++into.requests;
  into.usd += done.cost_usd;
  into.prompt_tokens += done.prompt_tokens;
  into.completion_tokens += done.completion_tokens;
}

// "usage" / "pricing" when every billed completion agrees, "mixed" when they differ.
void merge_cost_source(std::string& source, const llm::Completion& done) {
  if (done.cache_hit || done.cost_source.empty() || done.cost_source == "cache" || done.cost_source == "none") return;
  if (source == "none") source = done.cost_source;
  else if (source != done.cost_source) source = "mixed";
}

// The shots' ids as the records give them: TruthfulQA's question ids are numbers, a registry
// dataset's example ids are text.
json::Value few_shot_json(const Dataset& ds, const std::vector<std::string>& labels, int n) {
  json::Value ids = json::Value::array(), used = json::Value::array();
  for (int i = 0; i < n; ++i) {
    const data::Question& q = ds.shot_pool[i];
    ids.push_back(ds.kind == DatasetKind::TruthfulQa ? json::Value(q.question_id) : json::Value(q.id));
    used.push_back(labels[i]);
  }
  return json::Object{{"ids", ids}, {"labels", used}};
}

// ---------------------------------------------------------------------------------------------
// A step: points that share one batch of requests.
// ---------------------------------------------------------------------------------------------
struct Point {
  Kind kind = Kind::Baseline;
  std::string model;
  std::string label_model;
  bool label_model_answers = true;  // false when the labels come from a fine-tuning floor, not the provider
  results::LabelSource label_source;
  int shots = 0;
  std::vector<results::ModelRole> roles;
  std::string split;                          // "test" or "train"
  std::vector<const data::Question*> items;   // what is evaluated, in order
  std::vector<std::size_t> requests;          // unique request per item
  std::vector<bool> billed_here;              // first use of that request in the step
  std::size_t pending = 0;
  fs::path file;
  json::Value extra = json::Value::object();
  bool written = false;
};

class Step {
 public:
  Step(const Config& c, const Dataset& ds, std::string experiment)
      : config_(c), dataset_(ds), experiment_(std::move(experiment)),
        config_json_(config_to_json(c, experiment_)) {}

  // `messages_for(item)` builds the item's messages; returns the point's index.
  std::size_t add_point(Point p, const std::string& request_model,
                        const std::function<std::vector<llm::Message>(const data::Question&)>& messages_for) {
    const std::size_t index = points_.size();
    for (const data::Question* q : p.items) {
      llm::ChatRequest req = make_request(config_, request_model, messages_for(*q));
      auto [it, inserted] = unique_.try_emplace(llm::cache_key("", req), requests_.size());
      if (inserted) {
        requests_.push_back(std::move(req));
        users_.emplace_back();
      }
      p.requests.push_back(it->second);
      p.billed_here.push_back(inserted);
      users_[it->second].push_back(index);
    }
    p.pending = p.items.size();
    points_.push_back(std::move(p));
    return index;
  }

  // Sends the batch; writes each point's record when its last request finishes. Returns the
  // records in point order.
  std::vector<results::ResultRecord> run(llm::Provider& provider, RunSummary& summary) {
    std::vector<results::ResultRecord> records(points_.size());
    if (points_.empty()) return records;
    std::size_t uses = 0;
    for (const auto& p : points_) uses += p.items.size();
    log::info("{}: {} evaluation point(s), {} requests ({} unique)", experiment_, points_.size(), uses,
              requests_.size());
    for (Point& p : points_) {  // local models: their files, checksums and chat template
      if (auto id = provider.model_identity(p.model)) p.extra["model_identity"] = std::move(*id);
      if (p.label_model.empty() || !p.label_model_answers) continue;
      if (auto id = provider.model_identity(p.label_model)) p.extra["label_model_identity"] = std::move(*id);
    }
    started_at_ = now_iso8601();
    started_ = monotonic_seconds();
    done_.assign(requests_.size(), std::nullopt);
    auto finish_ready = [&](std::size_t request) {
      for (std::size_t pi : users_[request]) {
        Point& p = points_[pi];
        if (--p.pending == 0 && !p.written) records[pi] = finish(p);
      }
    };
    std::vector<llm::Completion> all = provider.run_batch(requests_, [&](std::size_t i, const llm::Completion& c) {
      if (i >= done_.size() || done_[i]) return;
      done_[i] = c;
      finish_ready(i);
    });
    if (all.size() != requests_.size())
      throw Error("provider returned " + std::to_string(all.size()) + " completions for " +
                  std::to_string(requests_.size()) + " requests");
    for (std::size_t i = 0; i < all.size(); ++i)
      if (!done_[i]) {
        done_[i] = std::move(all[i]);
        finish_ready(i);
      }
    for (std::size_t pi = 0; pi < points_.size(); ++pi) summary.points.push_back(summary_of(points_[pi], records[pi]));
    accumulate_run_cost(summary.cost);
    return records;
  }

 private:
  void accumulate_run_cost(results::Cost& cost) const {
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      const llm::Completion& c = *done_[i];
      add_cost(cost.by_model[requests_[i].model], c, true);
      add_cost(cost.total, c, true);
      merge_cost_source(cost.source, c);
    }
  }

  // The point's record, written (unless a dry run) as soon as its last request has finished.
  results::ResultRecord finish(Point& p) {
    results::ResultRecord r = record_header(p);
    add_predictions(p, r);
    r.metrics = compute_metrics(config_, r.predictions);
    r.failure = failure_of(r.predictions, r.metrics);
    r.timing.started_at = started_at_;
    r.timing.finished_at = now_iso8601();
    r.timing.wall_seconds = monotonic_seconds() - started_;
    p.written = true;
    if (config_.client.dry_run) return r;
    results::write_record(p.file, r);
    if (r.failure)
      log::warn("{} {}{} shots={}: the evaluation point failed ({}); its record says so and analysis leaves it out",
                results::kind_name(p.kind), p.label_model.empty() ? "" : p.label_model + " -> ", p.model, p.shots,
                *r.failure);
    log::info("{} {}{} shots={}: accuracy {:.3f}, {} parse failure(s), {} failed -> {}", results::kind_name(p.kind),
              p.label_model.empty() ? "" : p.label_model + " -> ", p.model, p.shots, r.metrics.accuracy,
              r.metrics.parse_failures, r.metrics.failed, p.file.string());
    return r;
  }

  results::ResultRecord record_header(const Point& p) const {
    results::ResultRecord r;
    r.kind = p.kind;
    r.run = config_.run_name;
    r.config = config_json_;
    r.dataset = dataset_identity(dataset_, p.split);
    r.models = p.roles;
    r.evaluated_model = p.model;
    r.label_source = p.label_source;
    r.shots = p.shots;
    r.extra = p.extra;
    r.extra["system_prompt"] = kSystemPrompt;
    if (!dataset_.class_of_letter.is_null()) r.extra["class_of_letter"] = dataset_.class_of_letter;
    return r;
  }

  // One prediction per item, with the cost of the requests first used by this point, and the
  // providers and generation ids that answered.
  void add_predictions(const Point& p, results::ResultRecord& r) const {
    json::Value generation_ids = json::Value::array();
    json::Value providers = json::Value::object();
    r.cost.source = "none";
    for (std::size_t k = 0; k < p.items.size(); ++k) {
      const llm::Completion& done = *done_[p.requests[k]];
      r.predictions.push_back(make_prediction(config_, *p.items[k], done));
      generation_ids.push_back(done.generation_id);
      if (done.ok) {
        const std::string name = done.provider.empty() ? "unknown" : done.provider;
        providers[name] = providers.get_int(name) + 1;
      }
      add_cost(r.cost.by_model[p.model], done, p.billed_here[k]);
      add_cost(r.cost.total, done, p.billed_here[k]);
      if (p.billed_here[k]) merge_cost_source(r.cost.source, done);
    }
    r.extra["providers"] = providers;
    r.extra["generation_ids"] = generation_ids;
    record_top_logprobs_sent(p, r);
  }

  // A server that capped top_logprobs was sent fewer (llm::Completion::top_logprobs_sent): the
  // record's config says what was sent, and what was asked for.
  void record_top_logprobs_sent(const Point& p, results::ResultRecord& r) const {
    std::optional<int> sent;
    for (std::size_t request : p.requests) {
      const std::optional<int>& lowered = done_[request]->top_logprobs_sent;
      if (lowered) sent = std::min(sent.value_or(*lowered), *lowered);
    }
    if (!sent) return;
    json::Value& sampling = r.config["sampling"];
    sampling["top_logprobs_requested"] = config_.sampling.top_logprobs.value_or(kDefaultTopLogprobs);
    sampling["top_logprobs"] = *sent;
  }

  static PointSummary summary_of(const Point& p, const results::ResultRecord& r) {
    PointSummary s;
    s.kind = p.kind;
    s.model = p.model;
    s.label_model = p.label_model;
    s.shots = p.shots;
    s.metrics = r.metrics;
    s.failed = r.failure.has_value();
    auto it = r.cost.by_model.find(p.model);
    if (it != r.cost.by_model.end()) s.cost = it->second;
    s.file = p.file;
    return s;
  }

  const Config& config_;
  const Dataset& dataset_;
  std::string experiment_;
  json::Value config_json_;
  std::vector<Point> points_;
  std::vector<llm::ChatRequest> requests_;
  std::vector<std::vector<std::size_t>> users_;
  std::unordered_map<std::string, std::size_t> unique_;
  std::vector<std::optional<llm::Completion>> done_;
  std::string started_at_;
  double started_ = 0.0;
};

std::vector<const data::Question*> pointers(const std::vector<data::Question>& qs, std::size_t n) {
  std::vector<const data::Question*> out;
  for (std::size_t i = 0; i < n && i < qs.size(); ++i) out.push_back(&qs[i]);
  return out;
}

std::vector<Shot> shots_of(const std::vector<data::Question>& train, const std::vector<std::string>& labels, int n) {
  std::vector<Shot> shots;
  for (int i = 0; i < n; ++i) shots.push_back({train[i].text, labels[i]});
  return shots;
}

// A run name holds one test set: the in-context records already under results/<run>/ must be on
// the same data (variant, sources, seed) and the same test questions with the same gold answers,
// or a rerun with another --test-size (or data file, variant, seed) would overwrite some of them
// and leave the others, which `w2s analyze` could then not compare. Refused before any request, as
// `w2s train` refuses.
void refuse_another_test_set(const Config& c, const Dataset& ds) {
  const fs::path dir = run_dir(c);
  if (!fs::is_directory(dir)) return;
  std::vector<std::string> now_sources;
  for (const auto& s : ds.sources) now_sources.push_back(s.sha256);
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    std::optional<results::ResultRecord> r;
    try {
      r = results::read_record(entry.path());
    } catch (const Error&) {
      continue;  // not a result record (or unreadable): nothing of a test set to compare
    }
    if (r->kind != Kind::Baseline && r->kind != Kind::GoldSweep && r->kind != Kind::WeakSweep) continue;
    std::vector<std::string> differences;
    std::vector<std::string> then_sources;
    for (const auto& s : r->dataset.sources) then_sources.push_back(s.sha256);
    if (r->dataset.name != ds.name) differences.push_back(fmt::format("dataset {}, now {}", r->dataset.name, ds.name));
    if (r->dataset.variant != ds.variant) differences.push_back(fmt::format("variant {}, now {}", r->dataset.variant, ds.variant));
    if (then_sources != now_sources) differences.push_back("other data files");
    if (r->dataset.seed != ds.seed) differences.push_back(fmt::format("data seed {}, now {}", r->dataset.seed, ds.seed));
    if (r->predictions.size() != ds.test.size()) {
      differences.push_back(fmt::format("{} test questions (--test-size), now {}", r->predictions.size(), ds.test.size()));
    } else {
      for (std::size_t i = 0; i < ds.test.size(); ++i)
        if (r->predictions[i].id != ds.test[i].id || r->predictions[i].gold != ds.test[i].answer) {
          differences.push_back("other test questions");
          break;
        }
    }
    if (!differences.empty())
      throw Error(fmt::format("run '{}' already holds records of another test set ({}: {}); one run name keeps one "
                              "test set, so that its records compare and none is overwritten. Choose another "
                              "--run-name, or remove {} to start this run afresh",
                              c.run_name, entry.path().string(), fmt::join(differences, ", "), dir.string()));
  }
}

// The configuration as run: the command named, shots sorted and each once, the default
// top_logprobs of logprob scoring filled in.
// The config of one experiment, resolved (shots sorted and unique, the default top_logprobs for
// logprob scoring) and checked against the dataset before anything is sent.
Config checked_config(const Config& config, std::string experiment, const Dataset& ds) {
  Config c = config;
  c.experiment = std::move(experiment);
  std::sort(c.shots.begin(), c.shots.end());
  c.shots.erase(std::unique(c.shots.begin(), c.shots.end()), c.shots.end());
  if (c.score == ScoreMode::Logprobs && !c.sampling.top_logprobs) c.sampling.top_logprobs = kDefaultTopLogprobs;

  if (ds.test.empty()) throw Error("the test split is empty");
  for (const auto& q : ds.shot_pool)
    if (q.letters.empty()) throw Error("train question " + q.id + " has no options");
  if (c.sampling.max_tokens < 1) throw Error("--max-tokens must be at least 1");
  if (c.sampling.top_logprobs && (*c.sampling.top_logprobs < 0 || *c.sampling.top_logprobs > 20))
    throw Error("--top-logprobs must be between 0 and 20");
  llm::validate(c.sampling.reasoning);
  if (c.experiment == "weak-sweep") {
    if (c.pairs.empty()) throw Error("no model pairs given");
    if (c.weak_labels_from && c.label_pool == LabelPool::Full)
      throw Error("--label-pool full labels with the weak model; --weak-labels-from asks no weak model: give one");
  } else if (c.models.empty()) {
    throw Error("no models given");
  }
  if (c.experiment != "baseline") {
    if (c.shots.empty()) throw Error("no shot counts given");
    for (int n : c.shots)
      if (n < 0 || static_cast<std::size_t>(n) > ds.shot_pool.size())
        throw Error("shots " + std::to_string(n) + " is more than the " + std::to_string(ds.shot_pool.size()) +
                    (ds.kind == DatasetKind::TruthfulQa ? " training questions"
                                                        : " examples of the shot pool (the strong half of --n-train)"));
  }
  refuse_another_test_set(c, ds);
  return c;
}

std::vector<std::string> gold_labels(const std::vector<data::Question>& train, int n) {
  std::vector<std::string> labels;
  for (int i = 0; i < n; ++i) labels.push_back(train[i].answer);
  return labels;
}

// Everything that decides a weak model's labels: reuse a saved record only when this matches.
std::string weak_label_fingerprint(const Config& c, const Dataset& ds, const std::string& weak) {
  json::Value j = json::Value::object();
  j["model"] = weak;
  j["system_prompt"] = kSystemPrompt;
  j["variant"] = ds.variant;
  json::Value sources = json::Value::array();
  for (const auto& s : ds.sources) sources.push_back(s.sha256);
  j["sources"] = sources;
  j["seed"] = static_cast<long long>(ds.seed);
  j["test_size"] = ds.test.size();
  if (ds.kind == DatasetKind::Registry) {  // TruthfulQA's fingerprints stay those of earlier runs
    j["dataset"] = ds.name;
    const RegistryPrompt& prompt = registry_prompt(ds.name);
    j["prompt"] = json::Object{{"question", prompt.question}, {"options", json::Array{prompt.options[0], prompt.options[1]}}};
  }
  json::Value cfg = config_to_json(c, "weak-labels");
  j["sampling"] = cfg.at("sampling");
  j["parser"] = names_of(c.parser).name(c.parser);
  j["score"] = names_of(c.score).name(c.score);
  return sha256_hex(json::dump_canonical(j));
}

// The saved labelling record cut to `items`, when it exists, matches, begins with them and has no
// failed request among them.
std::optional<results::ResultRecord> reusable_weak_labels(const fs::path& file, const std::string& fingerprint,
                                                          const std::vector<const data::Question*>& items) {
  if (!fs::exists(file)) return std::nullopt;
  results::ResultRecord r;
  try {
    r = results::read_record(file);
  } catch (const Error& e) {
    log::warn("ignoring unreadable weak labels ({}); labelling again", e.what());
    return std::nullopt;
  }
  if (r.kind != Kind::WeakLabels || !r.extra.is_object() || r.extra.get_string("fingerprint") != fingerprint ||
      r.predictions.size() < items.size())
    return std::nullopt;
  r.predictions.resize(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& p = r.predictions[i];
    if (p.error || p.id != items[i]->id) return std::nullopt;
  }
  return r;
}

}  // namespace

RunSummary run_baseline(const Config& config, const Dataset& ds, llm::Provider& provider) {
  const Config c = checked_config(config, "baseline", ds);
  RunSummary summary;
  Step step(c, ds, "baseline");
  for (const auto& model : c.models) {
    Point p;
    p.kind = Kind::Baseline;
    p.model = model;
    p.roles = {{model, "subject"}};
    p.split = "test";
    p.items = pointers(ds.test, ds.test.size());
    p.file = baseline_file(c, model);
    step.add_point(std::move(p), model, [](const data::Question& q) { return build_messages({}, q.text); });
  }
  step.run(provider, summary);
  return summary;
}

RunSummary run_gold_sweep(const Config& config, const Dataset& ds, llm::Provider& provider) {
  const Config c = checked_config(config, "gold-sweep", ds);
  RunSummary summary;
  Step step(c, ds, "gold-sweep");
  const int max_shots = c.shots.back();
  const std::vector<std::string> labels = gold_labels(ds.shot_pool, max_shots);
  for (const auto& model : c.models)
    for (int n : c.shots) {
      Point p;
      p.kind = Kind::GoldSweep;
      p.model = model;
      p.label_source = {"gold", ""};
      p.shots = n;
      p.roles = {{model, "subject"}};
      p.split = "test";
      p.items = pointers(ds.test, ds.test.size());
      p.file = gold_file(c, model, n);
      p.extra["few_shot"] = few_shot_json(ds, labels, n);
      const std::vector<Shot> shots = shots_of(ds.shot_pool, labels, n);
      step.add_point(std::move(p), model, [&](const data::Question& q) { return build_messages(shots, q.text); });
    }
  step.run(provider, summary);
  return summary;
}

namespace {

// A failed labelling request has no label: a prompt built from it would show the strong model an
// empty answer that the weak model never gave.
void stop_on_failed_labels(const Config& c, const std::string& weak, const results::ResultRecord& record) {
  const auto failed = std::count_if(record.predictions.begin(), record.predictions.end(),
                                    [](const results::Prediction& p) { return p.error.has_value(); });
  if (failed == 0) return;
  const auto first = std::find_if(record.predictions.begin(), record.predictions.end(),
                                  [](const results::Prediction& p) { return p.error.has_value(); });
  throw Error(fmt::format(
      "weak-sweep stopped: {} of the {} labelling requests of the weak model {} failed (first: {}); no strong-model "
      "request was built from these labels. The labels are in {}. Fix the cause and run the same command again: "
      "the answers already received come from the cache at no cost",
      failed, record.predictions.size(), weak, *first->error, weak_labels_file(c, weak).string()));
}

// A label is unusable when it has no option letter (the student would see an empty answer turn);
// its cause is told apart: an answer cut off at max_tokens, or one that named no letter. A cut-off
// answer whose letter was still read (the text's first line, or the first token's probabilities
// under --score logprobs) is a usable label. Above this share of a weak model's labels, the sweep
// stops before the first student request (docs/icl.md).
constexpr double kMaxUnusableLabelShare = 0.5;

void stop_on_unusable_labels(const Config& c, const std::string& weak, const results::ResultRecord& record) {
  std::int64_t cut = 0, unparsed = 0;
  for (const auto& p : record.predictions) {
    if (p.error || !p.prediction.empty()) continue;
    if (cut_off(p)) ++cut;
    else ++unparsed;
  }
  const auto n = static_cast<std::int64_t>(record.predictions.size());
  const std::int64_t unusable = cut + unparsed;
  if (n == 0 || static_cast<double>(unusable) <= kMaxUnusableLabelShare * static_cast<double>(n)) return;
  std::vector<std::string> causes, fixes;
  if (cut > 0) {
    causes.push_back(fmt::format("{} cut off at --max-tokens {}", cut, c.sampling.max_tokens));
    fixes.push_back(fmt::format("raise --max-tokens (now {})", c.sampling.max_tokens));
    if (std::any_of(record.predictions.begin(), record.predictions.end(), cut_off_by_reasoning))
      fixes.push_back("for a reasoning model, --reasoning-effort low or --reasoning-max-tokens N below --max-tokens");
  }
  if (unparsed > 0) {
    causes.push_back(fmt::format("{} without an option letter", unparsed));
    if (c.score != ScoreMode::Logprobs)
      fixes.push_back("use --score logprobs (the letter from the first token's probabilities)");
    fixes.push_back("or choose a weak model that answers with a letter");
  }
  throw Error(fmt::format(
      "weak-sweep stopped before the first student request: {} of the {} labels of the weak model {} are unusable "
      "({}), more than the {:.0f}% a sweep accepts; a student would be shown empty answers. Fix: {}. The labels are "
      "in {}",
      unusable, n, weak, fmt::join(causes, ", "), kMaxUnusableLabelShare * 100.0, fmt::join(fixes, "; "),
      weak_labels_file(c, weak).string()));
}

// What a weak model labels: train[0:max shots], or with --label-pool full the whole shot pool and
// the extra pool (val), in that order (the shots first, so the record serves every sweep).
std::vector<const data::Question*> label_items(const Config& c, const Dataset& ds) {
  if (c.label_pool == LabelPool::Shots) return pointers(ds.shot_pool, static_cast<std::size_t>(c.shots.back()));
  std::vector<const data::Question*> items = pointers(ds.shot_pool, ds.shot_pool.size());
  for (const auto* q : pointers(ds.extra_pool, ds.extra_pool.size())) items.push_back(q);
  return items;
}

// Weak-sweep step 1: each weak model labels its items zero-shot, once, unless saved labels fit;
// or the labels come from a fine-tuning floor. Returns the labels per weak model (the first max
// shots are the shots' labels) and what the sweep's records say about where they came from.
struct WeakLabels {
  std::map<std::string, std::vector<std::string>> labels;
  std::map<std::string, json::Value> provenance;  // weak model -> the records' extra fields about its labels
};

std::vector<std::string> weak_models_of(const Config& c) {
  std::vector<std::string> weak_models;
  for (const auto& p : c.pairs)
    if (std::find(weak_models.begin(), weak_models.end(), p.weak) == weak_models.end()) weak_models.push_back(p.weak);
  return weak_models;
}

// --weak-labels-from: the floor's labels for the shots; every pair's weak model must be the floor's.
WeakLabels floor_weak_labels(const Config& c, const Dataset& ds) {
  const FloorLabels floor = read_floor_labels(*c.weak_labels_from, ds, static_cast<std::size_t>(c.shots.back()));
  for (const auto& weak : weak_models_of(c))
    if (weak != floor.weak_model)
      throw Error(fmt::format("--weak-labels-from: the floor's weak model is {}, but --pairs names the weak model {}; "
                              "write the pairs as {}:STRONG (the records name the model whose labels they show)",
                              floor.weak_model, weak, floor.weak_model));
  log::info("weak labels of {}: the fine-tuning floor's predictions in {}", floor.weak_model, floor.floor_dir.string());
  WeakLabels out;
  out.labels[floor.weak_model] = floor.labels;
  out.provenance[floor.weak_model] = json::Object{
      {"weak_labels_from",
       json::Object{{"path", c.weak_labels_from->string()}, {"stage", "floor"}, {"stage_dir", floor.floor_dir.string()},
                    {"label_rule", "B when the floor's P(1) on the strong half >= 0.5, else A"}}}};
  return out;
}

WeakLabels label_with_weak_models(const Config& c, const Dataset& ds, llm::Provider& provider, RunSummary& summary) {
  if (c.weak_labels_from) return floor_weak_labels(c, ds);
  const std::vector<const data::Question*> items = label_items(c, ds);
  WeakLabels out;
  Step labelling(c, ds, "weak-labels");
  std::vector<std::string> labelled;  // weak models labelled in this run, in point order
  for (const auto& weak : weak_models_of(c)) {
    const std::string fingerprint = weak_label_fingerprint(c, ds, weak);
    out.provenance[weak] = json::Object{
        {"weak_labels_file", fs::relative(weak_labels_file(c, weak), run_dir(c)).string()},
        {"weak_labels_fingerprint", fingerprint}};
    if (items.empty()) {
      out.labels[weak] = {};
      continue;
    }
    if (auto saved = reusable_weak_labels(weak_labels_file(c, weak), fingerprint, items)) {
      log::info("weak labels of {}: reusing {}", weak, weak_labels_file(c, weak).string());
      if (!c.client.dry_run) stop_on_unusable_labels(c, weak, *saved);
      for (const auto& pred : saved->predictions) out.labels[weak].push_back(pred.prediction);
      continue;
    }
    Point p;
    p.kind = Kind::WeakLabels;
    p.model = weak;
    p.roles = {{weak, "weak"}};
    p.split = "train";
    p.items = items;
    p.file = weak_labels_file(c, weak);
    p.extra["fingerprint"] = fingerprint;
    p.extra["label_pool"] = names_of(c.label_pool).name(c.label_pool);
    p.extra["label_rule"] =
        "label = the parsed answer (prediction); \"\" when unparsed or failed: an empty assistant turn";
    labelling.add_point(std::move(p), weak, [](const data::Question& q) { return build_messages({}, q.text); });
    labelled.push_back(weak);
  }
  std::vector<results::ResultRecord> label_records = labelling.run(provider, summary);
  for (std::size_t i = 0; i < labelled.size(); ++i) {
    if (!c.client.dry_run) {
      stop_on_failed_labels(c, labelled[i], label_records[i]);
      stop_on_unusable_labels(c, labelled[i], label_records[i]);
    }
    std::vector<std::string>& l = out.labels[labelled[i]];
    for (const auto& pred : label_records[i].predictions) l.push_back(pred.prediction);
  }
  return out;
}

// Weak-sweep step 2: every pair and shot count, students answering the test split with the weak
// model's labels as their shots.
void sweep_pairs(const Config& c, const Dataset& ds, const WeakLabels& weak, llm::Provider& provider,
                 RunSummary& summary) {
  Step sweep(c, ds, "weak-sweep");
  for (const auto& pair : c.pairs) {
    const std::vector<std::string>& weak_labels = weak.labels.at(pair.weak);
    for (int n : c.shots) {
      Point p;
      p.kind = Kind::WeakSweep;
      p.model = pair.strong;
      p.label_model = pair.weak;
      p.label_source = {"weak", pair.weak};
      p.label_model_answers = !c.weak_labels_from;
      p.shots = n;
      p.roles = {{pair.weak, "weak"}, {pair.strong, "student"}};
      p.split = "test";
      p.items = pointers(ds.test, ds.test.size());
      p.file = weak_sweep_file(c, pair, n);
      p.extra["few_shot"] = few_shot_json(ds, weak_labels, n);
      for (const auto& [key, value] : weak.provenance.at(pair.weak).as_object()) p.extra[key] = value;
      const std::vector<Shot> shots = shots_of(ds.shot_pool, weak_labels, n);
      sweep.add_point(std::move(p), pair.strong,
                      [&](const data::Question& q) { return build_messages(shots, q.text); });
    }
  }
  sweep.run(provider, summary);
}

}  // namespace

RunSummary run_weak_sweep(const Config& config, const Dataset& ds, llm::Provider& provider) {
  const Config c = checked_config(config, "weak-sweep", ds);
  RunSummary summary;
  const WeakLabels weak = label_with_weak_models(c, ds, provider, summary);
  sweep_pairs(c, ds, weak, provider, summary);
  return summary;
}

}  // namespace w2s::icl
