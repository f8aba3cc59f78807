// Hugging Face hub models: resolving "org/name[@revision]" to a local directory, downloading the
// files w2s reads (config, tokenizer, safetensors weights) with checksums when it is incomplete.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>

#include "download.h"
#include "w2s/data.h"

namespace w2s::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultEndpoint = "https://huggingface.co";
constexpr const char* kHubRecord = ".w2s-hub.json";
// Files besides the weights; the first two are required. chat_template.jinja is where
// transformers (4.50 and later) saves a model's chat template instead of tokenizer_config.json.
const std::vector<std::string> kRequiredFiles = {"config.json", "tokenizer.json"};
const std::vector<std::string> kOptionalFiles = {"tokenizer_config.json", "generation_config.json",
                                                 "special_tokens_map.json", "chat_template.jinja"};

struct RepoId {
  std::string repo;      // org/name
  std::string revision;  // "main" unless given
};

const std::regex& id_pattern() {
  static const std::regex pattern(R"(([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(@([A-Za-z0-9._-]+))?)");
  return pattern;
}

RepoId parse_repo_id(const std::string& text) {
  std::smatch m;
  if (!std::regex_match(text, m, id_pattern()))
    throw Error(fmt::format("'{}' is not a Hugging Face model id (expected org/name or org/name@revision)", text));
  return RepoId{m[1].str(), m[3].matched ? m[3].str() : "main"};
}

std::string human_size(std::uintmax_t bytes) {
  if (bytes >= 1000ull * 1000 * 1000) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1000ull * 1000) return fmt::format("{:.1f} MB", bytes / 1e6);
  return fmt::format("{:.1f} kB", bytes / 1e3);
}

// One file of the listing: its size and the checksum the hub gives for it.
struct HubFile {
  std::uintmax_t size = 0;
  std::string sha256;    // LFS files (weights)
  std::string git_sha1;  // other files: the git blob id
};

// The git blob id of a file: sha1("blob <size>\0" + content).
std::string git_blob_sha1(const fs::path& path) {
  const std::string content = read_file(path);
  std::string blob = fmt::format("blob {}", content.size());
  blob.push_back('\0');
  blob += content;
  return sha1_hex(blob);
}

class Hub {
 public:
  Hub(const RepoId& id, const HubOptions& options, fs::path dir)
      : id_(id), options_(options), dir_(std::move(dir)) {}

  fs::path fetch() {
    const std::string commit = resolve_commit();
    listing_ = list_files(commit);
    std::vector<std::string> wanted = kRequiredFiles;
    for (const auto& f : kRequiredFiles)
      if (!listing_.count(f))
        fail(fmt::format("the repository has no {} (w2s reads Hugging Face fast tokenizers and config.json)", f));
    for (const auto& f : kOptionalFiles)
      if (listing_.count(f)) wanted.push_back(f);

    fs::create_directories(dir_);
    if (listing_.count("model.safetensors")) {
      wanted.push_back("model.safetensors");
    } else if (listing_.count("model.safetensors.index.json")) {
      download_file(commit, "model.safetensors.index.json");  // small; names the shards
      wanted.push_back("model.safetensors.index.json");
      for (const auto& shard : shards_of(dir_ / "model.safetensors.index.json")) {
        if (!listing_.count(shard))
          fail(fmt::format("model.safetensors.index.json names {}, which the repository does not have", shard));
        wanted.push_back(shard);
      }
    } else {
      fail(weights_problem());
    }

    std::uintmax_t to_download = 0;
    std::size_t count = 0;
    for (const auto& f : wanted)
      if (!in_place(f)) to_download += listing_.at(f).size, ++count;
    check_disk_space(to_download);
    log::info("model {} is not complete in {}; downloading {} file(s), {}, from {} (commit {})", label(),
              dir_.string(), count, human_size(to_download), options_.endpoint, commit.substr(0, 12));
    for (const auto& f : wanted)
      if (!in_place(f)) download_file(commit, f);
    write_record(commit, wanted);
    if (!is_complete_model_dir(dir_)) fail("the downloaded directory is still incomplete");
    log::info("model {} saved in {} (checksums verified)", label(), dir_.string());
    return dir_;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(fmt::format("cannot get model {}: {}\n{}", label(), why, by_hand()));
  }

 private:
  std::string label() const {
    return id_.revision == "main" ? id_.repo : id_.repo + "@" + id_.revision;
  }

  std::string by_hand() const {
    return fmt::format(
        "To provide it by hand, put config.json, tokenizer.json and the *.safetensors weights (with "
        "model.safetensors.index.json if sharded) in {} — e.g. `huggingface-cli download {} --revision {} --local-dir "
        "{}` on a machine with access — or pass a local model directory instead of the id. The models directory is "
        "--models-dir, else $W2S_MODELS_DIR, else ./models.",
        fs::absolute(dir_).string(), id_.repo, id_.revision, fs::absolute(dir_).string());
  }

  detail::DownloadOptions download_options(std::string progress = "") const {
    detail::DownloadOptions d;
    d.bearer_token = options_.token;
    d.progress = std::move(progress);
    return d;
  }

  // Downloads `url` to `destination`, turning transport and HTTP failures into clear errors.
  void get(const std::string& url, const fs::path& destination, const std::string& progress = "") const {
    try {
      detail::download_url(url, destination, download_options(progress));
    } catch (const detail::HttpStatusError& e) {
      std::error_code ignored;
      fs::remove(destination, ignored);
      if (e.status == 401 || e.status == 403)
        fail(fmt::format(
            "access refused ({}). It is probably a gated model: accept the licence on https://huggingface.co/{} and "
            "set HF_TOKEN to an access token of that account{}",
            e.what(), id_.repo, options_.token.empty() ? " (HF_TOKEN is not set)" : " (HF_TOKEN is set)"));
      if (e.status == 404)
        fail(fmt::format("not found ({}): no such repository, revision or file (and '{}' is not a local directory)",
                         e.what(), label()));
      fail(e.what());
    } catch (const Error& e) {
      std::error_code ignored;
      fs::remove(destination, ignored);
      fail(fmt::format("cannot reach {}: {}", url, e.what()));
    }
  }

  json::Value get_json(const std::string& url) const {
    const fs::path temp = fs::temp_directory_path() / fmt::format("w2s-hub-{}-{}.json", ::getpid(), counter_++);
    get(url, temp);
    try {
      json::Value v = json::parse(read_file(temp), url);
      fs::remove(temp);
      return v;
    } catch (const Error& e) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      fail(fmt::format("unexpected answer from {}: {}", url, e.what()));
    }
  }

  std::string api(const std::string& what) const {
    return fmt::format("{}/api/models/{}/{}", options_.endpoint, id_.repo, what);
  }

  std::string resolve_commit() const {
    const json::Value info = get_json(api("revision/" + id_.revision));
    const json::Value* sha = info.is_object() ? info.find("sha") : nullptr;
    if (!sha || !sha->is_string() || !std::regex_match(sha->as_string(), std::regex("[0-9a-f]{40}")))
      fail(fmt::format("the hub's answer for revision '{}' has no commit sha", id_.revision));
    const json::Value* gated = info.find("gated");
    if (gated && !(gated->is_bool() && !gated->as_bool()) && options_.token.empty())
      fail(fmt::format(
          "it is a gated model and HF_TOKEN is not set: accept the licence on https://huggingface.co/{} and set "
          "HF_TOKEN to an access token of that account",
          id_.repo));
    return sha->as_string();
  }

  std::map<std::string, HubFile> list_files(const std::string& commit) const {
    const json::Value tree = get_json(api("tree/" + commit));
    if (!tree.is_array()) fail("the hub's file listing is not a JSON array");
    std::map<std::string, HubFile> files;
    for (const auto& entry : tree.as_array()) {
      if (!entry.is_object() || entry.get_string("type") != "file") continue;
      HubFile f;
      f.size = static_cast<std::uintmax_t>(entry.get_int("size"));
      if (const json::Value* lfs = entry.find("lfs"); lfs && lfs->is_object()) {
        f.sha256 = lfs->get_string("oid");
        f.size = static_cast<std::uintmax_t>(lfs->get_int("size", static_cast<std::int64_t>(f.size)));
      } else {
        f.git_sha1 = entry.get_string("oid");
      }
      files[entry.get_string("path")] = f;
    }
    return files;
  }

  std::string weights_problem() const {
    std::vector<std::string> other;
    for (const auto& [path, f] : listing_) {
      const std::string ext = fs::path(path).extension().string();
      if (ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".safetensors") other.push_back(path);
    }
    if (other.empty()) return "the repository has no model weights";
    return fmt::format(
        "the repository has no model.safetensors or model.safetensors.index.json, only {}; w2s reads safetensors "
        "weights only (convert them, e.g. with transformers' save_pretrained(safe_serialization=True))",
        fmt::join(other, ", "));
  }

  static std::set<std::string> shards_of(const fs::path& index) {
    const json::Value v = json::parse_file(index);
    const json::Value* map = v.is_object() ? v.find("weight_map") : nullptr;
    if (!map || !map->is_object()) throw Error(index.string() + ": no weight_map object");
    std::set<std::string> shards;
    for (const auto& [tensor, file] : map->as_object()) shards.insert(file.as_string());
    return shards;
  }

  // A file renamed into place was verified; one with the wrong size is fetched again.
  bool in_place(const std::string& name) const {
    std::error_code ec;
    const auto size = fs::file_size(dir_ / name, ec);
    return !ec && size == listing_.at(name).size;
  }

  void check_disk_space(std::uintmax_t needed) const {
    std::error_code ec;
    const auto space = fs::space(dir_, ec);
    if (!ec && space.available < needed)
      fail(fmt::format("{} are needed but only {} are free in {}", human_size(needed), human_size(space.available),
                       dir_.string()));
  }

  void download_file(const std::string& commit, const std::string& name) const {
    const HubFile& expected = listing_.at(name);
    const fs::path target = dir_ / name;
    const fs::path temp = target.string() + fmt::format(".download.tmp.{}", ::getpid());
    const bool large = expected.size > 16ull * 1024 * 1024;
    if (large) log::info("downloading {} ({})", name, human_size(expected.size));
    get(fmt::format("{}/{}/resolve/{}/{}", options_.endpoint, id_.repo, commit, name), temp, large ? name : "");
    const std::string got = expected.sha256.empty() ? git_blob_sha1(temp) : sha256_file_hex(temp);
    const std::string& want = expected.sha256.empty() ? expected.git_sha1 : expected.sha256;
    if (!want.empty() && got != want) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      fail(fmt::format("checksum mismatch for {}: {} {} but the hub lists {}", name,
                       expected.sha256.empty() ? "git blob sha1" : "sha256", got, want));
    }
    fs::rename(temp, target);
  }

  void write_record(const std::string& commit, const std::vector<std::string>& files) const {
    json::Value record = json::Value::object();
    record.set("repo", id_.repo);
    record.set("revision", id_.revision);
    record.set("commit", commit);
    record.set("endpoint", options_.endpoint);
    record.set("downloaded", now_iso8601());
    json::Value list = json::Value::object();
    for (const auto& f : files) {
      const HubFile& h = listing_.at(f);
      list.set(f, json::Value(json::Object{{"size", static_cast<std::int64_t>(h.size)},
                                           {h.sha256.empty() ? "git_sha1" : "sha256",
                                            h.sha256.empty() ? h.git_sha1 : h.sha256}}));
    }
    record.set("files", list);
    write_file_atomic(dir_ / kHubRecord, json::dump(record, 2) + "\n");
  }

  RepoId id_;
  const HubOptions& options_;
  fs::path dir_;
  std::map<std::string, HubFile> listing_;
  mutable int counter_ = 0;
};

}  // namespace

fs::path resolve_models_dir(const std::optional<std::string>& cli_models_dir) {
  return detail::dir_from(cli_models_dir, "W2S_MODELS_DIR", "models");
}

std::string HubOptions::default_endpoint() {
  for (const char* name : {"W2S_HF_ENDPOINT", "HF_ENDPOINT"})
    if (const char* env = std::getenv(name); env && *env) {
      std::string url = env;
      while (!url.empty() && url.back() == '/') url.pop_back();
      return url;
    }
  return kDefaultEndpoint;
}

std::string HubOptions::default_token() {
  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})
    if (const char* env = std::getenv(name); env && *env) return env;
  return "";
}

bool looks_like_hf_model_id(const std::string& text) { return std::regex_match(text, id_pattern()); }

fs::path hf_model_dir(const fs::path& models_dir, const std::string& repo_id) {
  const RepoId id = parse_repo_id(repo_id);
  return models_dir / (id.revision == "main" ? id.repo : id.repo + "@" + id.revision);
}

bool is_complete_model_dir(const fs::path& dir) {
  for (const auto& f : kRequiredFiles)
    if (!fs::is_regular_file(dir / f)) return false;
  if (fs::is_regular_file(dir / "model.safetensors")) return true;
  const fs::path index = dir / "model.safetensors.index.json";
  if (!fs::is_regular_file(index)) return false;
  try {
    const json::Value v = json::parse_file(index);
    const json::Value* map = v.is_object() ? v.find("weight_map") : nullptr;
    if (!map || !map->is_object()) return false;
    for (const auto& [tensor, file] : map->as_object())
      if (!file.is_string() || !fs::is_regular_file(dir / file.as_string())) return false;
    return true;
  } catch (const Error&) {
    return false;
  }
}

fs::path resolve_model_path(const std::string& spec, const std::optional<std::string>& models_dir) {
  if (fs::is_directory(spec) || !looks_like_hf_model_id(spec)) return spec;
  HubOptions hub;
  hub.models_dir = resolve_models_dir(models_dir);
  return ensure_hf_model(spec, hub);
}

fs::path ensure_hf_model(const std::string& repo_id, const HubOptions& options) {
  const RepoId id = parse_repo_id(repo_id);
  const fs::path dir = hf_model_dir(options.models_dir, repo_id);
  if (is_complete_model_dir(dir)) return dir;
  Hub hub(id, options, dir);
  if (!options.allow_download) hub.fail(fmt::format("{} is incomplete and downloading is disabled", dir.string()));
  return hub.fetch();
}

}  // namespace w2s::data
