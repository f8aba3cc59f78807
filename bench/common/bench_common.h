// What every benchmark shares (docs/benchmarks.md): its flags with --help (an unknown flag is an
// error, exit 2), CPU-seconds and page faults from getrusage, the machine's load, the median and
// spread of interleaved rounds, and the RATIO lines scripts/bench.sh gathers into one table.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

namespace w2s::bench {

namespace po = boost::program_options;

// Parses the flags; --help prints the usage, the description and the flags and exits 0; an
// unknown flag or a bad value exits 2 naming it.
inline po::variables_map parse_flags(int argc, char** argv, const std::string& usage, const std::string& about,
                                     po::options_description& flags) {
  flags.add_options()("help,h", "show this help and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << argv[0] << ": " << e.what() << " (see --help)\n";
    std::exit(2);
  }
  if (vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << about << "\n\n" << flags << "\n";
    std::exit(0);
  }
  return vm;
}

inline double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; }

// User + system CPU-seconds of `who` (RUSAGE_SELF: every thread of this process; RUSAGE_CHILDREN:
// the children waited for; RUSAGE_THREAD: the calling thread).
inline double cpu_seconds(int who = RUSAGE_SELF) {
  rusage u{};
  getrusage(who, &u);
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// Minor page faults of this process so far (a page faulted in, and zeroed, by the kernel).
inline long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// "load 3.41 2.97 2.10 (2 cores)": /proc/loadavg's 1, 5 and 15-minute averages.
inline std::string machine_load() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return fmt::format("load {} {} {} ({} cores)", one, five, fifteen, sysconf(_SC_NPROCESSORS_ONLN));
}

// The median and the range of the rounds.
struct Spread {
  double median = 0, low = 0, high = 0;
  std::string text(int digits = 3) const {
    return fmt::format("{:.{}g} [{:.{}g}..{:.{}g}]", median, digits, low, digits, high, digits);
  }
};
inline Spread spread(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

// One round's cost of one side.
struct Cost {
  double wall_s = 0, cpu_s = 0;
};
struct Costs {
  std::vector<double> wall, cpu;
  void add(const Cost& c) {
    wall.push_back(c.wall_s);
    cpu.push_back(c.cpu_s);
  }
};

// A line scripts/bench.sh collects: RATIO<TAB>case<TAB>metric<TAB>value<TAB>what the value means.
inline void print_ratio(const std::string& case_name, const std::string& metric, double value,
                        const std::string& meaning) {
  std::printf("RATIO\t%s\t%s\t%.3f\t%s\n", case_name.c_str(), metric.c_str(), value, meaning.c_str());
  std::fflush(stdout);
}

}  // namespace w2s::bench
