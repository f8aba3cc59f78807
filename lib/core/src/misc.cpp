// Time, version, names, small numerics and the stderr progress line.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "w2s/core.h"

#ifndef W2S_VERSION
#define W2S_VERSION "0.0.0"
#endif
#ifndef W2S_GIT_COMMIT
#define W2S_GIT_COMMIT "unknown"
#endif

namespace w2s {

namespace {
std::string format_now(const char* format, bool utc) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  if (utc) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
}  // namespace

std::string now_iso8601() { return format_now("%Y-%m-%dT%H:%M:%SZ", true); }
std::string local_timestamp() { return format_now("%Y%m%d_%H%M%S", false); }

double monotonic_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

const char* tool_version() { return W2S_VERSION; }
const char* tool_git_commit() { return W2S_GIT_COMMIT; }

std::string model_slug(std::string_view model_id) {
  std::string s(model_id);
  for (char& c : s)
    if (c == '/') c = '_';
  return s;
}

std::string model_short_name(std::string_view model_id) {
  auto pos = model_id.rfind('/');
  return std::string(pos == std::string_view::npos ? model_id : model_id.substr(pos + 1));
}

namespace {

// The names `id` may be shown as, one per level, shortest first; the last is the id itself. Every
// id has the same levels (a level may repeat the previous name), so ids that clash move up together.
std::vector<std::string> name_candidates(const std::string& id, bool drop_chat_suffix) {
  const std::string name = model_short_name(id);
  std::vector<std::string> out;
  if (drop_chat_suffix) {
    std::string without_suffix = name;
    for (std::string_view suffix : {"-instruct", "-Instruct", "-chat", "-Chat"})
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        without_suffix = name.substr(0, name.size() - suffix.size());
        break;
      }
    out.push_back(without_suffix);
  }
  out.push_back(name);
  out.push_back(id);
  return out;
}

}  // namespace

ModelNames::ModelNames(const std::vector<std::string>& model_ids, bool drop_chat_suffix) {
  std::map<std::string, std::vector<std::string>> candidates;
  std::map<std::string, std::size_t> level;  // index into the id's candidates
  for (const auto& id : model_ids)
    if (candidates.emplace(id, name_candidates(id, drop_chat_suffix)).second) level[id] = 0;
  // Every id whose name another id shares moves one step towards its whole id, until no name is
  // shared. Whole ids differ, so this ends.
  for (bool moved = true; moved;) {
    moved = false;
    std::map<std::string, std::vector<std::string>> ids_by_name;
    for (const auto& [id, names] : candidates) ids_by_name[names[level[id]]].push_back(id);
    for (const auto& [name, ids] : ids_by_name) {
      if (ids.size() < 2) continue;
      for (const auto& id : ids)
        if (level[id] + 1 < candidates[id].size()) {
          ++level[id];
          moved = true;
        }
    }
  }
  for (const auto& [id, names] : candidates) names_[id] = names[level[id]];
}

std::string ModelNames::operator()(const std::string& model_id) const {
  const auto it = names_.find(model_id);
  return it == names_.end() ? model_id : it->second;
}

double linear_quantile(std::vector<double> values, double q) {
  if (values.empty()) throw Error("quantile of an empty set");
  if (!(q >= 0.0 && q <= 1.0)) throw Error(fmt::format("quantile {} is outside [0, 1]", q));
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(position));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (position - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_list(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) part.remove_prefix(1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  if (s < 60) return fmt::format("{:.1f} s", s);
  auto t = static_cast<long>(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

// ---------------------------------------------------------------------------------------------
ProgressLine::ProgressLine(std::string label, double plain_interval_s)
    : label_(std::move(label)), interval_(plain_interval_s), tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressLine::~ProgressLine() {
  if (tty_ && !finished_ && last_draw_ > -1e9) std::fputc('\n', stderr);
}

void ProgressLine::update(std::string_view status) {
  double now = monotonic_seconds();
  if (now - last_draw_ < (tty_ ? 0.1 : interval_)) return;
  last_draw_ = now;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s %.*s", label_.c_str(), static_cast<int>(status.size()), status.data());
  else
    std::fprintf(stderr, "%s %.*s\n", label_.c_str(), static_cast<int>(status.size()), status.data());
  std::fflush(stderr);
}

void ProgressLine::finish(std::string_view status) {
  if (finished_) return;
  finished_ = true;
  std::fprintf(stderr, "%s%s %.*s\n", tty_ ? "\r\033[K" : "", label_.c_str(), static_cast<int>(status.size()),
               status.data());
  std::fflush(stderr);
}

}  // namespace w2s
