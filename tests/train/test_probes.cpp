// Activation probes (docs/reference-behaviour.md §17) on small hand-made point sets.
#include <gtest/gtest.h>

#include <algorithm>

#include "probes.h"

namespace w2s::train {
namespace {

torch::Tensor points(const std::vector<float>& xs) {
  return torch::tensor(xs, torch::kFloat).view({static_cast<std::int64_t>(xs.size()), 1});
}

std::vector<double> values(const torch::Tensor& t) {
  const auto d = t.to(torch::kDouble).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

TEST(Probes, KnnMeansTheNearestLabelsIncludingItself) {
  const auto x = points({0, 1, 2, 10, 11});
  const auto y = torch::tensor({0.0f, 0.2f, 1.0f, 1.0f, 0.6f});
  // Query 0.4: nearest 0 and 1 → (0 + 0.2)/2. A fit point counts itself: 10 → (1 + 0.6)/2.
  const auto p = values(knn_predict(x, y, points({0.4f, 10.0f}), 2));
  EXPECT_NEAR(p[0], 0.1, 1e-6);
  EXPECT_NEAR(p[1], 0.8, 1e-6);
  // k larger than the fit set: the mean of everything.
  EXPECT_NEAR(values(knn_predict(x, y, points({5}), 50))[0], 0.56, 1e-6);
  EXPECT_THROW(knn_predict(x, y, points({5}), 2, "manhattan"), Error);
}

TEST(Probes, KnnCosineIgnoresTheNorm) {
  const auto x = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2});
  const auto y = torch::tensor({0.0f, 1.0f});
  // (10, 1) is nearer to (0, 1) in Euclidean distance only for small norms; in angle it is (1, 0).
  const auto q = torch::tensor({10.0f, 1.0f}).view({1, 2});
  EXPECT_NEAR(values(knn_predict(x, y, q, 1, "cosine"))[0], 0.0, 1e-6);
  const auto q2 = torch::tensor({0.3f, 0.9f}).view({1, 2});
  EXPECT_NEAR(values(knn_predict(x, y, q2, 1, "euclidean"))[0], 1.0, 1e-6);
}

TEST(Probes, LogregReachesTheOptimum) {
  // Soft labels, overlapping classes. At the optimum the unpenalised bias has zero gradient:
  // mean(σ(xW + b)) = mean(y) on the fit set; and P(1) rises with x.
  const auto x = points({-2, -1, -0.5f, 0, 0.5f, 1, 2});
  const auto y = torch::tensor({0.1f, 0.3f, 0.6f, 0.4f, 0.7f, 0.6f, 0.9f});
  const auto p = values(logreg_predict(x, y, x, 1e-3));
  double mean_p = 0;
  for (double v : p) mean_p += v / 7;
  EXPECT_NEAR(mean_p, values(y.mean())[0], 1e-4);
  for (std::size_t i = 1; i < p.size(); ++i) EXPECT_GT(p[i], p[i - 1]);
  // A larger penalty shrinks W: the predictions spread less.
  const auto shrunk = values(logreg_predict(x, y, x, 1.0));
  EXPECT_LT(shrunk.back() - shrunk.front(), p.back() - p.front());
  EXPECT_GT(shrunk.back(), shrunk.front());
}

// Two clusters (around 0 and around 10), each labelled by its side, plus one point at 0.05
// labelled 1: its nearest neighbours are all class 0, so it is cut off from the class-1 graph.
torch::Tensor cluster_x() { return points({0, 0.1f, 0.2f, 0.3f, 0.4f, 10, 10.1f, 10.2f, 10.3f, 10.4f, 0.05f}); }
torch::Tensor cluster_y() { return torch::tensor({0.f, 0.f, 0.f, 0.f, 0.2f, 1.f, 1.f, 1.f, 1.f, 0.9f, 1.f}); }

TEST(Probes, TopoCcDropsPointsOutsideTheLargestComponents) {
  const auto kept = topo_cc(cluster_x(), cluster_y(), 3);
  EXPECT_EQ(kept, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Probes, TopoFilterRemovesTheContaminationShareInAll) {
  std::int64_t by_cc = -1;
  // round(11 · 0.2) = 2 removals: 1 by TopoCC, then the most disagreeing point inside it.
  const auto kept = topo_filter(cluster_x(), cluster_y(), 3, 3, 0.2, &by_cc);
  EXPECT_EQ(by_cc, 1);
  ASSERT_EQ(kept.size(), 9u);
  // Point 4 (label 0.2 among 0s) disagrees by 0.2 and point 9 (0.9 among 1s) by 0.1: 4 goes.
  EXPECT_EQ(std::find(kept.begin(), kept.end(), 4), kept.end());
  // Already enough removed by TopoCC: nothing more.
  EXPECT_EQ(topo_filter(cluster_x(), cluster_y(), 3, 3, 0.05).size(), 10u);
}

TEST(Probes, TopolabelUsesOnlyTheCorePoints) {
  // The outlier at 0.05 (label 1) is not in the core, so a query at 0.05 sees only 0-labelled points.
  const auto p = values(topo_predict(cluster_x(), cluster_y(), points({0.05f, 10.05f}), 3, 2));
  EXPECT_NEAR(p[0], 0.0, 1e-6);
  EXPECT_NEAR(p[1], 1.0, 1e-6);
}

TEST(Probes, DisagreementFilterDropsTheWorstShare) {
  const auto pred = torch::tensor({0.9f, 0.1f, 0.5f, 0.2f, 0.8f});
  const auto labels = torch::tensor({1.0f, 1.0f, 0.5f, 0.9f, 0.8f});
  // int(0.5 · 5) = 2: the largest |pred − label| are rows 1 (0.9) and 3 (0.7).
  EXPECT_EQ(disagreement_filter(pred, labels, 0.5), (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_EQ(disagreement_filter(pred, labels, 0.0).size(), 5u);
}

TEST(Probes, ApplyProbeFiltersOrRelabelsTrainAndVal) {
  Activations acts{cluster_x(), points({0.2f, 10.2f}), points({0.1f, 10.1f})};
  std::vector<double> train_labels;
  for (double v : values(cluster_y())) train_labels.push_back(v);
  const Gold gold{{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0}, {0, 1}, {0, 1}};
  ProbeOptions o;
  o.knn.k = 3;
  o.relabel = true;
  auto r = apply_probe(o, acts, train_labels, {0.3, 0.8}, gold, AurocMode::TieAware);
  EXPECT_EQ(r.train_kept.size(), 11u);
  // The outlier (label 1) counts itself among its 3 neighbours; the other two say 0.
  EXPECT_NEAR(r.train_labels[10], 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(r.val_labels[1], 1.0, 1e-6);
  ASSERT_EQ(r.reports.size(), 3u);  // {train,val,test}_probe_metrics.json
  EXPECT_EQ(r.reports[0].first, "train_probe_metrics.json");
  EXPECT_TRUE(r.reports[0].second.contains("agree"));
  EXPECT_TRUE(r.reports[0].second.contains("gt"));

  o.relabel = false;
  o.filter = true;
  o.contamination = 0.1;  // int(0.1 · 11) = 1: the outlier goes
  r = apply_probe(o, acts, train_labels, {0.3, 0.8}, gold, AurocMode::TieAware);
  EXPECT_EQ(r.train_kept.size(), 10u);
  EXPECT_EQ(std::find(r.train_kept.begin(), r.train_kept.end(), 10), r.train_kept.end());
  EXPECT_EQ(r.train_labels, std::vector<double>(train_labels.begin(), train_labels.begin() + 10));
  EXPECT_EQ(r.reports.back().first, "val_filter_sizes.json");
  EXPECT_EQ(r.reports[3].second.at("removed").as_int(), 1);
}

}  // namespace
}  // namespace w2s::train
