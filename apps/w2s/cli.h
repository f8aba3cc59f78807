// Option parsing shared by every `w2s <command>`, and the table of commands.
//
// A command is one cmd_<name>.cpp with a `run_<name>` function declared below; main.cpp lists
// them, in `w2s --help` order, in one table (commands()). The logic is in lib/.
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <string>
#include <vector>

namespace w2s::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;  // one line for `w2s --help`
  // argv[0] is "w2s <name>"; the remaining arguments follow. Returns the exit code.
  int (*run)(int argc, char** argv);
};

// Every command, in pipeline order (data, API experiments, model, train, analysis).
const std::vector<Command>& commands();

// The commands (cmd_<name>.cpp).
int run_data(int argc, char** argv);
int run_baseline(int argc, char** argv);
int run_gold_sweep(int argc, char** argv);
int run_weak_sweep(int argc, char** argv);
int run_model(int argc, char** argv);
int run_train(int argc, char** argv);
int run_sweep(int argc, char** argv);
int run_analyze(int argc, char** argv);
int run_plot(int argc, char** argv);
int run_report(int argc, char** argv);

// `w2s` (built without libtorch) runs the commands that need a model by replacing itself with
// `w2s-torch`, found beside it through /proc/self/exe, given the same command line: argv[0] is
// "w2s <command>" as for every run function. Starts w2s-torch with its OpenMP threads waiting
// passively (model::set_torch_environment). Returns only by throwing, when w2s-torch cannot start.
int run_torch_side(int argc, char** argv);

// An option's old spelling, accepted for one release with a warning. `negated`: the old option is a
// BOOL (`--progress false`) whose false is the new switch (`--no-progress`); its true is the default.
struct DeprecatedAlias {
  std::string old_name;  // without the dashes
  std::string new_name;
  bool negated = false;
};

// Parses a command's arguments into a variables_map.
//  * `--help` prints "usage: <usage>" and the options, then returns nullopt (exit 0).
//  * `--config FILE` reads INI-style `key = value` lines (sections become "section.key");
//    the command line overrides the file.
//  * `--verbose` / `--quiet` set the log level (w2s::log).
//  * `aliases`: old option names, on the command line and in the config file, are read as the new
//    ones, with a warning naming both.
// Unknown options and bad values throw po::error, reported by main with exit code 2.
std::optional<po::variables_map> parse(int argc, char** argv, const std::string& usage,
                                       const po::options_description& options,
                                       const po::positional_options_description& positional = {},
                                       const std::vector<DeprecatedAlias>& aliases = {});

}  // namespace w2s::cli
