// The presets resolve to valid options, and the demo's random-init model specs build (without a
// training run: the full demo takes minutes and is measured in docs/training.md).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "assets.h"
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
  EXPECT_EQ(o.data.name, "sst2-demo");  // built in: no download
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

// The README's main job must run offline: the demo's data is built in, so it loads from an empty
// data directory with downloads disabled (any file it would have to fetch makes this throw).
TEST(Preset, DemoReadsItsBuiltInDataWithoutDownloading) {
  w2s::data::TrainingDataOptions d = preset_options("demo").data;
  d.data_dir = w2s::test::scratch_dir("demo_data").string();
  d.allow_download = false;
  const w2s::data::TrainingData data = w2s::data::load_training_data(d);
  EXPECT_EQ(data.train.size(), 20000u);
  EXPECT_EQ(data.val.size(), 500u);
  EXPECT_EQ(data.test.size(), 856u);  // GLUE dev balanced: 2 x 428 negatives
  std::vector<std::string> sums;
  for (const auto& s : data.sources) sums.push_back(s.sha256);
  // train.tsv, then dev.tsv: the pinned sums of data/sst2-demo/README.md.
  EXPECT_EQ(sums, (std::vector<std::string>{"13a8cd232a58a091aeeb3fd9b13864c608add2f099a361f615eea8bbfddf20c3",
                                            "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"}));
}

TEST(Preset, RandomSpecRejectsVocabWithoutWords) {
  ClassifierOptions c;
  EXPECT_THROW(build_classifier("random:hidden=8,vocab=100", c), w2s::Error);
  EXPECT_THROW(build_classifier("random:hidden=8,tokenizer=words,vocab=2", c), w2s::Error);
  EXPECT_THROW(build_classifier("random:hidden=8,tokenizer=words,vocab=x", c), w2s::Error);
}

}  // namespace
