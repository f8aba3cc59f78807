#include "model_ids.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "w2s/core.h"

namespace w2s::llm {
namespace {

// Levenshtein distance (insertions, deletions, substitutions cost 1).
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> closest_model_ids(const std::string& id, const std::set<std::string>& listed, std::size_t n) {
  const std::string wanted = ascii_lower(id);
  const std::string last_segment = wanted.substr(wanted.rfind('/') == std::string::npos ? 0 : wanted.rfind('/') + 1);
  std::vector<std::string> containing;
  std::vector<std::pair<std::size_t, std::string>> near;
  const std::size_t typo_limit = std::max<std::size_t>(3, wanted.size() / 3);
  for (const std::string& candidate : listed) {
    const std::string c = ascii_lower(candidate);
    if (!last_segment.empty() && c.find(last_segment) != std::string::npos) {
      containing.push_back(candidate);
      continue;
    }
    if (const std::size_t d = edit_distance(wanted, c); d <= typo_limit) near.emplace_back(d, candidate);
  }
  std::stable_sort(containing.begin(), containing.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  std::sort(near.begin(), near.end());
  std::vector<std::string> out;
  for (const auto& c : containing)
    if (out.size() < n) out.push_back(c);
  for (const auto& [d, c] : near)
    if (out.size() < n) out.push_back(c);
  return out;
}

std::string unknown_model_ids_message(const std::vector<std::string>& ids, const std::set<std::string>& listed,
                                      const std::string& models_url) {
  std::vector<std::string> unknown;
  for (const auto& id : ids)
    if (!listed.count(id) && std::find(unknown.begin(), unknown.end(), id) == unknown.end()) unknown.push_back(id);
  if (unknown.empty()) return "";
  std::string message = fmt::format("unknown model id{} (not among the {} models {} lists):", unknown.size() > 1 ? "s" : "",
                                    listed.size(), models_url);
  for (const auto& id : unknown) {
    const auto suggestions = closest_model_ids(id, listed);
    message += suggestions.empty() ? fmt::format(" '{}' (no close match);", id)
                                   : fmt::format(" '{}' (did you mean {}?);", id, fmt::join(suggestions, " or "));
  }
  message.back() = '.';
  return message + " Nothing was sent";
}

}  // namespace w2s::llm
