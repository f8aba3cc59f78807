// `--config FILE.ini` as every w2s command reads it (apps/w2s/cli.cpp): comments, sections, old
// option names, snake_case keys, then Boost.Program_options with typed values, switches and an
// options field list; Boost's error messages are formatted, as w2s prints them.
#include <cstring>

#include "cli.h"
#include "fuzz_target.h"
#include "options_binding.h"
#include "w2s/data.h"

namespace po = w2s::cli::po;

W2S_FUZZ_TARGET(cli_config) {
  static const bool quiet = [] {
    w2s::log::set_level(w2s::log::Level::Off);  // deprecation warnings on every run would drown the fuzzer
    return true;
  }();
  (void)quiet;
  const auto file = w2s::fuzz::input_file(input, "config.ini");
  po::options_description options("Options");
  std::int64_t resamples = 1000;
  double confidence = 0.95;
  options.add_options()("resamples", po::value<std::int64_t>(&resamples)->default_value(resamples), "resamples")(
      "confidence", po::value<double>(&confidence)->default_value(confidence), "confidence")(
      "no-progress", po::bool_switch(), "no progress line")("models", po::value<std::string>(), "models");
  w2s::data::TruthfulQaOptions tqa;
  const w2s::cli::OptionsBinding<w2s::data::TruthfulQaOptions> binding(options, w2s::data::option_fields(&tqa), tqa);
  const std::vector<w2s::cli::DeprecatedAlias> aliases = {{"tqa-seed", "data-seed"}, {"progress", "no-progress", true}};
  std::string argv0 = "w2s fuzz", flag = "--config", path = file.string();
  char* argv[] = {argv0.data(), flag.data(), path.data()};
  try {
    const auto vm = w2s::cli::parse(3, argv, "w2s fuzz", options, {}, aliases);
    W2S_FUZZ_CHECK(vm.has_value());
    binding.apply(*vm, tqa);
  } catch (const po::error& e) {
    W2S_FUZZ_CHECK(std::strlen(e.what()) > 0);  // formatting Boost's message once hung (issue 22)
  }
}
