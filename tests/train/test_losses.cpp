// The W2S losses against the test vectors of docs/reference-behaviour.md §16 and hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "losses.h"

namespace w2s::train {
namespace {

// The test batch of docs/reference-behaviour.md §16: z = [[0,1],[2,−1],[0.3,0.2]], y = [0.9,0.2,0.5].
torch::Tensor spec_logits() { return torch::tensor({0.0, 1.0, 2.0, -1.0, 0.3, 0.2}, torch::kFloat).view({3, 2}); }
torch::Tensor spec_labels() { return torch::tensor({0.9, 0.2, 0.5}, torch::kFloat); }

double value(const torch::Tensor& t) { return t.item<double>(); }

LossOptions named(const std::string& name) {
  LossOptions o;
  o.kind = names_of(Loss{}).parse(name);
  return o;
}

TEST(Losses, XentAndKlSpecVectors) {
  EXPECT_NEAR(value(xent_loss(spec_logits(), spec_labels())), 0.585415, 1e-6);
  EXPECT_NEAR(value(kl_loss(spec_logits(), spec_labels())), 0.079204, 1e-6);
}

TEST(Losses, KlIsZeroAtTheTargetAndHandlesHardLabels) {
  // z = log T gives softmax z = T, so KL = 0; hard labels use 0·log 0 = 0 (no NaN).
  const auto y = torch::tensor({0.0, 1.0, 0.25}, torch::kFloat);
  const auto z = torch::log(torch::stack({1.0 - y, y}, 1).clamp_min(1e-30));
  EXPECT_NEAR(value(kl_loss(z, y)), 0.0, 1e-6);
}

TEST(Losses, WindowSpecVectorMasksConfidentRows) {
  // Only row 3 (max p = 0.525 < 0.65) counts, divided by the batch size 3.
  EXPECT_NEAR(value(window_loss(spec_logits(), spec_labels(), 0.15)), 0.231466, 1e-6);
  // Radius 0.51 (floor/ceiling): every row counts, i.e. plain xent.
  EXPECT_NEAR(value(window_loss(spec_logits(), spec_labels(), 0.51)), 0.585415, 1e-6);
  // No row uncertain: zero, not NaN.
  EXPECT_EQ(value(window_loss(spec_logits(), spec_labels(), 0.0)), 0.0);
}

TEST(Losses, LinearQuantileAndLogconfThreshold) {
  const std::vector<double> p0 = {0.268941, 0.952574, 0.524979};
  const double prior = (0.9 + 0.2 + 0.5) / 3;
  EXPECT_NEAR(prior, 0.533333, 1e-6);
  EXPECT_NEAR(linear_quantile(p0, prior), 0.553486, 1e-6);
  EXPECT_DOUBLE_EQ(linear_quantile({3, 1, 2}, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(linear_quantile({1, 2}, 0.25), 1.25);
  EXPECT_DOUBLE_EQ(linear_quantile({5}, 0.7), 5.0);
}

TEST(Losses, LogconfSpecVectorsWithAFreshBuffer) {
  const double tau = 0.553486;
  EXPECT_NEAR(value(logconf_loss(spec_logits(), spec_labels(), 0.5, tau)), 0.477082, 1e-6);
  EXPECT_NEAR(value(logconf_loss(spec_logits(), spec_labels(), 0.25, tau)), 0.531249, 1e-6);

  // Through StageLoss: step 100 of warmup 100 → coef 0.5; a fresh buffer gets τ = 0.553486.
  StageLoss loss(named("logconf"), /*transfer=*/true, 0.15, 1000);
  EXPECT_NEAR(value(loss(spec_logits(), spec_labels(), 100, true)), 0.477082, 1e-6);
  EXPECT_EQ(loss.buffer().size(), 3u);
  // Step 50 → coef 0.25, with a fresh buffer again.
  StageLoss quarter(named("logconf"), true, 0.15, 1000);
  EXPECT_NEAR(value(quarter(spec_logits(), spec_labels(), 50, true)), 0.531249, 1e-6);
}

TEST(Losses, LogconfCoefficientWarmup) {
  EXPECT_DOUBLE_EQ(logconf_coef(0.5, 40, 100), 0.2);
  EXPECT_DOUBLE_EQ(logconf_coef(0.5, 0, 100), 0.0);
  EXPECT_DOUBLE_EQ(logconf_coef(0.5, 250, 100), 0.5);
  EXPECT_DOUBLE_EQ(logconf_coef(0.5, 3, 0), 0.5);
}

TEST(Losses, OpenaiLogconfWarmupIsLinear) {
  // The reference jumps from 0.05 to 0.5 at warmup_frac; the fix ramps linearly.
  EXPECT_DOUBLE_EQ(openai_logconf_coef(0.5, 0.05, 0.1), 0.25);
  EXPECT_DOUBLE_EQ(openai_logconf_coef(0.5, 0.1, 0.1), 0.5);
  EXPECT_DOUBLE_EQ(openai_logconf_coef(0.5, 0.7, 0.1), 0.5);
  EXPECT_DOUBLE_EQ(openai_logconf_coef(0.5, 0.0, 0.0), 0.5);
  // In the batch loss, τ is the quantile of this batch at mean(y): same as the fresh-buffer case.
  auto o = named("openai-logconf");
  StageLoss loss(o, true, 0.15, 100);
  EXPECT_NEAR(value(loss(spec_logits(), spec_labels(), 10, true)), 0.477082, 1e-6);  // step_frac 0.1
  EXPECT_NEAR(value(loss(spec_logits(), spec_labels(), 5, true)), 0.531249, 1e-6);   // coef 0.25
}

TEST(Losses, LogconfRingBufferKeepsTheLast32TrainingPredictions) {
  StageLoss loss(named("logconf"), true, 0.15, 1000);
  for (int i = 0; i < 40; ++i) {
    const auto zi = torch::tensor({static_cast<float>(i) * 0.1f, 0.0f}).view({1, 2});
    loss(zi, torch::tensor({1.0f}), 10, true);
  }
  ASSERT_EQ(loss.buffer().size(), StageLoss::kBufferSize);
  // The oldest 8 were dropped: the first kept p0 is that of z0 = 0.8.
  EXPECT_NEAR(loss.buffer().front(), 1.0 / (1.0 + std::exp(-0.8)), 1e-6);
  // Evaluation batches do not enter the buffer (reference quirk #1).
  const auto before = loss.buffer();
  loss(spec_logits(), spec_labels(), 10, /*training=*/false);
  EXPECT_EQ(loss.buffer(), before);
}

TEST(Losses, LogconfWithMinibatchOneUsesTheMedianOfTheBuffer) {
  // prior = 0.5 for a one-example batch: τ = median of the buffered p0 values.
  StageLoss loss(named("logconf"), true, 0.15, 1000);
  loss.set_buffer({0.1, 0.2, 0.9});
  // Row z = [0,1]: p0 = 0.268941 ≥ τ = median{0.1, 0.2, 0.268941, 0.9} = 0.234470, so h = [1,0].
  const auto z = torch::tensor({0.0f, 1.0f}).view({1, 2});
  const auto y = torch::tensor({0.9f});
  const double coef = 0.5;  // step 100
  const auto target = torch::tensor({(1 - coef) * 0.1 + coef, (1 - coef) * 0.9}, torch::kFloat).view({1, 2});
  EXPECT_NEAR(value(loss(z, y, 100, true)), value(soft_cross_entropy(z, target)), 1e-6);
}

TEST(Losses, BalanceBatchCentresTheLabelLogits) {
  // With balance_batch, prior 0.5 and y ← σ(logit y − mean logit y). Labels symmetric around 0.5
  // already have mean logit 0, so they are unchanged; τ is then the median of p0.
  auto o = named("logconf");
  o.balance_batch = true;
  StageLoss loss(o, true, 0.15, 1000);
  const auto y = torch::tensor({0.8f, 0.2f, 0.5f});
  const double tau = linear_quantile({0.268941, 0.952574, 0.524979}, 0.5);
  EXPECT_NEAR(value(loss(spec_logits(), y, 100, true)), value(logconf_loss(spec_logits(), y, 0.5, tau)),
              1e-5);
}

TEST(Losses, EntropySpecVectorsAndGradients) {
  EXPECT_NEAR(value(entropy_loss(spec_logits(), spec_labels(), 0.5)), 0.536869, 1e-6);
  EXPECT_NEAR(value(entropy_loss(spec_logits(), spec_labels(), 0.25)), 0.561142, 1e-6);
  // entropy-grad has the same value ((1−coef)·CE + coef·H) but a different gradient.
  EXPECT_NEAR(value(entropy_grad_loss(spec_logits(), spec_labels(), 0.5)), 0.536869, 1e-6);

  const auto y = spec_labels();
  const auto t = torch::stack({1.0 - y, y}, 1);
  auto z1 = spec_logits().requires_grad_(true);
  entropy_loss(z1, y, 0.5).backward();
  const auto p = torch::softmax(spec_logits(), 1);
  // Parity entropy: ∂L/∂z = (1−coef)(p − T)/B — the entropy term adds nothing (quirk #15).
  EXPECT_TRUE(torch::allclose(z1.grad(), 0.5 * (p - t) / 3.0, 1e-5, 1e-6));

  auto z2 = spec_logits().requires_grad_(true);
  entropy_grad_loss(z2, y, 0.5).backward();
  // ∂H/∂z_k = −p_k (log p_k + H) per row.
  const auto log_p = torch::log(p);
  const auto h = -(p * log_p).sum(1, true);
  const auto expected = (0.5 * (p - t) + 0.5 * (-p * (log_p + h))) / 3.0;
  EXPECT_TRUE(torch::allclose(z2.grad(), expected, 1e-5, 1e-6));
}

TEST(Losses, XentGradientIsSoftmaxMinusTarget) {
  auto z = spec_logits().requires_grad_(true);
  xent_loss(z, spec_labels()).backward();
  const auto y = spec_labels();
  const auto expected = (torch::softmax(spec_logits(), 1) - torch::stack({1.0 - y, y}, 1)) / 3.0;
  EXPECT_TRUE(torch::allclose(z.grad(), expected, 1e-5, 1e-6));
}

TEST(Losses, LogconfGradientTreatsTheHardenedTargetAsConstant) {
  auto z = spec_logits().requires_grad_(true);
  logconf_loss(z, spec_labels(), 0.5, 0.553486).backward();
  const auto y = spec_labels();
  const auto h = torch::tensor({0.0, 1.0, 1.0, 0.0, 0.0, 1.0}, torch::kFloat).view({3, 2});
  const auto target = 0.5 * torch::stack({1.0 - y, y}, 1) + 0.5 * h;
  EXPECT_TRUE(torch::allclose(z.grad(), (torch::softmax(spec_logits(), 1) - target) / 3.0, 1e-5, 1e-6));
}

TEST(Losses, ProductLossHandComputed) {
  // target_i ∝ p_i · T_i (α = β = 1); values computed by hand (python, math module only).
  EXPECT_NEAR(value(product_loss(spec_logits(), spec_labels(), 1.0, 1.0)), 0.376633, 1e-6);
  EXPECT_NEAR(value(product_loss(spec_logits(), spec_labels(), 2.0, 0.5)), 0.367897, 1e-6);
  // The target is detached: ∂L/∂z = (p − target)/B.
  auto z = spec_logits().requires_grad_(true);
  product_loss(z, spec_labels(), 1.0, 1.0).backward();
  const auto y = spec_labels();
  const auto p = torch::softmax(spec_logits(), 1);
  auto target = p * torch::stack({1.0 - y, y}, 1);
  target = target / target.sum(1, true);
  EXPECT_TRUE(torch::allclose(z.grad(), (p - target) / 3.0, 1e-5, 1e-6));
}

TEST(Losses, AuxiliaryTermsAreOffForFloorAndCeiling) {
  const double xent = 0.585415;
  for (const auto& [kind, name] : names_of(Loss{}).names) {
    if (name == "kl") continue;  // kl = CE − H(T): the gold-label value differs by H(T)
    StageLoss loss(named(name), /*transfer=*/false, 0.15, 100);
    EXPECT_NEAR(value(loss(spec_logits(), spec_labels(), 100, true)), xent, 1e-6) << name;
  }
}

TEST(Losses, MidweakRadius) {
  // |y − 0.5| = {0.4, 0.3, 0.0, 0.15} → sorted {0, 0.15, 0.3, 0.4}; lower median (torch.median).
  EXPECT_DOUBLE_EQ(midweak_radius({0.9, 0.2, 0.5, 0.65}), 0.15000000000000002);
  EXPECT_NEAR(midweak_radius({0.9, 0.2, 0.5}), 0.3, 1e-12);
  EXPECT_THROW(midweak_radius({}), Error);
}

TEST(Losses, ValidateRejectsBadOptions) {
  EXPECT_THROW(named("hinge"), Error);
  auto o = named("window");
  o.radius = "wide";
  EXPECT_THROW(validate(o), Error);
  o.radius = "midweak";
  EXPECT_NO_THROW(validate(o));
  o.radius = "0.2";
  EXPECT_NO_THROW(validate(o));
}

}  // namespace
}  // namespace w2s::train
