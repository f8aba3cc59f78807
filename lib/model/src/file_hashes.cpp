// Checksums of model files, remembered across runs so that multi-GB checkpoints are hashed once:
// the identity of a model in the training stage keys (lib/train) and in local ICL records.
#include <fmt/format.h>

#include <system_error>

#include "w2s/model.h"

namespace w2s::model {

namespace fs = std::filesystem;

namespace {

// "<size> <mtime in the file clock's ticks>": what must not change for a remembered hash to hold.
std::string stamp_of(const fs::path& file) {
  return fmt::format("{} {}", fs::file_size(file), fs::last_write_time(file).time_since_epoch().count());
}

json::Value read_memo(const fs::path& memo) {
  std::error_code ec;
  if (!fs::exists(memo, ec)) return json::Value::object();
  try {
    json::Value v = json::parse_file(memo);
    if (v.is_object()) return v;
  } catch (const Error&) {
  }
  log::warn("{}: unreadable file-hash memo, hashing afresh", memo.string());
  return json::Value::object();
}

}  // namespace

std::string file_sha256(const fs::path& file, const fs::path& memo) {
  if (memo.empty()) return sha256_file_hex(file);
  const std::string path = fs::absolute(file).lexically_normal().string();
  const std::string stamp = stamp_of(file);
  json::Value entries = read_memo(memo);
  if (const json::Value* known = entries.find(path);
      known && known->is_object() && known->get_string("stamp") == stamp)
    return known->get_string("sha256");
  const std::string sha = sha256_file_hex(file);
  if (stamp_of(file) != stamp) return sha;  // changed while hashing: not worth remembering
  entries = read_memo(memo);  // what other runs added meanwhile
  entries.set(path, json::Value(json::Object{{"stamp", stamp}, {"sha256", sha}}));
  fs::create_directories(memo.parent_path());
  write_file_atomic(memo, json::dump(entries, 1) + "\n");
  return sha;
}

json::Value model_files_identity(const fs::path& dir, const fs::path& memo) {
  json::Value id = json::Value::object();
  id.set("config_sha256", file_sha256(dir / "config.json", memo));
  if (fs::exists(dir / "tokenizer.json")) id.set("tokenizer_sha256", file_sha256(dir / "tokenizer.json", memo));
  if (fs::exists(dir / "tokenizer_config.json"))
    id.set("tokenizer_config_sha256", file_sha256(dir / "tokenizer_config.json", memo));
  json::Value weights = json::Value::object();
  for (const auto& f : weight_files(dir)) weights.set(f.filename().string(), file_sha256(f, memo));
  id.set("weights_sha256", weights);
  return id;
}

}  // namespace w2s::model
