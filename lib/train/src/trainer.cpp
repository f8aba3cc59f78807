// The training loop of one stage, top to bottom:
//
//   1. tokenize every text once (truncating to max_length, counting truncations)
//   2. lay out the example stream: epoch after epoch, each a seeded shuffle of the train set;
//      optimizer step k consumes examples [k·batch, (k+1)·batch) of it
//   3. AdamW (β 0.9/0.95, eps 1e-8, weight decay 0.1 except norms and biases), learning rate
//      = linear warmup then cosine (or constant) — the Hugging Face schedule, lr 0 at step 0
//   4. per step: minibatches forward + loss/accumulation backward, clip the grad norm, step
//   5. every eval_every steps (and at the end): evaluate val and test, log them, keep the best
//      weights by the val metric against the labels this stage trains on
//   6. every save_every steps: a resume checkpoint (weights, optimizer, step, logconf buffer)
//   7. at the end: restore the best weights, evaluate test and predict the requested sets
//
// A killed stage restarts at its last checkpoint: the stream is recomputed from the seed, so the
// resumed run sees the same batches it would have seen.
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "losses.h"
#include "trainer.h"

namespace w2s::train {

namespace fs = std::filesystem;

namespace {

// ---- 1. tokens -------------------------------------------------------------------------------
struct Tokenized {
  std::vector<std::vector<std::int64_t>> ids;
  std::int64_t truncated = 0;
};

Tokenized tokenize(const model::Tokenizer& tokenizer, const std::vector<LabelledExample>& examples,
                   std::int64_t max_length) {
  Tokenized out;
  out.ids.reserve(examples.size());
  for (const auto& e : examples) {
    auto ids = tokenizer.encode(e.txt);
    if (max_length > 0 && static_cast<std::int64_t>(ids.size()) > max_length) {
      ids.resize(static_cast<std::size_t>(max_length));
      ++out.truncated;
    }
    if (ids.empty()) throw Error("example " + e.id + " has no tokens");
    out.ids.push_back(std::move(ids));
  }
  return out;
}

std::int64_t pad_id(const model::Tokenizer& tokenizer) {
  if (auto p = tokenizer.pad_id()) return *p;
  if (auto e = tokenizer.eos_id()) return *e;
  return 0;  // never attended to: the attention mask marks it
}

// Right-padded [B, T] ids and mask of the given rows.
std::pair<torch::Tensor, torch::Tensor> pad_batch(const Tokenized& tokens, const std::vector<std::size_t>& rows,
                                                  std::int64_t pad, torch::Device device) {
  std::size_t longest = 0;
  for (auto r : rows) longest = std::max(longest, tokens.ids[r].size());
  auto ids = torch::full({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(longest)}, pad,
                         torch::kLong);
  auto mask = torch::zeros_like(ids);
  auto ids_a = ids.accessor<std::int64_t, 2>();
  auto mask_a = mask.accessor<std::int64_t, 2>();
  for (std::size_t b = 0; b < rows.size(); ++b) {
    const auto& row = tokens.ids[rows[b]];
    for (std::size_t t = 0; t < row.size(); ++t) {
      ids_a[b][t] = row[t];
      mask_a[b][t] = 1;
    }
  }
  return {ids.to(device), mask.to(device)};
}

torch::Tensor labels_of(const std::vector<LabelledExample>& examples, const std::vector<std::size_t>& rows,
                        bool gold) {
  std::vector<float> y;
  y.reserve(rows.size());
  for (auto r : rows) y.push_back(static_cast<float>(gold ? examples[r].gold : examples[r].label));
  return torch::tensor(y, torch::kFloat);
}

// ---- 2. the example stream -------------------------------------------------------------------
// Example indices in training order for the whole run (epochs concatenated).
std::vector<std::size_t> example_stream(std::size_t n, std::int64_t total_examples, std::int64_t seed) {
  PyRandom rng(seed);
  std::vector<std::size_t> stream;
  stream.reserve(static_cast<std::size_t>(total_examples));
  while (static_cast<std::int64_t>(stream.size()) < total_examples) {
    std::vector<std::size_t> epoch(n);
    std::iota(epoch.begin(), epoch.end(), 0);
    rng.shuffle(epoch);
    stream.insert(stream.end(), epoch.begin(), epoch.end());
  }
  stream.resize(static_cast<std::size_t>(total_examples));
  return stream;
}

// ---- 3. optimizer and schedule ---------------------------------------------------------------
bool decays(const std::string& name) {
  // Hugging Face Trainer: no weight decay on biases and normalisation weights.
  const bool bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
  return !bias && name.find("norm") == std::string::npos && name.find("ln_") == std::string::npos;
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(model::SequenceClassifier& net, const TrainerOptions& o) {
  std::vector<torch::Tensor> with_decay, without_decay;
  for (auto& [name, p] : net->named_trainable_parameters()) (decays(name) ? with_decay : without_decay).push_back(p);
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.lr)
                                                            .betas({o.adam_betas[0], o.adam_betas[1]})
                                                            .eps(o.adam_eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(with_decay, options(o.weight_decay));
  if (!without_decay.empty()) groups.emplace_back(without_decay, options(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(o.lr));
}


void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

// ---- 5. evaluation ---------------------------------------------------------------------------
Evaluation evaluate(Classifier& c, const Tokenized& tokens, const std::vector<LabelledExample>& examples,
                    StageLoss& loss, std::int64_t step, const TrainerOptions& o, bool against_gold) {
  torch::NoGradGuard no_grad;
  const double started = monotonic_seconds();
  Evaluation ev;
  const std::int64_t pad = pad_id(c.tokenizer);
  double loss_sum = 0, ce_sum = 0;
  const std::size_t batch = static_cast<std::size_t>(std::max<std::int64_t>(1, o.minibatch_size));
  for (std::size_t start = 0; start < examples.size(); start += batch) {
    std::vector<std::size_t> rows(std::min(batch, examples.size() - start));
    std::iota(rows.begin(), rows.end(), start);
    auto [ids, mask] = pad_batch(tokens, rows, pad, c.placement.device);
    const auto logits = c.net->forward(ids, mask).logits.to(torch::kFloat);
    const auto labels = labels_of(examples, rows, against_gold).to(logits.device());
    const auto n = static_cast<double>(rows.size());
    loss_sum += loss(logits, labels, step, /*training=*/false).item<double>() * n;
    ce_sum += xent_loss(logits, labels_of(examples, rows, true).to(logits.device())).item<double>() * n;
    const auto p1 = torch::softmax(logits, 1).select(1, 1).to(torch::kDouble).cpu().contiguous();
    const auto z1 = logits.select(1, 1).to(torch::kDouble).cpu().contiguous();
    ev.p1.insert(ev.p1.end(), p1.data_ptr<double>(), p1.data_ptr<double>() + p1.numel());
    ev.z1.insert(ev.z1.end(), z1.data_ptr<double>(), z1.data_ptr<double>() + z1.numel());
    ++ev.batches;
  }
  const auto n = static_cast<double>(examples.size());
  ev.loss = loss_sum / n;
  ev.ce_gold = ce_sum / n;
  std::vector<double> labels;
  for (const auto& e : examples) labels.push_back(against_gold ? e.gold : e.label);
  ev.accuracy = accuracy(ev.p1, labels);
  try {
    // The reference ranks by the raw class-1 logit; the tie-aware default ranks by P(1).
    ev.auroc = auroc(o.auroc_mode == AurocMode::Reference ? ev.z1 : ev.p1, labels, o.auroc_mode);
  } catch (const Error&) {
    // One class only (e.g. a weak model that predicts one class); non-finite scores, which AUROC
    // refuses too, stop the stage in stop_if_outputs_diverged.
    ev.auroc = std::nan("");
  }
  ev.runtime_s = monotonic_seconds() - started;
  return ev;
}

// Outputs that are not numbers (weights that overflowed at the last step while its loss was still
// finite) are a divergence too: no metric or checkpoint choice means anything from here on.
void stop_if_outputs_diverged(const Evaluation& ev, const std::vector<LabelledExample>& examples, std::int64_t step,
                              double lr) {
  for (std::size_t i = 0; i < ev.p1.size(); ++i)
    if (!std::isfinite(ev.p1[i]) || !std::isfinite(ev.z1[i]))
      throw StageDiverged(fmt::format("training diverged by optimizer step {}: the model's output for example {} is "
                                      "{} (class-1 logit {}; learning rate {:g})",
                                      step, examples[i].id, ev.p1[i], ev.z1[i], lr),
                          step, ev.loss, std::nan(""), lr);
}

double selection_metric(const Evaluation& val, const std::string& metric) {
  if (metric == "val_auroc") return val.auroc;
  if (metric == "val_accuracy") return val.accuracy;
  return val.loss;  // val_loss
}

bool improves(double candidate, std::optional<double> best, const std::string& metric) {
  if (std::isnan(candidate)) return !best.has_value();
  if (!best || std::isnan(*best)) return true;
  return metric == "val_loss" ? candidate < *best : candidate > *best;
}

json::Value eval_json(const std::string& prefix, const Evaluation& e) {
  json::Value v = json::Value::object();
  v.set(prefix + "_loss", e.loss);
  v.set(prefix + "_accuracy", e.accuracy);
  v.set(prefix + "_auroc", std::isnan(e.auroc) ? json::Value() : json::Value(e.auroc));
  v.set(prefix + "_ce_gold", e.ce_gold);
  return v;
}

// The best weights so far, named by their step so that a resumed run knows which file is its own.
fs::path best_weights(const fs::path& dir, std::int64_t step) { return dir / fmt::format("best-{}.safetensors", step); }

void remove_other_best_weights(const fs::path& dir, std::int64_t keep_step) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("best-", 0) == 0 && entry.path() != best_weights(dir, keep_step))
      fs::remove(entry.path());
}

// ---- 6. checkpoints --------------------------------------------------------------------------
// <dir>/checkpoint.json names the latest complete checkpoint folder; it is replaced atomically
// after the folder is written, so a kill at any point leaves a usable (or no) checkpoint.
struct Checkpoint {
  std::int64_t step = 0;
  std::vector<double> loss_buffer;
  std::optional<double> best_metric;
  std::int64_t best_step = -1;
};

void save_checkpoint(const fs::path& dir, Classifier& c, torch::optim::AdamW& optimizer, const Checkpoint& ck) {
  const fs::path folder = dir / ("checkpoint-" + std::to_string(ck.step));
  fs::create_directories(folder);
  c.net->save_trainable(folder / "trainable.safetensors");
  torch::save(optimizer, (folder / "optimizer.pt").string());
  json::Value state = json::Value::object();
  state.set("step", ck.step);
  state.set("folder", folder.filename().string());
  state.set("loss_buffer", ck.loss_buffer);
  state.set("best_metric", ck.best_metric);
  state.set("best_step", ck.best_step);
  write_file_atomic(dir / "checkpoint.json", json::dump(state, 2));
  for (const auto& entry : fs::directory_iterator(dir))  // keep one (save_total_limit 1)
    if (entry.is_directory() && entry.path().filename().string().rfind("checkpoint-", 0) == 0 &&
        entry.path() != folder)
      fs::remove_all(entry.path());
  remove_other_best_weights(dir, ck.best_step);
}

std::optional<Checkpoint> load_checkpoint(const fs::path& dir, Classifier& c, torch::optim::AdamW& optimizer) {
  if (!fs::exists(dir / "checkpoint.json")) return std::nullopt;
  const auto state = json::parse_file(dir / "checkpoint.json");
  const fs::path folder = dir / state.at("folder").as_string();
  c.net->load_trainable(folder / "trainable.safetensors");
  torch::load(optimizer, (folder / "optimizer.pt").string());
  Checkpoint ck;
  ck.step = state.at("step").as_int();
  for (const auto& v : state.at("loss_buffer").as_array()) ck.loss_buffer.push_back(v.as_double());
  if (!state.at("best_metric").is_null()) ck.best_metric = state.at("best_metric").as_double();
  ck.best_step = state.at("best_step").as_int();
  return ck;
}

}  // namespace

double learning_rate(const TrainerOptions& o, std::int64_t step, std::int64_t total_steps) {
  if (step < o.n_warmup_steps) return o.lr * static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, o.n_warmup_steps));
  if (o.lr_schedule == "constant") return o.lr;
  const double progress = static_cast<double>(step - o.n_warmup_steps) /
                          static_cast<double>(std::max<std::int64_t>(1, total_steps - o.n_warmup_steps));
  return o.lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

std::int64_t optimizer_steps(const TrainerOptions& o, std::int64_t n_train) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(o.n_epochs * static_cast<double>(n_train) /
                                                                       static_cast<double>(o.batch_size))));
}

FittedSchedule fit_to_run(const TrainerOptions& o, const LossOptions& loss, std::int64_t steps) {
  FittedSchedule fitted{o, loss, {}};
  TrainerOptions& t = fitted.trainer;
  const auto fit_warmup = [&](std::int64_t& warmup, const char* name) {
    if (warmup <= 0 || warmup < steps) return;
    const std::int64_t was = warmup;
    warmup = steps / 10;
    fitted.changes.push_back(fmt::format("{} {} -> {}", name, was, warmup));
  };
  fit_warmup(t.n_warmup_steps, "n_warmup_steps");
  if (uses_logconf_warmup(loss.kind)) fit_warmup(fitted.loss.logconf_warmup_steps, "logconf_warmup_steps");
  if (t.eval_every > steps) {
    t.eval_every = std::max<std::int64_t>(1, steps / 4);
    fitted.changes.push_back(fmt::format("eval_every {} -> {}", o.eval_every, t.eval_every));
  }
  return fitted;
}

torch::Tensor last_token_activations(Classifier& c, const std::vector<LabelledExample>& examples,
                                     std::int64_t max_length, std::optional<std::int64_t> layer,
                                     std::int64_t batch_size) {
  torch::NoGradGuard no_grad;
  c.net->eval();
  const Tokenized tokens = tokenize(c.tokenizer, examples, max_length);
  const std::int64_t pad = pad_id(c.tokenizer);
  const std::int64_t states = c.net->backbone()->config().num_hidden_layers + 1;
  const std::int64_t index = layer.value_or(states / 2);
  if (index < 0 || index >= states)
    throw Error(fmt::format("--probe-layer {} is out of range: the model has {} hidden states", index, states));
  std::vector<torch::Tensor> parts;
  const auto batch = static_cast<std::size_t>(std::max<std::int64_t>(1, batch_size));
  for (std::size_t start = 0; start < examples.size(); start += batch) {
    std::vector<std::size_t> rows(std::min(batch, examples.size() - start));
    std::iota(rows.begin(), rows.end(), start);
    auto [ids, mask] = pad_batch(tokens, rows, pad, c.placement.device);
    parts.push_back(c.net->forward(ids, mask, /*collect_hidden_states=*/true).hidden_states.select(1, index)
                        .to(torch::kCPU, torch::kFloat));
  }
  return torch::cat(parts, 0);
}

// ---- the stage -------------------------------------------------------------------------------
StageOutcome train_stage(Classifier& c, const StageInputs& in, const StageSettings& s) {
  const TrainerOptions& o = s.trainer;
  if (in.train.empty() || in.val.empty() || in.test.empty())
    throw Error("stage " + in.name + ": train, val and test must not be empty");
  fs::create_directories(s.dir);
  StageOutcome out;
  // One line per optimizer step and evaluation; held open (no reopen and fsync per step).
  AppendOnlyFile log(s.dir / "log.jsonl");

  // 1. tokens
  const Tokenized train_tokens = tokenize(c.tokenizer, in.train, o.max_length);
  const Tokenized val_tokens = tokenize(c.tokenizer, in.val, o.max_length);
  const Tokenized test_tokens = tokenize(c.tokenizer, in.test, o.max_length);
  out.truncated = train_tokens.truncated;

  // 2. the stream
  const std::int64_t accumulation = o.batch_size / o.minibatch_size;
  const auto n_train = static_cast<std::int64_t>(in.train.size());
  const std::int64_t total_steps = optimizer_steps(o, n_train);
  const auto stream = example_stream(in.train.size(), total_steps * o.batch_size, o.seed);

  // 3. optimizer, loss; 6. resume
  auto optimizer = make_optimizer(c.net, o);
  StageLoss loss(s.loss, s.transfer, s.radius, total_steps);
  std::int64_t step = 0;
  std::optional<double> best_metric;
  std::int64_t best_step = -1;
  if (auto ck = load_checkpoint(s.dir, c, *optimizer)) {
    step = ck->step;
    loss.set_buffer(ck->loss_buffer);
    best_metric = ck->best_metric;
    best_step = ck->best_step;
    out.resumed = true;
    remove_other_best_weights(s.dir, best_step);  // those newer than the checkpoint are the killed run's
    log.append_line(json::dump(json::Value(json::Object{{"event", "resume"}, {"step", step}})));
  }
  const std::int64_t pad = pad_id(c.tokenizer);
  // What this loop trains with, as it sees it: the stage's record must say the same (tested).
  log.append_line(json::dump(json::Value(json::Object{{"event", "train_args"},
                                                      {"step", step},
                                                      {"train_args", options::record(o)},
                                                      {"loss", options::record(s.loss)},
                                                      {"optimizer_steps", total_steps}})));

  ProgressLine progress(in.name);
  const double started = monotonic_seconds();
  const std::int64_t first_step = step;
  double recent_loss = std::nan("");

  auto evaluate_and_select = [&](bool force_save_best) {
    c.net->eval();
    const Evaluation val = evaluate(c, val_tokens, in.val, loss, step, o, /*against_gold=*/false);
    const Evaluation test = evaluate(c, test_tokens, in.test, loss, step, o, /*against_gold=*/true);
    c.net->train();
    const double last_lr = learning_rate(o, std::max<std::int64_t>(0, step - 1), total_steps);
    stop_if_outputs_diverged(val, in.val, step, last_lr);
    stop_if_outputs_diverged(test, in.test, step, last_lr);
    const double metric = selection_metric(val, o.metric_for_best_model);
    json::Value line = json::Value::object();
    line.set("step", step);
    line.set("epoch", static_cast<double>(step * o.batch_size) / static_cast<double>(n_train));
    for (const auto& part : {eval_json("eval_val", val), eval_json("eval_test", test)})
      for (const auto& [k, v] : part.as_object()) line.set(k, v);
    if (improves(metric, best_metric, o.metric_for_best_model) || force_save_best) {
      best_metric = metric;
      best_step = step;
      c.net->save_trainable(best_weights(s.dir, step));  // older ones go at the next checkpoint
      line.set("best", true);
    }
    log.append_line(json::dump(line));
  };

  // 4. the loop
  c.net->train();
  if (step == 0) evaluate_and_select(/*force_save_best=*/true);  // the untrained model is a candidate too
  while (step < total_steps) {
    set_learning_rate(*optimizer, learning_rate(o, step, total_steps));
    optimizer->zero_grad();
    double step_loss = 0;
    for (std::int64_t m = 0; m < accumulation; ++m) {
      const auto first = static_cast<std::size_t>(step * o.batch_size + m * o.minibatch_size);
      std::vector<std::size_t> rows(stream.begin() + static_cast<std::ptrdiff_t>(first),
                                    stream.begin() + static_cast<std::ptrdiff_t>(first + o.minibatch_size));
      auto [ids, mask] = pad_batch(train_tokens, rows, pad, c.placement.device);
      const auto logits = c.net->forward(ids, mask).logits;
      const auto value = loss(logits, labels_of(in.train, rows, false).to(logits.device()), step, true);
      (value / static_cast<double>(accumulation)).backward();
      step_loss += value.item<double>() / static_cast<double>(accumulation);
    }
    const double grad_norm = torch::nn::utils::clip_grad_norm_(c.net->trainable_parameters(), o.max_grad_norm);
    // Before the step: a non-finite gradient would make every weight NaN.
    if (!std::isfinite(step_loss) || !std::isfinite(grad_norm)) {
      const double lr = learning_rate(o, step, total_steps);
      if (s.progress) progress.finish(fmt::format("diverged at step {}/{}", step + 1, total_steps));
      throw StageDiverged(fmt::format("training diverged at optimizer step {} of {}: the loss is {} and the gradient "
                                      "norm {} (learning rate {:g})",
                                      step + 1, total_steps, step_loss, grad_norm, lr),
                          step + 1, step_loss, grad_norm, lr);
    }
    optimizer->step();
    ++step;
    recent_loss = std::isnan(recent_loss) ? step_loss : 0.9 * recent_loss + 0.1 * step_loss;

    json::Value line = json::Value::object();
    line.set("step", step);
    line.set("lr", learning_rate(o, step - 1, total_steps));
    line.set("loss", step_loss);
    line.set("grad_norm", grad_norm);
    log.append_line(json::dump(line));

    const double rate = static_cast<double>(step - first_step) / std::max(1e-9, monotonic_seconds() - started);
    if (s.progress)
      progress.update(fmt::format("step {}/{}  loss {:.4f}  {:.2f} step/s  ETA {}", step, total_steps, recent_loss,
                                  rate, format_duration(static_cast<double>(total_steps - step) / std::max(rate, 1e-9))));

    if (step % o.eval_every == 0 || step == total_steps) evaluate_and_select(false);
    if (o.save_every > 0 && step % o.save_every == 0 && step < total_steps)
      save_checkpoint(s.dir, c, *optimizer, Checkpoint{step, loss.buffer(), best_metric, best_step});
  }
  if (s.progress)
    progress.finish(fmt::format("{} steps  loss {:.4f}  {}", total_steps, recent_loss,
                                format_duration(monotonic_seconds() - started)));

  // 7. the best model: test, val and the requested predictions
  if (o.load_best_model_at_end) c.net->load_trainable(best_weights(s.dir, best_step));
  c.net->eval();
  out.steps = total_steps;
  out.best_step = o.load_best_model_at_end ? best_step : total_steps;
  out.epoch = static_cast<double>(total_steps * o.batch_size) / static_cast<double>(n_train);
  out.test = evaluate(c, test_tokens, in.test, loss, step, o, true);
  out.val = evaluate(c, val_tokens, in.val, loss, step, o, false);
  for (const auto& [name, examples] : in.predict) {
    const Tokenized tokens = tokenize(c.tokenizer, examples, o.max_length);
    out.predicted[name] = evaluate(c, tokens, examples, loss, step, o, true).p1;
  }
  return out;
}

}  // namespace w2s::train
