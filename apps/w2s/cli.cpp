#include "cli.h"

#include <algorithm>
#include <fstream>
#include <iostream>

#include "w2s/core.h"

namespace w2s::cli {
namespace {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace

Registrar::Registrar(Command c) {
  auto& r = registry();
  r.push_back(std::move(c));
  std::sort(r.begin(), r.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
}

const std::vector<Command>& commands() { return registry(); }

std::optional<po::variables_map> parse(int argc, char** argv, const std::string& usage,
                                       const po::options_description& options,
                                       const po::positional_options_description& positional) {
  po::options_description common("Common options");
  common.add_options()("help,h", "show this help and exit")(
      "config", po::value<std::string>()->value_name("FILE"),
      "read options from an INI file (key = value); the command line overrides it")(
      "verbose", po::bool_switch(), "also print debug messages (each retry, each skipped price lookup)")(
      "quiet", po::bool_switch(), "print only warnings and errors");
  po::options_description all;
  all.add(options).add(common);

  po::variables_map vm;
  // Stored first, so the command line wins over the config file (po keeps the first value).
  po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << options << "\n" << common << "\n";
    return std::nullopt;
  }
  if (vm.count("config")) {
    const auto path = vm["config"].as<std::string>();
    std::ifstream in(path);
    if (!in) throw Error("cannot read config file " + path);
    po::store(po::parse_config_file(in, options), vm);
  }
  po::notify(vm);
  if (vm["verbose"].as<bool>() && vm["quiet"].as<bool>()) throw po::error("--verbose and --quiet exclude each other");
  if (vm["verbose"].as<bool>()) log::set_level(log::Level::Debug);
  if (vm["quiet"].as<bool>()) log::set_level(log::Level::Warn);
  return vm;
}

}  // namespace w2s::cli
