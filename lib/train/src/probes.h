// Internal (torch-facing) interface of the activation probes (docs/reference-behaviour.md §17). All
// tensors are float32 on the CPU: x [N, D] activations, y [N] soft labels P(1).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "w2s/train.h"

namespace w2s::train {

// Mean label of the k nearest fit points (Euclidean; "cosine" normalises rows first). A query
// that is also a fit point counts itself, as the reference does.
torch::Tensor knn_predict(const torch::Tensor& fit_x, const torch::Tensor& fit_y, const torch::Tensor& query_x,
                          std::int64_t k, const std::string& metric = "euclidean");

// Logistic regression D → 1 (zero init, fp32) fitted by L-BFGS with strong-Wolfe line search on
// BCE-with-logits(soft labels) + l2p·‖W‖² (bias not penalised); returns σ(x·W + b) of the queries.
torch::Tensor logreg_predict(const torch::Tensor& fit_x, const torch::Tensor& fit_y, const torch::Tensor& query_x,
                             double l2p);

// TopoCC: the union of the largest strongly connected components of each class's subgraph of the
// directed k-nearest-neighbour graph (k nearest among all points, self excluded). Sorted indices.
std::vector<std::int64_t> topo_cc(const torch::Tensor& x, const torch::Tensor& y, std::int64_t k);

// TopoCC, then inside it drop the points whose label disagrees most with their k_zeta nearest
// TopoCC neighbours, so that round(N·contamination) points are removed in all (or only the TopoCC
// removals when those are already more). Sorted kept indices; `topo_removed` = N − |TopoCC|.
std::vector<std::int64_t> topo_filter(const torch::Tensor& x, const torch::Tensor& y, std::int64_t k_cc,
                                      std::int64_t k_zeta, double contamination, std::int64_t* topo_removed = nullptr);

// topolabel: mean label of each query's k_zeta nearest TopoCC points of the fit set.
torch::Tensor topo_predict(const torch::Tensor& fit_x, const torch::Tensor& fit_y, const torch::Tensor& query_x,
                           std::int64_t k_cc, std::int64_t k_zeta);

// Generic filter: drop the int(contamination·N) examples with the largest |prediction − label|.
// Sorted kept indices.
std::vector<std::int64_t> disagreement_filter(const torch::Tensor& predictions, const torch::Tensor& labels,
                                              double contamination);

}  // namespace w2s::train

namespace w2s::train {

// Activations at one hidden-state index of the last real token, [N, D] float32 on the CPU.
struct Activations {
  torch::Tensor train, val, test;
};

// What a probe did to a transfer stage's labels.
struct ProbeResult {
  std::vector<std::int64_t> train_kept, val_kept;  // indices into the stage's train / val
  std::vector<double> train_labels, val_labels;    // the labels of the kept rows (relabelled or not)
  // File name → content: {split}_probe_metrics.json, {split}_filter_sizes.json
  std::vector<std::pair<std::string, json::Value>> reports;
};

// Fits the probe on train activations + current train labels, predicts train / val / test, and
// filters or relabels train and val (docs/reference-behaviour.md §17).
struct Gold {
  std::vector<double> train, val, test;  // for the reports only
};
ProbeResult apply_probe(const ProbeOptions& options, const Activations& acts, const std::vector<double>& train_labels,
                        const std::vector<double>& val_labels, const Gold& gold, AurocMode auroc_mode);

}  // namespace w2s::train
