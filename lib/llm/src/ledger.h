// The cost ledger: JSONL, one line per billed response or cache hit (core's AppendOnlyFile: lines
// from several processes never interleave; a killed process loses no line it wrote). It holds no
// key and no prompt; `request` is the cache key, joinable with the cache.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "w2s/llm.h"

namespace w2s::llm {

class Ledger {
 public:
  // Opens (creating with mode 0600) the file; an empty path disables the ledger. `tag` is written
  // on every line when not empty.
  Ledger(const std::filesystem::path& path, std::string tag);

  // One line for a completion of `model` (the model asked for). `status`: "ok", "retried" (a
  // billed 200 whose answer was retried), "timeout" (an abandoned attempt) or "unreadable" (a 200
  // whose body could not be read); for the last two `possibly_billed_usd` is the worst case.
  void record(const std::string& model, const Completion& c, const std::string& request_key, std::string_view status,
              std::optional<double> possibly_billed_usd = std::nullopt);
  void sync();  // called at the end of each batch

 private:
  std::unique_ptr<AppendOnlyFile> file_;
  std::string tag_;
};

}  // namespace w2s::llm
