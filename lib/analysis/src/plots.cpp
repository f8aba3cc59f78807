// Figures with gnuplot. Each figure is <name>.dat (the numbers) + <name>.gp (a self-contained
// script that renders <name>.png with pngcairo and <name>.svg), written first and then run, so a
// user can restyle the script and re-run `gnuplot <name>.gp` in the same folder.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "detail.h"
#include "w2s/shell.h"

namespace w2s::analysis {
namespace {

namespace fs = std::filesystem;
using json::Value;

// tab10: colour by weak model (the reference colours weak models; 8B blue, 70B orange).
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
// Students in the training bar charts (grey and green are taken by floor and ceiling).
const char* const kMethodColours[] = {"#1f77b4", "#ff7f0e", "#9467bd", "#d62728",
                                      "#8c564b", "#e377c2", "#bcbd22", "#17becf"};
const int kPointTypes[] = {7, 5, 9, 11, 13, 15, 6, 4, 8, 10};  // circle, square, triangle, ... by strong model

std::string gp_string(std::string_view s) {  // a gnuplot double-quoted string
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A number in percent for the data file; "?" (gnuplot's missing value) when undefined.
std::string pct(const Value& v) { return v.is_null() ? "?" : detail::fixed(v.as_double() * 100.0, 4); }

// value, lo, hi in percent; a missing CI collapses to the value (no error bar).
std::string pct3(const Value& row, const std::string& key) {
  const Value& v = row.at(key);
  const Value& lo = row.at(key + "_lo");
  const Value& hi = row.at(key + "_hi");
  if (v.is_null()) return "? ? ?";
  return pct(v) + " " + pct(lo.is_null() ? v : lo) + " " + pct(hi.is_null() ? v : hi);
}

// Appends the defined values of key, key_lo and key_hi (percent) of each row.
void collect(std::vector<double>& out, const std::vector<const Value*>& rows, const std::string& key) {
  for (const auto* r : rows)
    for (const std::string& k : {key, key + "_lo", key + "_hi"})
      if (const Value* v = r->find(k); v && !v->is_null()) out.push_back(v->as_double() * 100.0);
}

// Axis ranges are always set explicitly, from the data: gnuplot's autoscale fails ("x range is
// invalid") when every value of a panel is undefined or all points share one x.
//
// The y range that shows `values` and `include` (reference lines) with a margin, so no point sits
// on the frame, rounded out to multiples of 5 and kept within [lo_limit, hi_limit] (values beyond
// are marked, not stretched to).
struct Range {
  double lo = 0, hi = 100;
  std::string set(const char* axis = "y") const { return fmt::format("  set {}range [{:g}:{:g}]\n", axis, lo, hi); }
  bool contains(double v) const { return v >= lo && v <= hi; }
};
Range yrange(const std::vector<double>& values, std::initializer_list<double> include, double lo_limit,
             double hi_limit) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) lo = std::min(lo, v), hi = std::max(hi, v);
  for (double v : include) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) lo = 0, hi = 100;
  const double pad = std::max(2.0, 0.05 * (std::min(hi, hi_limit) - std::max(lo, lo_limit)));
  return {std::max(lo_limit, 5.0 * std::floor((lo - pad) / 5.0)), std::min(hi_limit, 5.0 * std::ceil((hi + pad) / 5.0))};
}

// PGR axes show -100 % .. +200 % at most (plus a margin): a tiny gap (ceiling barely above the floor) gives PGRs of
// thousands of percent that would flatten every other series. Values beyond are marked at the edge.
constexpr double kPgrAxisMin = -100.0, kPgrAxisMax = 200.0, kPgrAxisMargin = 10.0;

// Accuracy axes: within 0..100 plus a margin, tics at round steps inside 0..100 only.
std::string accuracy_axis(const std::vector<double>& values) {
  const Range r = yrange(values, {}, -3, 103);
  const double span = r.hi - r.lo;
  return r.set() + fmt::format("  set ytics 0,{},100\n", span <= 20 ? 2 : span <= 50 ? 5 : 10);
}

// A panel that says why it is empty instead of plotting (the ranges make it drawable).
std::string no_data_panel(const std::string& why) {
  return fmt::format("  set xrange [0:1]\n  set yrange [0:1]\n  unset xtics\n  unset ytics\n  unset xlabel\n"
                     "  unset ylabel\n  set label 1 {} at graph 0.5,0.5 center font \",14\" tc rgb \"#808080\"\n"
                     "  plot -1 notitle\n  unset label 1\n  set xtics\n  set ytics\n",
                     gp_string(why));
}

// A clustered histogram puts cluster i at x = i.
std::string histogram_xrange(std::size_t clusters) {
  return fmt::format("  set xrange [-0.6:{:g}]\n", static_cast<double>(clusters) - 0.4);
}

struct Figure {
  std::string folder;  // under the output folder: one per test set when there are several
  std::string name;
  std::string title;
  int width = 1400, height = 900;
  std::string data;  // blocks separated by two blank lines (gnuplot `index`)
  std::string body;  // gnuplot commands after the terminal is set
  int blocks = 0;

  int add_block(const std::string& comment, const std::string& rows) {
    if (blocks) data += "\n\n";
    data += "# index " + std::to_string(blocks) + ": " + comment + "\n" + rows;
    return blocks++;
  }
};

std::string script(const Figure& f) {
  return fmt::format(
      "# {title}\n"
      "# Generated by `w2s plot`. Restyle freely, then re-render in this folder with: gnuplot {name}.gp\n"
      "# Numbers: {name}.dat (accuracies and PGR in percent; '?' = undefined).\n"
      "do for [format in \"png svg\"] {{\n"
      "  reset\n"
      "  if (format eq \"png\") {{\n"
      "    set terminal pngcairo noenhanced size {w},{h} font \"Sans,12\"\n"
      "  }} else {{\n"
      "    set terminal svg noenhanced size {w},{h} font \"Sans,12\" background rgb \"white\"\n"
      "  }}\n"
      "  set output \"{name}.\".format\n"
      "  set datafile missing \"?\"\n"
      "  set grid lc rgb \"#dddddd\"\n"
      "{body}"
      "  unset multiplot\n"
      "  set output\n"
      "}}\n",
      fmt::arg("title", f.title), fmt::arg("name", f.name), fmt::arg("w", f.width), fmt::arg("h", f.height),
      fmt::arg("body", f.body));
}

// A folder name for a test set label: "truthfulqa mc1, test split, n=100" -> "truthfulqa-mc1-test-split-n-100".
std::string folder_name(const std::string& label) {
  std::string out;
  for (char c : label) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_')
      out += c;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "test-set" : out;
}

// ---- in-context figures ----------------------------------------------------------------------

struct IclView {
  std::vector<std::string> models;  // ordered by zero-shot accuracy, weakest first
  std::map<std::string, double> zero_shot;
  std::map<std::string, std::vector<const Value*>> gold;  // model -> rows by shots
  std::map<std::pair<std::string, std::string>, std::vector<const Value*>> pairs;  // (weak, strong) -> rows
  std::set<std::int64_t> shots;
  ModelNames names = ModelNames({});  // legends and titles

  int index(const std::string& model) const {
    return static_cast<int>(std::find(models.begin(), models.end(), model) - models.begin()) % 10;
  }
};

// The in-context rows of one test set.
IclView icl_view(const Report& report, const std::string& test_set) {
  IclView v;
  v.names = detail::display_names(report.tables);
  std::map<std::string, const Value*> zero_rows;
  for (const auto& row : report.tables.at("icl_accuracy").as_array()) {
    if (row.get_string("test_set") != test_set) continue;
    const std::string curve = row.get_string("curve");
    if (curve == "zero-shot") {
      v.zero_shot[row.get_string("model")] = row.get_double("accuracy");
      zero_rows[row.get_string("model")] = &row;
    }
    if (curve == "gold") {
      v.gold[row.get_string("model")].push_back(&row);
      v.shots.insert(row.get_int("shots"));
    }
  }
  // A gold curve starts at its zero-shot baseline (0 gold shots).
  for (auto& [m, rows] : v.gold)
    if (zero_rows.count(m) && std::none_of(rows.begin(), rows.end(), [](const Value* r) { return r->get_int("shots") == 0; })) {
      rows.push_back(zero_rows.at(m));
      v.shots.insert(0);
    }
  for (const auto& row : report.tables.at("icl_pairs").as_array()) {
    if (row.get_string("test_set") != test_set) continue;
    v.pairs[{row.get_string("weak"), row.get_string("strong")}].push_back(&row);
    v.shots.insert(row.get_int("shots"));
  }
  for (const auto& [m, acc] : v.zero_shot) v.models.push_back(m);
  std::stable_sort(v.models.begin(), v.models.end(),
                   [&](const auto& a, const auto& b) { return v.zero_shot.at(a) < v.zero_shot.at(b); });
  auto by_shots = [](const Value* a, const Value* b) { return a->get_int("shots") < b->get_int("shots"); };
  for (auto& [k, rows] : v.gold) std::sort(rows.begin(), rows.end(), by_shots);
  for (auto& [k, rows] : v.pairs) std::sort(rows.begin(), rows.end(), by_shots);
  return v;
}

// The shots axis. Shots that grow geometrically (0, 2, 4, 8, 16, 32, 64) sit on a log2(1 + n)
// scale so the small counts do not crowd at the left; evenly spaced shots stay linear. Every plot
// maps its x column through sx(), defined here, with tics labelled by the shot counts themselves
// and a margin on both sides (one shot value included).
std::string shot_axis(const std::set<std::int64_t>& shots) {
  const std::vector<std::int64_t> n(shots.begin(), shots.end());
  bool evenly_spaced = true;
  for (std::size_t i = 2; i < n.size(); ++i) evenly_spaced = evenly_spaced && n[i] - n[i - 1] == n[1] - n[0];
  const bool log2 = !evenly_spaced && !n.empty() && n.back() >= 8;
  auto sx = [&](double v) { return log2 ? std::log2(v + 1.0) : v; };
  std::vector<std::int64_t> tics = n;
  if (tics.size() > 12) {  // keep 0, the powers of two and the largest, then thin evenly
    std::vector<std::int64_t> kept;
    for (auto v : tics)
      if (v == 0 || (v & (v - 1)) == 0 || v == tics.back()) kept.push_back(v);
    tics.clear();
    const std::size_t step = (kept.size() + 11) / 12;
    for (std::size_t i = 0; i < kept.size(); i += step) tics.push_back(kept[i]);
  }
  std::string labels;
  for (auto v : tics) labels += fmt::format("{}\"{}\" sx({})", labels.empty() ? "" : ", ", v, v);
  double lo = n.empty() ? 0.0 : sx(static_cast<double>(n.front()));
  double hi = n.empty() ? 1.0 : sx(static_cast<double>(n.back()));
  if (lo == hi) lo -= 1.0, hi += 1.0;
  const double pad = 0.04 * (hi - lo);
  return fmt::format("  sx(n) = {}\n  set xrange [{:g}:{:g}]\n  set xtics ({})\n  set xlabel \"Number of few-shot "
                     "examples{}\"\n",
                     log2 ? "log(n + 1) / log(2)" : "n", lo - pad, hi + pad, labels, log2 ? " (log scale)" : "");
}

std::string rows_of(const std::vector<const Value*>& rows, const std::string& key) {
  std::string out = "# shots " + key + " lo hi (percent)\n";
  for (const auto* r : rows) out += fmt::format("{} {}\n", r->get_int("shots"), pct3(*r, key));
  return out;
}

// Accuracy vs shots for the student of every pair (solid) and each model's gold curve (dashed).
Figure accuracy_figure(const IclView& v, bool self_pairs) {
  Figure f;
  f.name = self_pairs ? "self_supervision" : "accuracy_vs_shots";
  f.title = self_pairs ? "Self-supervision: each model taught by its own labels" : "Accuracy vs number of shots";
  std::vector<std::string> plots;
  std::vector<double> values;
  std::set<std::string> gold_models;
  for (const auto& [pair, rows] : v.pairs) {
    const auto& [weak, strong] = pair;
    if ((weak == strong) != self_pairs) continue;
    collect(values, rows, "student_accuracy");
    const int i = f.add_block(weak + " -> " + strong + " (weak labels)", rows_of(rows, "student_accuracy"));
    plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2:3:4 with yerrorlines lw 2 lc rgb {} pt {} ps 1.3 title {}",
                                f.name, i, gp_string(kColours[v.index(weak)]), kPointTypes[v.index(strong)],
                                gp_string(v.names(weak) + " -> " + v.names(strong))));
    gold_models.insert(strong);
  }
  // A gold sweep without weak-label runs: every model's accuracy against its number of gold shots.
  const bool gold_only = plots.empty() && !self_pairs;
  if (gold_only) {
    f.title = "Accuracy vs number of gold shots";
    for (const auto& [m, rows] : v.gold) gold_models.insert(m);
  }
  if (plots.empty() && !gold_only) return f;
  for (const auto& m : gold_models) {
    if (!v.gold.count(m)) continue;
    collect(values, v.gold.at(m), "accuracy");
    const int i = f.add_block(m + " (gold labels)", rows_of(v.gold.at(m), "accuracy"));
    // Dashed where the gold curves are the reference for weak-label curves; solid when they are all there is.
    plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2:3:4 with yerrorlines dt {} lw {} lc rgb {} pt {} ps 1 "
                                "title {}",
                                f.name, i, gold_only ? 1 : 2, gold_only ? 2 : 1.5,
                                gp_string(self_pairs || gold_only ? kColours[v.index(m)] : "#808080"),
                                kPointTypes[v.index(m)], gp_string(v.names(m) + " gold labels")));
  }
  if (plots.empty()) return f;
  f.body = fmt::format("  set title {}\n  set ylabel \"Accuracy (%)\"\n  set key outside right top\n{}{}  plot {}\n",
                       gp_string(f.title), shot_axis(v.shots), accuracy_axis(values), fmt::join(plots, ", \\\n       "));
  return f;
}

// PGR vs shots, one panel per floor/ceiling choice, with one legend for the four panels right of them.
Figure pgr_figure(const IclView& v) {
  Figure f;
  f.name = "pgr_vs_shots";
  f.title = "Performance gap recovered vs number of shots";
  f.width = 1900;
  f.height = 1150;
  struct Variant {
    const char *key, *title, *floor, *ceiling;
  };
  const Variant variants[] = {
      {"pgr_weak0_strong0", "floor: weak zero-shot, ceiling: strong zero-shot", "weak_zero_shot", "strong_zero_shot"},
      {"pgr_weak0_stronggold", "floor: weak zero-shot, ceiling: strong with N gold shots", "weak_zero_shot",
       "strong_gold"},
      {"pgr_weakgold_stronggold", "floor: weak with N gold shots, ceiling: strong with N gold shots", "weak_gold",
       "strong_gold"},
      {"pgr_weakgold_strong0", "floor: weak with N gold shots, ceiling: strong zero-shot", "weak_gold",
       "strong_zero_shot"}};
  struct Series {
    std::string title, colour;
    int point_type;
    std::vector<const Value*> rows;
  };
  std::vector<Series> series;
  for (const auto& [pair, rows] : v.pairs)
    if (pair.first != pair.second)
      series.push_back({v.names(pair.first) + " -> " + v.names(pair.second), kColours[v.index(pair.first)],
                        kPointTypes[v.index(pair.second)], rows});
  if (series.empty()) return f;

  struct Plot {
    std::string spec, title;  // title: the legend entry, "" for none
  };
  struct Panel {
    std::vector<Plot> plots;
    std::vector<bool> drawn;  // per series
    Range range;
    bool beyond = false;
    bool inverted = false;  // a PGR whose ceiling lies below its floor
  };
  std::vector<Panel> panels;
  for (const auto& [key, title, floor_key, ceiling_key] : variants) {
    Panel panel;
    std::vector<double> values;
    for (const auto& s : series) {
      const std::size_t before = values.size();
      collect(values, s.rows, key);
      panel.drawn.push_back(values.size() > before);  // a series with no defined PGR here is left out
    }
    panel.range = yrange(values, {0.0, 100.0}, kPgrAxisMin - kPgrAxisMargin, kPgrAxisMax + kPgrAxisMargin);
    for (const auto& s : series)  // error bars may run off the axis; points are marked
      for (const auto* r : s.rows)
        if (const Value& x = r->at(key); !x.is_null() && !panel.range.contains(x.as_double() * 100.0)) panel.beyond = true;
    const double inset = 0.025 * (panel.range.hi - panel.range.lo);
    for (std::size_t k = 0; k < series.size(); ++k) {
      if (!panel.drawn[k]) continue;
      const auto& s = series[k];
      const int i = f.add_block(s.title + " " + key, rows_of(s.rows, key));
      panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):2:3:4 with yerrorlines lw 2 lc rgb {} pt {}",
                                         f.name, i, gp_string(s.colour), s.point_type),
                             s.title});
      // A PGR over a negative gap (the ceiling below the floor) reads the wrong way round: crossed out.
      std::string inverted;
      for (const auto* r : s.rows)
        if (!r->at(key).is_null() && r->get_double(ceiling_key) < r->get_double(floor_key))
          inverted += fmt::format("{} {}\n", r->get_int("shots"), pct(r->at(key)));
      if (!inverted.empty()) {
        panel.inverted = true;
        const int j = f.add_block(s.title + " " + key + " (ceiling below floor)", "# shots PGR (percent)\n" + inverted);
        panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):2 with points pt 2 ps 3 lw 2 lc rgb "
                                           "\"black\"",
                                           f.name, j),
                               ""});
      }
      if (panel.beyond) {  // an open triangle at the edge, pointing the way the value lies
        panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):($2 > {:g} ? {:g} : 1/0) with points pt 8 "
                                           "ps 2.2 lc rgb {}",
                                           f.name, i, panel.range.hi, panel.range.hi - inset, gp_string(s.colour)),
                               ""});
        panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):($2 < {:g} ? {:g} : 1/0) with points pt 10 "
                                           "ps 2.2 lc rgb {}",
                                           f.name, i, panel.range.lo, panel.range.lo + inset, gp_string(s.colour)),
                               ""});
      }
    }
    panels.push_back(std::move(panel));
  }

  // The legend belongs to the first panel that draws: every series, the reference lines and the
  // out-of-range mark, as empty (NaN) samples where that panel has no data of their own.
  const auto key_panel = static_cast<std::size_t>(
      std::find_if(panels.begin(), panels.end(), [](const Panel& p) { return !p.plots.empty(); }) - panels.begin());
  std::string body = fmt::format("  set multiplot layout 2,2 margins 0.05,0.78,0.07,0.91 spacing 0.07,0.12 title {} "
                                 "font \",15\"\n  set ylabel \"PGR (%)\"\n",
                                 gp_string(f.title));
  for (std::size_t p = 0; p < panels.size(); ++p) {
    Panel& panel = panels[p];
    body += fmt::format("  set title {}\n", gp_string(variants[p].title));
    if (panel.plots.empty()) {
      body += no_data_panel("No PGR defined:\nno gold sweep at these shots, or every ceiling\nwithin the zero guard of its floor");
      continue;
    }
    const bool keyed = p == key_panel;
    if (keyed) {
      for (std::size_t k = 0; k < series.size(); ++k)
        if (!panel.drawn[k])
          panel.plots.push_back({fmt::format("NaN with linespoints lw 2 lc rgb {} pt {}", gp_string(series[k].colour),
                                             series[k].point_type),
                                 series[k].title});
      if (std::any_of(panels.begin(), panels.end(), [](const Panel& q) { return q.beyond; }))
        panel.plots.push_back({"NaN with points pt 8 ps 2 lc rgb \"black\"", "beyond the axis (see .dat)"});
      if (std::any_of(panels.begin(), panels.end(), [](const Panel& q) { return q.inverted; }))
        panel.plots.push_back({"NaN with points pt 2 ps 2 lw 2 lc rgb \"black\"", "ceiling below floor"});
    }
    panel.plots.push_back({"0 with lines dt 2 lc rgb \"red\"", "Floor (0%)"});
    panel.plots.push_back({"100 with lines dt 2 lc rgb \"#2ca02c\"", "Ceiling (100%)"});
    std::vector<std::string> plots;
    for (const auto& plot : panel.plots)
      plots.push_back(plot.spec + (keyed && !plot.title.empty() ? " title " + gp_string(plot.title) : " notitle"));
    body += shot_axis(v.shots) + panel.range.set() +
            (keyed ? "  set key at screen 0.8, screen 0.91 left top Left reverse box samplen 2\n" : "  unset key\n") +
            fmt::format("  plot {}\n", fmt::join(plots, ", \\\n       "));
  }
  f.body = body;
  return f;
}

// The response grids: rows = weak models, columns = strong models.
enum class GridKind { AllQuestions, WeakWrong, Conditional };

Figure grid_figure(const IclView& v, GridKind kind) {
  Figure f;
  std::string prefix;
  switch (kind) {
    case GridKind::AllQuestions:
      f.name = "response_matching_all_questions_grid";
      f.title = "Which model does the W2S student's answer match? (all questions)";
      prefix = "w2s_matches_";
      break;
    case GridKind::WeakWrong:
      f.name = "response_matching_when_weak_wrong_grid";
      f.title = "Which model does the W2S student's answer match? (questions the weak model got wrong)";
      prefix = "weak_wrong_matches_";
      break;
    case GridKind::Conditional:
      f.name = "w2s_conditional_correctness_grid";
      f.title = "W2S student correctness conditional on the strong model";
      break;
  }
  std::vector<std::string> weak_models, strong_models;
  for (const auto& m : v.models) {
    bool is_weak = false, is_strong = false;
    for (const auto& [pair, rows] : v.pairs) {
      is_weak = is_weak || pair.first == m;
      is_strong = is_strong || pair.second == m;
    }
    // Rows are the models that taught, columns the models that learned (the reference put every
    // model on both axes, which left most cells empty).
    if (is_weak) weak_models.push_back(m);
    if (is_strong) strong_models.push_back(m);
  }
  if (weak_models.empty()) return f;
  const auto rows_n = static_cast<int>(weak_models.size()), columns_n = static_cast<int>(strong_models.size());
  // Cells of about 520 x 380 pixels; the legend sits right of the grid (300 pixels), outside every cell.
  f.width = 380 + 520 * columns_n;
  f.height = 160 + 380 * rows_n;
  const double x_px = 1.0 / f.width, y_px = 1.0 / f.height;  // one pixel in screen units
  std::string body = fmt::format("  set multiplot layout {},{} margins {:.4f},{:.4f},{:.4f},{:.4f} spacing {:.4f},{:.4f} "
                                 "title {} font \",15\"\n  set key at screen {:.4f}, screen {:.4f} left top Left reverse "
                                 "font \",11\"\n",
                                 rows_n, columns_n, 90 * x_px, 1 - 300 * x_px, 70 * y_px, 1 - 80 * y_px, 90 * x_px,
                                 130 * y_px, gp_string(f.title), 1 - 285 * x_px, 1 - 80 * y_px);
  bool first_cell = true;
  for (const auto& weak : weak_models)
    for (const auto& strong : strong_models) {
      auto it = v.pairs.find({weak, strong});
      body += fmt::format("  set title {}\n", gp_string(v.names(weak) + " -> " + v.names(strong)));
      if (it == v.pairs.end()) {
        body += no_data_panel("No data");
        continue;
      }
      // A pair whose condition is empty at every shot (a weak model that is never wrong, a strong
      // model that is never wrong) has nothing to draw.
      std::vector<double> defined;
      for (const char* key : kind == GridKind::Conditional
                                 ? std::vector<const char*>{"w2s_acc_given_strong_wrong", "w2s_wrong_given_strong_correct"}
                                 : std::vector<const char*>{"both"})
        collect(defined, it->second, kind == GridKind::Conditional ? key : prefix + key);
      if (defined.empty()) {
        body += no_data_panel(kind == GridKind::WeakWrong     ? "No data: the weak model is never wrong"
                              : kind == GridKind::Conditional ? "No data: the strong model is never wrong or never right"
                                                              : "No data");
        continue;
      }
      std::string rows;
      if (kind == GridKind::Conditional) {
        rows = "# shots P(w2s right | strong wrong) P(w2s wrong | strong right) (percent)\n";
        for (const auto* r : it->second)
          rows += fmt::format("{} {} {}\n", r->get_int("shots"), pct(r->at("w2s_acc_given_strong_wrong")),
                              pct(r->at("w2s_wrong_given_strong_correct")));
      } else {
        // Cumulative shares for the stacked areas, bottom to top: both, strong only, weak only, neither.
        rows = "# shots both +strong +weak +neither (cumulative percent)\n";
        for (const auto* r : it->second) {
          const Value& both = r->at(prefix + "both");
          if (both.is_null()) {
            rows += fmt::format("{} ? ? ? ?\n", r->get_int("shots"));
            continue;
          }
          double acc = 0.0;
          std::string line = std::to_string(r->get_int("shots"));
          for (const char* k : {"both", "strong", "weak", "neither"}) {
            acc += r->at(prefix + k).as_double() * 100.0;
            line += fmt::format(" {:.4f}", acc);
          }
          rows += line + "\n";
        }
      }
      const int i = f.add_block(weak + " -> " + strong, rows);
      auto t = [&](const char* title) { return first_cell ? std::string("title ") + gp_string(title) : std::string("notitle"); };
      body += shot_axis(v.shots) + (kind == GridKind::Conditional ? "  set yrange [-5:105]\n" : "  set yrange [0:100]\n") +
              "  set ylabel \"% of questions\"\n";
      if (kind == GridKind::Conditional) {
        body += fmt::format(
            "  plot '{0}.dat' index {1} using (sx($1)):2 with linespoints lw 2 pt 7 lc rgb \"#2ca02c\" {2}, \\\n"
            "       '{0}.dat' index {1} using (sx($1)):3 with linespoints lw 2 pt 5 lc rgb \"#d62728\" {3}\n",
            f.name, i, t("W2S correct | Strong wrong"), t("W2S wrong | Strong correct"));
      } else {
        body += fmt::format(
            "  plot '{0}.dat' index {1} using (sx($1)):(0):2 with filledcurves fc rgb \"#2ca02c\" fs solid 0.8 {2}, \\\n"
            "       '{0}.dat' index {1} using (sx($1)):2:3 with filledcurves fc rgb \"#ff7f0e\" fs solid 0.8 {3}, \\\n"
            "       '{0}.dat' index {1} using (sx($1)):3:4 with filledcurves fc rgb \"#1f77b4\" fs solid 0.8 {4}, \\\n"
            "       '{0}.dat' index {1} using (sx($1)):4:5 with filledcurves fc rgb \"#d62728\" fs solid 0.8 {5}\n",
            f.name, i, t("Both"), t("Strong only"), t("Weak only"), t("Neither"));
      }
      first_cell = false;
    }
  f.body = body;
  return f;
}

// ---- fine-tuning figures ---------------------------------------------------------------------

// Clustered bars: one cluster per dataset (and pair), floor / ceiling / each method's student.
Figure train_bars(const Report& report, const std::string& metric) {
  Figure f;
  f.name = "train_" + metric + "_bars";
  f.title = std::string("Floor, ceiling and W2S students: test ") + (metric == "auroc" ? "AUROC" : "accuracy");
  const auto& rows = report.tables.at("train").as_array();
  const ModelNames names = detail::display_names(report.tables);
  std::vector<std::string> methods, clusters;
  std::map<std::string, const Value*> floor_ceiling;              // cluster -> a row (floor/ceiling)
  std::map<std::pair<std::string, std::string>, const Value*> by;  // (cluster, method)
  std::set<std::string> pairs;
  for (const auto& r : rows) pairs.insert(r.get_string("weak") + r.get_string("strong"));
  for (const auto& r : rows) {
    std::string cluster = r.get_string("test_set");
    if (pairs.size() > 1) cluster += " (" + names(r.get_string("weak")) + " -> " + names(r.get_string("strong")) + ")";
    if (!floor_ceiling.count(cluster)) clusters.push_back(cluster);
    floor_ceiling[cluster] = &r;
    if (std::find(methods.begin(), methods.end(), r.get_string("method")) == methods.end())
      methods.push_back(r.get_string("method"));
    by[{cluster, r.get_string("method")}] = &r;
  }
  if (clusters.empty()) return f;
  std::string data = "# cluster floor lo hi ceiling lo hi";
  for (const auto& m : methods) data += " " + m + " lo hi";
  data += " (percent)\n";
  for (const auto& c : clusters) {
    data += gp_string(c) + " " + pct3(*floor_ceiling[c], "floor_" + metric) + " " + pct3(*floor_ceiling[c], "ceiling_" + metric);
    for (const auto& m : methods) data += " " + (by.count({c, m}) ? pct3(*by[{c, m}], "student_" + metric) : "? ? ?");
    data += "\n";
  }
  f.add_block("clusters", data);
  std::vector<std::string> plots = {
      fmt::format("'{}.dat' using 2:3:4:xtic(1) lc rgb \"#7f7f7f\" title \"floor (weak on gold)\"", f.name),
      fmt::format("'' using 5:6:7 lc rgb \"#2ca02c\" title \"ceiling (strong on gold)\"")};
  for (std::size_t i = 0; i < methods.size(); ++i)
    plots.push_back(fmt::format("'' using {}:{}:{} lc rgb {} title {}", 8 + 3 * i, 9 + 3 * i, 10 + 3 * i,
                                gp_string(kMethodColours[i % 8]), gp_string("W2S: " + methods[i])));
  std::vector<double> values;
  std::vector<const Value*> row_ptrs;
  for (const auto& r : rows) row_ptrs.push_back(&r);
  for (const char* role : {"floor_", "ceiling_", "student_"}) collect(values, row_ptrs, role + metric);
  // AUROC bars start just below chance (50 %, a dashed line), so a floor at chance still shows,
  // unless a bar lies lower (error bars may be cut at the frame); accuracy bars start at 0.
  Range range = yrange(values, {}, 0, 103);
  std::string chance;
  if (metric == "auroc") {
    bool below_chance = false;
    for (const auto& r : rows)
      for (const char* role : {"floor_", "ceiling_", "student_"})
        if (const Value& x = r.at(role + metric); !x.is_null() && x.as_double() < 0.5) below_chance = true;
    if (!below_chance) range.lo = 45;
    chance = "  set arrow 1 from graph 0, first 50 to graph 1, first 50 nohead dt 2 lw 1.5 lc rgb \"#404040\" front\n";
  } else {
    range.lo = 0;
  }
  f.width = std::max(1400, 200 + 160 * static_cast<int>(clusters.size() * (methods.size() + 2)) / 3);
  f.body = fmt::format("  set title {}\n  set style data histogram\n  set style histogram errorbars gap 1.5 lw 1\n"
                       "  set style fill solid 0.85 border -1\n  set ylabel {}\n  set xtics rotate by -30 left\n"
                       "  set key outside right top\n{}{}{}  plot {}\n",
                       gp_string(f.title),
                       gp_string(metric == "auroc" ? "Test AUROC (%; chance = 50)" : "Test accuracy (%)"),
                       histogram_xrange(clusters.size()), range.set(), chance, fmt::join(plots, ", \\\n       "));
  return f;
}

// PGR per method across datasets (clusters = datasets, bars = methods; a sweep's runs of one
// method on one dataset, e.g. seeds, as their mean), plus the mean over datasets, with CIs.
Figure train_pgr(const Report& report, const std::string& metric) {
  Figure f;
  f.name = "train_pgr_" + metric;
  f.title = std::string("PGR per method across datasets (") + (metric == "auroc" ? "AUROC" : "accuracy") + ")";
  const auto& rows = report.tables.at("train_dataset_methods").as_array();
  std::vector<std::string> methods, datasets;
  std::map<std::pair<std::string, std::string>, const Value*> by;
  for (const auto& r : rows) {
    const std::string d = r.get_string("test_set"), m = r.get_string("method");
    if (std::find(datasets.begin(), datasets.end(), d) == datasets.end()) datasets.push_back(d);
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
    by[{d, m}] = &r;
  }
  if (datasets.empty()) return f;
  std::string data = "# dataset";
  for (const auto& m : methods) data += " " + m + " lo hi";
  data += " (PGR in percent)\n";
  for (const auto& d : datasets) {
    data += gp_string(d);
    for (const auto& m : methods) data += " " + (by.count({d, m}) ? pct3(*by[{d, m}], "pgr_" + metric) : "? ? ?");
    data += "\n";
  }
  data += "\"mean\"";
  for (const auto& m : methods) {
    const Value* summary = nullptr;
    for (const auto& r : report.tables.at("train_methods").as_array())
      if (r.get_string("method") == m) summary = &r;
    data += " " + (summary ? pct3(*summary, "pgr_" + metric + "_mean") : "? ? ?");
  }
  data += "\n";
  f.add_block("datasets", data);
  std::vector<std::string> plots;
  for (std::size_t i = 0; i < methods.size(); ++i)
    plots.push_back(fmt::format("{} using {}:{}:{}{} lc rgb {} title {}", i ? "''" : "'" + f.name + ".dat'", 2 + 3 * i,
                                3 + 3 * i, 4 + 3 * i, i ? "" : ":xtic(1)", gp_string(kColours[i % 10]), gp_string(methods[i])));
  std::vector<double> values;
  std::vector<const Value*> row_ptrs;
  for (const auto& r : rows) row_ptrs.push_back(&r);
  collect(values, row_ptrs, "pgr_" + metric);
  const Range range = yrange(values, {0.0, 100.0}, kPgrAxisMin - kPgrAxisMargin, kPgrAxisMax + kPgrAxisMargin);
  // Bars beyond the axis are cut at the frame; the title names them with their values.
  std::vector<std::string> beyond;
  for (const auto& r : rows)
    if (const Value& pgr = r.at("pgr_" + metric); !pgr.is_null() && !range.contains(pgr.as_double() * 100.0))
      beyond.push_back(fmt::format("{} / {} {:.0f}%", r.get_string("test_set"), r.get_string("method"), pgr.as_double() * 100.0));
  for (const auto& r : report.tables.at("train_methods").as_array())
    if (const Value& mean = r.at("pgr_" + metric + "_mean"); !mean.is_null() && !range.contains(mean.as_double() * 100.0))
      beyond.push_back(fmt::format("mean / {} {:.0f}%", r.get_string("method"), mean.as_double() * 100.0));
  // No gap to recover (the train table's ceiling_not_above_floor flag): the title names those rows too.
  std::vector<std::string> inverted;
  for (const auto& r : report.tables.at("train").as_array())
    if (const Value* flag = r.find("ceiling_not_above_floor_" + metric); flag && flag->is_bool() && flag->as_bool())
      inverted.push_back(r.get_string("test_set") + " / " + r.get_string("method"));
  std::string title = f.title;
  if (!beyond.empty()) title += "\nbeyond the axis: " + fmt::format("{}", fmt::join(beyond, ", "));
  if (!inverted.empty()) title += "\nceiling at or below the floor: " + fmt::format("{}", fmt::join(inverted, ", "));
  const std::string no_pgr =
      values.empty() ? "  set label 1 \"No PGR defined: every ceiling is within the zero guard of its floor\" at graph "
                       "0.5,0.5 center font \",14\" tc rgb \"#808080\"\n"
                     : "";
  f.width = std::max(1400, 200 + 60 * static_cast<int>((datasets.size() + 1) * methods.size()));
  f.body = fmt::format("  set title {}\n  set style data histogram\n  set style histogram errorbars gap 1.5 lw 1\n"
                       "  set style fill solid 0.85 border -1\n  set ylabel \"PGR (%)\"\n  set xtics rotate by -30 left\n"
                       "  set key outside right top\n  set xzeroaxis lt -1\n{}{}{}  plot {}\n",
                       gp_string(title), histogram_xrange(datasets.size() + 1), range.set(), no_pgr,
                       fmt::join(plots, ", \\\n       "));
  return f;
}

}  // namespace

Figures plot(const Report& report, const fs::path& out_dir, const PlotOptions& options) {
  Figures result;
  std::vector<Figure> figures;
  // One figure's trouble must not cost the others: each is built, written and rendered on its own.
  auto build = [&](const std::string& name, auto&& make) {
    try {
      figures.push_back(make());
    } catch (const std::exception& e) {
      result.failures.push_back(fmt::format("{}: {}", name, e.what()));
    }
  };
  for (const auto& test_set : report.test_sets) {
    const IclView v = icl_view(report, test_set.label);
    const std::string folder = report.test_sets.size() > 1 ? folder_name(test_set.label) : "";
    auto in_folder = [&](Figure f) {
      f.folder = folder;
      return f;
    };
    const std::string at = folder.empty() ? "" : folder + "/";
    build(at + "accuracy_vs_shots", [&] { return in_folder(accuracy_figure(v, false)); });
    build(at + "self_supervision", [&] { return in_folder(accuracy_figure(v, true)); });
    build(at + "pgr_vs_shots", [&] { return in_folder(pgr_figure(v)); });
    build(at + "response_matching_all_questions_grid", [&] { return in_folder(grid_figure(v, GridKind::AllQuestions)); });
    build(at + "response_matching_when_weak_wrong_grid", [&] { return in_folder(grid_figure(v, GridKind::WeakWrong)); });
    build(at + "w2s_conditional_correctness_grid", [&] { return in_folder(grid_figure(v, GridKind::Conditional)); });
  }
  if (report.tables.at("train").size()) {
    bool any_auroc = false;
    for (const auto& r : report.tables.at("train").as_array()) any_auroc = any_auroc || !r.at("pgr_auroc").is_null();
    for (const std::string metric : {"auroc", "accuracy"}) {
      if (metric == "auroc" && !any_auroc) continue;
      build("train_" + metric + "_bars", [&] { return train_bars(report, metric); });
      build("train_pgr_" + metric, [&] { return train_pgr(report, metric); });
    }
  }
  figures.erase(std::remove_if(figures.begin(), figures.end(), [](const Figure& f) { return f.body.empty(); }),
                figures.end());
  if (figures.empty() && result.failures.empty())
    throw Error("nothing to plot: the inputs have no in-context accuracies or training students");

  for (const auto& f : figures) {
    fs::create_directories(out_dir / f.folder);
    write_file_atomic(out_dir / f.folder / (f.name + ".dat"), f.data);
    write_file_atomic(out_dir / f.folder / (f.name + ".gp"), script(f));
  }
  std::string output;
  if (run_shell(shell_quote(options.gnuplot) + " --version", output) != 0)
    throw Error(fmt::format("`w2s plot` needs gnuplot, but `{}` could not be run: install the Debian package "
                            "gnuplot-nox (scripts/install-deps.sh). The data and scripts are in {}; render them "
                            "later with `gnuplot <name>.gp` there.",
                            options.gnuplot, out_dir.string()));
  for (const auto& f : figures) {
    output.clear();
    const fs::path dir = out_dir / f.folder;
    for (const char* ext : {".png", ".svg"}) fs::remove(dir / (f.name + ext));  // no stale figure passes
    const int rc = run_shell("cd " + shell_quote(dir.string()) + " && " + shell_quote(options.gnuplot) + " " +
                                 shell_quote(f.name + ".gp"),
                             output);
    std::vector<fs::path> drawn;
    for (const char* ext : {".png", ".svg"})
      if (const fs::path p = dir / (f.name + ext); fs::exists(p) && fs::file_size(p) > 0) drawn.push_back(p);
    if (rc != 0 || drawn.size() != 2) {
      result.failures.push_back(fmt::format("{}: gnuplot failed on {} (exit {}):\n{}", (fs::path(f.folder) / f.name).string(),
                                            (dir / (f.name + ".gp")).string(), rc, output));
      continue;
    }
    result.files.insert(result.files.end(), drawn.begin(), drawn.end());
  }
  return result;
}

}  // namespace w2s::analysis
