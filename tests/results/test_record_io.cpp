#include <gtest/gtest.h>

#include "assets.h"
#include "sample_records.h"
#include "w2s/results.h"
#include "w2s/utf8.h"

using namespace w2s;
using namespace w2s::results;
namespace fs = std::filesystem;

TEST(RecordIo, WriteFillsProvenanceAndReadsBack) {
  const fs::path dir = test::scratch_dir("record_io_write");
  ResultRecord r = test::minimal_record();
  write_record(dir / "sub" / "r.json", r);
  const ResultRecord back = read_record(dir / "sub" / "r.json");
  EXPECT_FALSE(back.created_at.empty());
  EXPECT_EQ(back.tool_version, tool_version());
  EXPECT_EQ(back.tool_git_commit, tool_git_commit());
  // Pretty-printed with indent 2 and a trailing newline.
  const std::string text = read_file(dir / "sub" / "r.json");
  EXPECT_EQ(text.substr(0, 22), "{\n  \"schema_version\": ");
  EXPECT_EQ(text.back(), '\n');

  ResultRecord stamped = test::full_record();
  write_record(dir / "full.json", stamped);
  EXPECT_EQ(read_record(dir / "full.json").created_at, "2026-01-02T03:04:05Z");  // kept when set
}

TEST(RecordIo, RefusesInvalidRecordAndKeepsTheOldFile) {
  const fs::path dir = test::scratch_dir("record_io_refuse");
  const fs::path p = dir / "r.json";
  write_record(p, test::full_record());
  const std::string before = read_file(p);
  ResultRecord bad = test::full_record();
  bad.metrics.accuracy = 2.0;
  bad.label_source.kind = "silver";
  try {
    write_record(p, bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("2 problems"), std::string::npos) << msg;
    EXPECT_NE(msg.find("$.metrics.accuracy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("$.label_source.kind"), std::string::npos) << msg;
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  }
  EXPECT_EQ(read_file(p), before);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "r.json") << "stray file";
  EXPECT_THROW(write_record(dir / "new.json", bad), Error);
  EXPECT_FALSE(fs::exists(dir / "new.json"));
}

TEST(RecordIo, LoadRecordsSkipsOtherJsonAndSortsByPath) {
  const fs::path dir = test::scratch_dir("record_io_load");
  ResultRecord a = test::full_record();
  a.run = "a";
  ResultRecord b = test::minimal_record();
  b.run = "b";
  write_record(dir / "z" / "b.json", b);
  write_record(dir / "a.json", a);
  write_file_atomic(dir / "gold_sweep_20250101_000000.json", R"({"experiment": "gold_labels_sweep"})");
  write_file_atomic(dir / "list.json", "[1, 2]");
  write_file_atomic(dir / "notes.txt", "not json at all");
  auto records = load_records({dir});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].run, "a");
  EXPECT_EQ(records[1].run, "b");
  // A file named twice (directly and through its directory) is loaded once.
  EXPECT_EQ(load_records({dir, dir / "a.json"}).size(), 2u);
}

TEST(RecordIo, LoadRecordsNamesTheInvalidFile) {
  const fs::path dir = test::scratch_dir("record_io_bad");
  write_record(dir / "good.json", test::minimal_record());
  json::Value doc = to_json(test::minimal_record());
  doc["metrics"].set("n", "many");
  write_file_atomic(dir / "bad.json", json::dump(doc, 2));
  try {
    load_records({dir});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "bad.json").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("$.metrics.n"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_records({dir / "missing"}), Error);
}

// Analysis reads what it can: a record cut short, one with invalid UTF-8 (raw bytes a model
// generated, written by an older w2s) and one that does not validate are each left out with a
// note naming the file and why; the valid records are read.
TEST(RecordIo, LoadRecordFilesLeavesOutBadRecordsWithANote) {
  const fs::path dir = test::scratch_dir("record_io_left_out");
  write_record(dir / "good.json", test::minimal_record());
  const std::string text = json::dump(to_json(test::minimal_record()), 2);
  write_file_atomic(dir / "cut.json", text.substr(0, text.size() / 2));
  std::string raw_bytes = text;
  raw_bytes.insert(raw_bytes.find("\"run\": \"") + 8, "\xF0\x9F\x98");
  write_file_atomic(dir / "bytes.json", raw_bytes);
  json::Value doc = to_json(test::minimal_record());
  doc["metrics"].set("n", "many");
  write_file_atomic(dir / "invalid.json", json::dump(doc, 2));
  write_file_atomic(dir / "list.json", "[1, 2]");  // JSON, not a record: skipped without a note

  const LoadedRecords loaded = load_record_files({dir});
  ASSERT_EQ(loaded.records.size(), 1u);
  EXPECT_EQ(loaded.records[0].path, dir / "good.json");
  ASSERT_EQ(loaded.left_out.size(), 3u);
  EXPECT_CONTAINS(loaded.left_out[0], (dir / "bytes.json").string());
  EXPECT_CONTAINS(loaded.left_out[0], "UTF-8");
  EXPECT_CONTAINS(loaded.left_out[1], (dir / "cut.json").string());
  EXPECT_CONTAINS(loaded.left_out[2], (dir / "invalid.json").string());
  EXPECT_CONTAINS(loaded.left_out[2], "$.metrics.n");
  for (const auto& note : loaded.left_out) EXPECT_EQ(w2s::valid_utf8(note), note);
}
