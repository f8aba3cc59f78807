// `w2s train`: the weak-to-strong fine-tuning pipeline (floor, ceiling, w2s, s2s rounds).
// Parsing only; the pipeline is lib/train.
#include <fmt/format.h>

#include <functional>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "w2s/train.h"

namespace {

namespace po = w2s::cli::po;

template <class T>
std::string shown(const T& v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

int run(int argc, char** argv) {
  w2s::train::PipelineOptions o;  // the reference defaults; a preset replaces them before the flags apply
  std::vector<std::function<void(const po::variables_map&)>> apply;
  po::options_description options("Options (defaults are the EleutherAI/w2s reference's)");

  auto add = [&](const char* name, auto* field, const std::string& help) {
    using T = std::remove_pointer_t<decltype(field)>;
    const std::string key = std::string(name).substr(0, std::string(name).find(','));
    if constexpr (std::is_same_v<T, bool>) {
      options.add_options()(name, po::value<bool>()->implicit_value(true)->value_name("BOOL"),
                            (help + " (default " + (*field ? "true" : "false") + ")").c_str());
    } else {
      options.add_options()(name, po::value<T>(), (help + " (default " + shown(*field) + ")").c_str());
    }
    apply.push_back([key, field](const po::variables_map& vm) {
      if (vm.count(key)) *field = vm[key].as<T>();
    });
  };
  std::string auroc_mode = "tie-aware";
  std::string results_folder = o.results_folder.string();  // a path is not a program_options value

  options.add_options()("preset", po::value<std::string>(),
                        "start from a named option set: reference (the defaults) or demo (random-init models, "
                        "no download, about a minute on 2 cores)");
  add("weak-model-name", &o.weak_model,
      "weak model: a Hugging Face model directory, a Hugging Face id (org/name[@revision], downloaded into the "
      "models directory when missing) or random:k=v,...");
  add("strong-model-name", &o.strong_model, "strong model (same forms)");
  add("dataset", &o.data.name, "dataset: a registry name (sst2, boolq-dev-split, sciq-binary, ...) or jsonl");
  options.add_options()("data-dir", po::value<std::string>(), "data directory (default $W2S_DATA_DIR, else ./data)")(
      "dataset-file", po::value<std::string>(), "JSONL of {\"text\", \"label\"} for --dataset jsonl")(
      "models-dir", po::value<std::string>(),
      "where Hugging Face ids are looked up and downloaded to, as models-dir/org/name (default $W2S_MODELS_DIR, "
      "else ./models)");
  add("n-train", &o.data.n_train, "training examples (split 50/50 into the weak and strong halves)");
  add("n-val", &o.data.n_val, "validation examples");
  add("n-test", &o.data.n_test, "test examples");
  add("data-seed", &o.data.seed, "seed of the data formatting and shuffles");
  add("n-epochs", &o.trainer.n_epochs, "epochs per stage");
  add("minibatch-size", &o.trainer.minibatch_size, "examples per forward pass");
  add("batch-size", &o.trainer.batch_size, "examples per optimizer step (gradient accumulation)");
  add("results-folder", &results_folder, "where results go");
  add("run-name", &o.run_name, "run folder name under the results folder");
  add("shared-folder", &o.shared_folder, "stage cache folder name under the results folder");
  add("disable-lora", &o.disable_lora, "full fine-tuning instead of LoRA");
  add("lora-rank", &o.lora_rank, "LoRA rank r");
  add("lora-alpha", &o.lora_alpha, "LoRA alpha");
  add("lora-modules", &o.lora_modules,
      "linear layers that get LoRA adapters, comma-separated, or auto (q,k,v,o,gate,up,down projections; "
      "GPT-2: c_attn,c_proj,c_fc)");
  add("lr-schedule", &o.trainer.lr_schedule, "cosine or constant, after the linear warmup");
  add("n-warmup-steps", &o.trainer.n_warmup_steps, "linear learning-rate warmup (optimizer steps)");
  add("eval-every", &o.trainer.eval_every, "evaluate val and test every N optimizer steps");
  add("save-every", &o.trainer.save_every, "resume checkpoint every N optimizer steps (0 = none)");
  add("weight-decay", &o.trainer.weight_decay, "AdamW weight decay");
  add("weak-lr", &o.weak_lr, "learning rate of the floor stage");
  add("strong-lr", &o.strong_lr, "learning rate of the ceiling, w2s and s2s stages");
  add("max-grad-norm", &o.trainer.max_grad_norm, "gradient clipping");
  add("load-best-model-at-end", &o.trainer.load_best_model_at_end, "restore the best checkpoint by the val metric");
  add("metric-for-best-model", &o.trainer.metric_for_best_model, "val_auroc, val_accuracy or val_loss");
  add("loss", &o.loss.name, "student loss: xent, kl, logconf, entropy, entropy-grad, window, openai-logconf, product");
  add("logconf-weight", &o.loss.logconf_weight, "logconf / entropy auxiliary weight");
  add("logconf-warmup-steps", &o.loss.logconf_warmup_steps, "logconf / entropy warmup (optimizer steps)");
  add("balance-batch", &o.loss.balance_batch, "logconf / entropy: balance each batch's labels");
  add("radius", &o.loss.radius, "window loss radius: a number or midweak");
  add("openai-warmup-frac", &o.loss.openai_warmup_frac, "openai-logconf warmup as a fraction of the steps (linear)");
  add("product-alpha", &o.loss.product_alpha, "product loss: exponent of the labels");
  add("product-beta", &o.loss.product_beta, "product loss: exponent of the predictions");
  add("s2s-iters", &o.s2s_iters, "strong-to-strong rounds after the w2s student");
  add("probe", &o.probe.probe, "probe on strong-model activations: knn, logreg or topo");
  options.add_options()("probe-layer", po::value<std::int64_t>(),
                        "hidden-state index of the activations (default: number of hidden states / 2)");
  add("probe-relabel", &o.probe.relabel, "students: replace train and val labels by the probe's P(1)");
  add("probe-filter", &o.probe.filter, "students: drop the contamination share of train and val (not with relabel)");
  add("contamination", &o.probe.contamination, "probe filter: share of examples to drop");
  add("k", &o.probe.knn_k, "knn: neighbours");
  add("knn-metric", &o.probe.knn_metric, "knn: euclidean (the reference's computation) or cosine (its comment)");
  add("l2p", &o.probe.logreg_l2p, "logreg: L2 penalty on the weights (the blog states 1e-2)");
  add("k-cc", &o.probe.topo_k_cc, "topo: neighbours of the TopoCC graph");
  add("k-zeta", &o.probe.topo_k_zeta, "topo: neighbours of the disagreement score and topolabel");
  add("modified", &o.probe.topo_modified, "topo: generic disagreement filter with topolabel predictions");
  add("seed", &o.trainer.seed, "training seed (data order, head initialisation)");
  add("max-length", &o.trainer.max_length, "truncate inputs to this many tokens (0 = no limit)");
  add("auroc", &auroc_mode, "AUROC: tie-aware or reference (no tie averaging, raw class-1 logit)");
  add("device", &o.device, "auto (cuda when this build sees a GPU, else cpu), cpu, cuda or cuda:N");
  add("dtype", &o.dtype, "base weights: auto (bfloat16 on cuda, float32 on cpu), float32, bfloat16 or float16");
  add("threads", &o.threads, "torch threads (0 = torch's default)");
  add("progress", &o.progress, "progress line on stderr");

  auto vm = w2s::cli::parse(argc, argv, "w2s train [--preset demo] [options]", options);
  if (!vm) return 0;
  if (vm->count("preset")) {
    o = w2s::train::preset_options((*vm)["preset"].as<std::string>());
    results_folder = o.results_folder.string();
  }
  for (auto& f : apply) f(*vm);
  o.results_folder = results_folder;
  o.trainer.auroc_mode = w2s::train::parse_auroc_mode(auroc_mode);
  if (vm->count("data-dir")) o.data.data_dir = (*vm)["data-dir"].as<std::string>();
  if (vm->count("models-dir")) o.models_dir = (*vm)["models-dir"].as<std::string>();
  if (vm->count("dataset-file")) o.data.dataset_file = (*vm)["dataset-file"].as<std::string>();
  if (vm->count("probe-layer")) o.probe.layer = (*vm)["probe-layer"].as<std::int64_t>();

  const auto summary = w2s::train::run_pipeline(o);
  std::cout << w2s::train::format_summary(summary);
  return 0;
}

w2s::cli::Registrar reg{{"train", "weak-to-strong fine-tuning: floor, ceiling, w2s and s2s stages (libtorch)", 50, run}};

}  // namespace
