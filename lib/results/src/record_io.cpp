// Reading and writing result files, and the accuracy bookkeeping every writer shares.
#include <algorithm>

#include <fmt/format.h>

#include "w2s/results.h"
#include "w2s/utf8.h"

namespace w2s::results {
namespace fs = std::filesystem;

void write_record(const fs::path& path, ResultRecord record) {
  if (record.created_at.empty()) record.created_at = now_iso8601();
  if (record.tool_version.empty()) record.tool_version = tool_version();
  if (record.tool_git_commit.empty()) record.tool_git_commit = tool_git_commit();
  const json::Value doc = to_json(record);
  if (auto problems = validate(doc); !problems.empty()) {
    std::string msg = fmt::format("refusing to write invalid result record {} ({} problem{}):", path.string(),
                                  problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  write_file_atomic(path, json::dump(doc, 2) + "\n");
}

ResultRecord read_record(const fs::path& path) { return from_json(json::parse_file(path), path.string()); }

namespace {

// The *.json files under `paths`, sorted, each once.
std::vector<fs::path> json_files(const std::vector<fs::path>& paths) {
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    } else if (fs::is_regular_file(p)) {
      files.push_back(p);
    } else {
      throw Error("no such result file or directory: " + p.string());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

// The record in `file`; nullopt when the file is JSON but not a w2s record. Throws w2s::Error
// naming the file when it is not JSON or not a valid record.
std::optional<ResultRecord> record_in(const fs::path& file) {
  json::Value doc = json::parse_file(file);
  if (!doc.is_object() || !doc.contains("schema_version")) return std::nullopt;
  return from_json(doc, file.string());
}

}  // namespace

LoadedRecords load_record_files(const std::vector<fs::path>& paths) {
  LoadedRecords loaded;
  for (const auto& f : json_files(paths)) {
    try {
      if (auto record = record_in(f)) loaded.records.push_back({f, std::move(*record)});
    } catch (const Error& e) {
      // Messages name the file already (parse errors with line and column).
      const std::string why = valid_utf8(e.what());
      log::warn("left out of the analysis: {}", why);
      loaded.left_out.push_back("left out " + why);
    }
  }
  return loaded;
}

std::vector<ResultRecord> load_records(const std::vector<fs::path>& paths) {
  std::vector<ResultRecord> records;
  for (const auto& f : json_files(paths))
    if (auto record = record_in(f)) records.push_back(std::move(*record));
  return records;
}

Metrics accuracy_metrics(const std::vector<Prediction>& predictions) {
  Metrics m;
  m.n = static_cast<std::int64_t>(predictions.size());
  std::int64_t answered = 0, answered_correct = 0;
  for (const auto& p : predictions) {
    if (p.correct) ++m.num_correct;
    if (p.error) {
      ++m.failed;
    } else if (p.prediction.empty()) {
      ++m.parse_failures;
    } else {
      ++answered;
      if (p.correct) ++answered_correct;
    }
  }
  m.accuracy = m.n ? static_cast<double>(m.num_correct) / static_cast<double>(m.n) : 0.0;
  if (answered != m.n && answered > 0)
    m.accuracy_answered = static_cast<double>(answered_correct) / static_cast<double>(answered);
  return m;
}

}  // namespace w2s::results
