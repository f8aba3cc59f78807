// Every options struct of the training side lists every member in its field list (so no option
// can be missing from the command line, the record or the stage-cache key), and the command
// line binds the flags `w2s train` documents.
#include <gtest/gtest.h>

#include "w2s/train.h"

namespace {

using namespace w2s;
using namespace w2s::train;

template <class S>
void expect_complete(const char* name) {
  const auto& fields = option_fields(static_cast<const S*>(nullptr));
  EXPECT_TRUE(fields.complete()) << name << ": " << fields.listed_members() << " of " << options::member_count<S>()
                                 << " members in its field list";
}

TEST(OptionFields, EveryMemberOfEveryOptionsStructIsListed) {
  expect_complete<PipelineOptions>("PipelineOptions");
  expect_complete<TrainerOptions>("TrainerOptions");
  expect_complete<LossOptions>("LossOptions");
  expect_complete<ProbeOptions>("ProbeOptions");
  expect_complete<KnnOptions>("KnnOptions");
  expect_complete<LogregOptions>("LogregOptions");
  expect_complete<TopoOptions>("TopoOptions");
  expect_complete<LoraOptions>("LoraOptions");
  expect_complete<model::RunOptions>("model::RunOptions");
  expect_complete<data::TrainingDataOptions>("data::TrainingDataOptions");
}

std::vector<std::string> flag_names() {
  std::vector<std::string> names;
  for (const auto& f : option_fields(static_cast<const PipelineOptions*>(nullptr)).flags()) names.push_back(f.name);
  return names;
}

TEST(OptionFields, TrainFlagsAreTheDocumentedOnesEachOnce) {
  const std::vector<std::string> expected = {
      "weak-model-name", "strong-model-name", "dataset", "data-dir", "dataset-file", "n-train", "n-val", "n-test",
      "data-seed", "models-dir", "results-dir", "run-name", "shared-folder", "weak-lr", "strong-lr", "disable-lora",
      "lora-rank", "lora-alpha", "lora-modules", "s2s-iters", "weak-labels-from", "device", "dtype", "threads", "n-epochs",
      "minibatch-size", "batch-size", "lr-schedule", "n-warmup-steps", "weight-decay", "max-grad-norm", "eval-every",
      "save-every", "load-best-model-at-end", "metric-for-best-model", "seed", "max-length", "auroc", "loss",
      "logconf-weight", "logconf-warmup-steps", "balance-batch", "radius", "openai-warmup-frac", "product-alpha",
      "product-beta", "probe", "probe-layer", "probe-relabel", "probe-filter", "contamination", "k", "knn-metric",
      "l2p", "k-cc", "k-zeta", "modified", "no-progress"};
  EXPECT_EQ(flag_names(), expected);
}

TEST(OptionFields, FlagsSetNestedMembers) {
  PipelineOptions o;
  for (const auto& f : option_fields(static_cast<const PipelineOptions*>(nullptr)).flags()) {
    if (f.name == "loss") f.set(o, "window");
    if (f.name == "k-zeta") f.set(o, "7");
    if (f.name == "probe-layer") f.set(o, "3");
    if (f.name == "disable-lora") f.set(o, "true");
    if (f.name == "dtype") f.set(o, "bfloat16");
    if (f.name == "data-seed") f.set(o, "5");
    if (f.name == "no-progress") f.set(o, "true");
    if (f.name == "auroc") f.set(o, "reference");
  }
  EXPECT_EQ(o.loss.kind, Loss::Window);
  EXPECT_EQ(o.probe.topo.k_zeta, 7);
  EXPECT_EQ(o.probe.layer, 3);
  EXPECT_TRUE(o.lora.disable);
  EXPECT_EQ(o.run.dtype, "bfloat16");
  EXPECT_EQ(o.data.seed, 5);
  EXPECT_FALSE(o.progress);
  EXPECT_EQ(o.trainer.auroc_mode, AurocMode::Reference);
}

TEST(OptionFields, RegistryNamesParseOnce) {
  EXPECT_EQ(names_of(Loss{}).joined(), "xent, kl, logconf, entropy, entropy-grad, window, openai-logconf, product");
  EXPECT_EQ(names_of(Probe{}).joined(), "knn, logreg, topo");
  EXPECT_EQ(names_of(Loss{}).parse("entropy-grad"), Loss::EntropyGrad);
  EXPECT_EQ(names_of(Probe{}).parse("topo"), Probe::Topo);
  try {
    names_of(Loss{}).parse("hinge");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown loss 'hinge' (expected one of: xent, kl, logconf, entropy, entropy-grad, window, "
                 "openai-logconf, product)");
  }
}

TEST(OptionFields, RecordHoldsOnlyTheSelectedLossAndProbeOptions) {
  PipelineOptions o;
  o.loss.kind = Loss::Window;
  o.probe.kind = Probe::Logreg;
  const json::Value record = options::record(o);
  EXPECT_EQ(json::dump(record.at("loss")), R"({"name":"window","radius":"0.15"})");
  EXPECT_EQ(json::dump(record.at("probe")),
            R"({"probe":"logreg","layer":null,"relabel":false,"filter":false,"contamination":0.1,"l2p":0.001})");
}

}  // namespace
