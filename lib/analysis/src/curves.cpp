// Training curves from the trainer's log (log.jsonl beside each stage's record.json).
#include <map>
#include <set>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis::detail {
namespace {

// The columns of a train_curves row, in order; every row has all of them (null where a line has
// no such value: an optimizer step has no evaluation, an evaluation no learning rate).
constexpr const char* kStepColumns[] = {"lr", "loss", "grad_norm"};
constexpr const char* kEvalColumns[] = {"eval_val_loss",  "eval_val_auroc",  "eval_val_accuracy",
                                        "eval_test_loss", "eval_test_auroc", "eval_test_accuracy"};

json::Value number_or_null(const json::Value& line, const char* key) {
  const json::Value* v = line.find(key);
  return v && v->is_number() ? json::Value(v->as_double()) : json::Value();
}

}  // namespace

json::Value train_curves(const std::vector<const results::LoadedRecord*>& records, std::vector<std::string>& notes) {
  json::Value rows = json::Value::array();
  std::set<std::string> seen;  // logs by content: a cached stage published into several runs is one
  for (const auto* r : records) {
    const auto log_file = r->path.parent_path() / "log.jsonl";
    if (!std::filesystem::is_regular_file(log_file)) continue;
    const std::string text = read_file(log_file);
    if (!seen.insert(sha256_hex(text)).second) continue;
    const auto& rec = r->record;
    // The latest line of each step and kind wins: a resumed stage logged the steps after its last
    // checkpoint twice.
    std::map<std::pair<std::int64_t, std::string>, json::Value> by_step;
    std::size_t line_no = 0, start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string_view line(text.data() + start, end - start);
      start = end + 1;
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      json::Value v;
      try {
        v = json::parse(line, fmt::format("{}:{}", log_file.string(), line_no));
      } catch (const Error& e) {
        notes.push_back(fmt::format("training curve of {}: line {} left out ({})", log_file.string(), line_no, e.what()));
        continue;
      }
      if (!v.is_object() || v.find("event") || !v.find("step")) continue;  // train_args, resume
      const std::string kind = v.find("lr") ? "step" : v.find("eval_val_loss") ? "eval" : "";
      if (kind.empty()) continue;
      by_step[{v.get_int("step"), kind}] = std::move(v);
    }
    for (const auto& [key, v] : by_step) {
      json::Value row = json::Value::object();
      row.set("test_set", nullptr);  // filled by analyze (the test set label)
      row.set("dataset", rec.dataset.name);
      row.set("run", rec.run);
      row.set("stage", rec.stage.value_or(""));
      row.set("model", rec.evaluated_model);
      row.set("model_name", nullptr);  // filled by name_models
      row.set("kind", key.second);
      row.set("step", key.first);
      for (const char* c : kStepColumns) row.set(c, number_or_null(v, c));
      for (const char* c : kEvalColumns) row.set(c, number_or_null(v, c));
      row.set("file", log_file.string());
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

}  // namespace w2s::analysis::detail
