// The client's books and its hard cap (--max-cost): what was spent, per model and in total
// (booked from the answers, plus what GET /generation reconciled of lost attempts); what attempts
// whose cost never reached us may have cost (possibly billed, at their worst case); and what the
// requests in flight may still cost (reserved at their worst case). A request is dispatched only
// when
//     spent + possibly_billed + reserved + its worst case <= cap.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "w2s/llm.h"

namespace w2s::llm {

class Budget {
 public:
  explicit Budget(std::optional<double> cap_usd) : cap_(cap_usd) {}

  // Whether a request whose worst case is `worst_usd` may be sent now. A worst case of 0 (a model
  // without pricing) cannot be reserved for: such requests are sent until the spend reaches the cap.
  bool allows(double worst_usd) const;
  // "budget cap reached: ..." for a request that allows() refuses.
  std::string refusal(double worst_usd) const;

  // In-flight reservations.
  void reserve(double usd) { reserved_ += usd; }
  void release(double usd) { reserved_ -= usd; }
  void release_all() { reserved_ = 0.0; }

  // One finished request (sent or replayed): requests, cache hits, failures, tokens.
  void count(const std::string& model, const Completion& c);
  // Money the server confirmed, by where the figure came from ("usage", "pricing", "generation";
  // "none" counts a request whose cost stayed unknown).
  void charge(const std::string& model, double usd, const std::string& source);
  // Bring-your-own-key: what the upstream provider charged (in the totals; in the spend only when
  // the caller counted it into `charge`).
  void note_upstream_cost(const std::string& model, double usd) { totals_[model].upstream_cost_usd += usd; }
  // An attempt that may have been billed without a cost we could read, at its worst case: abandoned
  // at the request timeout, its connection dropped after the request was sent, a 200 whose body
  // could not be read, a 200 without usage that was retried, a body over --max-response-mib; or an
  // answer of a model priced only by --assume-price that reported no cost, at that price.
  enum class Unseen { TimedOut, Dropped, Unreadable, NoUsage, Oversize, Unpriced };
  void charge_possibly_billed(const std::string& model, double usd, Unseen why);
  // GET /generation found what a possibly billed attempt (booked at `worst_usd`) really cost.
  void reconcile(const std::string& model, double worst_usd, double booked_usd);

  bool capped() const { return cap_.has_value(); }
  double spent() const { return spent_; }
  double possibly_billed() const { return possibly_billed_; }
  const std::map<std::string, ModelTotals>& totals() const { return totals_; }

 private:
  std::optional<double> cap_;
  double spent_ = 0.0;
  double possibly_billed_ = 0.0;
  double reserved_ = 0.0;
  std::map<std::string, ModelTotals> totals_;
};

}  // namespace w2s::llm
