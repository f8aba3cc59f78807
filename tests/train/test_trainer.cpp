// The training loop on a tiny random-initialised Llama: schedule, learning, determinism, resume.
#include <gtest/gtest.h>

#include <set>

#include "assets.h"
#include "trainer.h"

namespace w2s::train {
namespace {

namespace fs = std::filesystem;

TEST(Trainer, LearningRateWarmupThenCosine) {
  TrainerOptions o;
  o.lr = 1e-3;
  o.n_warmup_steps = 4;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0, 14), 0.0);  // transformers: lr 0 at the first step
  EXPECT_DOUBLE_EQ(learning_rate(o, 2, 14), 0.5e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 4, 14), 1e-3);
  EXPECT_NEAR(learning_rate(o, 9, 14), 0.5e-3, 1e-15);  // halfway through the decay
  EXPECT_NEAR(learning_rate(o, 14, 14), 0.0, 1e-15);
  o.lr_schedule = "constant";
  EXPECT_DOUBLE_EQ(learning_rate(o, 9, 14), 1e-3);
}

TEST(Trainer, ShortRunsGetAWarmupAndEvaluationsThatFitThem) {
  TrainerOptions o;  // the reference: warmup 40, eval every 25, logconf warmup 100
  o.n_epochs = 3;
  o.batch_size = 32;
  const LossOptions logconf;
  EXPECT_EQ(optimizer_steps(o, 200), 19);  // ceil(3 · 200 / 32)
  const FittedSchedule small = fit_to_run(o, logconf, 19);
  EXPECT_EQ(small.trainer.n_warmup_steps, 1);
  EXPECT_EQ(small.loss.logconf_warmup_steps, 1);
  EXPECT_EQ(small.trainer.eval_every, 4);
  EXPECT_EQ(small.changes, (std::vector<std::string>{"n_warmup_steps 40 -> 1", "logconf_warmup_steps 100 -> 1",
                                                     "eval_every 25 -> 4"}));
  EXPECT_TRUE(fit_to_run(small.trainer, small.loss, 19).changes.empty());  // fitting twice changes nothing more
  EXPECT_EQ(fit_to_run(o, logconf, 1).trainer.eval_every, 1);
  LossOptions xent;
  xent.kind = Loss::Xent;  // no warmup of its own: left as it is
  EXPECT_EQ(fit_to_run(o, xent, 19).loss.logconf_warmup_steps, 100);
  // Long enough: untouched.
  const FittedSchedule full = fit_to_run(o, logconf, optimizer_steps(o, 10000));
  EXPECT_TRUE(full.changes.empty());
  EXPECT_EQ(full.trainer.n_warmup_steps, 40);
  EXPECT_EQ(full.loss.logconf_warmup_steps, 100);
  EXPECT_EQ(full.trainer.eval_every, 25);
}

// The label is the last word: "yes" → 1, "no" → 0, after a random prefix; learnable in a few steps.
std::vector<LabelledExample> toy_set(int n, std::uint64_t seed) {
  PyRandom rng(static_cast<std::int64_t>(seed));
  std::vector<LabelledExample> out;
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    std::string txt;
    for (std::uint64_t k = 0, len = 3 + rng.randbelow(8); k < len; ++k) txt += static_cast<char>('a' + rng.randbelow(26));
    txt += label ? " yes" : " no";
    out.push_back({sha1_hex(txt + std::to_string(i)).substr(0, 8), txt, label, static_cast<double>(label)});
  }
  return out;
}

StageInputs toy_inputs() {
  StageInputs in;
  in.name = "toy";
  in.train = toy_set(64, 1);
  in.val = toy_set(16, 2);
  in.test = toy_set(32, 3);
  in.predict["val"] = in.val;
  return in;
}

StageSettings toy_settings(const fs::path& dir) {
  StageSettings s;
  s.trainer.lr = 3e-3;
  s.trainer.n_epochs = 2;
  s.trainer.minibatch_size = 4;
  s.trainer.batch_size = 8;
  s.trainer.n_warmup_steps = 2;
  s.trainer.eval_every = 4;
  s.trainer.save_every = 5;
  // The toy task is separable from step 0 (val AUROC 1 at initialisation), so the best checkpoint
  // is chosen by val loss: by AUROC it would be step 0, the untrained model.
  s.trainer.metric_for_best_model = "val_loss";
  s.loss.kind = Loss::Logconf;
  s.loss.logconf_warmup_steps = 4;
  s.transfer = true;  // exercise the logconf buffer, which is part of the checkpoint
  s.dir = dir;
  s.progress = false;
  return s;
}

Classifier toy_classifier() {
  ClassifierOptions o;
  o.lora.disable = true;
  o.run.threads = 1;
  return build_classifier("random:hidden=16,layers=1,heads=2,kv_heads=2,seed=3", o);
}

TEST(Trainer, LearnsDeterministicallyAndResumesToTheSameResult) {
  const auto dir_a = test::scratch_dir("train_trainer_a");
  const auto dir_b = test::scratch_dir("train_trainer_b");
  auto c1 = toy_classifier();
  const StageOutcome a = train_stage(c1, toy_inputs(), toy_settings(dir_a));
  EXPECT_EQ(a.steps, 16);  // 2 epochs × 64 / 8
  EXPECT_FALSE(a.resumed);
  EXPECT_GT(a.best_step, 0);
  EXPECT_GT(a.test.auroc, 0.95);
  EXPECT_LT(a.test.ce_gold, 0.5);  // from ln 2 at initialisation
  EXPECT_EQ(a.predicted.at("val").size(), 16u);
  EXPECT_TRUE(fs::exists(dir_a / "log.jsonl"));

  // Same seed, fresh folder: bit-identical on CPU.
  auto c2 = toy_classifier();
  const StageOutcome b = train_stage(c2, toy_inputs(), toy_settings(dir_b));
  EXPECT_EQ(a.test.p1, b.test.p1);
  EXPECT_EQ(a.best_step, b.best_step);

  // Folder A still holds the checkpoint of step 15 (as after a kill late in the stage): a fresh
  // process resumes there and ends where the uninterrupted run ended.
  ASSERT_TRUE(fs::exists(dir_a / "checkpoint.json"));
  auto c3 = toy_classifier();
  const StageOutcome resumed = train_stage(c3, toy_inputs(), toy_settings(dir_a));
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.best_step, a.best_step);
  ASSERT_EQ(resumed.test.p1.size(), a.test.p1.size());
  for (std::size_t i = 0; i < a.test.p1.size(); ++i) EXPECT_NEAR(resumed.test.p1[i], a.test.p1[i], 1e-6) << i;
}

// The CUDA default (bfloat16 base weights, float32 LoRA and head), run on the CPU: only the
// float32 parameters train, the base stays bfloat16 and frozen, and the task is still learned.
TEST(Trainer, LoraOnABfloat16BaseTrainsFloat32Adapters) {
  ClassifierOptions o;
  o.run = {"cpu", "bfloat16", 1};
  Classifier c = build_classifier("random:hidden=32,layers=2,heads=4,kv_heads=2,seed=3", o);
  const auto before = c.net->backbone()->named_parameters()["model.layers.0.self_attn.q_proj.weight"].clone();
  ASSERT_EQ(before.scalar_type(), torch::kBFloat16);
  const auto trainable = c.net->named_trainable_parameters();
  ASSERT_FALSE(trainable.empty());
  for (const auto& [name, p] : trainable) EXPECT_EQ(p.scalar_type(), torch::kFloat32) << name;

  StageSettings s = toy_settings(test::scratch_dir("train_trainer_bf16"));
  s.trainer.lr = 1e-2;
  s.trainer.n_epochs = 4;
  s.loss.kind = Loss::Xent;
  const StageOutcome out = train_stage(c, toy_inputs(), s);
  EXPECT_GT(out.best_step, 0);
  EXPECT_LT(out.test.loss, 0.1);  // from ln 2 at the start
  bool adapters_moved = false;  // LoRA B starts at zero
  for (const auto& [name, p] : c.net->named_trainable_parameters())
    if (name.find("lora_B") != std::string::npos && p.abs().max().item<double>() > 0) adapters_moved = true;
  EXPECT_TRUE(adapters_moved);
  EXPECT_TRUE(torch::equal(before, c.net->backbone()->named_parameters()["model.layers.0.self_attn.q_proj.weight"]));
}

// GPT-2 names its linear layers differently: "auto" adapts all of them, a list adapts those.
TEST(Trainer, LoraTargetsFollowTheArchitectureOrTheList) {
  const std::string gpt2 = (test::assets_dir() / "models/hf/fake-gpt2-tiny-random").string();
  auto adapted_layers = [](Classifier& c) {
    std::set<std::string> layers;
    for (const auto& [name, p] : c.net->named_trainable_parameters())
      if (name.find(".lora_A.") != std::string::npos) layers.insert(name.substr(0, name.find(".lora_A.")));
    return layers;
  };
  ClassifierOptions o;
  Classifier automatic = build_classifier(gpt2, o);
  EXPECT_EQ(adapted_layers(automatic),
            (std::set<std::string>{"model.transformer.h.0.attn.c_attn", "model.transformer.h.0.attn.c_proj",
                                   "model.transformer.h.0.mlp.c_fc", "model.transformer.h.0.mlp.c_proj"}));
  o.lora.modules = "c_attn";
  Classifier listed = build_classifier(gpt2, o);
  EXPECT_EQ(adapted_layers(listed), (std::set<std::string>{"model.transformer.h.0.attn.c_attn"}));
  o.lora.modules = "q_proj";  // a Llama name on GPT-2: the error lists what the model has
  EXPECT_CONTAINS(test::error_of([&] { build_classifier(gpt2, o); }), "c_attn, c_fc, c_proj");
}

TEST(Trainer, RejectsEmptySplits) {
  auto c = toy_classifier();
  auto in = toy_inputs();
  in.val.clear();
  EXPECT_THROW(train_stage(c, in, toy_settings(test::scratch_dir("train_trainer_empty"))), Error);
}

TEST(Trainer, ModelSpecErrorsNameTheProblem) {
  ClassifierOptions o;
  try {
    build_classifier("random:hidden=16,depth=3", o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'depth'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_classifier("/no/such/model", o), Error);
}

}  // namespace
}  // namespace w2s::train
