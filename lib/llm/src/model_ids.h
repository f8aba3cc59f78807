// Model ids against the endpoint's GET /models list: an id the endpoint does not list (a typo, a
// short alias such as "70B") fails before any request is sent, with the closest listed ids.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace w2s::llm {

// Up to `n` listed ids closest to `id`: those containing it or its last path segment
// (case-insensitive; shortest first), then the nearest by edit distance (case-insensitive), when
// near enough to be a typo (at most a third of the id's length, at least 3).
std::vector<std::string> closest_model_ids(const std::string& id, const std::set<std::string>& listed,
                                           std::size_t n = 3);

// "" when every id of `ids` is listed; otherwise an error message naming each unknown id with its
// suggestions, the list's URL, and that nothing was sent.
std::string unknown_model_ids_message(const std::vector<std::string>& ids, const std::set<std::string>& listed,
                                      const std::string& models_url);

}  // namespace w2s::llm
