// Internal: the registries of named units (losses.cpp, probes.cpp) are arrays of rows with a
// `kind` (an enum value) and a `name`; these read them.
#pragma once

#include <cstddef>
#include <string>

#include "w2s/options.h"

namespace w2s::train {

// The row of `kind`.
template <class Row, std::size_t N, class E>
const Row& registry_row(const Row (&rows)[N], E kind) {
  for (const auto& row : rows)
    if (row.kind == kind) return row;
  throw Error("internal: a registry misses one of its enum's values");
}

// The names of the rows, in registry order, for parsing and help.
template <class E, class Row, std::size_t N>
options::NameTable<E> registry_names(std::string what, const Row (&rows)[N]) {
  options::NameTable<E> table{std::move(what), {}};
  for (const auto& row : rows) table.names.emplace_back(row.kind, row.name);
  return table;
}

}  // namespace w2s::train
