// What `w2s analyze`, `w2s plot` and `w2s report` share: their options, loading the result
// files and analysing them.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "w2s/analysis.h"
#include "w2s/core.h"

namespace w2s::cli {

struct Parsed {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out;
  std::vector<w2s::results::LoadedRecord> records;
  w2s::analysis::Report report;
};

// Parses the shared options (plus `extra`), loads the records and analyses them. `out_subdir` is
// the default output folder under the first input directory. nullopt: --help was printed.
inline std::optional<Parsed> parse_and_analyze(int argc, char** argv, const std::string& command, const char* out_subdir,
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
       "PGR is undefined when |ceiling - floor| is below this, and left out of means and medians (flagged) "
       "when ceiling - floor is (fraction; 0.001 = 0.1 pp)");
  po::positional_options_description positional;
  positional.add("inputs", -1);
  auto vm = w2s::cli::parse(argc, argv, "w2s " + command + " <results dir or files>... [options]", options, positional);
  if (!vm) return std::nullopt;
  if (!vm->count("inputs")) throw po::error("give a results directory or result files");

  Parsed p;
  for (const auto& s : (*vm)["inputs"].as<std::vector<std::string>>()) p.inputs.emplace_back(s);
  const auto& first = p.inputs.front();
  p.out = vm->count("out") ? std::filesystem::path((*vm)["out"].as<std::string>())
                           : (std::filesystem::is_directory(first) ? first : first.parent_path()) / out_subdir;
  auto loaded = w2s::results::load_record_files(p.inputs);
  p.records = std::move(loaded.records);
  p.report = w2s::analysis::analyze(p.records, o);
  // Files that could not be read are left out with a note, so one bad record does not stop the rest.
  p.report.notes.insert(p.report.notes.begin(), loaded.left_out.begin(), loaded.left_out.end());
  return p;
}

inline void add_gnuplot_option(po::options_description& options, w2s::analysis::PlotOptions& plot_options) {
  options.add_options()("gnuplot", po::value<std::string>(&plot_options.gnuplot)->default_value(plot_options.gnuplot),
                        "gnuplot executable");
}

}  // namespace w2s::cli
