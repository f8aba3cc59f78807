// The presets resolve to valid options, and the demo's random-init model specs build (without a
// training run: the full demo takes minutes and is measured in docs/training.md).
#include <gtest/gtest.h>

#include "trainer.h"
#include "w2s/train.h"

namespace {

using namespace w2s::train;

TEST(Preset, EveryPresetValidates) {
  for (const auto& name : preset_names()) EXPECT_NO_THROW(validate(preset_options(name))) << name;
  EXPECT_THROW(preset_options("nope"), w2s::Error);
}

TEST(Preset, DemoBuildsItsRandomModelsWithTheWordTokenizer) {
  const PipelineOptions o = preset_options("demo");
  EXPECT_EQ(o.data.name, "sst2");
  EXPECT_TRUE(o.lora.disable);
  ClassifierOptions c;
  c.lora = o.lora;
  c.run.threads = o.run.threads;
  const Classifier weak = build_classifier(o.weak_model, c);
  const Classifier strong = build_classifier(o.strong_model, c);
  EXPECT_EQ(weak.tokenizer.kind(), "built-in hashed words");
  EXPECT_EQ(strong.tokenizer.kind(), "built-in hashed words");
  auto trainable = [](const Classifier& m) {
    std::int64_t n = 0;
    for (const auto& p : m.net->parameters())
      if (p.requires_grad()) n += p.numel();
    return n;
  };
  EXPECT_LT(trainable(weak) * 4, trainable(strong));  // the strong model is clearly larger
}

TEST(Preset, RandomSpecRejectsVocabWithoutWords) {
  ClassifierOptions c;
  EXPECT_THROW(build_classifier("random:hidden=8,vocab=100", c), w2s::Error);
  EXPECT_THROW(build_classifier("random:hidden=8,tokenizer=words,vocab=2", c), w2s::Error);
  EXPECT_THROW(build_classifier("random:hidden=8,tokenizer=words,vocab=x", c), w2s::Error);
}

}  // namespace
