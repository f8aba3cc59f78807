// Data location, pinned downloads (file:// URLs only, never the network) and bad-file errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "assets.h"
#include "w2s/data.h"

namespace fs = std::filesystem;
using namespace w2s::data;

TEST(DataDir, CommandLineThenEnvironmentThenDefault) {  // the data and the models directory
  using Resolve = fs::path (*)(const std::optional<std::string>&);
  using Case = std::tuple<Resolve, const char*, const char*>;
  for (auto [resolve, env, fallback] :
       {Case{resolve_data_dir, "W2S_DATA_DIR", "data"}, Case{resolve_models_dir, "W2S_MODELS_DIR", "models"}}) {
    ::setenv(env, "/env/dir", 1);
    EXPECT_EQ(resolve(std::string("/cli/dir")), fs::path("/cli/dir")) << env;
    EXPECT_EQ(resolve(std::string()), fs::path("/env/dir")) << env;
    EXPECT_EQ(resolve(std::nullopt), fs::path("/env/dir")) << env;
    ::unsetenv(env);
    EXPECT_EQ(resolve(std::nullopt), fs::path(fallback)) << env;
  }
}

TEST(DataDir, KnownFilesMatchTheSharedCopies) {
  const fs::path shared = w2s::test::assets_dir() / "data";
  for (const auto& f : known_remote_files()) {
    if (!f.bundled.empty()) continue;  // built in: BuiltInData below
    EXPECT_FALSE(f.urls.empty()) << f.relative_path;
    EXPECT_EQ(w2s::sha256_file_hex(shared / f.relative_path), f.sha256) << f.relative_path;
    EXPECT_EQ(ensure_data_file(shared, f.relative_path, false), shared / f.relative_path);
  }
}

// The main job's data is built into the binary: byte for byte the repository's data/sst2-demo/
// files, with the pinned sha256, written into an empty data directory with downloads disabled.
TEST(BuiltInData, IsTheRepositoryCopyAndIsWrittenOutWithoutDownloading) {
  const fs::path dir = w2s::test::scratch_dir("built_in_data");
  std::vector<std::string> built_in;
  for (const auto& f : known_remote_files()) {
    if (f.bundled.empty()) continue;
    built_in.push_back(f.relative_path);
    EXPECT_TRUE(f.urls.empty()) << f.relative_path;
    EXPECT_EQ(w2s::sha256_hex(f.bundled), f.sha256) << f.relative_path;
    EXPECT_EQ(w2s::sha256_file_hex(w2s::test::source_dir() / "data" / f.relative_path), f.sha256) << f.relative_path;
    const fs::path got = ensure_data_file(dir, f.relative_path, false);
    EXPECT_EQ(got, dir / f.relative_path);
    EXPECT_EQ(w2s::read_file(got), f.bundled);
  }
  EXPECT_EQ(built_in, (std::vector<std::string>{"sst2-demo/train.tsv", "sst2-demo/dev.tsv"}));
}

TEST(Download, FileUrlIsVerifiedAndRenamedIntoPlace) {
  const fs::path dir = w2s::test::scratch_dir("download_ok");
  w2s::test::write_text(dir / "remote/file.txt", "hello\n");
  const RemoteFile f{"sub/file.txt", w2s::sha256_hex("hello\n"), {"file://" + (dir / "remote/file.txt").string()},
                     "test"};
  const fs::path got = ensure_data_file(dir / "data", f, true);
  EXPECT_EQ(got, dir / "data/sub/file.txt");
  EXPECT_EQ(w2s::read_file(got), "hello\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "data/sub"), fs::directory_iterator{}), 1);  // no temp left
}

TEST(Download, ChecksumMismatchLeavesNothingAndSaysWhereToPutTheFile) {
  const fs::path dir = w2s::test::scratch_dir("download_bad_sum");
  w2s::test::write_text(dir / "remote/file.txt", "tampered\n");
  const RemoteFile f{"sub/file.txt", w2s::sha256_hex("hello\n"),
                     {"file://" + (dir / "remote/missing.txt").string(), "file://" + (dir / "remote/file.txt").string()},
                     "example.org/repo@abc file.txt"};
  const std::string msg = w2s::test::error_of([&] { ensure_data_file(dir / "data", f, true); });
  EXPECT_CONTAINS(msg, "checksum mismatch");
  EXPECT_CONTAINS(msg, "missing.txt");  // the first URL's failure is reported too
  EXPECT_CONTAINS(msg, "Put the file at " + fs::absolute(dir / "data/sub/file.txt").string());
  EXPECT_CONTAINS(msg, "example.org/repo@abc file.txt");
  EXPECT_FALSE(fs::exists(dir / "data/sub/file.txt"));
  EXPECT_TRUE(fs::is_empty(dir / "data/sub"));
}

TEST(Download, OfflineErrorNamesTheFileAndItsPlace) {
  const fs::path dir = w2s::test::scratch_dir("download_off");
  const std::string msg = w2s::test::error_of([&] { ensure_data_file(dir, "truthfulqa/data/mc_task.json", false); });
  EXPECT_CONTAINS(msg, "downloading is disabled");
  EXPECT_CONTAINS(msg, "Put the file at " + fs::absolute(dir / "truthfulqa/data/mc_task.json").string());
  EXPECT_CONTAINS(msg, "75b84d5cc8f0e287c055db1857808e734ea53ade8ee68aad2d007f38896330a8");

  TruthfulQaOptions o;
  o.data_dir = dir.string();
  o.allow_download = false;
  EXPECT_CONTAINS(w2s::test::error_of([&] { load_truthfulqa(o); }), "mc_task.json");

  const std::string unknown = w2s::test::error_of([&] { ensure_data_file(dir, "sciq/sciq_binary_w2s.jsonl", true); });
  EXPECT_CONTAINS(unknown, "has no public download");
}

TEST(BadFiles, CsvErrorsNameFileAndLine) {
  const fs::path dir = w2s::test::scratch_dir("bad_csv");
  const std::string header = "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n";
  const std::string good = "Adversarial,Misc,Q?,A.,A.,B.,src\n";

  w2s::test::write_text(dir / "columns.csv", "Type,Category,Question,Correct Answers,Incorrect Answers,Source\n" + good);
  std::string msg = w2s::test::error_of([&] { read_truthfulqa_csv(dir / "columns.csv"); });
  EXPECT_CONTAINS(msg, (dir / "columns.csv").string() + ":1: missing column 'Best Answer'");

  w2s::test::write_text(dir / "fields.csv", header + good + "Adversarial,Misc,Q?,A.\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_truthfulqa_csv(dir / "fields.csv"); }), "fields.csv:3: 4 fields");

  w2s::test::write_text(dir / "latin1.csv", header + good + "Adversarial,Misc,Caf\xE9?,A.,A.,B.,src\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_truthfulqa_csv(dir / "latin1.csv"); }), "latin1.csv:3: not valid UTF-8");

  w2s::test::write_text(dir / "quote.csv", header + good + "Adversarial,Misc,\"Q?,A.,A.,B.,src\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_truthfulqa_csv(dir / "quote.csv"); }), "quote.csv:3: unterminated");
}

TEST(BadFiles, JsonAndJsonlErrorsNameFileAndLine) {
  const fs::path dir = w2s::test::scratch_dir("bad_json");
  const std::string ok = "{\"question\": \"Q?\", \"choices\": [\"a\", \"b\"], \"label\": 1}\n";

  w2s::test::write_text(dir / "broken.jsonl", ok + "{\"question\": \"Q?\", \"choices\": [\"a\", \"b\"], \"label\": 1\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_mc_jsonl(dir / "broken.jsonl"); }), "broken.jsonl:2: ");

  w2s::test::write_text(dir / "label.jsonl", ok + "\n" + "{\"question\": \"Q?\", \"choices\": [\"a\", \"b\"], \"label\": 2}\n");
  std::string msg = w2s::test::error_of([&] { read_mc_jsonl(dir / "label.jsonl"); });
  EXPECT_CONTAINS(msg, "label.jsonl:3: ");
  EXPECT_CONTAINS(msg, "\"label\" 2 is not an index");

  w2s::test::write_text(dir / "field.jsonl", "{\"question\": \"Q?\", \"options\": [\"a\", \"b\"], \"label\": 0}\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_mc_jsonl(dir / "field.jsonl"); }), "field.jsonl:1: ");

  w2s::test::write_text(dir / "bytes.jsonl", ok + ok + "{\"question\": \"\xFF\", \"choices\": [\"a\", \"b\"], \"label\": 0}\n");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_mc_jsonl(dir / "bytes.jsonl"); }), "bytes.jsonl:3: not valid UTF-8");

  w2s::test::write_text(dir / "mc_task.json", "[{\"question\": \"Q?\", \"mc1_targets\": {\"a\": 1, \"b\": 0}}, {\"question\": \"Two?\"");
  EXPECT_CONTAINS(w2s::test::error_of([&] { read_mc_task_json(dir / "mc_task.json"); }), (dir / "mc_task.json").string());

  w2s::test::write_text(dir / "two_true.json",
        "[{\"question\": \"Q?\", \"mc1_targets\": {\"a\": 1, \"b\": 0}},\n"
        " {\"question\": \"Two?\", \"mc1_targets\": {\"a\": 1, \"b\": 1}}]");
  msg = w2s::test::error_of([&] { read_mc_task_json(dir / "two_true.json"); });
  EXPECT_CONTAINS(msg, "two_true.json: item 1 (\"Two?\")");
  EXPECT_CONTAINS(msg, "more than one true answer");
}
