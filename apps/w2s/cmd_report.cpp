// `w2s report`: the analysis, every figure and the records of a results folder as one
// self-contained HTML page (report.html), to open, share and attach.
#include <iostream>

#include "analysis_inputs.h"

int w2s::cli::run_report(int argc, char** argv) {
  w2s::cli::po::options_description options("Options");
  w2s::analysis::PlotOptions plot_options;
  w2s::cli::add_gnuplot_option(options, plot_options);
  auto p = w2s::cli::parse_and_analyze(argc, argv, "report", "report", options);
  if (!p) return 0;
  // The figures are drawn beside the page (figures/, with their .dat and .gp) and inlined into it.
  const auto figures = w2s::analysis::plot(p->report, p->out / "figures", plot_options);
  for (const auto& failure : figures.failures) w2s::log::error("figure {}", failure);
  const std::filesystem::path page = p->out / "report.html";
  w2s::write_file_atomic(page, w2s::analysis::html_report(p->records, p->report, figures.files));
  std::cout << "wrote " << page.string() << "\n";
  return figures.failures.empty() ? 0 : 1;
}
