// The weak-to-strong losses (docs/reference-behaviour.md §16), all in one place: the formulas,
// then the registry (one row per loss: its name and the function a stage calls), then StageLoss.
//
// Notation: z = logits [B,2] in fp32, y = soft label P(class 1) [B], T = [1−y, y],
// p = softmax(z), CE = soft-target cross-entropy averaged over the batch.
//
// Fixes of reference quirks (docs/reference-behaviour.md §20):
//   #1  the logconf threshold buffer is a ring of the last 32 p0 of *training* batches (the
//       reference's list grows forever and also takes evaluation batches);
//   #3  openai-logconf warms up linearly over warmup_frac (the reference jumps from 0.05 to 0.5);
//   #15 `entropy-grad` lets the gradient flow through H(p); `entropy` keeps the reference's detached
//       target, whose gradient is only (1−coef)·(p − T).
#include "losses.h"
#include "registry.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "w2s/core.h"

namespace w2s::train {

namespace {
torch::Tensor soft_target(const torch::Tensor& labels) { return torch::stack({1.0 - labels, labels}, 1); }
}  // namespace

void validate(const LossOptions& o) {
  if (o.logconf_weight < 0 || o.logconf_weight > 1)
    throw Error("--logconf-weight must be in [0, 1], got " + std::to_string(o.logconf_weight));
  if (o.radius != "midweak") {
    char* end = nullptr;
    const double r = std::strtod(o.radius.c_str(), &end);
    if (o.radius.empty() || *end != '\0' || !(r >= 0))
      throw Error("--radius must be a non-negative number or 'midweak', got '" + o.radius + "'");
  }
  if (o.openai_warmup_frac < 0 || o.openai_warmup_frac > 1)
    throw Error("--openai-warmup-frac must be in [0, 1]");
}

double midweak_radius(const std::vector<double>& labels) {
  if (labels.empty()) throw Error("midweak radius: no training labels");
  std::vector<double> d;
  d.reserve(labels.size());
  for (double y : labels) d.push_back(std::abs(y - 0.5));
  // torch.median (the reference) returns the lower of the two middle values for even n.
  std::sort(d.begin(), d.end());
  return d[(d.size() - 1) / 2];
}

double logconf_coef(double weight, std::int64_t step, std::int64_t warmup_steps) {
  if (warmup_steps <= 0) return weight;
  return weight * std::min(1.0, static_cast<double>(step) / static_cast<double>(warmup_steps));
}

double openai_logconf_coef(double weight, double step_frac, double warmup_frac) {
  if (warmup_frac <= 0) return weight;
  return weight * std::min(1.0, step_frac / warmup_frac);
}

torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target) {
  return -(target * torch::log_softmax(logits.to(torch::kFloat), 1)).sum(1).mean();
}

torch::Tensor xent_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return soft_cross_entropy(logits, soft_target(labels.to(torch::kFloat)));
}

torch::Tensor kl_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto t = soft_target(labels.to(torch::kFloat));
  // H(T) with 0·log 0 = 0.
  const auto entropy_t = -(t * torch::where(t > 0, torch::log(t), torch::zeros_like(t))).sum(1).mean();
  return soft_cross_entropy(logits, t) - entropy_t;
}

torch::Tensor window_loss(const torch::Tensor& logits, const torch::Tensor& labels, double radius) {
  const auto z = logits.to(torch::kFloat);
  const auto t = soft_target(labels.to(torch::kFloat));
  const auto p = torch::softmax(z, 1);
  const auto uncertain = (std::get<0>(p.max(1)) < 0.5 + radius).to(torch::kFloat).detach();
  const auto per_example = -(t * torch::log_softmax(z, 1)).sum(1);
  return (per_example * uncertain).sum() / static_cast<double>(z.size(0));
}

torch::Tensor logconf_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef, double tau) {
  const auto z = logits.to(torch::kFloat);
  const auto p0 = torch::softmax(z, 1).select(1, 0).detach();
  const auto h = torch::stack({(p0 >= tau).to(torch::kFloat), (p0 < tau).to(torch::kFloat)}, 1);
  return soft_cross_entropy(z, (1.0 - coef) * soft_target(labels.to(torch::kFloat)) + coef * h);
}

torch::Tensor entropy_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef) {
  const auto z = logits.to(torch::kFloat);
  const auto p = torch::softmax(z, 1).detach();
  return soft_cross_entropy(z, (1.0 - coef) * soft_target(labels.to(torch::kFloat)) + coef * p);
}

torch::Tensor entropy_grad_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef) {
  const auto z = logits.to(torch::kFloat);
  const auto log_p = torch::log_softmax(z, 1);
  const auto entropy = -(log_p.exp() * log_p).sum(1).mean();
  return (1.0 - coef) * xent_loss(z, labels) + coef * entropy;
}

torch::Tensor product_loss(const torch::Tensor& logits, const torch::Tensor& labels, double alpha, double beta) {
  const auto z = logits.to(torch::kFloat);
  auto target = torch::pow(torch::softmax(z, 1), beta) * torch::pow(soft_target(labels.to(torch::kFloat)), alpha);
  target = (target / target.sum(1, true)).detach();
  return soft_cross_entropy(z, target);
}

// ---- the registry --------------------------------------------------------------------------
namespace {

using Call = StageLoss::Call;

// P(class 0) of each row, detached, as doubles on the CPU.
std::vector<double> p0_of(const torch::Tensor& logits) {
  const auto p0 = torch::softmax(logits.to(torch::kFloat), 1).select(1, 0).detach().to(torch::kDouble).cpu().contiguous();
  return {p0.data_ptr<double>(), p0.data_ptr<double>() + p0.numel()};
}

// logconf, entropy, entropy-grad: the auxiliary coefficient (0 outside transfer stages), the
// labels after optional batch balancing, and the prior that τ is taken at.
struct LogconfTerms {
  double coef;
  torch::Tensor labels;
  double prior;
};
LogconfTerms logconf_terms(torch::Tensor labels, const Call& c) {
  const double coef = c.transfer ? logconf_coef(c.options.logconf_weight, c.step, c.options.logconf_warmup_steps) : 0.0;
  double prior = labels.size(0) > 1 ? labels.mean().item<double>() : 0.5;
  if (c.options.balance_batch) {
    prior = 0.5;
    const auto logit = torch::log(labels + 1e-7) - torch::log(1.0 - labels + 1e-7);
    labels = torch::sigmoid(logit - logit.mean());
  }
  return {coef, labels, prior};
}

torch::Tensor run_xent(const torch::Tensor& z, const torch::Tensor& y, Call&) { return xent_loss(z, y); }

torch::Tensor run_kl(const torch::Tensor& z, const torch::Tensor& y, Call&) { return kl_loss(z, y); }

torch::Tensor run_logconf(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  const LogconfTerms t = logconf_terms(y, c);
  // τ: quantile of the last kBufferSize training p0 (this batch included) at the prior.
  std::deque<double> window = c.buffer;
  for (double p : p0_of(z)) window.push_back(p);
  while (window.size() > StageLoss::kBufferSize) window.pop_front();
  const double tau = linear_quantile({window.begin(), window.end()}, t.prior);
  if (c.training) c.buffer = std::move(window);
  return logconf_loss(z, t.labels, t.coef, tau);
}

torch::Tensor run_entropy(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  const LogconfTerms t = logconf_terms(y, c);
  return entropy_loss(z, t.labels, t.coef);
}

torch::Tensor run_entropy_grad(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  const LogconfTerms t = logconf_terms(y, c);
  return entropy_grad_loss(z, t.labels, t.coef);
}

torch::Tensor run_window(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  return window_loss(z, y, c.transfer ? c.radius : 0.51);
}

// τ over this batch only, at mean(y): the openai reference computes the loss once per batch.
torch::Tensor run_openai_logconf(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  const double step_frac = c.total_steps > 0 ? static_cast<double>(c.step) / static_cast<double>(c.total_steps) : 1.0;
  const double coef =
      c.transfer ? openai_logconf_coef(c.options.logconf_weight, step_frac, c.options.openai_warmup_frac) : 0.0;
  return logconf_loss(z, y, coef, linear_quantile(p0_of(z), y.mean().item<double>()));
}

torch::Tensor run_product(const torch::Tensor& z, const torch::Tensor& y, Call& c) {
  return c.transfer ? product_loss(z, y, c.options.product_alpha, c.options.product_beta) : xent_loss(z, y);
}

struct LossUnit {
  Loss kind;
  const char* name;
  torch::Tensor (*run)(const torch::Tensor& logits, const torch::Tensor& labels, Call& call);
};

// Adding a loss: a row here, its enum value and option fields in w2s/train.h.
const LossUnit kLosses[] = {
    {Loss::Xent, "xent", run_xent},
    {Loss::Kl, "kl", run_kl},
    {Loss::Logconf, "logconf", run_logconf},
    {Loss::Entropy, "entropy", run_entropy},
    {Loss::EntropyGrad, "entropy-grad", run_entropy_grad},
    {Loss::Window, "window", run_window},
    {Loss::OpenaiLogconf, "openai-logconf", run_openai_logconf},
    {Loss::Product, "product", run_product},
};

}  // namespace

const options::NameTable<Loss>& names_of(Loss) {
  static const auto table = registry_names<Loss>("loss", kLosses);
  return table;
}

// ---- one stage's loss ------------------------------------------------------------------------
StageLoss::StageLoss(LossOptions options, bool transfer, double radius, std::int64_t total_steps)
    : options_(std::move(options)), transfer_(transfer), radius_(radius), total_steps_(total_steps) {
  validate(options_);
}

void StageLoss::set_buffer(const std::vector<double>& values) {
  buffer_.assign(values.begin(), values.end());
  while (buffer_.size() > kBufferSize) buffer_.pop_front();
}

torch::Tensor StageLoss::operator()(const torch::Tensor& logits, const torch::Tensor& raw_labels, std::int64_t step,
                                    bool training) {
  const auto labels = raw_labels.to(logits.device(), torch::kFloat);
  Call call{options_, transfer_, radius_, step, total_steps_, training, buffer_};
  return registry_row(kLosses, options_.kind).run(logits, labels, call);
}

}  // namespace w2s::train
