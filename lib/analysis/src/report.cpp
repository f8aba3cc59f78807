// Console table, CSV tables and the analysis record.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis {
namespace {

using json::Value;

// A fraction with `decimals` decimals, "n/a" when undefined (never "-0.000": detail::fixed).
std::string number(const Value& v, int decimals) { return v.is_null() ? "n/a" : detail::fixed(v.as_double(), decimals); }

std::string p_value(const Value& v) { return v.is_null() ? "n/a" : fmt::format("{:.3g}", v.as_double()); }

// "0.710 [0.645,0.770]" or "0.710" without a CI, "n/a" when undefined.
std::string with_ci(const Value& row, const std::string& key) {
  const Value& point = row.at(key);
  if (point.is_null()) return "n/a";
  std::string s = detail::fixed(point.as_double(), 3);
  const Value& lo = row.at(key + "_lo");
  const Value& hi = row.at(key + "_hi");
  if (!lo.is_null()) s += " [" + detail::fixed(lo.as_double(), 3) + "," + detail::fixed(hi.as_double(), 3) + "]";
  return s;
}

// A PGR cell, marked "!" where the ceiling is at or below the floor (flag column `flag`).
std::string pgr_cell(const Value& row, const std::string& key, const std::string& flag) {
  const Value* f = row.find(flag);
  return with_ci(row, key) + (f && f->is_bool() && f->as_bool() ? "!" : "");
}

bool any_flagged(const Value& rows, const std::vector<std::string>& flags) {
  for (const auto& row : rows.as_array())
    for (const auto& flag : flags)
      if (const Value* f = row.find(flag); f && f->is_bool() && f->as_bool()) return true;
  return false;
}

// A console table whose column widths come from its content, so long model or method names and
// intervals never push the columns after them out of line.
enum Align { kLeft, kRight };
class TextTable {
 public:
  explicit TextTable(std::vector<std::pair<std::string, Align>> columns) : columns_(std::move(columns)) {
    std::vector<std::string> header;
    for (const auto& [title, align] : columns_) header.push_back(title);
    add(std::move(header));
  }
  void add(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  std::string render(const std::string& indent = "") const {
    std::vector<std::size_t> widths(columns_.size(), 0);
    for (const auto& row : rows_)
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
    std::string out;
    for (const auto& row : rows_) {
      std::string line = indent;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const std::string pad(widths[i] - display_width(row[i]), ' ');
        if (i) line += "  ";
        line += columns_[i].second == kRight ? pad + row[i] : row[i] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  static std::size_t display_width(const std::string& s) {  // UTF-8 code points
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }
  std::vector<std::pair<std::string, Align>> columns_;
  std::vector<std::vector<std::string>> rows_;
};

std::string csv_field(const Value& v) {
  switch (v.type()) {
    case Value::Type::Null: return "";
    case Value::Type::Bool: return v.as_bool() ? "true" : "false";
    case Value::Type::String: {
      const std::string& s = v.as_string();
      if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
      std::string quoted = "\"";
      for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      return quoted + "\"";
    }
    default: return json::dump(v);
  }
}

constexpr const char* kModelColumns[] = {"model", "weak", "strong"};

std::vector<std::string> model_ids(const Value& tables) {
  std::vector<std::string> ids;
  for (const auto& [name, rows] : tables.as_object())
    for (const auto& row : rows.as_array())
      for (const char* column : kModelColumns)
        if (const Value* id = row.find(column); id && id->is_string() && !id->as_string().empty())
          ids.push_back(id->as_string());
  return ids;
}

}  // namespace

namespace detail {

std::string fixed(double v, int decimals) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.front() == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

void name_models(Value& tables) {
  const ModelNames names(model_ids(tables));
  for (auto& [name, rows] : tables.as_object())
    for (auto& row : rows.as_array())
      for (const char* column : kModelColumns)
        if (row.contains(std::string(column) + "_name")) {
          const std::string id = row.get_string(column);
          row.set(std::string(column) + "_name", id.empty() ? std::string() : names(id));
        }
}

ModelNames display_names(const Value& tables) { return ModelNames(model_ids(tables), /*drop_chat_suffix=*/true); }

}  // namespace detail

std::string console_table(const Report& report) {
  std::string out;
  const ModelNames names = detail::display_names(report.tables);
  auto pair_name = [&](const Value& row) { return names(row.get_string("weak")) + " -> " + names(row.get_string("strong")); };
  auto fixed3 = [](const Value& v) { return number(v, 3); };
  const auto& o = report.options;
  const std::string uncertainty =
      o.bootstrap_resamples > 0
          ? fmt::format("{:.0f}% CIs from {} paired bootstrap resamples (seed {})", o.confidence * 100,
                        o.bootstrap_resamples, o.seed)
          : std::string("no bootstrap");
  for (const auto& test_set : report.test_sets) {
    auto of_this_set = [&](const char* table) {
      std::vector<const Value*> rows;
      for (const auto& row : report.tables.at(table).as_array())
        if (row.get_string("test_set") == test_set.label) rows.push_back(&row);
      return rows;
    };
    if (!out.empty()) out += "\n";
    out += fmt::format("In-context on {}; fractions; {}\n", test_set.label, uncertainty);

    // Accuracy against the number of gold shots (0 = the zero-shot baseline), one row per model.
    std::set<std::int64_t> shots;
    std::map<std::string, std::map<std::int64_t, const Value*>> accuracy;  // model -> shots -> row
    for (const auto* row : of_this_set("icl_accuracy"))
      if (row->get_string("curve") != "weak-labels") {
        shots.insert(row->get_int("shots"));
        accuracy[row->get_string("model")][row->get_int("shots")] = row;
      }
    if (!shots.empty()) {
      std::vector<std::pair<std::string, Align>> columns = {{"accuracy / gold shots", kLeft}};
      for (auto n : shots) columns.push_back({std::to_string(n), kRight});
      TextTable t(std::move(columns));
      for (const auto& [model, by_shots] : accuracy) {
        std::vector<std::string> cells = {names(model)};
        for (auto n : shots) cells.push_back(by_shots.count(n) ? with_ci(*by_shots.at(n), "accuracy") : "");
        t.add(std::move(cells));
      }
      out += t.render();
    }

    const auto pairs = of_this_set("icl_pairs");
    if (pairs.empty()) continue;
    if (!shots.empty()) out += "\n";
    out += "PGR floor/ceiling: zs = zero-shot, gold = same number of gold shots; McNemar p: student vs strong "
           "zero-shot; kappa: student vs weak zero-shot\n";
    TextTable t({{"weak -> strong", kLeft}, {"shots", kRight}, {"student accuracy", kLeft}, {"PGR zs/zs", kLeft},
                 {"PGR zs/gold", kLeft}, {"PGR gold/gold", kRight}, {"PGR gold/zs", kRight}, {"McNemar p", kRight},
                 {"kappa", kRight}, {"matches both/weak/strong/neither", kLeft}});
    for (const auto* row_ptr : pairs) {
      const Value& row = *row_ptr;
      auto flagged = [&](const char* variant) {
        const Value* f = row.find(std::string("ceiling_not_above_floor_") + variant);
        return f && f->is_bool() && f->as_bool() ? "!" : "";
      };
      t.add({pair_name(row), std::to_string(row.get_int("shots")), with_ci(row, "student_accuracy"),
             pgr_cell(row, "pgr_weak0_strong0", "ceiling_not_above_floor_weak0_strong0"),
             pgr_cell(row, "pgr_weak0_stronggold", "ceiling_not_above_floor_weak0_stronggold"),
             fixed3(row.at("pgr_weakgold_stronggold")) + flagged("weakgold_stronggold"),
             fixed3(row.at("pgr_weakgold_strong0")) + flagged("weakgold_strong0"), p_value(row.at("mcnemar_p")),
             fixed3(row.at("kappa_student_weak")),
             fmt::format("{}/{}/{}/{}", number(row.at("w2s_matches_both"), 2), number(row.at("w2s_matches_weak"), 2),
                         number(row.at("w2s_matches_strong"), 2), number(row.at("w2s_matches_neither"), 2))});
    }
    out += t.render();
    bool inverted = false;
    for (const auto* row : pairs)
      for (const char* variant : {"weak0_strong0", "weak0_stronggold", "weakgold_stronggold", "weakgold_strong0"})
        if (const Value* f = row->find(std::string("ceiling_not_above_floor_") + variant); f && f->is_bool() && f->as_bool())
          inverted = true;
    if (inverted)  // after a blank line: the table ends where its rows do
      out += fmt::format("\n! the ceiling is at or below the floor (not above it by the zero guard, {}): there is no gap "
                         "to recover, so that PGR is not a share of one\n",
                         report.options.zero_guard);
  }
  const Value& train = report.tables.at("train");
  if (train.size()) {
    if (!out.empty()) out += "\n";
    out += fmt::format("Fine-tuning weak-to-strong (test AUROC and accuracy; {}); McNemar p: student vs ceiling; "
                       "kappa: student vs floor\n", uncertainty);
    // A sweep's rows: which run and seed each one is.
    std::set<std::string> runs;
    for (const auto& row : train.as_array()) runs.insert(row.get_string("run"));
    const bool sweep = runs.size() > 1;
    std::vector<std::pair<std::string, Align>> columns = {{"dataset", kLeft}, {"weak -> strong", kLeft}, {"method", kLeft}};
    if (sweep) columns.insert(columns.end(), {{"run", kLeft}, {"seed", kRight}});
    columns.insert(columns.end(), {{"floor", kRight}, {"ceiling", kRight}, {"student", kRight}, {"PGR (AUROC)", kLeft},
                                   {"acc", kRight}, {"PGR (acc)", kLeft}, {"McNemar p", kRight}, {"kappa", kRight}});
    TextTable t(std::move(columns));
    for (const auto& row : train.as_array()) {
      std::vector<std::string> cells = {row.get_string("test_set"), pair_name(row), row.get_string("method")};
      if (sweep) cells.insert(cells.end(), {row.get_string("run"), row.at("seed").is_null() ? "" : std::to_string(row.get_int("seed"))});
      cells.insert(cells.end(), {fixed3(row.at("floor_auroc")), fixed3(row.at("ceiling_auroc")), fixed3(row.at("student_auroc")),
                                 pgr_cell(row, "pgr_auroc", "ceiling_not_above_floor_auroc"), fixed3(row.at("student_accuracy")),
                                 pgr_cell(row, "pgr_accuracy", "ceiling_not_above_floor_accuracy"), p_value(row.at("mcnemar_p")),
                                 fixed3(row.at("kappa_student_floor"))});
      t.add(std::move(cells));
    }
    out += t.render();
    if (any_flagged(train, {"ceiling_not_above_floor_auroc", "ceiling_not_above_floor_accuracy"}))
      out += fmt::format("! the ceiling is at or below the floor (not above it by the zero guard, {}): there is no gap "
                         "to recover, so that PGR is not a share of one; it is left out of every mean and median\n",
                         report.options.zero_guard);
    // A sweep's runs of one method on one dataset (seeds, ...): their mean first.
    const Value& cells = report.tables.at("train_dataset_methods");
    if (std::any_of(cells.as_array().begin(), cells.as_array().end(), [](const Value& r) { return r.get_int("runs") > 1; })) {
      out += "\nPGR per dataset and method: the mean over its runs (left out: runs without a clear gap); "
             "of means: the PGR of the mean floor, student and ceiling\n";
      TextTable t({{"dataset", kLeft}, {"weak -> strong", kLeft}, {"method", kLeft}, {"runs", kRight},
                   {"PGR (AUROC)", kLeft}, {"left out", kRight}, {"of means", kRight}, {"PGR (acc)", kLeft},
                   {"left out", kRight}, {"of means", kRight}});
      for (const auto& row : cells.as_array())
        t.add({row.get_string("test_set"), pair_name(row), row.get_string("method"), std::to_string(row.get_int("runs")),
               with_ci(row, "pgr_auroc"), std::to_string(row.get_int("pgr_auroc_left_out")),
               fixed3(row.at("pgr_auroc_of_means")), with_ci(row, "pgr_accuracy"),
               std::to_string(row.get_int("pgr_accuracy_left_out")), fixed3(row.at("pgr_accuracy_of_means"))});
      out += t.render();
    }
    out += "\nPGR per method across datasets (AUROC): mean / median over datasets where it is defined; left out: "
           "runs whose ceiling is not clearly above the floor; of means: the PGR of the mean floor, student and "
           "ceiling\n";
    TextTable methods({{"method", kLeft}, {"datasets", kRight}, {"mean", kLeft}, {"median", kLeft},
                       {"defined", kRight}, {"left out", kRight}, {"of means", kRight}});
    for (const auto& row : report.tables.at("train_methods").as_array())
      methods.add({row.get_string("method"), std::to_string(row.get_int("datasets")), with_ci(row, "pgr_auroc_mean"),
                   with_ci(row, "pgr_auroc_median"), std::to_string(row.get_int("pgr_auroc_defined")),
                   std::to_string(row.get_int("pgr_auroc_left_out")), fixed3(row.at("pgr_auroc_of_means"))});
    out += methods.render("  ");
    const Value& method_pairs = report.tables.at("train_method_pairs");
    if (method_pairs.size()) {
      out += "\nMethod A against method B on the same test examples: PGR(A) - PGR(B), paired bootstrap p; "
             "McNemar p on the two students' correctness\n";
      TextTable t({{"dataset", kLeft}, {"weak -> strong", kLeft}, {"A", kLeft}, {"B", kLeft},
                   {"delta PGR (AUROC)", kLeft}, {"p", kRight}, {"delta PGR (acc)", kLeft}, {"p", kRight},
                   {"McNemar p", kRight}});
      for (const auto& row : method_pairs.as_array())
        t.add({row.get_string("test_set"), pair_name(row), row.get_string("method_a"), row.get_string("method_b"),
               with_ci(row, "delta_pgr_auroc"), p_value(row.at("p_auroc")), with_ci(row, "delta_pgr_accuracy"),
               p_value(row.at("p_accuracy")), p_value(row.at("mcnemar_p"))});
      out += t.render();
    }
  }
  const Value& paradigms = report.tables.at("paradigms");
  if (paradigms.size()) {
    if (!out.empty()) out += "\n";
    out += fmt::format("In context and fine-tuning side by side, on the test examples all their records share (n); "
                       "accuracy, and PGR on accuracy with each paradigm's own floor and ceiling (in context: weak "
                       "zero-shot and strong with the same number of gold shots; fine-tuning: the floor and ceiling "
                       "stages); {}\n",
                       uncertainty);
    TextTable t({{"dataset", kLeft}, {"weak -> strong", kLeft}, {"paradigm", kLeft}, {"shots / method", kLeft},
                 {"n", kRight}, {"floor", kLeft}, {"ceiling", kLeft}, {"student", kLeft}, {"PGR (acc)", kLeft}});
    for (const auto& row : paradigms.as_array())
      t.add({row.get_string("dataset"), pair_name(row), row.get_string("paradigm"),
             row.at("shots").is_null() ? row.get_string("method") : fmt::format("{} shots", row.get_int("shots")),
             std::to_string(row.get_int("n")), with_ci(row, "floor_accuracy"), with_ci(row, "ceiling_accuracy"),
             with_ci(row, "student_accuracy"), pgr_cell(row, "pgr_accuracy", "ceiling_not_above_floor_accuracy")});
    out += t.render();
    out += "\nIn-context student minus fine-tuned student on the same examples: accuracy difference with its paired "
           "bootstrap interval and p-value; McNemar p (exact binomial below 25 discordant pairs, else chi-square "
           "with continuity correction)\n";
    TextTable tests({{"dataset", kLeft}, {"weak -> strong", kLeft}, {"shots", kRight}, {"fine-tuned", kLeft},
                     {"n", kRight}, {"delta accuracy", kLeft}, {"p", kRight}, {"McNemar p", kRight}});
    for (const auto& row : report.tables.at("paradigm_tests").as_array())
      tests.add({row.get_string("dataset"), pair_name(row), std::to_string(row.get_int("shots")),
                 row.get_string("method"), std::to_string(row.get_int("n")), with_ci(row, "delta_accuracy"),
                 p_value(row.at("bootstrap_p")), p_value(row.at("mcnemar_p"))});
    out += tests.render();
  }
  for (const auto& note : report.notes) out += "note: " + note + "\n";
  return out;
}

std::vector<std::filesystem::path> write_report(const Report& report, const std::filesystem::path& out_dir) {
  std::vector<std::filesystem::path> written;
  for (const auto& [name, rows] : report.tables.as_object()) {
    if (!rows.size()) continue;
    std::string csv;
    const auto& columns = rows.at(0).as_object();
    for (std::size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + columns[i].first;
    csv += "\n";
    for (const auto& row : rows.as_array()) {
      for (std::size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + csv_field(row.at(columns[i].first));
      csv += "\n";
    }
    written.push_back(out_dir / (name + ".csv"));
    write_file_atomic(written.back(), csv);
  }

  results::ResultRecord r;
  r.kind = results::Kind::Analysis;
  const Options& o = report.options;
  r.config = Value::object();
  r.config.set("bootstrap_resamples", o.bootstrap_resamples);
  r.config.set("seed", o.seed);
  r.config.set("confidence", o.confidence);
  r.config.set("zero_guard", o.zero_guard);
  Value inputs = Value::array();
  for (const auto& p : report.inputs) inputs.push_back(p.string());
  r.config.set("inputs", std::move(inputs));
  r.dataset = report.dataset;
  r.extra = Value::object();
  r.extra.set("tables", report.tables);
  Value notes = Value::array();
  for (const auto& n : report.notes) notes.push_back(n);
  r.extra.set("notes", std::move(notes));
  written.push_back(out_dir / "analysis.json");
  results::write_record(written.back(), std::move(r));
  return written;
}

}  // namespace w2s::analysis
