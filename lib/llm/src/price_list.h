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
  // byte count (a token is at least one byte), so the bound holds for any tokenizer; the price is
  // the higher of the bounding price and the one the model's answers were billed at (observe()).
  double worst_case_usd(const ChatRequest& request);

  // A cost the server reported for `prompt_tokens` + `completion_tokens` of `model` (usage.cost or
  // GET /generation). The first one confirms the model's price; one above every earlier price
  // raises the price worst cases are reckoned at (price_factor), and when it is more than 1 % above
  // a confirmed price, it is unconfirmed again until an answer shows no further rise. Returns the
  // new factor when this cost raised it by more than 1 % (the caller warns).
  std::optional<double> observe(const std::string& model, std::int64_t prompt_tokens, std::int64_t completion_tokens,
                                double reported_usd);
  // Whether the model's price is confirmed by a reported cost (see observe()).
  bool confirmed(const std::string& model) const;
  // How many times the bounding price the model's answers were billed at, at least 1.
  double price_factor(const std::string& model) const;

  // Adds a request to a per-model estimate (prompt tokens estimated as characters / 4).
  void add_estimate(std::map<std::string, ModelEstimate>& estimate, const ChatRequest& request, bool cached);
  // The upper bound of add_estimate summed over `requests` (none cached).
  double estimated_upper_bound_usd(const std::vector<const ChatRequest*>& requests);

 private:
  struct Observed {
    bool seen = false;       // a reported cost came back
    bool confirmed = false;  // and no later one rose above it by more than 1 %
    double factor = 1.0;     // the highest reported cost / cost at the bounding price
  };

  Loader load_;
  std::optional<Pricing> assumed_;
  std::optional<ModelList> models_;
  std::map<std::string, Observed> observed_;
};

}  // namespace w2s::llm
