// Evaluation metrics of the fine-tuning pipeline (docs/reference-behaviour.md §18): accuracy, and AUROC
// against soft labels hardened at 0.5 through the project's one AUROC (w2s::results::auroc):
// tie-aware by default, or EleutherAI's rank sum without tie averaging (quirk #8).
#include "w2s/results.h"
#include "w2s/train.h"

namespace w2s::train {

double auroc(const std::vector<double>& scores, const std::vector<double>& labels, AurocMode mode) {
  std::vector<bool> positive;
  positive.reserve(labels.size());
  for (double y : labels) positive.push_back(y > 0.5);
  const auto value = results::auroc(scores, positive, mode);
  if (!value) throw Error("auroc: needs both classes among the labels");
  return *value;
}

double accuracy(const std::vector<double>& scores, const std::vector<double>& labels) {
  if (scores.size() != labels.size() || scores.empty())
    throw Error("accuracy: needs as many scores as labels, and at least one");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) correct += (scores[i] > 0.5) == (labels[i] > 0.5);
  return static_cast<double>(correct) / static_cast<double>(scores.size());
}

}  // namespace w2s::train
