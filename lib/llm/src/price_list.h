// The endpoint's model list and prices (GET /models, fetched once on first use), and the bounds the
// budget and the estimates are made of.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "w2s/llm.h"

namespace w2s::llm {

// What GET /models said: every model id it lists, and the prices of those that have one.
struct ModelList {
  bool listed = false;    // false: the list could not be fetched or read (`problem` says why)
  std::string problem;
  std::set<std::string> ids;
  std::map<std::string, Pricing> prices;
};

class PriceList {
 public:
  // `load` fetches the list (GET /models); it is called once, on first use.
  using Loader = std::function<ModelList()>;
  // `assumed`: the price of models without one (--assume-price), for bounds and estimates only.
  explicit PriceList(Loader load, std::optional<Pricing> assumed = std::nullopt)
      : load_(std::move(load)), assumed_(assumed) {}

  const ModelList& models();
  const std::map<std::string, Pricing>& all() { return models().prices; }
  // The endpoint's price of a model; nullptr when it lists none.
  const Pricing* find(const std::string& model);
  // The price that bounds a model's cost: the endpoint's, else the assumed one; nullptr when neither.
  const Pricing* bound(const std::string& model);
  // What an answer of a model priced only by assumption costs at that price (0 otherwise).
  double assumed_cost(const std::string& model, const Completion& c);

  // Completion tokens a request may produce: its max_tokens, else the model's
  // max_completion_tokens, else the context left after the prompt, else 4096.
  static std::int64_t completion_bound(const ChatRequest& request, const Pricing& price, std::int64_t prompt_tokens);

  // What a request may cost at most (0 for a model without pricing). The prompt is bounded by its
  // byte count (a token is at least one byte), so the bound holds for any tokenizer.
  double worst_case_usd(const ChatRequest& request);

  // Adds a request to a per-model estimate (prompt tokens estimated as characters / 4).
  void add_estimate(std::map<std::string, ModelEstimate>& estimate, const ChatRequest& request, bool cached);
  // The upper bound of add_estimate summed over `requests` (none cached).
  double estimated_upper_bound_usd(const std::vector<const ChatRequest*>& requests);

 private:
  Loader load_;
  std::optional<Pricing> assumed_;
  std::optional<ModelList> models_;
};

}  // namespace w2s::llm
