// Where dataset files live, and fetching the pinned public ones when they are missing.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

#include "bundled_data.h"
#include "download.h"
#include "w2s/data.h"

namespace w2s::data {
namespace fs = std::filesystem;

fs::path detail::dir_from(const std::optional<std::string>& given, const char* env_var, const char* fallback) {
  if (given && !given->empty()) return fs::path(*given);
  if (const char* env = std::getenv(env_var); env && *env) return fs::path(env);
  return fs::path(fallback);
}

fs::path resolve_data_dir(const std::optional<std::string>& cli_data_dir) {
  return detail::dir_from(cli_data_dir, "W2S_DATA_DIR", "data");
}

// The sources and checksums are those of shared/data/*/README.md (byte-identical copies).
const std::vector<RemoteFile>& known_remote_files() {
  static const std::vector<RemoteFile> files = [] {
    // github.com/sylinrl/TruthfulQA at the commit the Hugging Face `truthful_qa` loader pins;
    // then the vendored copy our checksums were taken from.
    const std::string tqa_upstream =
        "https://raw.githubusercontent.com/sylinrl/TruthfulQA/013686a06be7a7bde5bf8223943e106c7250123c/";
    const std::string tqa_mirror =
        "https://raw.githubusercontent.com/SimarBhatiaSB7/TruthX/c59fd4bf117c6742d059ee6f975e4d72d4d171c3/TruthfulQA/";
    const std::string tqa_origin =
        "github.com/sylinrl/TruthfulQA (2021-10 version; copy in SimarBhatiaSB7/TruthX@c59fd4bf, TruthfulQA/)";
    const std::string sst2 =
        "https://raw.githubusercontent.com/eyalbd2/Reproducing-AutoPrompt/6288fb5bec9c572f2492875ae0111df5b6daed11/"
        "glue_data/SST-2/";
    const std::string sst2_origin = "GLUE SST-2 via github.com/eyalbd2/Reproducing-AutoPrompt@6288fb5b glue_data/SST-2/";
    return std::vector<RemoteFile>{
        {"truthfulqa/TruthfulQA.csv", "967b82fb1fb6274e4971c6c80caa9d04f844c512b1033c146f26c78270cd384b",
         {tqa_upstream + "TruthfulQA.csv", tqa_mirror + "TruthfulQA.csv"}, tqa_origin + " TruthfulQA.csv"},
        {"truthfulqa/data/mc_task.json", "75b84d5cc8f0e287c055db1857808e734ea53ade8ee68aad2d007f38896330a8",
         {tqa_upstream + "data/mc_task.json", tqa_mirror + "data/mc_task.json"}, tqa_origin + " data/mc_task.json"},
        {"sst2/train.tsv", "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
         {sst2 + "train_full.tsv"}, sst2_origin + "train_full.tsv"},
        {"sst2/dev.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
         {sst2 + "dev.tsv"}, sst2_origin + "dev.tsv"},
        {"sst2/test_labeled.tsv", "c0efc56ade6e0598d0f8daca1976e232aee0bcabca8e599341cad290d9d10b3c",
         {sst2 + "test-labeled.tsv"}, sst2_origin + "test-labeled.tsv"},
        {"boolq/dev.jsonl", "ebc29ea3808c5c611672384b3de56e83349fe38fc1fe876fd29b674d81d0a80a",
         {"https://raw.githubusercontent.com/dwzhu-pku/boolqQA/a88d374e9d0b9fa6712e33a80aefdc916ba6718a/datafile/"
          "dev.jsonl"},
         "BoolQ dev.jsonl (google-research-datasets/boolean-questions) via github.com/dwzhu-pku/boolqQA@a88d374e "
         "datafile/dev.jsonl"},
        // The main job's data, built in (data/sst2-demo/README.md says how the subset was drawn).
        {"sst2-demo/train.tsv", "13a8cd232a58a091aeeb3fd9b13864c608add2f099a361f615eea8bbfddf20c3", {},
         "built into w2s: 24,000 rows of " + sst2_origin + "train_full.tsv (data/sst2-demo/README.md)",
         detail::bundled_sst2_demo_train()},
        {"sst2-demo/dev.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", {},
         "built into w2s: " + sst2_origin + "dev.tsv", detail::bundled_sst2_demo_dev()},
    };
  }();
  return files;
}

fs::path ensure_data_file(const fs::path& data_dir, const std::string& relative_path, bool allow_download,
                          std::string_view how_to_make_it) {
  for (const auto& f : known_remote_files())
    if (f.relative_path == relative_path) return ensure_data_file(data_dir, f, allow_download);
  const fs::path target = data_dir / relative_path;
  if (fs::exists(target)) return target;
  throw Error(fmt::format(
      "missing dataset file {} (data directory {}; set it with --data-dir or $W2S_DATA_DIR). This file has no "
      "public download; put it at that path. {}",
      fs::absolute(target).string(), fs::absolute(data_dir).string(),
      how_to_make_it.empty() ? "See docs/data.md for its format." : how_to_make_it));
}

fs::path ensure_data_file(const fs::path& data_dir, const RemoteFile& file, bool allow_download) {
  const fs::path target = data_dir / file.relative_path;
  if (fs::exists(target)) return target;
  if (!file.bundled.empty()) {
    if (sha256_hex(file.bundled) != file.sha256)  // the build embedded other bytes than were pinned
      throw Error(fmt::format("internal: the built-in copy of {} does not have the pinned sha256 {}",
                              file.relative_path, file.sha256));
    fs::create_directories(target.parent_path());
    write_file_atomic(target, file.bundled);
    log::info("wrote the built-in copy of {} to {}", file.relative_path, target.string());
    return target;
  }
  const std::string where = fmt::format(
      "Put the file at {} (source: {}; sha256 {}), or choose another data directory with --data-dir or "
      "$W2S_DATA_DIR.",
      fs::absolute(target).string(), file.origin, file.sha256);
  if (!allow_download)
    throw Error(fmt::format("missing dataset file {} and downloading is disabled. {}", target.string(), where));

  fs::create_directories(target.parent_path());
  const fs::path temp = target.string() + fmt::format(".download.tmp.{}", ::getpid());
  std::string failures;
  for (const auto& url : file.urls) {
    log::info("dataset file {} is missing; downloading {}", target.string(), url);
    try {
      detail::download_url(url, temp);
      const std::string got = sha256_file_hex(temp);
      if (got != file.sha256) throw Error(fmt::format("checksum mismatch: sha256 {} but expected {}", got, file.sha256));
      fs::rename(temp, target);
      log::info("saved {} (sha256 verified)", target.string());
      return target;
    } catch (const std::exception& e) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      failures += fmt::format("\n  {}: {}", url, e.what());
    }
  }
  throw Error(fmt::format("missing dataset file {} and the download failed:{}\n{}", target.string(), failures, where));
}

SourceFile describe_source(const fs::path& path) { return SourceFile{path.string(), sha256_file_hex(path)}; }

}  // namespace w2s::data
