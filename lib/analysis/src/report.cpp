// Console table, CSV tables and the analysis record.
#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis {
namespace {

using json::Value;

std::string number(const Value& v, const char* format) {
  return v.is_null() ? "n/a" : fmt::format(fmt::runtime(format), v.as_double());
}

// "0.710 [0.645, 0.770]" or "0.710" without a CI, "n/a" when undefined.
std::string with_ci(const Value& row, const std::string& key) {
  const Value& point = row.at(key);
  if (point.is_null()) return "n/a";
  std::string s = fmt::format("{:.3f}", point.as_double());
  const Value& lo = row.at(key + "_lo");
  const Value& hi = row.at(key + "_hi");
  if (!lo.is_null()) s += fmt::format(" [{:.3f},{:.3f}]", lo.as_double(), hi.as_double());
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
  const auto& o = report.options;
  const std::string uncertainty =
      o.bootstrap_resamples > 0
          ? fmt::format("{:.0f}% CIs from {} paired bootstrap resamples (seed {})", o.confidence * 100,
                        o.bootstrap_resamples, o.seed)
          : std::string("no bootstrap");
  const Value& pairs = report.tables.at("icl_pairs");
  if (pairs.size()) {
    const auto& ds = report.dataset;
    out += fmt::format("In-context weak-to-strong on {}{} ({} split, n={}); fractions; {}\n", ds.name,
                       ds.variant.empty() ? "" : " " + ds.variant, ds.split, pairs.at(0).get_int("n"), uncertainty);
    out += "PGR floor/ceiling: zs = zero-shot, gold = same number of gold shots; McNemar: student vs strong zero-shot\n";
    out += fmt::format("{:<30} {:>5}  {:<21} {:<21} {:<21} {:<8} {:<8} {:>8} {:>6}  {}\n", "weak -> strong", "shots",
                       "student accuracy", "PGR zs/zs", "PGR zs/gold", "gold/gold", "gold/zs", "McNemar", "kappa",
                       "matches both/weak/strong/neither");
    for (const auto& row : pairs.as_array()) {
      const std::string pair = names(row.get_string("weak")) + " -> " +
                               names(row.get_string("strong"));
      out += fmt::format("{:<30} {:>5}  {:<21} {:<21} {:<21} {:<8} {:<8} {:>8} {:>6}  {}/{}/{}/{}\n", pair,
                         row.get_int("shots"), with_ci(row, "student_accuracy"), with_ci(row, "pgr_weak0_strong0"),
                         with_ci(row, "pgr_weak0_stronggold"), number(row.at("pgr_weakgold_stronggold"), "{:.3f}"),
                         number(row.at("pgr_weakgold_strong0"), "{:.3f}"), number(row.at("mcnemar_p"), "{:.3g}"),
                         number(row.at("kappa_student_weak"), "{:.3f}"), number(row.at("w2s_matches_both"), "{:.2f}"),
                         number(row.at("w2s_matches_weak"), "{:.2f}"), number(row.at("w2s_matches_strong"), "{:.2f}"),
                         number(row.at("w2s_matches_neither"), "{:.2f}"));
    }
  }
  const Value& train = report.tables.at("train");
  if (train.size()) {
    if (!out.empty()) out += "\n";
    out += fmt::format("Fine-tuning weak-to-strong (test AUROC and accuracy; {})\n", uncertainty);
    out += fmt::format("{:<16} {:<30} {:<18} {:>7} {:>7} {:>7}  {:<21} {:>8} {:<21} {:>8} {:>6}\n", "dataset",
                       "weak -> strong", "method", "floor", "ceiling", "student", "PGR (AUROC)", "acc", "PGR (acc)",
                       "McNemar", "kappa");
    for (const auto& row : train.as_array())
      out += fmt::format("{:<16} {:<30} {:<18} {:>7} {:>7} {:>7}  {:<21} {:>8} {:<21} {:>8} {:>6}\n",
                         row.get_string("dataset"), names(row.get_string("weak")) + " -> " +
                             names(row.get_string("strong")),
                         row.get_string("method"), number(row.at("floor_auroc"), "{:.3f}"),
                         number(row.at("ceiling_auroc"), "{:.3f}"), number(row.at("student_auroc"), "{:.3f}"),
                         pgr_cell(row, "pgr_auroc", "ceiling_not_above_floor_auroc"),
                         number(row.at("student_accuracy"), "{:.3f}"),
                         pgr_cell(row, "pgr_accuracy", "ceiling_not_above_floor_accuracy"),
                         number(row.at("mcnemar_p"), "{:.3g}"),
                         number(row.at("kappa_student_floor"), "{:.3f}"));
    if (any_flagged(train, {"ceiling_not_above_floor_auroc", "ceiling_not_above_floor_accuracy"}))
      out += "! the ceiling is at or below the floor: there is no gap to recover, so that PGR is not a share of one\n";
    out += "\nPGR per method across datasets (AUROC): mean / median over datasets where it is defined\n";
    for (const auto& row : report.tables.at("train_methods").as_array())
      out += fmt::format("  {:<24} {} dataset(s): mean {}  median {}  ({} defined)\n", row.get_string("method"),
                         row.get_int("datasets"), number(row.at("pgr_auroc_mean"), "{:.3f}"),
                         number(row.at("pgr_auroc_median"), "{:.3f}"), row.get_int("pgr_auroc_defined"));
    const Value& pairs = report.tables.at("train_method_pairs");
    if (pairs.size()) {
      out += fmt::format("\nMethod A against method B on the same test examples: PGR(A) - PGR(B), paired bootstrap "
                         "p; McNemar on correctness\n");
      out += fmt::format("{:<16} {:<30} {:<18} {:<18} {:<21} {:>8}  {:<21} {:>8} {:>8}\n", "dataset", "weak -> strong",
                         "A", "B", "delta PGR (AUROC)", "p", "delta PGR (acc)", "p", "McNemar");
      for (const auto& row : pairs.as_array())
        out += fmt::format("{:<16} {:<30} {:<18} {:<18} {:<21} {:>8}  {:<21} {:>8} {:>8}\n", row.get_string("dataset"),
                           names(row.get_string("weak")) + " -> " +
                               names(row.get_string("strong")),
                           row.get_string("method_a"), row.get_string("method_b"), with_ci(row, "delta_pgr_auroc"),
                           number(row.at("p_auroc"), "{:.3g}"), with_ci(row, "delta_pgr_accuracy"),
                           number(row.at("p_accuracy"), "{:.3g}"), number(row.at("mcnemar_p"), "{:.3g}"));
    }
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
