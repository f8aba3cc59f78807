// Text reports and JSONL exports behind `w2s data`.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "training.h"
#include "w2s/data.h"

namespace w2s::data {
namespace fs = std::filesystem;

namespace {

// Long passages are cut so a report stays readable; the cut is marked with its size.
std::string clip(const std::string& text, std::size_t limit = 700) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return fmt::format("{} [... {} more bytes]", text.substr(0, cut), text.size() - cut);
}

// Indents every non-empty line (no trailing spaces on blank lines).
std::string indent(const std::string& text, const std::string& prefix = "    ") {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && c != '\n') out += prefix;
    out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string letter_counts(const std::vector<Question>& qs) {
  std::map<std::string, int> counts;
  for (const auto& q : qs) ++counts[q.answer];
  std::string out;
  for (const auto& [letter, n] : counts) out += fmt::format("{}{} {}", out.empty() ? "" : "  ", letter, n);
  return out;
}

std::string balance(const std::vector<TextExample>& xs) {
  std::size_t pos = 0;
  for (const auto& x : xs) pos += x.label == 1;
  return fmt::format("{:>6}  (label 1: {}, label 0: {})", xs.size(), pos, xs.size() - pos);
}

std::string sources_block(const std::vector<SourceFile>& sources) {
  std::string out;
  for (const auto& s : sources) out += fmt::format("  {}\n    sha256 {}\n", s.path, s.sha256);
  return out;
}

}  // namespace

std::string describe_truthfulqa(const TruthfulQa& tqa, std::size_t show) {
  std::string out = fmt::format("TruthfulQA variant {} (format seeds {}+question_id, split seed {})\n", tqa.variant,
                                tqa.seed, tqa.seed);
  out += "sources:\n" + sources_block(tqa.sources);
  std::map<std::size_t, int> option_counts;
  for (const auto& q : tqa.all) ++option_counts[q.options.size()];
  std::string options;
  for (const auto& [k, n] : option_counts) options += fmt::format("{}{}: {}", options.empty() ? "" : ", ", k, n);
  out += fmt::format("questions {}   test {}   train {}\n", tqa.all.size(), tqa.test.size(), tqa.train.size());
  out += fmt::format("options per question: {}\n", options);
  out += fmt::format("gold letters, all:  {}\n", letter_counts(tqa.all));
  out += fmt::format("gold letters, test: {}\n", letter_counts(tqa.test));
  std::vector<int> first_ids;
  for (std::size_t i = 0; i < tqa.test.size() && i < 10; ++i) first_ids.push_back(tqa.test[i].question_id);
  out += fmt::format("test question ids: [{}{}]\n", fmt::join(first_ids, ", "), tqa.test.size() > 10 ? ", ..." : "");
  for (std::size_t i = 0; i < show && i < tqa.test.size(); ++i) {
    const Question& q = tqa.test[i];
    out += fmt::format("\ntest[{}]  question_id {}  answer {}\n{}\n", i, q.question_id, q.answer, indent(clip(q.text)));
  }
  return out;
}

void export_truthfulqa_jsonl(const TruthfulQa& tqa, const fs::path& path) {
  std::vector<const char*> split_of(tqa.all.size(), "train");
  for (const auto& q : tqa.test) split_of.at(static_cast<std::size_t>(q.question_id)) = "test";
  std::string out;
  for (const Question& q : tqa.all) {
    const McItem& item = tqa.items.at(static_cast<std::size_t>(q.question_id));
    json::Value row = json::Value::object();
    row.set("question_id", q.question_id);
    row.set("split", split_of[static_cast<std::size_t>(q.question_id)]);
    row.set("question", item.question);
    row.set("choices", item.choices);
    row.set("label", item.label);
    row.set("text", q.text);
    row.set("answer", q.answer);
    out += json::dump(row) + "\n";
  }
  write_file_atomic(path, out);
}

std::string describe_training_registry(const fs::path& data_dir) {
  std::string out = fmt::format("Training datasets (data directory {}):\n\n", fs::absolute(data_dir).string());
  out += fmt::format("  {:<22} {:<8} {:<11} {}\n", "name", "files", "label", "source / expected files");
  for (const auto& info : training_dataset_info()) {
    std::string status = "-";
    if (info.name != "jsonl") {
      bool all_present = true;
      for (const auto& f : split_list(info.files)) all_present &= fs::exists(data_dir / f);
      status = all_present ? "present" : "missing";
    }
    out += fmt::format("  {:<22} {:<8} {:<11} {}\n  {:<22} {:<8} {:<11} {}\n", info.name, status,
                       info.label_rule.substr(0, info.label_rule.find(';')), info.source, "", "", "", info.files);
  }
  out += "\nlabel: \"rand\" = label drawn from the formatting RNG, a negative shows a random wrong answer.\n"
         "Missing files: export the source split as JSONL with its original fields (docs/data.md).\n";
  return out;
}

std::string describe_training_data(const TrainingData& data, std::size_t show) {
  std::string out = fmt::format("Training dataset {} (seed {})\n", data.name, data.seed);
  out += "sources:\n" + sources_block(data.sources);
  out += fmt::format("train {}\nval   {}\ntest  {}\n", balance(data.train), balance(data.val), balance(data.test));
  for (const auto& n : data.notices) out += "notice: " + n + "\n";
  auto examples = [&](const char* split, const std::vector<TextExample>& xs) {
    for (std::size_t i = 0; i < show && i < xs.size(); ++i)
      out += fmt::format("\n{}[{}]  id {}  label {}\n{}\n", split, i, xs[i].id, xs[i].label, indent(clip(xs[i].txt)));
  };
  examples("train", data.train);
  examples("test", data.test);
  return out;
}

void export_training_jsonl(const TrainingData& data, const fs::path& path) {
  std::string out;
  auto add = [&](const std::vector<TextExample>& xs, const char* split) {
    for (const auto& x : xs) {
      json::Value row = json::Value::object();
      row.set("split", split);
      row.set("id", x.id);
      row.set("text", x.txt);
      row.set("label", x.label);
      out += json::dump(row) + "\n";
    }
  };
  add(data.train, "train");
  add(data.val, "val");
  add(data.test, "test");
  write_file_atomic(path, out);
}

}  // namespace w2s::data
