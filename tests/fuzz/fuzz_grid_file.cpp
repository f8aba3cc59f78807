// Grid files of `w2s sweep` (INI: options every job gets, [grid] axes of values separated by |),
// expanded into the plan of shared stages and students.
#include "fuzz_target.h"
#include "w2s/sweep.h"

W2S_FUZZ_TARGET(grid_file) {
  static const bool quiet = [] {
    w2s::log::set_level(w2s::log::Level::Off);
    return true;
  }();
  (void)quiet;
  const auto grid = w2s::sweep::read_grid(w2s::fuzz::input_file(input, "grid.ini"));
  const auto plan = w2s::sweep::expand(grid, w2s::sweep::base_options(grid));
  w2s::sweep::format_plan(plan);
}
