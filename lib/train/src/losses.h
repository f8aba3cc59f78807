// Internal (torch-facing) interface of the W2S losses. The formulas are in losses.cpp.
#pragma once

#include <torch/torch.h>

#include <deque>

#include "w2s/train.h"

namespace w2s::train {

// Every function takes logits z [B,2] (cast to fp32) and soft labels y [B] = P(class 1);
// the target is T = [1−y, y]; the result is a scalar (batch mean unless said otherwise).
torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target);  // target [B,2]
torch::Tensor xent_loss(const torch::Tensor& logits, const torch::Tensor& labels);
torch::Tensor kl_loss(const torch::Tensor& logits, const torch::Tensor& labels);
// CE over the rows whose max softmax probability is below 0.5 + radius, divided by B.
torch::Tensor window_loss(const torch::Tensor& logits, const torch::Tensor& labels, double radius);
// The logconf formula (logconf and openai-logconf): CE(z, (1−coef)·T + coef·h) with the hardened
// target h = [p0 ≥ τ, p0 < τ] (detached).
torch::Tensor logconf_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef, double tau);
// entropy (parity): CE(z, (1−coef)·T + coef·p.detach()).
torch::Tensor entropy_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef);
// entropy-grad: (1−coef)·CE(z,T) + coef·H(softmax z), gradient through H.
torch::Tensor entropy_grad_loss(const torch::Tensor& logits, const torch::Tensor& labels, double coef);
// openai product: CE(z, normalise(p^beta · T^alpha).detach()).
torch::Tensor product_loss(const torch::Tensor& logits, const torch::Tensor& labels, double alpha, double beta);

// Coefficient of the auxiliary term: w·min(1, step/warmup), or w when warmup <= 0.
double logconf_coef(double weight, std::int64_t step, std::int64_t warmup_steps);
// openai-logconf with the linear-warmup fix: w·min(1, step_frac/warmup_frac), w when warmup_frac <= 0.
double openai_logconf_coef(double weight, double step_frac, double warmup_frac);

// The configured loss of one stage, with its state (the logconf ring buffer). Each loss is one
// function of the registry in losses.cpp.
class StageLoss {
 public:
  // transfer = false (floor, ceiling): auxiliary terms off (coef 0, window radius 0.51, and the
  // product loss becomes xent). `radius` is the resolved window radius (midweak already computed).
  StageLoss(LossOptions options, bool transfer, double radius, std::int64_t total_steps);

  // `step` = optimizer steps taken so far. Only training batches feed the logconf buffer.
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t step,
                           bool training);

  static constexpr std::size_t kBufferSize = 32;

  // The buffer is part of a resume checkpoint.
  std::vector<double> buffer() const { return {buffer_.begin(), buffer_.end()}; }
  void set_buffer(const std::vector<double>& values);

  // What one call gives a loss function of the registry.
  struct Call {
    const LossOptions& options;
    bool transfer;               // auxiliary terms on
    double radius;               // resolved window radius
    std::int64_t step, total_steps;
    bool training;
    std::deque<double>& buffer;  // logconf: detached p0 of the last kBufferSize training examples
  };

 private:
  LossOptions options_;
  bool transfer_;
  double radius_;
  std::int64_t total_steps_;
  std::deque<double> buffer_;
};

}  // namespace w2s::train
