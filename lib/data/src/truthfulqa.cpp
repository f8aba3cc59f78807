// TruthfulQA: the file readers, the variants, and the reference formatting and split
// (docs/reference-behaviour.md §2-§4).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "text_files.h"
#include "w2s/data.h"

namespace w2s::data {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_answer_list(const std::string& cell) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= cell.size()) {
    std::size_t end = cell.find(';', start);
    if (end == std::string::npos) end = cell.size();
    std::string part = trim(std::string_view(cell).substr(start, end - start));
    if (!part.empty()) out.push_back(std::move(part));
    start = end + 1;
  }
  return out;
}

std::string short_question(const std::string& q) { return q.size() > 60 ? q.substr(0, 57) + "..." : q; }

}  // namespace

std::vector<TruthfulQaCsvRow> read_truthfulqa_csv(const fs::path& path) {
  const auto records = detail::parse_csv(detail::read_utf8_file(path), path);
  if (records.empty()) throw Error(fmt::format("{}:1: empty file, expected a TruthfulQA CSV header", path.string()));
  const auto& header = records.front().fields;
  auto required = [&](const char* name) {
    const int i = detail::column_index(header, name);
    if (i < 0)
      throw Error(fmt::format("{}:1: missing column '{}' (header is: {}); expected the TruthfulQA.csv header "
                              "Type,Category,Question,Best Answer,[Best Incorrect Answer,]Correct Answers,"
                              "Incorrect Answers,Source",
                              path.string(), name, fmt::join(header, ",")));
    return static_cast<std::size_t>(i);
  };
  const std::size_t type = required("Type"), category = required("Category"), question = required("Question"),
                    best = required("Best Answer"), correct = required("Correct Answers"),
                    incorrect = required("Incorrect Answers"), source = required("Source");
  const int best_incorrect = detail::column_index(header, "Best Incorrect Answer");

  std::vector<TruthfulQaCsvRow> rows;
  rows.reserve(records.size() - 1);
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    if (rec.fields.size() != header.size())
      throw Error(fmt::format("{}:{}: {} fields, but the header has {}", path.string(), rec.line, rec.fields.size(),
                              header.size()));
    TruthfulQaCsvRow row;
    row.line = rec.line;
    row.type = rec.fields[type];
    row.category = rec.fields[category];
    row.question = rec.fields[question];
    row.best_answer = rec.fields[best];
    if (best_incorrect >= 0) row.best_incorrect_answer = rec.fields[static_cast<std::size_t>(best_incorrect)];
    row.correct_answers = split_answer_list(rec.fields[correct]);
    row.incorrect_answers = split_answer_list(rec.fields[incorrect]);
    row.source = rec.fields[source];
    if (row.question.empty()) throw Error(fmt::format("{}:{}: empty Question", path.string(), rec.line));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<McItem> read_mc_task_json(const fs::path& path) {
  const json::Value doc = json::parse(detail::read_utf8_file(path), path.string());
  if (!doc.is_array()) throw Error(fmt::format("{}: expected a JSON array of questions", path.string()));
  std::vector<McItem> items;
  items.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json::Value& entry = doc.at(i);
    const std::string where = fmt::format("{}: item {}", path.string(), i);
    try {
      McItem item;
      item.question = entry.at("question").as_string();
      const json::Value& targets = entry.at("mc1_targets");
      int true_index = -1;
      for (const auto& [answer, value] : targets.as_object()) {
        const std::int64_t v = value.as_int();
        if (v != 0 && v != 1) throw Error(fmt::format("mc1_targets value {} for \"{}\" is not 0 or 1", v, answer));
        if (v == 1) {
          if (true_index >= 0) throw Error("mc1_targets has more than one true answer");
          true_index = static_cast<int>(item.choices.size());
        }
        item.choices.push_back(answer);
      }
      if (true_index < 0) throw Error("mc1_targets has no true answer");
      item.label = true_index;
      items.push_back(std::move(item));
    } catch (const Error& e) {
      const std::string q = entry.is_object() ? entry.get_string("question") : "";
      throw Error(fmt::format("{}{}: {}", where, q.empty() ? "" : " (\"" + short_question(q) + "\")", e.what()));
    }
  }
  return items;
}

std::vector<McItem> read_mc_jsonl(const fs::path& path) {
  std::vector<McItem> items;
  detail::for_each_jsonl(path, [&](const json::Value& row, std::size_t) {
    if (!row.is_object()) throw Error("expected a JSON object {\"question\", \"choices\", \"label\"}");
    McItem item;
    item.question = row.at("question").as_string();
    for (const auto& c : row.at("choices").as_array()) item.choices.push_back(c.as_string());
    if (item.choices.size() < 2) throw Error(fmt::format("\"choices\" has {} entries, need at least 2", item.choices.size()));
    const std::int64_t label = row.at("label").as_int();
    if (label < 0 || label >= static_cast<std::int64_t>(item.choices.size()))
      throw Error(fmt::format("\"label\" {} is not an index into the {} choices", label, item.choices.size()));
    item.label = static_cast<int>(label);
    items.push_back(std::move(item));
  });
  if (items.empty()) throw Error(fmt::format("{}: no questions in the file", path.string()));
  return items;
}

std::vector<Question> format_questions(const std::vector<McItem>& items, std::int64_t seed) {
  std::vector<Question> out;
  out.reserve(items.size());
  for (std::size_t qid = 0; qid < items.size(); ++qid) {
    const McItem& item = items[qid];
    if (item.label < 0 || static_cast<std::size_t>(item.label) >= item.choices.size())
      throw Error(fmt::format("question {}: label {} out of range", qid, item.label));
    std::string question = item.question;
    while (!question.empty() && question.back() == '\n') question.pop_back();
    const std::string& correct = item.choices[static_cast<std::size_t>(item.label)];
    std::vector<std::string> opts{correct};
    for (std::size_t j = 0; j < item.choices.size(); ++j)
      if (static_cast<int>(j) != item.label) opts.push_back(item.choices[j]);
    // The reference removes one duplicate of the correct answer from the distractors and
    // asserts there is no other.
    auto dup = std::find(opts.begin() + 1, opts.end(), correct);
    if (dup != opts.end()) {
      opts.erase(dup);
      if (std::find(opts.begin() + 1, opts.end(), correct) != opts.end())
        throw Error(fmt::format("question {} (\"{}\"): the correct answer appears more than once among the "
                                "incorrect choices",
                                qid, short_question(question)));
    }
    if (opts.size() > 26) throw Error(fmt::format("question {}: {} options, at most 26 letters", qid, opts.size()));
    PyRandom rng(seed + static_cast<std::int64_t>(qid));
    rng.shuffle(opts);

    Question q;
    q.question_id = static_cast<int>(qid);
    q.id = std::to_string(qid);
    q.text = question + "\n\n";
    for (std::size_t j = 0; j < opts.size(); ++j) {
      const std::string letter(1, static_cast<char>('A' + j));
      if (j) q.text += "\n";
      q.text += letter + ") " + opts[j];
      q.letters.push_back(letter);
      if (q.answer.empty() && opts[j] == correct) q.answer = letter;
    }
    q.options = std::move(opts);
    out.push_back(std::move(q));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> truthfulqa_variants() {
  return {
      {"mc1-4-local", "mc_task.json MC1 items with >= 4 options: true + first 3 false answers in key order (690)"},
      {"binary-local", "all mc_task.json items: MC1 true + first MC1 false answer (817)"},
      {"mc1-full", "all mc_task.json items with every MC1 option (817)"},
      {"mc1-jsonl", "a JSONL of {question, choices, label}, e.g. EleutherAI/truthful_qa_mc (684); --dataset-file"},
      {"binary-2025", "TruthfulQA.csv (Jan 2025 header): Best Answer vs Best Incorrect Answer (817)"},
  };
}

namespace {

// Builds the variant's items from its source file; fills `sources`.
std::vector<McItem> variant_items(const TruthfulQaOptions& options, const fs::path& data_dir,
                                  std::vector<SourceFile>& sources) {
  const std::string& v = options.variant;
  auto source = [&](const std::string& relative_path) {
    fs::path p = options.dataset_file ? fs::path(*options.dataset_file)
                                      : ensure_data_file(data_dir, relative_path, options.allow_download);
    if (!fs::exists(p)) throw Error(fmt::format("dataset file {} does not exist", p.string()));
    sources.push_back(describe_source(p));
    return p;
  };

  if (v == "mc1-4-local" || v == "binary-local" || v == "mc1-full") {
    const auto mc1 = read_mc_task_json(source("truthfulqa/data/mc_task.json"));
    if (v == "mc1-full") return mc1;
    const std::size_t n_options = v == "mc1-4-local" ? 4 : 2;
    std::vector<McItem> items;
    for (const auto& item : mc1) {
      if (item.choices.size() < n_options) continue;
      McItem kept{item.question, {item.choices[static_cast<std::size_t>(item.label)]}, 0};
      for (std::size_t j = 0; j < item.choices.size() && kept.choices.size() < n_options; ++j)
        if (static_cast<int>(j) != item.label) kept.choices.push_back(item.choices[j]);
      items.push_back(std::move(kept));
    }
    return items;
  }
  if (v == "mc1-jsonl") {
    fs::path p = options.dataset_file ? fs::path(*options.dataset_file) : data_dir / "truthfulqa/truthful_qa_mc.jsonl";
    if (!fs::exists(p))
      throw Error(fmt::format(
          "variant mc1-jsonl needs a JSONL file of {{\"question\", \"choices\", \"label\"}} rows (e.g. the 684-row "
          "validation split of EleutherAI/truthful_qa_mc exported to JSONL): pass --dataset-file FILE or put it "
          "at {}",
          fs::absolute(p).string()));
    sources.push_back(describe_source(p));
    return read_mc_jsonl(p);
  }
  if (v == "binary-2025") {
    const fs::path p = source("truthfulqa/TruthfulQA.csv");
    std::vector<McItem> items;
    for (auto& row : read_truthfulqa_csv(p)) {
      if (!row.best_incorrect_answer)
        throw Error(fmt::format("{}: no 'Best Incorrect Answer' column (this is the 2021 file); variant "
                                "binary-2025 needs the January 2025 upstream TruthfulQA.csv (--dataset-file)",
                                p.string()));
      items.push_back(McItem{row.question, {row.best_answer, *row.best_incorrect_answer}, 0});
    }
    return items;
  }
  std::string names;
  for (const auto& [name, _] : truthfulqa_variants()) names += (names.empty() ? "" : ", ") + name;
  throw Error(fmt::format("unknown TruthfulQA variant '{}' (known: {})", v, names));
}

}  // namespace

TruthfulQa load_truthfulqa(const TruthfulQaOptions& options) {
  TruthfulQa tqa;
  tqa.variant = options.variant;
  tqa.seed = options.seed;
  tqa.items = variant_items(options, resolve_data_dir(options.data_dir), tqa.sources);
  tqa.all = format_questions(tqa.items, options.seed);
  if (options.test_size > tqa.all.size())
    throw Error(fmt::format("test size {} is larger than the {} questions of variant {}", options.test_size,
                            tqa.all.size(), options.variant));
  // The reference's split: random.seed(42); random.sample(all, len(all)); test first.
  PyRandom rng(options.seed);
  std::vector<Question> order = rng.sample(tqa.all, tqa.all.size());
  tqa.test.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(options.test_size));
  tqa.train.assign(order.begin() + static_cast<std::ptrdiff_t>(options.test_size), order.end());
  return tqa;
}

}  // namespace w2s::data
