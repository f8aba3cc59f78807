#include "cli.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "w2s/core.h"

namespace w2s::cli {
namespace {

// The words Boost.Program_options reads as a bool; nullopt for anything else.
std::optional<bool> bool_word(const std::string& text) {
  const std::string s = ascii_lower(text);
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return std::nullopt;
}

// Boost.Program_options writes the offending text into its error messages by replacing each
// placeholder (%value%, %canonical_option%, ...) until none is left, so a text that contains the
// placeholder it stands for makes that loop endless: `--resamples '%value%'` hung inside Boost's
// what(). Every argument and config line is checked here, before Boost sees it; the refusal is
// w2s's own message. (Those five words are the placeholders of Boost 1.74 to 1.90's errors.cpp.)
std::optional<std::string> boost_placeholder_in(const std::string& text) {
  for (const char* placeholder : {"%value%", "%canonical_option%", "%option%", "%original_token%", "%prefix%"})
    if (text.find(placeholder) != std::string::npos) return placeholder;
  return std::nullopt;
}

std::string placeholder_refusal(const std::string& text, const std::string& placeholder) {
  return fmt::format("'{}' contains '{}', a placeholder of the option parser's (Boost.Program_options) error "
                     "messages that it cannot report; w2s accepts no option, value or argument with that text",
                     text, placeholder);
}

const DeprecatedAlias* find_alias(const std::vector<DeprecatedAlias>& aliases, const std::string& name) {
  for (const auto& a : aliases)
    if (a.old_name == name) return &a;
  return nullptr;
}

// `where`: "" on the command line (names with dashes), "<file>: " in a config file (bare keys).
void warn_deprecated(const std::string& where, const DeprecatedAlias& a) {
  const char* dashes = where.empty() ? "--" : "";
  log::warn("{}{}{} is deprecated and will be removed in the next release; use {}{}", where, dashes, a.old_name,
            dashes, a.new_name);
}

// A negated alias's value: `--progress false` means `--no-progress`.
bool negated_value(const DeprecatedAlias& a, const std::string& text) {
  const auto b = bool_word(text);
  if (!b) throw po::error("--" + a.old_name + " " + text + ": expected true or false (better: --" + a.new_name + ")");
  return !*b;
}

// The command line with old option names replaced by the new ones (argv[0] kept).
std::vector<std::string> rewrite_command_line(int argc, char** argv, const std::vector<DeprecatedAlias>& aliases) {
  std::vector<std::string> out{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {  // everything after it is positional
      out.insert(out.end(), argv + i, argv + argc);
      break;
    }
    const bool long_option = arg.rfind("--", 0) == 0;
    const auto eq = arg.find('=');  // --name=value
    const DeprecatedAlias* a =
        long_option ? find_alias(aliases, arg.substr(2, eq == std::string::npos ? eq : eq - 2)) : nullptr;
    if (!a) {
      out.push_back(arg);
      continue;
    }
    warn_deprecated("", *a);
    if (!a->negated) {
      out.push_back("--" + a->new_name + (eq == std::string::npos ? "" : arg.substr(eq)));
      continue;
    }
    bool set_new = false;  // a bare `--progress` is the default
    if (eq != std::string::npos) set_new = negated_value(*a, arg.substr(eq + 1));
    else if (i + 1 < argc && bool_word(argv[i + 1])) set_new = negated_value(*a, argv[++i]);
    if (set_new) out.push_back("--" + a->new_name);
  }
  return out;
}

// One option line of a config file, where it came from, and its text for Boost (old keys replaced
// by the new ones, snake_case keys as the reference's flags spell them read as our dashed names;
// keys inside [sections] are "section.key", never an option of ours, and are left alone).
struct ConfigLine {
  int number;
  std::string text;  // "[section]\nkey = value" inside a section
};

std::vector<ConfigLine> config_lines(const std::string& path, const std::string& text,
                                     const std::vector<DeprecatedAlias>& aliases) {
  std::istringstream in(text);
  std::vector<ConfigLine> out;
  std::string line, section;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    if (line[first] == '[') {
      section = line.substr(first);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos)
      throw Error(fmt::format("{}:{}: expected 'key = value', found '{}'", path, number, line));
    if (!section.empty()) {
      out.push_back({number, section + "\n" + line});
      continue;
    }
    std::string key = line.substr(first, eq - first);
    key.erase(key.find_last_not_of(" \t") + 1);
    std::replace(key.begin(), key.end(), '_', '-');
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    if (const DeprecatedAlias* a = find_alias(aliases, key)) {
      warn_deprecated(path + ": ", *a);
      bool keep = true;
      try {
        keep = !a->negated || negated_value(*a, value);
      } catch (const po::error& e) {
        throw Error(fmt::format("{}:{}: {}", path, number, e.what()));
      }
      if (!keep) continue;  // `progress = true` is the default
      if (a->negated) value = "true";
      key = a->new_name;
    }
    out.push_back({number, key + " = " + value});
  }
  return out;
}

}  // namespace

std::optional<po::variables_map> parse(int argc, char** argv, const std::string& usage,
                                       const po::options_description& options,
                                       const po::positional_options_description& positional,
                                       const std::vector<DeprecatedAlias>& aliases) {
  po::options_description common("Common options");
  common.add_options()("help,h", "show this help and exit")(
      "config", po::value<std::string>()->value_name("FILE"),
      "read options from an INI file (key = value); the command line overrides it")(
      "verbose", po::bool_switch(), "also print debug messages (each retry, each price lookup that failed)")(
      "quiet", po::bool_switch(), "print only warnings and errors");
  po::options_description all;
  all.add(options).add(common);

  for (int i = 1; i < argc; ++i)
    if (const auto placeholder = boost_placeholder_in(argv[i])) throw po::error(placeholder_refusal(argv[i], *placeholder));
  const std::vector<std::string> args = rewrite_command_line(argc, argv, aliases);
  po::variables_map vm;
  // Stored first, so the command line wins over the config file (po keeps the first value).
  po::store(po::command_line_parser(std::vector<std::string>(args.begin() + 1, args.end()))
                .options(all)
                .positional(positional)
                .run(),
            vm);
  if (vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << options << "\n" << common << "\n";
    return std::nullopt;
  }
  if (vm["verbose"].as<bool>() && vm["quiet"].as<bool>()) throw po::error("--verbose and --quiet exclude each other");
  if (vm["verbose"].as<bool>()) log::set_level(log::Level::Debug);
  if (vm["quiet"].as<bool>()) log::set_level(log::Level::Warn);
  if (vm.count("config")) {
    const auto path = vm["config"].as<std::string>();
    std::ifstream in(path);
    if (!in) throw Error("cannot read config file " + path);
    std::stringstream text;
    text << in.rdbuf();
    // Line by line, so that an error names the line (Boost's message alone does not).
    for (const ConfigLine& line : config_lines(path, text.str(), aliases)) {
      if (const auto placeholder = boost_placeholder_in(line.text))
        throw Error(fmt::format("{}:{}: {}", path, line.number, placeholder_refusal(line.text, *placeholder)));
      std::istringstream one(line.text + "\n");
      try {
        po::store(po::parse_config_file(one, options), vm);
      } catch (const po::error& e) {
        throw Error(fmt::format("{}:{}: {}", path, line.number, e.what()));
      }
    }
  }
  po::notify(vm);
  return vm;
}

}  // namespace w2s::cli
