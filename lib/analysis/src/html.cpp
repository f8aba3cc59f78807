// `w2s report`: one self-contained HTML page (no script, no external resource; figures inline as
// SVG data) with the console summary, every figure, every table, the settings and the cost of each
// run, the failed / unparsed / refused counts of every record, and every note.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis {
namespace {

namespace fs = std::filesystem;
using json::Value;

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// A table cell: numbers with 4 significant decimals, null as empty.
std::string cell(const Value& v) {
  switch (v.type()) {
    case Value::Type::Null: return "";
    case Value::Type::Bool: return v.as_bool() ? "true" : "false";
    case Value::Type::String: return escape(v.as_string());
    case Value::Type::Int: return std::to_string(v.as_int());
    case Value::Type::Double: return detail::fixed(v.as_double(), 4);
    default: return escape(json::dump(v));
  }
}

std::string html_table(const Value& rows) {
  std::string out = "<div class=\"scroll\"><table>\n<tr>";
  const auto& columns = rows.at(0).as_object();
  for (const auto& [name, v] : columns) out += "<th>" + escape(name) + "</th>";
  out += "</tr>\n";
  for (const auto& row : rows.as_array()) {
    out += "<tr>";
    for (const auto& [name, v] : columns) {
      const Value* x = row.find(name);
      out += std::string(x && x->is_number() ? "<td class=\"n\">" : "<td>") + (x ? cell(*x) : "") + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</table></div>\n";
}

// The settings of a set of records as flat "a.b.c" keys; a key whose value differs between the
// records shows each value once.
std::map<std::string, std::set<std::string>> flat_settings(const std::vector<const results::LoadedRecord*>& records) {
  std::map<std::string, std::set<std::string>> out;
  std::function<void(const std::string&, const Value&)> walk = [&](const std::string& prefix, const Value& v) {
    if (v.is_object() && v.size() > 0) {
      for (const auto& [k, x] : v.as_object()) walk(prefix.empty() ? k : prefix + "." + k, x);
      return;
    }
    out[prefix].insert(v.is_string() ? v.as_string() : json::dump(v));
  };
  for (const auto* r : records) walk("", r->record.config);
  return out;
}

// Refusals, where the record counts them (metrics.extra.refused, written by lib/icl); 0 otherwise.
std::int64_t refused_of(const results::ResultRecord& r) {
  if (r.metrics.extra.is_object())
    if (const Value* v = r.metrics.extra.find("refused"); v && v->is_number()) return v->as_int();
  return 0;
}

}  // namespace

std::string html_report(const std::vector<results::LoadedRecord>& records, const Report& report,
                        const std::vector<fs::path>& figure_files) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>w2s report</title>\n<style>\n"
       "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1800px}\n"
       "h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em}\n"
       "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px}\n"
       ".scroll{overflow-x:auto;max-height:40em;overflow-y:auto;border:1px solid #ddd;margin-bottom:1em}\n"
       "table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ddd;padding:2px 6px;white-space:nowrap}\n"
       "th{background:#eee;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
       "figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}\n"
       "li.note{margin:.3em 0}\n</style>\n</head>\n<body>\n";
  fs::path common = report.inputs.empty() ? fs::path() : report.inputs.front().parent_path();
  for (const auto& p : report.inputs)  // the folder that holds every input
    while (!common.empty() && std::mismatch(common.begin(), common.end(), p.begin(), p.end()).first != common.end())
      common = common.parent_path();
  h += fmt::format("<h1>w2s report</h1>\n<p>{} result file(s) under {}; written by w2s {} ({}) at {}.</p>\n",
                   records.size(), escape(common.string()),
                   escape(tool_version()), escape(tool_git_commit()), escape(now_iso8601()));
  h += "<nav><a href=\"#summary\">Summary</a> · <a href=\"#notes\">Notes</a> · <a href=\"#figures\">Figures</a> · "
       "<a href=\"#tables\">Tables</a> · <a href=\"#records\">Records and cost</a> · <a href=\"#settings\">Settings</a></nav>\n";

  h += "<h2 id=\"summary\">Summary</h2>\n<pre>" + escape(console_table(report)) + "</pre>\n";

  h += fmt::format("<h2 id=\"notes\">Notes ({})</h2>\n", report.notes.size());
  if (report.notes.empty()) h += "<p>None.</p>\n";
  else {
    h += "<ul>\n";
    for (const auto& n : report.notes) h += "<li class=\"note\">" + escape(n) + "</li>\n";
    h += "</ul>\n";
  }

  h += "<h2 id=\"figures\">Figures</h2>\n";
  std::size_t shown = 0;
  for (const auto& f : figure_files) {
    if (f.extension() != ".svg") continue;
    ++shown;
    h += fmt::format("<figure><img alt=\"{0}\" src=\"data:image/svg+xml;base64,{1}\"><figcaption>{0}</figcaption>"
                     "</figure>\n",
                     escape(f.stem().string()), base64(read_file(f)));
  }
  if (!shown) h += "<p>No figure (gnuplot drew none).</p>\n";

  h += "<h2 id=\"tables\">Tables</h2>\n<p>Column meanings: docs/analysis.md. Fractions; empty = undefined.</p>\n";
  for (const auto& [name, rows] : report.tables.as_object()) {
    if (!rows.size()) continue;
    h += fmt::format("<h3>{} ({} rows)</h3>\n", escape(name), rows.size());
    h += html_table(rows);
  }

  // Every record: what it is, its counts and its cost; then the cost per run and model.
  h += "<h2 id=\"records\">Records and cost</h2>\n<div class=\"scroll\"><table>\n<tr><th>file</th><th>kind</th>"
       "<th>run</th><th>model</th><th>labels from</th><th>shots / stage</th><th>n</th><th>accuracy</th><th>failed</th>"
       "<th>unparsed</th><th>cut off</th><th>refused</th><th>requests</th><th>cache hits</th><th>cost (USD)</th>"
       "<th>failure</th></tr>\n";
  double total_usd = 0.0;
  std::int64_t total_failed = 0, total_unparsed = 0, total_refused = 0;
  std::map<std::string, std::map<std::string, double>> usd_by_run_and_model;
  for (const auto& lr : records) {
    const auto& r = lr.record;
    const detail::UnusableAnswers u = detail::unusable_answers(r);
    const std::int64_t refused = refused_of(r);
    total_usd += r.cost.total.usd;
    total_failed += r.metrics.failed;
    total_unparsed += u.unparsed;
    total_refused += refused;
    for (const auto& [model, cost] : r.cost.by_model) usd_by_run_and_model[r.run][model] += cost.usd;
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.4f}</td><td>{}</td></tr>\n",
        escape(lr.path.string()), results::kind_name(r.kind), escape(r.run), escape(r.evaluated_model),
        escape(r.label_source.model.empty() ? r.label_source.kind : r.label_source.model),
        r.shots ? std::to_string(*r.shots) : escape(r.stage.value_or("")), r.metrics.n,
        detail::fixed(r.metrics.accuracy, 4), r.metrics.failed, u.unparsed, u.cut_off, refused, r.cost.total.requests,
        r.cost.total.cache_hits, r.cost.total.usd, escape(r.failure.value_or("")));
  }
  h += "</table></div>\n";
  h += fmt::format("<p>Total: {:.4f} USD; {} failed requests, {} unparsed answers, {} refusals.</p>\n", total_usd,
                   total_failed, total_unparsed, total_refused);
  if (total_usd > 0.0) {
    h += "<table>\n<tr><th>run</th><th>model</th><th>cost (USD)</th></tr>\n";
    for (const auto& [run, models] : usd_by_run_and_model)
      for (const auto& [model, usd] : models)
        h += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{:.4f}</td></tr>\n", escape(run), escape(model), usd);
    h += "</table>\n";
  }

  // Settings per run: every recorded setting; one that differs between the run's records (a
  // stage's learning rate, the shots) lists each value.
  h += "<h2 id=\"settings\">Settings of each run</h2>\n";
  std::map<std::string, std::vector<const results::LoadedRecord*>> by_run;
  for (const auto& lr : records) by_run[lr.record.run].push_back(&lr);
  for (const auto& [run, members] : by_run) {
    h += fmt::format("<h3>run {} ({} records)</h3>\n<div class=\"scroll\"><table>\n<tr><th>setting</th><th>value</th>"
                     "</tr>\n",
                     escape(run.empty() ? std::string("(unnamed)") : run), members.size());
    for (const auto& [key, values] : flat_settings(members)) {
      std::string shown_values;
      for (const auto& v : values) shown_values += (shown_values.empty() ? "" : " | ") + v;
      h += fmt::format("<tr><td>{}</td><td>{}{}</td></tr>\n", escape(key), values.size() > 1 ? "varies: " : "",
                       escape(shown_values));
    }
    h += "</table></div>\n";
  }
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace w2s::analysis
