// The stage-cache keys, the activations-cache keys and the recorded config of the presets and of
// every option changed one at a time, pinned to the values the code computed before the options
// were described by field lists (issue 15). A changed value here means finished stages of
// earlier runs would no longer be found (or, worse, a changed setting would reuse them): change
// a pin only together with kCacheFormat, or where the stage now trains otherwise (the w2s keys of
// the logconf-family losses changed once, when their warmup was fitted to short runs such as the
// four examples here: stage.cpp, fitted_logconf_warmup_steps).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>

#include "assets.h"
#include "stage.h"

namespace {

using namespace w2s;
using namespace w2s::train;
namespace fs = std::filesystem;

std::vector<LabelledExample> examples(const std::string& prefix, std::size_t n, bool soft) {
  std::vector<LabelledExample> xs;
  for (std::size_t i = 0; i < n; ++i) {
    const int gold = static_cast<int>(i % 2);
    xs.push_back({prefix + std::to_string(i), prefix + " text " + std::to_string(i), gold,
                  soft ? 0.1 + 0.2 * static_cast<double>(i) : static_cast<double>(gold)});
  }
  return xs;
}

json::Value data_identity() {
  json::Value d = json::Value::object();
  d.set("name", "sst2");
  d.set("seed", 0);
  d.set("sources", json::Array{json::Value(json::Object{{"sha256", "0123abcd"}})});
  return d;
}

// floor, ceiling and w2s keys, the config's sha256 and the activations key, in one line.
std::string fingerprint(const PipelineOptions& o) {
  const auto weak_half = examples("w", 4, false), strong_half = examples("s", 4, false);
  const auto val = examples("v", 2, false), test = examples("t", 2, false);
  StagePlan floor{"floor", results::Kind::TrainFloor, o.weak_model, o.weak_lr, false, {"gold", ""}, "",
                  {"floor", weak_half, val, test, {{"strong_half", strong_half}, {"val", val}}}};
  const std::string floor_key = stage_key(stage_key_material(floor, o, data_identity()));
  StagePlan ceiling{"ceiling", results::Kind::TrainCeiling, o.strong_model, o.strong_lr, false,
                    {"gold", ""}, "", {"ceiling", strong_half, val, test, {}}};
  const std::string ceiling_key = stage_key(stage_key_material(ceiling, o, data_identity()));
  StagePlan w2s{"w2s", results::Kind::TrainW2S, o.strong_model, o.strong_lr, true,
                {"weak", o.weak_model}, floor_key,
                {"w2s", examples("s", 4, true), examples("v", 2, true), test, {}}};
  w2s.inputs.predict = {{"strong_half", w2s.inputs.train}, {"val", w2s.inputs.val}};
  const std::string w2s_key = stage_key(stage_key_material(w2s, o, data_identity()));
  const std::string config = sha256_hex(json::dump(options::record(o), 2)).substr(0, 16);
  const std::string acts = stage_key(activations_key_material(w2s.inputs, o));
  return fmt::format("{} {} {} {} {}", floor_key, ceiling_key, w2s_key, config, acts);
}

PipelineOptions base(const std::string& preset) {
  PipelineOptions o = preset_options(preset);
  // What run_pipeline resolves "auto" to on a CPU; random-init models (their identity is the
  // spec alone, no files) in place of the reference's Hugging Face ids.
  o.run.device = "cpu";
  o.run.dtype = "float32";
  if (preset == "reference") {
    o.weak_model = "random:hidden=16,layers=1,heads=2,seed=3";
    o.strong_model = "random:hidden=32,layers=2,heads=4,seed=4";
  }
  return o;
}

using Change = std::function<void(PipelineOptions&)>;

const std::vector<std::pair<std::string, Change>>& changes() {
  static const std::vector<std::pair<std::string, Change>> list = {
      {"defaults", [](PipelineOptions&) {}},
      // trainer
      {"n_epochs", [](PipelineOptions& o) { o.trainer.n_epochs = 5; }},
      {"minibatch_size", [](PipelineOptions& o) { o.trainer.minibatch_size = 2; }},
      {"batch_size", [](PipelineOptions& o) { o.trainer.batch_size = 16; }},
      {"lr_schedule", [](PipelineOptions& o) { o.trainer.lr_schedule = "constant"; }},
      {"n_warmup_steps", [](PipelineOptions& o) { o.trainer.n_warmup_steps = 10; }},
      {"weight_decay", [](PipelineOptions& o) { o.trainer.weight_decay = 0.0; }},
      {"adam_beta1", [](PipelineOptions& o) { o.trainer.adam_betas[0] = 0.8; }},
      {"adam_beta2", [](PipelineOptions& o) { o.trainer.adam_betas[1] = 0.99; }},
      {"adam_eps", [](PipelineOptions& o) { o.trainer.adam_eps = 1e-6; }},
      {"max_grad_norm", [](PipelineOptions& o) { o.trainer.max_grad_norm = 0.5; }},
      {"eval_every", [](PipelineOptions& o) { o.trainer.eval_every = 10; }},
      {"save_every", [](PipelineOptions& o) { o.trainer.save_every = 0; }},
      {"load_best_model_at_end", [](PipelineOptions& o) { o.trainer.load_best_model_at_end = false; }},
      {"metric_for_best_model", [](PipelineOptions& o) { o.trainer.metric_for_best_model = "val_loss"; }},
      {"seed", [](PipelineOptions& o) { o.trainer.seed = 1; }},
      {"max_length", [](PipelineOptions& o) { o.trainer.max_length = 128; }},
      {"auroc", [](PipelineOptions& o) { o.trainer.auroc_mode = AurocMode::Reference; }},
      // learning rates, LoRA, placement
      {"weak_lr", [](PipelineOptions& o) { o.weak_lr = 1e-3; }},
      {"strong_lr", [](PipelineOptions& o) { o.strong_lr = 1e-4; }},
      {"disable_lora", [](PipelineOptions& o) { o.lora.disable = !o.lora.disable; }},
      {"lora_rank", [](PipelineOptions& o) { o.lora.rank = 16; }},
      {"lora_alpha", [](PipelineOptions& o) { o.lora.alpha = 16; }},
      {"lora_modules", [](PipelineOptions& o) { o.lora.modules = "q_proj,v_proj"; }},
      {"dtype", [](PipelineOptions& o) { o.run.dtype = "bfloat16"; }},
      {"device", [](PipelineOptions& o) { o.run.device = "cuda:0"; }},
      {"threads", [](PipelineOptions& o) { o.run.threads = 3; }},
      {"progress", [](PipelineOptions& o) { o.progress = false; }},
      // losses and their options
      {"loss=xent", [](PipelineOptions& o) { o.loss.kind = Loss::Xent; }},
      {"loss=kl", [](PipelineOptions& o) { o.loss.kind = Loss::Kl; }},
      {"loss=logconf", [](PipelineOptions& o) { o.loss.kind = Loss::Logconf; }},
      {"loss=entropy", [](PipelineOptions& o) { o.loss.kind = Loss::Entropy; }},
      {"loss=entropy-grad", [](PipelineOptions& o) { o.loss.kind = Loss::EntropyGrad; }},
      {"loss=window", [](PipelineOptions& o) { o.loss.kind = Loss::Window; }},
      {"loss=openai-logconf", [](PipelineOptions& o) { o.loss.kind = Loss::OpenaiLogconf; }},
      {"loss=product", [](PipelineOptions& o) { o.loss.kind = Loss::Product; }},
      {"logconf_weight", [](PipelineOptions& o) { o.loss.kind = Loss::Logconf, o.loss.logconf_weight = 0.3; }},
      {"logconf_warmup_steps", [](PipelineOptions& o) { o.loss.kind = Loss::Entropy, o.loss.logconf_warmup_steps = 50; }},
      {"balance_batch", [](PipelineOptions& o) { o.loss.kind = Loss::EntropyGrad, o.loss.balance_batch = true; }},
      {"radius", [](PipelineOptions& o) { o.loss.kind = Loss::Window, o.loss.radius = "midweak"; }},
      {"openai_warmup_frac", [](PipelineOptions& o) { o.loss.kind = Loss::OpenaiLogconf, o.loss.openai_warmup_frac = 0.2; }},
      {"openai_weight", [](PipelineOptions& o) { o.loss.kind = Loss::OpenaiLogconf, o.loss.logconf_weight = 0.4; }},
      {"product_alpha", [](PipelineOptions& o) { o.loss.kind = Loss::Product, o.loss.product_alpha = 2; }},
      {"product_beta", [](PipelineOptions& o) { o.loss.kind = Loss::Product, o.loss.product_beta = 3; }},
      {"unused_loss_option", [](PipelineOptions& o) { o.loss.kind = Loss::Xent, o.loss.radius = "0.3"; }},
      // probes and their options
      {"probe_filter", [](PipelineOptions& o) { o.probe.filter = true; }},
      {"probe_relabel", [](PipelineOptions& o) { o.probe.relabel = true; }},
      {"probe_layer", [](PipelineOptions& o) { o.probe.filter = true, o.probe.layer = 1; }},
      {"contamination", [](PipelineOptions& o) { o.probe.filter = true, o.probe.contamination = 0.2; }},
      {"knn_k", [](PipelineOptions& o) { o.probe.filter = true, o.probe.knn.k = 10; }},
      {"knn_metric", [](PipelineOptions& o) { o.probe.filter = true, o.probe.knn.metric = "cosine"; }},
      {"probe=logreg", [](PipelineOptions& o) { o.probe.filter = true, o.probe.kind = Probe::Logreg; }},
      {"l2p", [](PipelineOptions& o) { o.probe.relabel = true, o.probe.kind = Probe::Logreg, o.probe.logreg.l2p = 1e-2; }},
      {"probe=topo", [](PipelineOptions& o) { o.probe.filter = true, o.probe.kind = Probe::Topo; }},
      {"k_cc", [](PipelineOptions& o) { o.probe.filter = true, o.probe.kind = Probe::Topo, o.probe.topo.k_cc = 5; }},
      {"k_zeta", [](PipelineOptions& o) { o.probe.filter = true, o.probe.kind = Probe::Topo, o.probe.topo.k_zeta = 6; }},
      {"modified", [](PipelineOptions& o) { o.probe.filter = true, o.probe.kind = Probe::Topo, o.probe.topo.modified = true; }},
      {"inactive_probe_option", [](PipelineOptions& o) { o.probe.knn.k = 7; }},
      // the rest of the pipeline options
      {"s2s_iters", [](PipelineOptions& o) { o.s2s_iters = 2; }},
      {"shared_folder", [](PipelineOptions& o) { o.shared_folder = "cache"; }},
      {"results_folder", [](PipelineOptions& o) { o.results_dir = "/tmp/elsewhere"; }},
      {"run_name", [](PipelineOptions& o) { o.run_name = "other"; }},
      {"models_dir", [](PipelineOptions& o) { o.models_dir = "/tmp/models"; }},
      {"dataset", [](PipelineOptions& o) { o.data.name = "jsonl"; }},
      {"dataset_file", [](PipelineOptions& o) { o.data.dataset_file = "/tmp/x.jsonl"; }},
      {"data_dir", [](PipelineOptions& o) { o.data.data_dir = "/tmp/data"; }},
      {"n_train", [](PipelineOptions& o) { o.data.n_train = 100; }},
      {"n_val", [](PipelineOptions& o) { o.data.n_val = 10; }},
      {"n_test", [](PipelineOptions& o) { o.data.n_test = 20; }},
      {"data_seed", [](PipelineOptions& o) { o.data.seed = 5; }},
      {"weak_model", [](PipelineOptions& o) { o.weak_model = "random:hidden=8,seed=9"; }},
      {"strong_model", [](PipelineOptions& o) { o.strong_model = "random:hidden=24,seed=9"; }},
  };
  return list;
}

// preset/change -> floor ceiling w2s config activations
const std::map<std::string, std::string>& pinned() {
  static const std::map<std::string, std::string> pins = {
      {"demo/defaults", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/n_epochs", "f5afb59d99e86b4f 1cb893d44ce68430 f9f40a23f8ab76fa 8258d9ff506ef247 260fa0029c48f1ba"},
      {"demo/minibatch_size", "a82ce276d1ea0c0b 8de161b2ced08c3e 98d27562aaa93e3f 54ed0f9ff031f692 260fa0029c48f1ba"},
      {"demo/batch_size", "f999db4124aa1eb7 b39eea1f14746d80 1b09da89347437bc d4836ec36aa027cf 260fa0029c48f1ba"},
      {"demo/lr_schedule", "70be8eaf7add5e09 596819f4dbdc8ddf 4d1369cb6133e420 68ba9deea90fd670 260fa0029c48f1ba"},
      {"demo/n_warmup_steps", "2a80ef7762aaef91 d843fd905714e27a df3d335e2bcae336 c243039e25828e52 260fa0029c48f1ba"},
      {"demo/weight_decay", "d2fd5d2134dd4684 0451e4350f446b59 2c8afb8f46987909 1d29767c0a8b098f 260fa0029c48f1ba"},
      {"demo/adam_beta1", "fa7b914181fd4728 d968962773990d59 67df14e588de0e1d 21d8177c98a8de25 260fa0029c48f1ba"},
      {"demo/adam_beta2", "f6efbd5d46146c47 6e1594e12209f919 cb1f76cbfe8bb06a 9a93377c7f09d729 260fa0029c48f1ba"},
      {"demo/adam_eps", "e378dd746c82d5a5 ab7d9a895f21ff13 71287f0add01fee6 53cf6339a41730b6 260fa0029c48f1ba"},
      {"demo/max_grad_norm", "d7918c17419fb515 1fc84b8b84d928da 712639e90575f360 b0e45d1ee4cdd178 260fa0029c48f1ba"},
      {"demo/eval_every", "3d3900fee0e5eb84 0c11a720275bfbe9 265c7fa07a0c2757 afe10b09ffd80241 260fa0029c48f1ba"},
      {"demo/save_every", "9f774b177ac7d1ef dabf6b6a81cd80b0 8ec07c9f2d5addd6 7989126d423c59db 260fa0029c48f1ba"},
      {"demo/load_best_model_at_end", "b17850bc0d80bddd 06fb6bac1097846c fc544123cff62717 17d162aa88b0eb2f 260fa0029c48f1ba"},
      {"demo/metric_for_best_model", "4c6e8fda9873a66b 9902e8ee29bc8860 7ead545161f74de7 54ad1856f7f45f65 260fa0029c48f1ba"},
      {"demo/seed", "14693dc636992a05 3adf9c36b35ab6bb 146d25f5bdf0dda6 85344fe503bfacd0 260fa0029c48f1ba"},
      {"demo/max_length", "710fb65f1cf0a77e f688bd86c56d56d8 f3ba10f0ce57327c 3bc13895802a32fe 8c9b5ddf38735852"},
      {"demo/auroc", "44b60682cf87a963 b800550f254b452a 98856c37359f40a0 e9554ec9abc0dfe4 260fa0029c48f1ba"},
      {"demo/weak_lr", "70eb0e35ed43f0d6 3b6453c62c8418c9 32e15bcf628807dc 363688524a86f523 260fa0029c48f1ba"},
      {"demo/strong_lr", "331f5431bf95d174 57dadd1ec651635e 130c478f32fa6b41 795199c66101aa27 260fa0029c48f1ba"},
      {"demo/disable_lora", "36140512e2b5fbad b031f35f4b6c7e02 02ca481bbd467553 a48478dbe5c5d242 260fa0029c48f1ba"},
      {"demo/lora_rank", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 c33b4f36b7b48bcc 260fa0029c48f1ba"},
      {"demo/lora_alpha", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 112ceeb957484e33 260fa0029c48f1ba"},
      {"demo/lora_modules", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 c474611520d93569 260fa0029c48f1ba"},
      {"demo/dtype", "58ecbb35dadf8342 e47db0d893dd7344 8eb70366a313048d ea83bae0babbbf1c 3e8a309ad9e604f6"},
      {"demo/device", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 dca2871d5f65cd37 260fa0029c48f1ba"},
      {"demo/threads", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/progress", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/loss=xent", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/loss=kl", "331f5431bf95d174 3b6453c62c8418c9 8b42d35c351f4feb 82eb44c10d43ed3f 260fa0029c48f1ba"},
      {"demo/loss=logconf", "331f5431bf95d174 3b6453c62c8418c9 96a3f7035136542c 28c7b4431a02f0ed 260fa0029c48f1ba"},
      {"demo/loss=entropy", "331f5431bf95d174 3b6453c62c8418c9 13cd692dbb8b83a3 14f636f0dbbb99dc 260fa0029c48f1ba"},
      {"demo/loss=entropy-grad", "331f5431bf95d174 3b6453c62c8418c9 30c0026f4a30a311 82f1d242c522bea8 260fa0029c48f1ba"},
      {"demo/loss=window", "331f5431bf95d174 3b6453c62c8418c9 e8178e50a00a40b5 dc6bdf129e4172e7 260fa0029c48f1ba"},
      {"demo/loss=openai-logconf", "331f5431bf95d174 3b6453c62c8418c9 3d770a3f7ea85b32 bdda7dfc5ba8e31f 260fa0029c48f1ba"},
      {"demo/loss=product", "331f5431bf95d174 3b6453c62c8418c9 353146b1dbc361fc b3b17cd46ef56a02 260fa0029c48f1ba"},
      {"demo/logconf_weight", "331f5431bf95d174 3b6453c62c8418c9 d968bce88958f1b0 d772828acba9ffaf 260fa0029c48f1ba"},
      {"demo/logconf_warmup_steps", "331f5431bf95d174 3b6453c62c8418c9 0b3dd87cd86764c9 f9c7055e7182f9d4 260fa0029c48f1ba"},
      {"demo/balance_batch", "331f5431bf95d174 3b6453c62c8418c9 51db5c183528b525 afabad1ec0819288 260fa0029c48f1ba"},
      {"demo/radius", "331f5431bf95d174 3b6453c62c8418c9 514fca5673351e96 8a20c1e3b86e9ba2 260fa0029c48f1ba"},
      {"demo/openai_warmup_frac", "331f5431bf95d174 3b6453c62c8418c9 b9bb8f1736335725 83a698bf022da593 260fa0029c48f1ba"},
      {"demo/openai_weight", "331f5431bf95d174 3b6453c62c8418c9 d625ed5129d218b9 39587c8959a25670 260fa0029c48f1ba"},
      {"demo/product_alpha", "331f5431bf95d174 3b6453c62c8418c9 2d099945476cd052 4a9cc18aa643debd 260fa0029c48f1ba"},
      {"demo/product_beta", "331f5431bf95d174 3b6453c62c8418c9 bfe6cab458c5dcea 5878b8a6bedf8a78 260fa0029c48f1ba"},
      {"demo/unused_loss_option", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/probe_filter", "331f5431bf95d174 3b6453c62c8418c9 5ba660a540688f32 7e8037224d2657ce 260fa0029c48f1ba"},
      {"demo/probe_relabel", "331f5431bf95d174 3b6453c62c8418c9 0323c1b17f77b3bc e06f7d42958ba65a 260fa0029c48f1ba"},
      {"demo/probe_layer", "331f5431bf95d174 3b6453c62c8418c9 a8f4e36f61f3b718 c2000f88e96bc2a1 b121731d75de16da"},
      {"demo/contamination", "331f5431bf95d174 3b6453c62c8418c9 1d7c3cbd295cbe97 ac5107388dc24820 260fa0029c48f1ba"},
      {"demo/knn_k", "331f5431bf95d174 3b6453c62c8418c9 bae76796089c4a3a ec577e6e9c060a9a 260fa0029c48f1ba"},
      {"demo/knn_metric", "331f5431bf95d174 3b6453c62c8418c9 fde665099bc2b25f f08780bfd7380424 260fa0029c48f1ba"},
      {"demo/probe=logreg", "331f5431bf95d174 3b6453c62c8418c9 04fd0456971caf8a 81cd4e2de3fcdd12 260fa0029c48f1ba"},
      {"demo/l2p", "331f5431bf95d174 3b6453c62c8418c9 97169c0cadd0e059 736f60f1288333f6 260fa0029c48f1ba"},
      {"demo/probe=topo", "331f5431bf95d174 3b6453c62c8418c9 e5ae6f940cdb1899 c9d162335839d088 260fa0029c48f1ba"},
      {"demo/k_cc", "331f5431bf95d174 3b6453c62c8418c9 5a8c0dc1132f481c 1966eb0794ef2c14 260fa0029c48f1ba"},
      {"demo/k_zeta", "331f5431bf95d174 3b6453c62c8418c9 c8b2a22741860f5e 25f8d9703e9c82b3 260fa0029c48f1ba"},
      {"demo/modified", "331f5431bf95d174 3b6453c62c8418c9 e3db45357ea11cc6 cf7033fe1b60d5b3 260fa0029c48f1ba"},
      {"demo/inactive_probe_option", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 96635f1ffd03e9aa 260fa0029c48f1ba"},
      {"demo/s2s_iters", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 dea26748dac15901 260fa0029c48f1ba"},
      {"demo/shared_folder", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 dd7c3a40f13254c9 260fa0029c48f1ba"},
      {"demo/results_folder", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/run_name", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/models_dir", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/dataset", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 e112446f0d070c79 260fa0029c48f1ba"},
      {"demo/dataset_file", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 f6575b7745ecc215 260fa0029c48f1ba"},
      {"demo/data_dir", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 1a9ce82f1697d8d8 260fa0029c48f1ba"},
      {"demo/n_train", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 25b2402da2082f05 260fa0029c48f1ba"},
      {"demo/n_val", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 d6e8c966d846f08b 260fa0029c48f1ba"},
      {"demo/n_test", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 943e511fe8daebc1 260fa0029c48f1ba"},
      {"demo/data_seed", "331f5431bf95d174 3b6453c62c8418c9 68b52b1bac75d3e3 49b4b88e2adb5f89 260fa0029c48f1ba"},
      {"demo/weak_model", "789f15c45ba5c3cd 3b6453c62c8418c9 269951e1d5b763a1 d28920104317e8f1 260fa0029c48f1ba"},
      {"demo/strong_model", "331f5431bf95d174 13f7bbe6c60c45b2 dc2de045781023a3 285f57f37f61fc1d f9e24fb808a1180f"},
      {"reference/defaults", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/n_epochs", "f826c1282a587b94 0cae9d770675b6f2 5db0c6ca760f1a08 e94e17252744ef48 4cdfb56dddd277af"},
      {"reference/minibatch_size", "b8a47cdffbacbafe 67dd08010b49a282 6df779e8002e989f a1ceb772c8b0ef1d 4cdfb56dddd277af"},
      {"reference/batch_size", "87d2618b3ebe6f31 16a501ae03f261e1 74349d855456733b 7ccadd60a8759251 4cdfb56dddd277af"},
      {"reference/lr_schedule", "4c998d2ef0442951 b1c5f0aed50f26d1 4fb60e4bdb29679e 9985b6091101e0b4 4cdfb56dddd277af"},
      {"reference/n_warmup_steps", "ebb66c7360094f8c 8672f85c789cf249 a737936240763a4c a66345c26e3974bc 4cdfb56dddd277af"},
      {"reference/weight_decay", "92f6a3e373d751f1 930954f76f930b42 3734fa85cab9bc4d e52d1570179a7d60 4cdfb56dddd277af"},
      {"reference/adam_beta1", "628d2ae8ac30bca0 dbdf93ebc9b4e885 0663324bfc497e0c 96f4539376e1c579 4cdfb56dddd277af"},
      {"reference/adam_beta2", "e59a115609f83884 b1f3e19c4065386e c901665aed15c72c 6beb1fe665d6a5c4 4cdfb56dddd277af"},
      {"reference/adam_eps", "d57c3d7b5e336b8d 4123c6e74c4f54b5 f2a147e73a8c3b9c 0e1463276103f037 4cdfb56dddd277af"},
      {"reference/max_grad_norm", "45e989e27dc7433c f0fb16e64accdc88 f65bac197c707b82 5f80f2a4ed633d89 4cdfb56dddd277af"},
      {"reference/eval_every", "a6abb50c8c8a705e 26bb55442c9923d0 4b8f7e58fd4357f8 0c6eafa3c99b7675 4cdfb56dddd277af"},
      {"reference/save_every", "796ac83710dbd328 59bfdd10d9452fa3 320c1e2062fd5451 3ad952f3a512324e 4cdfb56dddd277af"},
      {"reference/load_best_model_at_end", "fd94d2aa7654ce99 60bfb82cadd17f73 ed83098298666587 4fb565b1c877645d 4cdfb56dddd277af"},
      {"reference/metric_for_best_model", "1974faf826019715 f5c91bb25b5e3bb8 c1336fe625afe870 6b76adc33521450c 4cdfb56dddd277af"},
      {"reference/seed", "7aa5de6f6b7c9f2c c22c396b0e9b824b 3d07a6a7fa1950c6 074f97b1a46adb20 4cdfb56dddd277af"},
      {"reference/max_length", "1c73d9f224c6e5f7 754c2b01362fa08d 71f628fef8628958 55f9c26ed1b8127f 1d0b0eb3a212ee04"},
      {"reference/auroc", "5f51353b4e27f462 e51ff30f3ec0cc56 b25b428af8edba32 fc409e7de42751e1 4cdfb56dddd277af"},
      {"reference/weak_lr", "9b003fa4de3d7b56 b21cea86e8682d6e 61b71a5e7b766e10 2377ce3cc7338ba0 4cdfb56dddd277af"},
      {"reference/strong_lr", "b39b5df3972b4095 99bf19611808165e 813ab4e726a34d70 b8a56978c215ae86 4cdfb56dddd277af"},
      {"reference/disable_lora", "9a4da3525b749c41 f9cec2a4f8dd6c60 5be9a0637ce970fb 65ddfd60fc3d6e40 4cdfb56dddd277af"},
      {"reference/lora_rank", "52874883d61397f2 68f0ff2c9d46f195 352d7aae7074da35 0348c001f86fb7ee 4cdfb56dddd277af"},
      {"reference/lora_alpha", "6b8504909421125f cdcaed9c89b6884c ada633287c39e8a7 bdd50add4e6b9a65 4cdfb56dddd277af"},
      {"reference/lora_modules", "7875c733be17e2a6 5e04a10a1b436755 257baf3610a76222 972884eed75af74f 4cdfb56dddd277af"},
      {"reference/dtype", "0734aeda1f911772 4a4ef60689cf22ff 5b8ba7c9a4ec5301 5f5f4ab9a401d4cb 05715f85df37a057"},
      {"reference/device", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 4056e0c7602af73e 4cdfb56dddd277af"},
      {"reference/threads", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/progress", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/loss=xent", "b39b5df3972b4095 b21cea86e8682d6e d6818cbab1f48250 dca75b364da788e4 4cdfb56dddd277af"},
      {"reference/loss=kl", "b39b5df3972b4095 b21cea86e8682d6e 361424515e57e269 51f54d9d77803749 4cdfb56dddd277af"},
      {"reference/loss=logconf", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/loss=entropy", "b39b5df3972b4095 b21cea86e8682d6e b5a0b68568810a9a f415f27b9eb5a441 4cdfb56dddd277af"},
      {"reference/loss=entropy-grad", "b39b5df3972b4095 b21cea86e8682d6e 179ed029dc19938f b27f35b2bc5803bc 4cdfb56dddd277af"},
      {"reference/loss=window", "b39b5df3972b4095 b21cea86e8682d6e 61eb02aabb844bc3 b353bfa8722a33c2 4cdfb56dddd277af"},
      {"reference/loss=openai-logconf", "b39b5df3972b4095 b21cea86e8682d6e 16b8649f2564a0db 7c091008f0cee267 4cdfb56dddd277af"},
      {"reference/loss=product", "b39b5df3972b4095 b21cea86e8682d6e 48580fe6337a2625 9800af604255ed16 4cdfb56dddd277af"},
      {"reference/logconf_weight", "b39b5df3972b4095 b21cea86e8682d6e efeb055aaf2e0ed1 1ab1dff93ca6a217 4cdfb56dddd277af"},
      {"reference/logconf_warmup_steps", "b39b5df3972b4095 b21cea86e8682d6e dccc87518e1e0f4c 62320e7d993c4a9a 4cdfb56dddd277af"},
      {"reference/balance_batch", "b39b5df3972b4095 b21cea86e8682d6e 5d0f0b3dafad2ddf eaf4565aa66dfd80 4cdfb56dddd277af"},
      {"reference/radius", "b39b5df3972b4095 b21cea86e8682d6e 6bf0c21e59fb5339 c6b3ebd46b7780e2 4cdfb56dddd277af"},
      {"reference/openai_warmup_frac", "b39b5df3972b4095 b21cea86e8682d6e 4c3af79604dab871 277be219d39edf1a 4cdfb56dddd277af"},
      {"reference/openai_weight", "b39b5df3972b4095 b21cea86e8682d6e d260c5655058595d f01b5c0dae6a460f 4cdfb56dddd277af"},
      {"reference/product_alpha", "b39b5df3972b4095 b21cea86e8682d6e df1c4fdebd6144fa 3f734d25b832675c 4cdfb56dddd277af"},
      {"reference/product_beta", "b39b5df3972b4095 b21cea86e8682d6e 7531acf1a948682d 34727eab8310214d 4cdfb56dddd277af"},
      {"reference/unused_loss_option", "b39b5df3972b4095 b21cea86e8682d6e d6818cbab1f48250 dca75b364da788e4 4cdfb56dddd277af"},
      {"reference/probe_filter", "b39b5df3972b4095 b21cea86e8682d6e 9afe98ca35a5105b 1495d6fe40f892fe 4cdfb56dddd277af"},
      {"reference/probe_relabel", "b39b5df3972b4095 b21cea86e8682d6e cfa46627b28d7b92 4a78d17355744031 4cdfb56dddd277af"},
      {"reference/probe_layer", "b39b5df3972b4095 b21cea86e8682d6e 81ad21d788f71ad0 b1e6951b45405209 c729d36a0fc1e270"},
      {"reference/contamination", "b39b5df3972b4095 b21cea86e8682d6e 7837d3e584e953a7 73bc8b7707b3cecb 4cdfb56dddd277af"},
      {"reference/knn_k", "b39b5df3972b4095 b21cea86e8682d6e 7f1c5ad86a9f0fad 3d882ec4d8022849 4cdfb56dddd277af"},
      {"reference/knn_metric", "b39b5df3972b4095 b21cea86e8682d6e fd547e0363183231 f0f945afadda9825 4cdfb56dddd277af"},
      {"reference/probe=logreg", "b39b5df3972b4095 b21cea86e8682d6e 0f2226488a34673c c9067ce32ab627e8 4cdfb56dddd277af"},
      {"reference/l2p", "b39b5df3972b4095 b21cea86e8682d6e 764e0acb6fd7a015 e74a5d12295f64e5 4cdfb56dddd277af"},
      {"reference/probe=topo", "b39b5df3972b4095 b21cea86e8682d6e 0bc3dc18cc660199 4e1b81829cc53152 4cdfb56dddd277af"},
      {"reference/k_cc", "b39b5df3972b4095 b21cea86e8682d6e 1739b85c1b1866ba 3afb6106a2a1b71e 4cdfb56dddd277af"},
      {"reference/k_zeta", "b39b5df3972b4095 b21cea86e8682d6e ee668c6637b6b6a4 4a9b886eb9fb6413 4cdfb56dddd277af"},
      {"reference/modified", "b39b5df3972b4095 b21cea86e8682d6e 323c09394077ff31 9d915218fa588338 4cdfb56dddd277af"},
      {"reference/inactive_probe_option", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 a1bc7fec61b1a17b 4cdfb56dddd277af"},
      {"reference/s2s_iters", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 419c016df662df1b 4cdfb56dddd277af"},
      {"reference/shared_folder", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 51870b8fb223e6f1 4cdfb56dddd277af"},
      {"reference/results_folder", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/run_name", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/models_dir", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/dataset", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 278772dd0bb8443d 4cdfb56dddd277af"},
      {"reference/dataset_file", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 90e3899fcfc4dc48 4cdfb56dddd277af"},
      {"reference/data_dir", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 2c5c232c1ec879ca 4cdfb56dddd277af"},
      {"reference/n_train", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 b860d608ffee3e19 4cdfb56dddd277af"},
      {"reference/n_val", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 40ced4433c47f91d 4cdfb56dddd277af"},
      {"reference/n_test", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 d602c4b67cd47902 4cdfb56dddd277af"},
      {"reference/data_seed", "b39b5df3972b4095 b21cea86e8682d6e d2b38b1d27238d46 42da54973741cce4 4cdfb56dddd277af"},
      {"reference/weak_model", "b80b2a197bc5ecfd b21cea86e8682d6e 3e3b4154dc961630 8f67593e58e8fc77 4cdfb56dddd277af"},
      {"reference/strong_model", "b39b5df3972b4095 fd53ce251adaec0b bddfe436df6839f0 50785820b9790b20 3ca217361f4d6f75"},
  };
  return pins;
}

TEST(StageKeys, EqualThePinnedKeysOfEveryPresetAndOption) {
  std::string computed;
  for (const std::string preset : {"demo", "reference"}) {
    for (const auto& [name, change] : changes()) {
      PipelineOptions o = base(preset);
      change(o);
      const std::string id = preset + "/" + name;
      const std::string value = fingerprint(o);
      computed += fmt::format("      {{\"{}\", \"{}\"}},\n", id, value);
      const auto it = pinned().find(id);
      if (it == pinned().end()) {
        ADD_FAILURE() << "no pin for " << id;
        continue;
      }
      EXPECT_EQ(value, it->second) << id;
    }
  }
  if (HasFailure()) std::cout << "computed pins:\n" << computed;
}

// Issue 16.2: a model directory is identified by its files' content. Overwriting the weights with
// other values of the same size is another model: another stage key (a cache miss).
TEST(StageKeys, ModelWeightsAreIdentifiedByContentNotSize) {
  const auto scratch = test::scratch_dir("train_model_identity");
  const fs::path model = scratch / "model";
  fs::copy(test::assets_dir() / "models/hf/stories260K-llama", model);
  PipelineOptions o = base("reference");
  o.results_dir = (scratch / "results").string();
  o.weak_model = model.string();
  const auto weak_half = examples("w", 4, false), strong_half = examples("s", 4, false), val = examples("v", 2, false);
  StagePlan floor{"floor", results::Kind::TrainFloor, o.weak_model, o.weak_lr, false, {"gold", ""}, "",
                  {"floor", weak_half, val, examples("t", 2, false), {{"strong_half", strong_half}}}};
  const std::string before = stage_key(stage_key_material(floor, o, data_identity()));
  EXPECT_EQ(stage_key(stage_key_material(floor, o, data_identity())), before);

  const fs::path weights = model / "model.safetensors";
  const auto size = fs::file_size(weights);
  std::string bytes = read_file(weights);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x5a);  // one value's last byte, same size
  write_file_atomic(weights, bytes);
  ASSERT_EQ(fs::file_size(weights), size);
  EXPECT_NE(stage_key(stage_key_material(floor, o, data_identity())), before);

  // The hashes are remembered beside the stage cache, keyed by path, size and modification time.
  const fs::path memo = scratch / "results" / "shared" / "file-hashes.json";
  ASSERT_TRUE(fs::exists(memo));
  const json::Value entries = json::parse_file(memo);
  const json::Value* entry = entries.find(fs::absolute(weights).lexically_normal().string());
  ASSERT_NE(entry, nullptr) << json::dump(entries, 1);
  EXPECT_EQ(entry->get_string("sha256"), sha256_hex(bytes));
}

// A remembered hash is used while the file's size and modification time are unchanged (so large
// checkpoints are not re-read), and recomputed when either changes.
TEST(StageKeys, FileHashMemoIsReusedUntilTheFileChanges) {
  const auto scratch = test::scratch_dir("train_hash_memo");
  const fs::path file = scratch / "weights.bin", memo = scratch / "memo" / "file-hashes.json";
  write_file_atomic(file, "first");
  EXPECT_EQ(w2s::model::file_sha256(file, memo), sha256_hex("first"));
  // Plant a different hash under the file's current stamp: the memo's answer is returned.
  json::Value entries = json::parse_file(memo);
  const std::string key = fs::absolute(file).lexically_normal().string();
  json::Value entry = *entries.find(key);
  entry.set("sha256", "remembered");
  entries.set(key, entry);
  write_file_atomic(memo, json::dump(entries, 1));
  EXPECT_EQ(w2s::model::file_sha256(file, memo), "remembered");
  // Same size, new content and modification time: hashed again.
  write_file_atomic(file, "other");
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
  EXPECT_EQ(w2s::model::file_sha256(file, memo), sha256_hex("other"));
  EXPECT_EQ(w2s::model::file_sha256(file, ""), sha256_hex("other"));  // no memo: always hashed
}

}  // namespace
