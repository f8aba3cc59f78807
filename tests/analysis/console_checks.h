// Checks on the console tables of `w2s analyze`.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace w2s::test {

// The lines of `table` from the `nth` line starting with `header` to the next blank line.
inline std::vector<std::string> table_lines(const std::string& table, const std::string& header, int nth = 1) {
  std::vector<std::string> lines;
  std::size_t at = table.find("\n" + header);
  for (int i = 1; i < nth && at != std::string::npos; ++i) at = table.find("\n" + header, at + 1);
  EXPECT_NE(at, std::string::npos) << header << " missing from\n" << table;
  if (at == std::string::npos) return lines;
  for (++at; at < table.size();) {
    const std::size_t end = std::min(table.find('\n', at), table.size());
    if (end == at) break;
    lines.push_back(table.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

// Every row starts its left-aligned columns and ends its right-aligned columns where the header does.
inline void expect_aligned(const std::vector<std::string>& lines, const std::vector<std::string>& left,
                           const std::vector<std::string>& right) {
  ASSERT_GE(lines.size(), 3u);
  const std::string& header = lines.front();
  for (const auto& row : lines) {
    for (const auto& column : left) {
      const std::size_t start = header.find(column);
      ASSERT_NE(start, std::string::npos) << column;
      ASSERT_LT(start, row.size()) << row;
      EXPECT_TRUE(row[start] != ' ' && (start == 0 || row[start - 1] == ' ')) << column << " in\n" << row;
    }
    for (const auto& column : right) {
      const std::size_t end = header.find(column) + column.size();
      ASSERT_LE(end, row.size()) << row;
      EXPECT_TRUE(row[end - 1] != ' ' && (end == row.size() || row[end] == ' ')) << column << " in\n" << row;
    }
  }
}


}  // namespace w2s::test
