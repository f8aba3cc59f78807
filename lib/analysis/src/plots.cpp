// Figures with gnuplot. Each figure is <name>.dat (the numbers) + <name>.gp (a self-contained
// script that renders <name>.png with pngcairo and <name>.svg), written first and then run, so a
// user can restyle the script and re-run `gnuplot <name>.gp` in the same folder.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <tuple>

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
      "  set errorbars 2\n"
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

// As rows_of, with the interval cut at the axis range (so its caps show at the frame instead of
// running off as bare lines); a fifth column is 1 where the interval was cut.
std::string rows_cut_to(const std::vector<const Value*>& rows, const std::string& key, const Range& range) {
  std::string out = "# shots " + key + " lo hi cut (percent; lo and hi cut at the axis range, cut = 1 where they were)\n";
  for (const auto* r : rows) {
    const Value& v = r->at(key);
    if (v.is_null()) {
      out += fmt::format("{} ? ? ? 0\n", r->get_int("shots"));
      continue;
    }
    const double x = v.as_double() * 100.0;
    const double lo = r->at(key + "_lo").is_null() ? x : r->get_double(key + "_lo") * 100.0;
    const double hi = r->at(key + "_hi").is_null() ? x : r->get_double(key + "_hi") * 100.0;
    const bool cut = lo < range.lo || hi > range.hi;
    out += fmt::format("{} {:.4f} {:.4f} {:.4f} {}\n", r->get_int("shots"), x, std::clamp(lo, range.lo, range.hi),
                       std::clamp(hi, range.lo, range.hi), cut ? 1 : 0);
  }
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
    bool cut = false;       // an interval cut at the frame
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
      const int i = f.add_block(s.title + " " + key, rows_cut_to(s.rows, key, panel.range));
      panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):2:3:4 with yerrorlines lw 2 lc rgb {} pt {}",
                                         f.name, i, gp_string(s.colour), s.point_type),
                             s.title});
      for (const auto* r : s.rows)
        if (!r->at(key).is_null())
          for (const char* end : {"_lo", "_hi"})
            if (const Value& e = r->at(std::string(key) + end); !e.is_null() && !panel.range.contains(e.as_double() * 100.0))
              panel.cut = true;
      if (panel.cut) {  // a small filled triangle on a cap that the frame cut
        panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):($5 > 0 && $4 >= {:g} ? $4 : 1/0) with "
                                           "points pt 9 ps 1.3 lc rgb {}",
                                           f.name, i, panel.range.hi, gp_string(s.colour)),
                               ""});
        panel.plots.push_back({fmt::format("'{}.dat' index {} using (sx($1)):($5 > 0 && $3 <= {:g} ? $3 : 1/0) with "
                                           "points pt 11 ps 1.3 lc rgb {}",
                                           f.name, i, panel.range.lo, gp_string(s.colour)),
                               ""});
      }
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
      if (std::any_of(panels.begin(), panels.end(), [](const Panel& q) { return q.cut; }))
        panel.plots.push_back({"NaN with points pt 9 ps 1.3 lc rgb \"black\"", "interval cut at the axis"});
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

// `items` joined by ", ", four to a line, so a long list stays within a figure's title.
std::string wrapped(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : i % 4 == 0 ? ",\n" : ", ") + items[i];
  return out;
}

// ---- fine-tuning bar charts ------------------------------------------------------------------

// One bar: one run's value with its bootstrap interval, or the mean of several runs with a
// t-interval over them (the spread of the runs: seeds, ...), and every run's value as a point.
struct Bar {
  std::optional<double> value, lo, hi;  // percent
  std::vector<double> runs;             // percent, each run in the mean
  std::vector<double> left_out;         // percent, runs left out of the mean (a PGR without a clear gap)
};

// The bar of `key` over `rows` (one per run). A row whose `flag` column is true is left out of
// the mean and drawn apart.
Bar bar_over_runs(const std::vector<const Value*>& rows, const std::string& key, const std::string& flag,
                  double confidence) {
  Bar bar;
  std::vector<const Value*> used;
  for (const auto* r : rows) {
    const Value& v = r->at(key);
    if (v.is_null()) continue;
    const Value* f = flag.empty() ? nullptr : r->find(flag);
    if (f && f->is_bool() && f->as_bool()) {
      bar.left_out.push_back(v.as_double() * 100.0);
      continue;
    }
    used.push_back(r);
    bar.runs.push_back(v.as_double() * 100.0);
  }
  if (used.size() == 1) {
    const Value& row = *used.front();
    bar.value = bar.runs.front();
    bar.lo = row.at(key + "_lo").is_null() ? *bar.value : row.get_double(key + "_lo") * 100.0;
    bar.hi = row.at(key + "_hi").is_null() ? *bar.value : row.get_double(key + "_hi") * 100.0;
  } else if (used.size() > 1) {
    const double n = static_cast<double>(bar.runs.size());
    double sum = 0.0, squares = 0.0;
    for (double x : bar.runs) sum += x;
    const double mean = sum / n;
    for (double x : bar.runs) squares += (x - mean) * (x - mean);
    const double half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1.0) * std::sqrt(squares / (n - 1.0) / n);
    bar.value = mean;
    bar.lo = mean - half;
    bar.hi = mean + half;
  }
  return bar;
}

struct BarSeries {
  std::string title, colour;
  std::vector<Bar> bars;  // one per cluster
};

// Bars at explicit positions (cluster c at x = c, its series side by side), each with its
// interval (capped error bar), its runs as points and "n=…" above it where it is a mean of several
// runs. An interval or value beyond the axis range is cut at the frame and marked there with a
// triangle pointing the way it goes; `beyond` gets "<cluster> / <series> <value>%" for each
// value beyond. Returns the plot command.
std::string bar_chart(Figure& f, const std::vector<std::string>& clusters, const std::vector<BarSeries>& series,
                      const Range& range, std::vector<std::string>& beyond) {
  const double slot = 0.8 / static_cast<double>(series.size());
  const double inset = 0.02 * (range.hi - range.lo);
  auto x_of = [&](std::size_t c, std::size_t i) { return static_cast<double>(c) - 0.4 + slot * (static_cast<double>(i) + 0.5); };
  auto clamp = [&](double v) { return std::clamp(v, range.lo, range.hi); };
  std::vector<std::string> plots, extra;
  std::string runs_rows, left_out_rows, n_rows, up_rows, down_rows;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const BarSeries& s = series[i];
    std::string rows = "# x value lo hi (percent; cut at the axis range)\n";
    for (std::size_t c = 0; c < clusters.size(); ++c) {
      const Bar& b = s.bars[c];
      const double x = x_of(c, i);
      for (double v : b.left_out) left_out_rows += fmt::format("{:.4f} {:.4f}\n", x, clamp(v));
      if (!b.value) {
        rows += fmt::format("{:.4f} ? ? ?\n", x);
        continue;
      }
      rows += fmt::format("{:.4f} {:.4f} {:.4f} {:.4f}\n", x, clamp(*b.value), clamp(*b.lo), clamp(*b.hi));
      if (!range.contains(*b.value)) beyond.push_back(fmt::format("{} / {} {:.0f}%", clusters[c], s.title, *b.value));
      if (*b.hi > range.hi || *b.value > range.hi) up_rows += fmt::format("{:.4f} {:.4f}\n", x, range.hi - inset);
      if (*b.lo < range.lo || *b.value < range.lo) down_rows += fmt::format("{:.4f} {:.4f}\n", x, range.lo + inset);
      const std::size_t n = b.runs.size();
      for (std::size_t j = 0; j < n; ++j) {  // spread over the bar so equal values stay countable
        const double dx = n > 1 ? slot * 0.5 * (static_cast<double>(j) / static_cast<double>(n - 1) - 0.5) : 0.0;
        runs_rows += fmt::format("{:.4f} {:.4f}\n", x + dx, clamp(b.runs[j]));
      }
      if (n > 1) n_rows += fmt::format("{:.4f} {:.4f} \"n={}\"\n", x, clamp(*b.hi), n);
    }
    const int block = f.add_block(s.title, rows);
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with boxes lc rgb {} title {}", f.name, block,
                                gp_string(s.colour), gp_string(s.title)));
    extra.push_back(fmt::format("'{}.dat' index {} using 1:2:3:4 with yerrorbars pt -1 lw 1.5 lc rgb \"black\" notitle",
                                f.name, block));
  }
  plots.insert(plots.end(), extra.begin(), extra.end());
  if (!runs_rows.empty())
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with points pt 7 ps 0.9 lc rgb \"black\" title "
                                "\"each run\"",
                                f.name, f.add_block("each run (x value)", runs_rows)));
  if (!left_out_rows.empty())
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with points pt 2 ps 2 lw 2 lc rgb \"#d62728\" title "
                                "\"left out: ceiling not above floor\"",
                                f.name, f.add_block("runs left out of the mean (x value)", left_out_rows)));
  if (!n_rows.empty())
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2:3 with labels offset 0,0.8 font \",10\" tc rgb \"#404040\" "
                                "notitle",
                                f.name, f.add_block("runs per bar (x top label)", n_rows)));
  const bool marked = !up_rows.empty() || !down_rows.empty();
  if (!up_rows.empty())
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with points pt 9 ps 2 lc rgb \"#d62728\" notitle", f.name,
                                f.add_block("cut at the top of the axis (x y)", up_rows)));
  if (!down_rows.empty())
    plots.push_back(fmt::format("'{}.dat' index {} using 1:2 with points pt 11 ps 2 lc rgb \"#d62728\" notitle", f.name,
                                f.add_block("cut at the bottom of the axis (x y)", down_rows)));
  if (marked) plots.push_back("NaN with points pt 9 ps 2 lc rgb \"#d62728\" title \"cut at the axis\"");
  std::string tics;
  for (std::size_t c = 0; c < clusters.size(); ++c) tics += fmt::format("{}{} {}", c ? ", " : "", gp_string(clusters[c]), c);
  return fmt::format("  set boxwidth {:.4f} absolute\n  set style fill solid 0.85 border -1\n  set errorbars 3\n"
                     "  set xtics ({}) rotate by -30 left\n  set key outside right top\n{}{}  plot {}\n",
                     slot * 0.9, tics, histogram_xrange(clusters.size()), range.set(), fmt::join(plots, ", \\\n       "));
}

// The cluster of a fine-tuning row: its test set, plus the pair where the report has several.
std::string cluster_of(const Value& row, bool several_pairs, const ModelNames& names) {
  std::string cluster = row.get_string("test_set");
  if (several_pairs) cluster += " (" + names(row.get_string("weak")) + " -> " + names(row.get_string("strong")) + ")";
  return cluster;
}

bool several_pairs(const Value& rows) {
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& r : rows.as_array()) pairs.insert({r.get_string("weak"), r.get_string("strong")});
  return pairs.size() > 1;
}

// Floor, ceiling and each method's student per dataset (and pair). A sweep's runs (seeds, ...) of
// one cluster are averaged: each bar is the mean of its runs with a t-interval, each run a point;
// a floor or ceiling counts once per distinct floor (ceiling) file.
Figure train_bars(const Report& report, const std::string& metric) {
  Figure f;
  f.name = "train_" + metric + "_bars";
  const Value& table = report.tables.at("train");
  const ModelNames names = detail::display_names(report.tables);
  const bool pairs = several_pairs(table);
  std::vector<std::string> methods, clusters;
  std::map<std::string, std::vector<const Value*>> floors, ceilings;                  // cluster -> one row per file
  std::map<std::pair<std::string, std::string>, std::vector<const Value*>> students;  // (cluster, method)
  std::map<std::string, std::set<std::string>> floor_files, ceiling_files;
  std::size_t most_runs = 1;
  for (const auto& r : table.as_array()) {
    const std::string cluster = cluster_of(r, pairs, names);
    if (std::find(clusters.begin(), clusters.end(), cluster) == clusters.end()) clusters.push_back(cluster);
    const std::string method = r.get_string("method");
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) methods.push_back(method);
    if (floor_files[cluster].insert(r.get_string("floor_file")).second) floors[cluster].push_back(&r);
    if (ceiling_files[cluster].insert(r.get_string("ceiling_file")).second) ceilings[cluster].push_back(&r);
    auto& runs = students[{cluster, method}];
    runs.push_back(&r);
    most_runs = std::max(most_runs, runs.size());
  }
  if (clusters.empty()) return f;
  const double conf = report.options.confidence;
  std::vector<BarSeries> series = {{"floor (weak on gold)", "#7f7f7f", {}}, {"ceiling (strong on gold)", "#2ca02c", {}}};
  for (std::size_t i = 0; i < methods.size(); ++i) series.push_back({"W2S: " + methods[i], kMethodColours[i % 8], {}});
  std::vector<double> values;
  for (const auto& c : clusters) {
    series[0].bars.push_back(bar_over_runs(floors[c], "floor_" + metric, "", conf));
    series[1].bars.push_back(bar_over_runs(ceilings[c], "ceiling_" + metric, "", conf));
    for (std::size_t i = 0; i < methods.size(); ++i)
      series[2 + i].bars.push_back(bar_over_runs(students[{c, methods[i]}], "student_" + metric, "", conf));
  }
  for (const auto& s : series)
    for (const auto& b : s.bars)
      if (b.value) values.insert(values.end(), {*b.value, *b.lo, *b.hi});
  // AUROC bars start just below chance (50 %, a dashed line), so a floor at chance still shows,
  // unless a bar lies lower; accuracy bars start at 0.
  Range range = yrange(values, {}, 0, 103);
  std::string chance;
  if (metric == "auroc") {
    const bool below_chance = std::any_of(series.begin(), series.end(), [](const BarSeries& s) {
      return std::any_of(s.bars.begin(), s.bars.end(), [](const Bar& b) { return b.value && *b.value < 50.0; });
    });
    if (!below_chance) range.lo = 45;
    chance = "  set arrow 1 from graph 0, first 50 to graph 1, first 50 nohead dt 2 lw 1.5 lc rgb \"#404040\" front\n";
  } else {
    range.lo = 0;
  }
  f.title = fmt::format("Floor, ceiling and W2S students: test {}", metric == "auroc" ? "AUROC" : "accuracy");
  std::string title = f.title;
  title += most_runs > 1 ? fmt::format("\nbars: the mean of a cell's n runs, {:.0f}% t-interval; points: each run\n"
                                         "(a single run: its bootstrap interval)",
                                         conf * 100)
                           : fmt::format("\none run per bar; error bars: {:.0f}% bootstrap intervals", conf * 100);
  std::vector<std::string> beyond;
  std::string plot = bar_chart(f, clusters, series, range, beyond);
  if (!beyond.empty()) title += "\nbeyond the axis: " + wrapped(beyond);
  f.width = std::max(1400, 300 + 45 * static_cast<int>(clusters.size() * series.size()));
  f.body = fmt::format("  set title {}\n  set ylabel {}\n{}{}", gp_string(title),
                       gp_string(metric == "auroc" ? "Test AUROC (%; chance = 50)" : "Test accuracy (%)"), chance, plot);
  return f;
}

// PGR per method across datasets (clusters = datasets and pairs, bars = methods): each bar the
// mean of a cell's runs (seeds, ...) with each run a point, PGRs without a clear gap left out and
// crossed; then the mean over datasets. Every left-out PGR is named in the title.
Figure train_pgr(const Report& report, const std::string& metric) {
  Figure f;
  f.name = "train_pgr_" + metric;
  const Value& table = report.tables.at("train");
  const ModelNames names = detail::display_names(report.tables);
  const bool pairs = several_pairs(table);
  const std::string key = "pgr_" + metric, flag = "ceiling_not_above_floor_" + metric;
  std::vector<std::string> methods, clusters;
  std::map<std::pair<std::string, std::string>, std::vector<const Value*>> by;  // (cluster, method) -> runs
  std::size_t most_runs = 1;
  std::vector<std::string> inverted;
  for (const auto& r : table.as_array()) {
    const std::string cluster = cluster_of(r, pairs, names), method = r.get_string("method");
    if (std::find(clusters.begin(), clusters.end(), cluster) == clusters.end()) clusters.push_back(cluster);
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) methods.push_back(method);
    auto& runs = by[{cluster, method}];
    runs.push_back(&r);
    most_runs = std::max(most_runs, runs.size());
    if (const Value* x = r.find(flag); x && x->is_bool() && x->as_bool())
      inverted.push_back(cluster + " / " + method + (r.at(key).is_null() ? "" : fmt::format(" {:.0f}%", r.get_double(key) * 100.0)));
  }
  if (clusters.empty()) return f;
  const double conf = report.options.confidence;
  std::vector<BarSeries> series;
  std::vector<std::string> mean_labels;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    BarSeries s{methods[i], kColours[i % 10], {}};
    for (const auto& c : clusters) s.bars.push_back(bar_over_runs(by[{c, methods[i]}], key, flag, conf));
    // The mean over datasets, as in train_methods (with its bootstrap interval), its cells as points.
    Bar mean;
    for (const auto& m : report.tables.at("train_methods").as_array()) {
      if (m.get_string("method") != methods[i]) continue;
      const Value& v = m.at(key + "_mean");
      if (!v.is_null()) {
        mean.value = v.as_double() * 100.0;
        mean.lo = m.at(key + "_mean_lo").is_null() ? *mean.value : m.get_double(key + "_mean_lo") * 100.0;
        mean.hi = m.at(key + "_mean_hi").is_null() ? *mean.value : m.get_double(key + "_mean_hi") * 100.0;
      }
      mean_labels.push_back(fmt::format("{}: {} of {} datasets, {} left out", methods[i], m.get_int(key + "_defined"),
                                        m.get_int("datasets"), m.get_int(key + "_left_out")));
    }
    for (const auto& b : s.bars)
      if (b.value && mean.value && s.bars.size() > 1) mean.runs.push_back(*b.value);
    s.bars.push_back(std::move(mean));
    series.push_back(std::move(s));
  }
  std::vector<std::string> all_clusters = clusters;
  all_clusters.push_back("mean over datasets");
  std::vector<double> values, shown;  // the bars; everything drawn (bars, runs, the runs left out)
  for (const auto& s : series)
    for (const auto& b : s.bars) {
      if (b.value) values.push_back(*b.value);
      shown.insert(shown.end(), b.runs.begin(), b.runs.end());
      shown.insert(shown.end(), b.left_out.begin(), b.left_out.end());
    }
  shown.insert(shown.end(), values.begin(), values.end());
  const Range range = yrange(shown, {0.0, 100.0}, kPgrAxisMin - kPgrAxisMargin, kPgrAxisMax + kPgrAxisMargin);
  std::vector<std::string> beyond;
  f.title = fmt::format("PGR per method across datasets ({})", metric == "auroc" ? "AUROC" : "accuracy");
  std::string title = f.title;
  title += most_runs > 1 ? fmt::format("\nbars: the mean of a cell's n runs, {:.0f}% t-interval; points: each run "
                                       "(in the mean over datasets: each dataset)",
                                       conf * 100)
                         : fmt::format("\nerror bars: {:.0f}% bootstrap intervals", conf * 100);
  title += "\nmean over datasets: " + fmt::format("{}", fmt::join(mean_labels, "; "));
  const std::string plot = bar_chart(f, all_clusters, series, range, beyond);
  if (!beyond.empty()) title += "\nbeyond the axis: " + wrapped(beyond);
  if (!inverted.empty()) title += "\nceiling at or below the floor (left out of the means): " + wrapped(inverted);
  const std::string no_pgr =
      values.empty() ? "  set label 1 \"No PGR defined in any mean: no ceiling is clearly above its floor\" at graph "
                       "0.5,0.5 center font \",14\" tc rgb \"#808080\"\n"
                     : "";
  f.width = std::max(1400, 300 + 60 * static_cast<int>(all_clusters.size() * methods.size()));
  f.height = 1000;
  f.body = fmt::format("  set title {}\n  set ylabel \"PGR (%)\"\n  set xzeroaxis lt -1\n{}{}", gp_string(title), no_pgr,
                       plot);
  return f;
}

// Training curves from the trainers' logs (train_curves): the training loss, the learning rate,
// and the val (dashed) and test (solid) AUROC and accuracy of each evaluation, against the
// optimizer step, one colour per stage (and dataset and run where there are several).
Figure training_curves(const Report& report) {
  Figure f;
  f.name = "training_curves";
  f.title = "Training curves per stage: loss, learning rate, eval AUROC and accuracy (colour: run; dash and marker: stage)";
  f.width = 1900;
  f.height = 1200;
  const Value& rows = report.tables.at("train_curves");
  std::vector<std::string> files;
  std::map<std::string, std::vector<const Value*>> by_file;
  std::set<std::string> datasets, runs;
  for (const auto& r : rows.as_array()) {
    const std::string file = r.get_string("file");
    if (!by_file.count(file)) files.push_back(file);
    by_file[file].push_back(&r);
    datasets.insert(r.get_string("test_set"));
    runs.insert(r.get_string("run"));
  }
  if (files.empty()) return f;
  // Colour by run, dash and marker by stage: many stages of few runs stay apart.
  struct Series {
    std::string title, colour;
    int steps_block, evals_block;
    bool has_auroc = false;
    int dash = 1, point = 7;
  };
  std::vector<std::string> run_order, stage_order;
  auto index_in = [](std::vector<std::string>& order, const std::string& x) {
    auto it = std::find(order.begin(), order.end(), x);
    if (it != order.end()) return static_cast<int>(it - order.begin());
    order.push_back(x);
    return static_cast<int>(order.size() - 1);
  };
  std::vector<Series> series;
  std::int64_t last_step = 1;
  std::vector<double> losses;
  double lr_max = 0.0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& rs = by_file[files[i]];
    const Value& first = *rs.front();
    std::string title = first.get_string("stage");
    if (datasets.size() > 1) title = first.get_string("test_set") + " " + title;
    if (runs.size() > 1) title = first.get_string("run") + " " + title;
    std::string steps = "# step loss lr grad_norm\n", evals = "# step val_auroc test_auroc val_accuracy test_accuracy (percent)\n";
    bool has_auroc = false;
    for (const auto* r : rs) {
      last_step = std::max(last_step, r->get_int("step"));
      if (r->get_string("kind") == "step") {
        steps += fmt::format("{} {} {} {}\n", r->get_int("step"), r->at("loss").is_null() ? "?" : fmt::format("{:.6g}", r->get_double("loss")),
                             r->at("lr").is_null() ? "?" : fmt::format("{:.6g}", r->get_double("lr")),
                             r->at("grad_norm").is_null() ? "?" : fmt::format("{:.6g}", r->get_double("grad_norm")));
        if (!r->at("loss").is_null()) losses.push_back(r->get_double("loss"));
        if (!r->at("lr").is_null()) lr_max = std::max(lr_max, r->get_double("lr"));
      } else {
        evals += fmt::format("{} {} {} {} {}\n", r->get_int("step"), pct(r->at("eval_val_auroc")), pct(r->at("eval_test_auroc")),
                             pct(r->at("eval_val_accuracy")), pct(r->at("eval_test_accuracy")));
        has_auroc = has_auroc || !r->at("eval_test_auroc").is_null();
      }
    }
    const int run = index_in(run_order, first.get_string("run") + "\x1f" + first.get_string("test_set"));
    const int stage = index_in(stage_order, first.get_string("stage"));
    Series s{title, kColours[run % 10], f.add_block(title + " (optimizer steps)", steps),
             f.add_block(title + " (evaluations)", evals), has_auroc, 1 + stage % 5, kPointTypes[stage % 10]};
    series.push_back(std::move(s));
  }
  double loss_lo = 0.0, loss_hi = 1.0;
  if (!losses.empty()) {
    loss_lo = *std::min_element(losses.begin(), losses.end());
    loss_hi = *std::max_element(losses.begin(), losses.end());
    const double pad = std::max(0.05 * (loss_hi - loss_lo), 1e-3);
    loss_lo = std::max(0.0, loss_lo - pad);
    loss_hi += pad;
  }
  const std::string xaxis = fmt::format("  set xrange [0:{}]\n  set xlabel \"optimizer step\"\n", last_step);
  auto panel = [&](const std::string& title, const std::string& ylabel, const std::string& range,
                   const std::function<std::string(const Series&, bool keyed)>& plots_of, bool keyed) {
    std::vector<std::string> plots;
    for (const auto& s : series) {
      const std::string p = plots_of(s, keyed);
      if (!p.empty()) plots.push_back(p);
    }
    if (plots.empty()) return fmt::format("  set title {}\n", gp_string(title)) + no_data_panel("No data in the logs");
    return fmt::format("  set title {}\n  set ylabel {}\n{}{}{}  plot {}\n", gp_string(title), gp_string(ylabel), xaxis,
                       range, keyed ? "  set key at screen 0.8, screen 0.91 left top Left reverse box samplen 2\n" : "  unset key\n",
                       fmt::join(plots, ", \\\n       "));
  };
  std::string body = fmt::format("  set multiplot layout 2,2 margins 0.06,0.78,0.07,0.9 spacing 0.08,0.12 title {} "
                                 "font \",15\"\n",
                                 gp_string(f.title));
  body += panel("training loss (per optimizer step)", "loss", fmt::format("  set yrange [{:g}:{:g}]\n", loss_lo, loss_hi),
                [&](const Series& s, bool keyed) {
                  return fmt::format("'{}.dat' index {} using 1:2 with linespoints lw 1.5 dt {} pt {} pi -5 ps 0.8 lc rgb {} {}",
                                     f.name, s.steps_block, s.dash, s.point, gp_string(s.colour),
                                     keyed ? "title " + gp_string(s.title) : std::string("notitle"));
                },
                true);
  body += panel("learning rate", "learning rate", fmt::format("  set yrange [0:{:g}]\n", lr_max > 0 ? lr_max * 1.1 : 1.0),
                [&](const Series& s, bool) {
                  return fmt::format("'{}.dat' index {} using 1:3 with lines lw 1.5 dt {} lc rgb {} notitle", f.name,
                                     s.steps_block, s.dash, gp_string(s.colour));
                },
                false);
  body += "  unset key\n";
  auto eval_panel = [&](int val_column, int test_column) {
    return [&, val_column, test_column](const Series& s, bool) {
      if (val_column == 2 && !s.has_auroc) return std::string();
      return fmt::format("'{0}.dat' index {1} using 1:{2} with linespoints dt 3 lw 1 pt {5} ps 0.7 lc rgb {3} notitle, "
                         "'{0}.dat' index {1} using 1:{4} with linespoints lw 2 pt {5} ps 1 lc rgb {3} notitle",
                         f.name, s.evals_block, val_column, gp_string(s.colour), test_column, s.point);
    };
  };
  body += panel("eval AUROC (test, against gold: solid; val, against the training labels: dotted)", "AUROC (%)",
                "  set yrange [0:100]\n", eval_panel(2, 3), false);
  body += panel("eval accuracy (test solid, val dotted)", "accuracy (%)", "  set yrange [0:100]\n", eval_panel(4, 5), false);
  f.body = body;
  return f;
}

// ---- in context and fine-tuning on one axis ------------------------------------------------

// One figure per dataset and (weak, strong) pair of the "paradigms" table: accuracy (left) and PGR
// (right) against the number of shots for the in-context student (solid, with its intervals; the
// in-context ceiling dashed, the floor dotted), and each fine-tuned student as a horizontal line
// with its interval as a band (fine-tuning has no shot count). All on the common test examples.
std::vector<Figure> paradigm_figures(const Report& report) {
  const ModelNames names = detail::display_names(report.tables);
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const Value*>> groups;
  for (const auto& row : report.tables.at("paradigms").as_array())
    groups[{row.get_string("dataset"), row.get_string("weak"), row.get_string("strong")}].push_back(&row);
  std::vector<Figure> figures;
  for (const auto& [key, rows] : groups) {
    const auto& [dataset, weak, strong] = key;
    Figure f;
    f.name = folder_name("paradigms " + dataset + (groups.size() > 1 ? " " + std::to_string(figures.size() + 1) : ""));
    f.title = fmt::format("In context vs fine-tuning: {}, {} -> {} (n={} common test examples)", dataset, names(weak),
                          names(strong), rows.front()->get_int("n"));
    f.width = 1800;
    f.height = 800;
    std::vector<const Value*> icl, tuned;
    std::set<std::int64_t> shots;
    for (const auto* r : rows) {
      if (r->get_string("paradigm") == "in-context") {
        icl.push_back(r);
        shots.insert(r->get_int("shots"));
      } else {
        tuned.push_back(r);
      }
    }
    std::sort(icl.begin(), icl.end(), [](const Value* a, const Value* b) { return a->get_int("shots") < b->get_int("shots"); });
    auto no_gap = [](const Value& r) {
      const Value* flag = r.find("ceiling_not_above_floor_accuracy");
      return flag && flag->is_bool() && flag->as_bool();
    };
    auto panel = [&](const std::string& title, const std::string& ylabel, const std::string& axis, const char* metric,
                     bool with_roles) {
      std::vector<std::string> plots;
      const int student = f.add_block(std::string("in-context student ") + metric, rows_of(icl, metric));
      plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2:3:4 with yerrorlines lw 2.5 pt 7 ps 1.3 lc rgb {} "
                                  "title \"in context (weak labels as shots)\"",
                                  f.name, student, gp_string(kColours[0])));
      if (with_roles) {
        const int ceiling = f.add_block("in-context ceiling: strong with the same number of gold shots",
                                        rows_of(icl, "ceiling_accuracy"));
        const int floor = f.add_block("in-context floor: weak zero-shot", rows_of(icl, "floor_accuracy"));
        plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2 with linespoints dt 2 lw 1.5 pt 5 ps 0.9 lc rgb "
                                    "\"#2ca02c\" title \"in-context ceiling (strong, gold shots)\"",
                                    f.name, ceiling));
        plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2 with linespoints dt 3 lw 1.5 pt 9 ps 0.9 lc rgb "
                                    "\"#7f7f7f\" title \"in-context floor (weak zero-shot)\"",
                                    f.name, floor));
      } else {
        plots.push_back("0 with lines lw 1 lc rgb \"#000000\" notitle, 100 with lines lw 1 lc rgb \"#000000\" notitle");
        // A PGR whose ceiling is not above its floor is not a share of a gap: crossed out, as in pgr_vs_shots.
        std::string inverted;
        for (const auto* r : icl)
          if (!r->at(metric).is_null() && no_gap(*r)) inverted += fmt::format("{} {}\n", r->get_int("shots"), pct(r->at(metric)));
        if (!inverted.empty())
          plots.push_back(fmt::format("'{}.dat' index {} using (sx($1)):2 with points pt 2 ps 3 lw 2 lc rgb \"black\" "
                                      "title \"ceiling not above floor: no gap to recover\"",
                                      f.name, f.add_block("in-context PGR, ceiling not above floor", "# shots PGR (percent)\n" + inverted)));
      }
      std::string tuned_rows = std::string("# method ") + metric + " lo hi (percent)\n";
      for (std::size_t i = 0; i < tuned.size(); ++i) {
        const Value& r = *tuned[i];
        tuned_rows += gp_string(r.get_string("method")) + " " + pct3(r, metric) + "\n";
        if (r.at(metric).is_null()) continue;
        const std::string colour = gp_string(kMethodColours[(i + 1) % std::size(kMethodColours)]);
        const Value& lo = r.at(std::string(metric) + "_lo");
        const Value& hi = r.at(std::string(metric) + "_hi");
        // The interval: a light band edged by thin lines, so overlapping bands stay apart.
        if (!lo.is_null())
          plots.push_back(fmt::format("'+' using 1:({0}):({1}) with filledcurves fs transparent solid 0.08 noborder lc "
                                      "rgb {2} notitle, {0} with lines lw 0.8 dt 3 lc rgb {2} notitle, {1} with lines "
                                      "lw 0.8 dt 3 lc rgb {2} notitle",
                                      pct(lo), pct(hi), colour));
        const bool crossed = !with_roles && no_gap(r);
        plots.push_back(fmt::format("{} with lines lw 2.5 dt 4 lc rgb {} title {}", pct(r.at(metric)), colour,
                                    gp_string("fine-tuned " + r.get_string("method") +
                                              (crossed ? " (ceiling not above floor: no gap to recover)" : ""))));
      }
      f.add_block(std::string("fine-tuned students ") + metric + " (horizontal lines)", tuned_rows);
      return fmt::format("  set title {}\n  set ylabel {}\n{}{}  set key below\n  plot {}\n", gp_string(title),
                         gp_string(ylabel), shot_axis(shots), axis, fmt::join(plots, ", \\\n       "));
    };
    std::vector<double> accuracies, pgrs;
    for (const char* key : {"student_accuracy", "floor_accuracy", "ceiling_accuracy"}) collect(accuracies, rows, key);
    collect(pgrs, rows, "pgr_accuracy");
    const Range pgr_range = yrange(pgrs, {0.0, 100.0}, kPgrAxisMin - kPgrAxisMargin, kPgrAxisMax + kPgrAxisMargin);
    f.body = fmt::format("  set multiplot layout 1,2 title {} font \",15\"\n  set samples 200\n", gp_string(f.title)) +
             panel("accuracy (fine-tuned students: horizontal lines, bands = intervals)", "accuracy (%)",
                   accuracy_axis(accuracies), "student_accuracy", true) +
             panel("PGR on accuracy, each paradigm with its own floor and ceiling", "PGR (%)",
                   pgr_range.set() + "  set ytics autofreq\n", "pgr_accuracy", false);
    figures.push_back(std::move(f));
  }
  return figures;
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
  if (report.tables.at("train_curves").size()) build("training_curves", [&] { return training_curves(report); });
  try {
    for (auto& f : paradigm_figures(report)) figures.push_back(std::move(f));
  } catch (const std::exception& e) {
    result.failures.push_back(fmt::format("paradigms: {}", e.what()));
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
