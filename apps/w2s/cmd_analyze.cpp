// `w2s analyze` (PGR, bootstrap CIs, McNemar, kappa, response matching) and `w2s plot` (gnuplot
// PNG + SVG with their .dat and .gp files): both read result files and share their options.
#include <iostream>

#include "analysis_inputs.h"

int w2s::cli::run_analyze(int argc, char** argv) {
  w2s::cli::po::options_description options("Options");
  auto p = w2s::cli::parse_and_analyze(argc, argv, "analyze", "analysis", options);
  if (!p) return 0;
  std::cout << w2s::analysis::console_table(p->report);
  for (const auto& f : w2s::analysis::write_report(p->report, p->out)) std::cout << "wrote " << f.string() << "\n";
  return 0;
}

int w2s::cli::run_plot(int argc, char** argv) {
  w2s::cli::po::options_description options("Options");
  w2s::analysis::PlotOptions plot_options;
  w2s::cli::add_gnuplot_option(options, plot_options);
  auto p = w2s::cli::parse_and_analyze(argc, argv, "plot", "plots", options);
  if (!p) return 0;
  for (const auto& note : p->report.notes) std::cout << "note: " << note << "\n";  // e.g. failed points left out
  const auto figures = w2s::analysis::plot(p->report, p->out, plot_options);
  for (const auto& f : figures.files) std::cout << "wrote " << f.string() << "\n";
  for (const auto& failure : figures.failures) w2s::log::error("figure {}", failure);
  return figures.failures.empty() ? 0 : 1;
}
