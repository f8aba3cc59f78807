// w2s shell: commands run through /bin/sh, for the external programs w2s drives (gnuplot, sbatch).
#pragma once

#include <string>
#include <string_view>

namespace w2s {

// `text` as one word for a POSIX shell: single-quoted, with each ' written as '\''.
std::string shell_quote(std::string_view text);

// Runs `command` with /bin/sh, stdout and stderr together appended to `output`. Returns the exit
// status, or -1 when the command could not be started or did not exit normally.
int run_shell(const std::string& command, std::string& output);

}  // namespace w2s
