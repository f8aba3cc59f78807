// `w2s train`: the weak-to-strong fine-tuning pipeline (floor, ceiling, w2s, s2s rounds).
// Parsing only: the flags come from the option field lists in w2s/train.h; the pipeline is lib/train.
#include <iostream>

#include "cli.h"
#include "options_binding.h"
#include "w2s/train.h"

int w2s::cli::run_train(int argc, char** argv) {
  using w2s::train::PipelineOptions;
  po::options_description options("Options (defaults are the EleutherAI/w2s reference's)");
  options.add_options()("preset", po::value<std::string>(),
                        "start from a named option set: reference (the defaults) or demo (random-init models, "
                        "no download, about a minute on 2 cores)");
  const w2s::cli::OptionsBinding<PipelineOptions> flags(
      options, option_fields(static_cast<const PipelineOptions*>(nullptr)), PipelineOptions{});

  // The old spellings, accepted for one release with a warning.
  auto vm = w2s::cli::parse(argc, argv, "w2s train [--preset demo] [options]", options, {},
                            {{"results-folder", "results-dir"}, {"progress", "no-progress", true}});
  if (!vm) return 0;
  // A preset replaces the reference defaults; the flags given override either.
  PipelineOptions o = vm->count("preset") ? w2s::train::preset_options((*vm)["preset"].as<std::string>())
                                          : PipelineOptions{};
  flags.apply(*vm, o);
  try {  // inconsistent option values are an option error (exit 2), found before anything loads
    w2s::train::validate(o);
  } catch (const w2s::Error& e) {
    throw po::error(e.what());
  }

  const auto summary = w2s::train::run_pipeline(o);
  std::cout << w2s::train::format_summary(summary);
  return 0;
}
