// An options field list (w2s/options.h) as Boost.Program_options flags: one flag per field the
// list marks kFlag (or those of them `include` accepts, so that one list can be spread over several
// help sections or commands), its help with the default taken from `shown_defaults`, and apply()
// setting the members of the flags given (on the command line or in the --config file).
#pragma once

#include <functional>
#include <string>

#include "cli.h"
#include "w2s/options.h"

namespace w2s::cli {

template <class S>
class OptionsBinding {
 public:
  using Include = std::function<bool(const std::string& flag)>;

  // "a,b,c" as "a, b, c": the help wraps between list items, not inside a model id.
  static std::string list_for_help(const std::string& shown) {
    std::string out;
    for (char c : shown) out += c == ',' ? std::string(", ") : std::string(1, c);
    return out;
  }

  OptionsBinding(po::options_description& into, const options::Fields<S>& fields, const S& shown_defaults,
                 Include include = {})
      : fields_(fields), include_(std::move(include)) {
    for (const auto& f : fields.flags()) {
      if (include_ && !include_(f.name)) continue;
      std::string help = f.help;
      if (const auto shown = f.shown(shown_defaults); shown && !shown->empty())
        help += " (default " + list_for_help(*shown) + ")";
      auto* value = po::value<std::string>();
      if (f.is_switch) value->implicit_value("true")->value_name("BOOL");  // --x alone, or --x=false
      into.add_options()(f.name.c_str(), value, help.c_str());
    }
  }

  // Sets the member of every flag present in `vm`; bad text is a usage error naming the flag.
  void apply(const po::variables_map& vm, S& target) const {
    for (const auto& f : fields_.flags()) {
      if (!vm.count(f.name) || (include_ && !include_(f.name))) continue;
      try {
        f.set(target, vm[f.name].template as<std::string>());
      } catch (const Error& e) {
        throw po::error("--" + f.name + ": " + e.what());
      }
    }
  }

 private:
  const options::Fields<S>& fields_;
  Include include_;
};

}  // namespace w2s::cli
