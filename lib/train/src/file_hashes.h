// Internal: sha256 of model files, remembered across runs so that multi-GB checkpoints are hashed
// once, not on every run.
#pragma once

#include <filesystem>
#include <string>

namespace w2s::train {

// The sha256 of `file`. With a memo file, a hash computed earlier for the same absolute path,
// size and modification time is reused; a new one is added to the memo (a JSON object, rewritten
// atomically; concurrent runs may each add theirs, the last writer's memo wins, which costs at most
// a re-hash). An empty memo path hashes every time.
std::string file_sha256(const std::filesystem::path& file, const std::filesystem::path& memo);

}  // namespace w2s::train
