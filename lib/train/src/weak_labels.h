// Internal: an in-context weak model's labels as a fine-tuning run's weak labels
// (`w2s train --weak-labels-from FILE`; docs/training.md, "Weak labels from an in-context weak model").
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "trainer.h"
#include "w2s/data.h"

namespace w2s::train {

struct InContextLabels {
  std::filesystem::path file;
  std::string model;                     // the in-context weak model (the record's evaluated_model)
  std::vector<double> strong_half, val;  // P(class 1) per example, in the examples' order
  std::string sha256;                    // of the ids and labels used: the students' stage keys hold it
  std::int64_t soft = 0, hard = 0;       // labels from the letters' probabilities / from the letter alone
  double accuracy_vs_gold = 0;           // of the strong half's labels (label > 0.5 against gold)

  // extra.in_context_labels of the students' records.
  json::Value record_extra() const;
};

// Reads a `weak-labels` record and takes the label of every strong-half and val example: P(class 1)
// from the letters' probabilities (letters mapped to classes by extra.class_of_letter) when the
// record has them, else the hard 0/1 of the letter. Refuses, naming the file: another kind of
// record, other data (dataset, data seed, source files), no class_of_letter, an id labelled twice
// with different labels, ids without a label (counted; the fix: --label-pool full) and unusable
// labels (counted; never replaced by a default).
InContextLabels read_in_context_labels(const std::filesystem::path& file, const data::TrainingData& data,
                                       const std::vector<LabelledExample>& strong_half,
                                       const std::vector<LabelledExample>& val);

}  // namespace w2s::train
