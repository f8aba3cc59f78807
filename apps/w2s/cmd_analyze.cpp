// `w2s analyze` (PGR, bootstrap CIs, McNemar, kappa, response matching) and `w2s plot` (gnuplot
// PNG + SVG with their .dat and .gp files): both read result files and share their options.
#include <iostream>

#include "cli.h"
#include "w2s/analysis.h"
#include "w2s/core.h"

namespace {

namespace po = w2s::cli::po;

struct Parsed {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out;
  w2s::analysis::Report report;
};

// Parses the shared options (plus `extra`), loads the records and analyses them. `out_subdir` is
// the default output folder under the first input directory. nullopt: --help was printed.
std::optional<Parsed> parse_and_analyze(int argc, char** argv, const std::string& command, const char* out_subdir,
                                        po::options_description& options) {
  w2s::analysis::Options o;
  options.add_options()
      ("inputs", po::value<std::vector<std::string>>()->multitoken(), "result directories or files")
      ("out", po::value<std::string>(), (std::string("output folder (default: <first input dir>/") + out_subdir + ")").c_str())
      ("resamples", po::value<std::int64_t>(&o.bootstrap_resamples)->default_value(o.bootstrap_resamples),
       "paired bootstrap resamples for confidence intervals and error bars (0 = none)")
      ("seed", po::value<std::int64_t>(&o.seed)->default_value(o.seed), "bootstrap seed")
      ("confidence", po::value<double>(&o.confidence)->default_value(o.confidence, "0.95"), "confidence level of the intervals")
      ("zero-guard", po::value<double>(&o.zero_guard)->default_value(o.zero_guard, "0.001"),
       "PGR is undefined when |ceiling - floor| is below this (fraction; 0.001 = 0.1 pp)");
  po::positional_options_description positional;
  positional.add("inputs", -1);
  auto vm = w2s::cli::parse(argc, argv, "w2s " + command + " <results dir or files>... [options]", options, positional);
  if (!vm) return std::nullopt;
  if (!vm->count("inputs")) throw w2s::Error("w2s " + command + ": give a results directory or result files");

  Parsed p;
  for (const auto& s : (*vm)["inputs"].as<std::vector<std::string>>()) p.inputs.emplace_back(s);
  const auto& first = p.inputs.front();
  p.out = vm->count("out") ? std::filesystem::path((*vm)["out"].as<std::string>())
                           : (std::filesystem::is_directory(first) ? first : first.parent_path()) / out_subdir;
  const auto loaded = w2s::results::load_record_files(p.inputs);
  p.report = w2s::analysis::analyze(loaded.records, o);
  p.report.notes.insert(p.report.notes.begin(), loaded.left_out.begin(), loaded.left_out.end());
  return p;
}

}  // namespace

int w2s::cli::run_analyze(int argc, char** argv) {
  po::options_description options("Options");
  auto p = parse_and_analyze(argc, argv, "analyze", "analysis", options);
  if (!p) return 0;
  std::cout << w2s::analysis::console_table(p->report);
  for (const auto& f : w2s::analysis::write_report(p->report, p->out)) std::cout << "wrote " << f.string() << "\n";
  return 0;
}

int w2s::cli::run_plot(int argc, char** argv) {
  po::options_description options("Options");
  w2s::analysis::PlotOptions plot_options;
  options.add_options()("gnuplot", po::value<std::string>(&plot_options.gnuplot)->default_value(plot_options.gnuplot),
                        "gnuplot executable");
  auto p = parse_and_analyze(argc, argv, "plot", "plots", options);
  if (!p) return 0;
  for (const auto& note : p->report.notes) std::cout << "note: " << note << "\n";  // e.g. failed points left out
  const auto figures = w2s::analysis::plot(p->report, p->out, plot_options);
  for (const auto& f : figures.files) std::cout << "wrote " << f.string() << "\n";
  for (const auto& failure : figures.failures) w2s::log::error("figure {}", failure);
  return figures.failures.empty() ? 0 : 1;
}
