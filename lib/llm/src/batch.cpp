// The batch loop. One libcurl multi handle driven on the calling thread: the loop dispatches while
// the concurrency window, the requests-per-minute spacing and the budget allow, reads finished
// transfers, classifies them (retry_policy.cpp), and schedules retries.
#include "batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <queue>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "internal.h"
#include "model_ids.h"
#include "retry_policy.h"
#include "tolerant_json.h"

namespace w2s::llm {
namespace {

// One distinct request of a batch (duplicates of the same cache key ride along with the first).
struct Job {
  std::size_t index = 0;  // into the batch's requests
  std::string key;        // cache key
  std::string body;       // wire body, serialised on first dispatch
  int attempts = 0;
  double reserved_usd = 0.0;
  double first_sent = 0.0;
  std::vector<std::size_t> duplicates;
  std::optional<int> top_logprobs_sent;  // lowered for a server that caps top_logprobs
  bool top_logprobs_retried = false;     // the one automatic retry after a 400 naming it
};

// Connection failures (refused, unknown host) before the endpoint ever answered after which the
// client gives up: the endpoint is unreachable, and retrying for minutes would not help.
constexpr int kUnreachableAfter = 3;

bool is_connect_failure(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT;
}

struct Transfer {
  std::size_t job = 0;
  double started = 0.0;
  http::Exchange exchange;
};

class Batch {
 public:
  Batch(ClientState& client, const std::vector<ChatRequest>& requests, const ResultCallback& on_result)
      : c_(client), o_(client.options), requests_(requests), on_result_(on_result), results_(requests.size()) {}

  std::vector<Completion> run() {
    started_ = monotonic_seconds();
    const double possibly_billed_before = c_.budget.possibly_billed();
    replay_cached_and_plan_jobs();
    check_model_ids();
    if (o_.dry_run) {
      estimate_dry_run();
      return std::move(results_);
    }
    if (jobs_.empty()) return std::move(results_);
    if (c_.budget.capped()) refuse_unbounded_models();
    c_.key_guard.check_before_batch([&] {
      std::vector<const ChatRequest*> open;
      for (const Job& job : jobs_) open.push_back(&request_of(job));
      return c_.prices.estimated_upper_bound_usd(open);
    });
    transfer_until_done();
    reconcile_costs();
    if (progress_) progress_->finish(progress_status());
    warn_possibly_billed(c_.budget.possibly_billed() - possibly_billed_before - assumed_usd_);
    return std::move(results_);
  }

  ~Batch() { abandon_in_flight(); }

 private:
  const ChatRequest& request_of(const Job& job) const { return requests_[job.index]; }

  // The request with top_logprobs lowered to what its model's server accepts, once known. The
  // cache key stays that of the request as asked.
  ChatRequest request_as_sent(Job& job) const {
    ChatRequest r = request_of(job);
    auto cap = c_.top_logprobs_cap.find(r.model);
    if (r.logprobs && r.top_logprobs && cap != c_.top_logprobs_cap.end() && *r.top_logprobs > cap->second) {
      r.top_logprobs = cap->second;
      job.top_logprobs_sent = cap->second;
    }
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // The steps of run()
  // -------------------------------------------------------------------------------------------

  // Cache hits are delivered at once; every other distinct request becomes a job.
  void replay_cached_and_plan_jobs() {
    std::unordered_map<std::string, std::size_t> job_by_key;
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      const ChatRequest& r = requests_[i];
      std::string key = cache_key(o_.base_url, r);
      if (c_.cache && !o_.refresh) {
        if (std::optional<json::Value> hit = c_.cache->get(key)) {
          Completion replay = detail::completion_from_cache(*hit);
          if (o_.dry_run) c_.prices.add_estimate(c_.dry_run_estimate, r, true);
          c_.ledger.record(r.model, replay, key, "ok");
          deliver(i, std::move(replay));
          continue;
        }
      }
      if (c_.cache) {
        auto [it, inserted] = job_by_key.emplace(key, jobs_.size());
        if (!inserted) {
          jobs_[it->second].duplicates.push_back(i);
          continue;
        }
      }
      Job job;
      job.index = i;
      job.key = std::move(key);
      jobs_.push_back(std::move(job));
      ready_.push_back(jobs_.size() - 1);
    }
  }

  // Every model of the requests still to send must be one the endpoint lists (GET /models): a typo
  // or an alias fails here, before anything is paid, with the closest ids. An endpoint without a
  // readable list gets one warning, and the ids are sent as given.
  void check_model_ids() {
    if (jobs_.empty()) return;
    const ModelList& list = c_.prices.models();
    const std::string models_url = c_.endpoint->base_url() + "/models";
    if (!list.listed) {
      if (!c_.model_ids_unchecked_warned)
        log::warn("cannot check the model ids: GET {}: {}; sending them as given", models_url, list.problem);
      c_.model_ids_unchecked_warned = true;
      return;
    }
    std::vector<std::string> ids;
    for (const Job& job : jobs_) ids.push_back(request_of(job).model);
    if (const std::string unknown = unknown_model_ids_message(ids, list.ids, models_url); !unknown.empty())
      throw Error(unknown);
  }

  // --max-cost is a hard cap only where each request has a worst case: a model the endpoint lists
  // no price for needs --assume-price. Checked before anything is sent.
  void refuse_unbounded_models() {
    std::vector<std::string> unpriced;
    for (const Job& job : jobs_) {
      const std::string& model = request_of(job).model;
      if (!c_.prices.bound(model) && std::find(unpriced.begin(), unpriced.end(), model) == unpriced.end())
        unpriced.push_back(model);
    }
    if (unpriced.empty()) return;
    throw Error(fmt::format(
        "--max-cost cannot bound the cost of {}: {} lists no price for {}. Pass --assume-price IN,OUT (USD per "
        "million prompt,completion tokens) as the worst case, or run without --max-cost; nothing was sent",
        fmt::join(unpriced, ", "), c_.endpoint->base_url() + "/models", unpriced.size() == 1 ? "it" : "them"));
  }

  void estimate_dry_run() {
    for (Job& job : jobs_) {
      c_.prices.add_estimate(c_.dry_run_estimate, request_of(job), false);
      for (std::size_t dup : job.duplicates) c_.prices.add_estimate(c_.dry_run_estimate, requests_[dup], true);
      fail(job, "dry run: not sent", 0);
    }
  }

  void transfer_until_done() {
    if (o_.progress) progress_ = std::make_unique<ProgressLine>(fmt::format("llm {} requests", requests_.size()));
    c_.key_guard.start_batch();
    double last_progress = 0.0;
    while (!all_answered()) {
      double now = monotonic_seconds();
      release_due_retries(now);
      if (!c_.stop_reason.empty()) fail_everything_queued();
      dispatch(now);
      const bool completed_any = read_finished();
      if (completed_any) recheck_key();
      now = monotonic_seconds();
      if (progress_ && now - last_progress >= 0.1) {
        last_progress = now;
        progress_->update(progress_status());
      }
      if (all_answered() || completed_any) continue;
      wait_for_activity(now);
    }
  }

  // The held-back completions (no cost yet) get theirs from GET /generation, then each is billed,
  // logged and delivered exactly once.
  void reconcile_costs() {
    if (cost_pending_.empty()) return;
    std::vector<Completion*> completions;
    for (auto& [id, completion] : cost_pending_) completions.push_back(&completion);
    c_.reconciler.fill_costs(completions);
    auto pending = std::move(cost_pending_);
    cost_pending_.clear();
    awaiting_cost_ = 0;
    for (auto& [id, completion] : pending) {
      Job& job = jobs_[id];
      c_.budget.release(job.reserved_usd);
      job.reserved_usd = 0.0;
      if (c_.cache && completion.cost_source == "generation")  // a replay then knows what it cost
        c_.cache->put(job.key, request_of(job).model, detail::completion_to_cache(completion));
      charge(request_of(job).model, completion);
      c_.ledger.record(request_of(job).model, completion, job.key, "ok");
      finish(job, std::move(completion));
    }
  }

  void warn_possibly_billed(double usd) const {
    if (timed_out_ == 0 && unreadable_ == 0) return;
    std::string what;
    if (timed_out_ > 0)
      what = fmt::format("{} attempt(s) timed out (--request-timeout {:.0f} s)", timed_out_, o_.request_timeout_s);
    if (unreadable_ > 0)
      what += fmt::format("{}{} answer(s) came with HTTP 200 and a body that could not be read",
                          what.empty() ? "" : ", ", unreadable_);
    const std::string bound = usd > 0 ? fmt::format("up to ${:.6f}", usd)
                                      : std::string("an unknown amount (no /models price)");
    log::warn("{}: the server may have billed them; {} more than the reported cost (ledger lines with status "
              "\"timeout\" or \"unreadable\"), counted against --max-cost",
              what, bound);
  }

  // -------------------------------------------------------------------------------------------
  // The transfer loop's steps
  // -------------------------------------------------------------------------------------------

  bool all_answered() const { return finished_ + awaiting_cost_ >= requests_.size(); }

  void release_due_retries(double now) {
    while (!delayed_.empty() && delayed_.top().first <= now) {
      ready_.push_front(delayed_.top().second);  // retries go first: they are the oldest
      delayed_.pop();
    }
  }

  // After a stop (401, 402 without Retry-After, the key guard): every queued or waiting job fails
  // with the reason; those in flight complete.
  void fail_everything_queued() {
    while (!delayed_.empty()) {
      ready_.push_back(delayed_.top().second);
      delayed_.pop();
    }
    while (!ready_.empty()) {
      const std::size_t id = ready_.front();
      ready_.pop_front();
      fail(jobs_[id], c_.stop_reason, 0);
    }
  }

  void dispatch(double now) {
    while (!ready_.empty() && in_flight_.size() < c_.concurrency.window()) {
      if (o_.requests_per_minute > 0 && now < c_.next_dispatch_at) break;
      const std::size_t id = ready_.front();
      const double worst = c_.budget.capped() ? c_.prices.worst_case_usd(request_of(jobs_[id])) : 0.0;
      if (!c_.budget.allows(worst)) {
        if (!in_flight_.empty()) break;  // a completion may free part of the reservation
        ready_.pop_front();
        fail(jobs_[id], c_.budget.refusal(worst), 0);
        continue;
      }
      ready_.pop_front();
      start(id, worst);
      if (o_.requests_per_minute > 0)
        c_.next_dispatch_at = std::max(now, c_.next_dispatch_at) + 60.0 / o_.requests_per_minute;
    }
  }

  void start(std::size_t id, double worst) {
    Job& job = jobs_[id];
    if (job.body.empty()) job.body = json::dump(request_body(request_as_sent(job)));
    auto transfer = std::make_unique<Transfer>();
    transfer->job = id;
    transfer->started = monotonic_seconds();
    if (job.attempts == 0) job.first_sent = transfer->started;
    CURL* easy = c_.transfers.post(*c_.endpoint, c_.chat_url, job.body, transfer->exchange);
    in_flight_.emplace(easy, std::move(transfer));
    ++job.attempts;
    job.reserved_usd = worst;
    c_.budget.reserve(worst);
  }

  bool read_finished() {
    c_.transfers.perform();
    bool completed_any = false;
    CURLcode result = CURLE_OK;
    while (CURL* easy = c_.transfers.next_finished(&result)) {
      on_done(easy, result);
      completed_any = true;
    }
    return completed_any;
  }

  // Every key_recheck_every billed requests: GET /key again (key_guard.cpp).
  void recheck_key() {
    if (!c_.stop_reason.empty()) return;
    const std::string stop = c_.key_guard.recheck_if_due([&] { return worst_case_still_open(); });
    if (stop.empty()) return;
    c_.stop_reason = stop;
    log::error("{}; no further requests will be sent", c_.stop_reason);
  }

  void wait_for_activity(double now) {
    double wait_s = 0.1;
    if (!delayed_.empty()) wait_s = std::min(wait_s, delayed_.top().first - now);
    if (!ready_.empty() && o_.requests_per_minute > 0 && in_flight_.size() < c_.concurrency.window())
      wait_s = std::min(wait_s, c_.next_dispatch_at - now);
    c_.transfers.wait(static_cast<int>(std::ceil(std::max(0.0, wait_s) * 1000.0)));
  }

  // -------------------------------------------------------------------------------------------
  // A finished transfer
  // -------------------------------------------------------------------------------------------

  void on_done(CURL* easy, CURLcode code) {
    auto it = in_flight_.find(easy);
    std::unique_ptr<Transfer> t = std::move(it->second);
    in_flight_.erase(it);
    Job& job = jobs_[t->job];
    c_.budget.release(job.reserved_usd);
    job.reserved_usd = 0.0;
    const double now = monotonic_seconds();

    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    long sent_bytes = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    if (status > 0) c_.endpoint_answered = true;
    const std::optional<json::Value> body = code == CURLE_OK ? read_body(t->exchange.body, status) : std::nullopt;

    retry::AttemptOutcome outcome;
    outcome.transport_error = code;
    outcome.transport_message = transport_message(easy, code, t->exchange);
    c_.transfers.release(easy);
    outcome.status = code == CURLE_OK ? status : 0;
    outcome.headers = t->exchange.rate_limit_headers;
    outcome.body = body ? &*body : nullptr;
    const retry::Decision d = retry::classify(outcome, std::time(nullptr));

    if (is_connect_failure(code) || (code == CURLE_OPERATION_TIMEDOUT && sent_bytes == 0)) check_reachable(outcome);
    // We stopped waiting, not the server: once the request was sent it may still finish and bill
    // this attempt, and its cost never reaches us.
    if (code == CURLE_OPERATION_TIMEDOUT && sent_bytes > 0) book_unseen_cost(job, *t, now, Budget::Unseen::TimedOut);
    if (d.verdict == retry::Verdict::Success) {
      on_answer(t->job, *body, now);
      return;
    }
    if (status == 200 && body) book_billed_retry(job, *t, *body, now);
    // A 200 was generated, hence billed, whatever became of its body.
    if (status == 200 && !body && code != CURLE_OPERATION_TIMEDOUT)
      book_unseen_cost(job, *t, now, Budget::Unseen::Unreadable);
    if (d.slow_down) c_.concurrency.on_congestion(now);
    after_failed_attempt(t->job, d, status, now);
  }

  // curl's description of a failed transfer, with the system's error ("Connection refused"), and
  // for a timeout, which limit ran out: no connection within --connect-timeout, or no answer
  // within --request-timeout.
  std::string transport_message(CURL* easy, CURLcode code, const http::Exchange& exchange) const {
    std::string message = exchange.error[0] ? exchange.error : curl_easy_strerror(code);
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    if (code != CURLE_OK && os_errno != 0) {
      const std::string system = std::strerror(static_cast<int>(os_errno));
      if (message.find(system) == std::string::npos) message += " (" + system + ")";
    }
    if (code == CURLE_OPERATION_TIMEDOUT) {
      // curl says "Connection timed out" when the connect phase ran out and "Operation timed out"
      // for the whole transfer; its timing fields on a failed connect differ between versions
      // (7.88 leaves the pre-transfer time 0, 8.x does not).
      if (message.find("Connection timed out") != std::string::npos)
        message += fmt::format(" (no connection within --connect-timeout {:g} s)", o_.connect_timeout_s);
      else
        message += fmt::format(" (no answer within --request-timeout {:g} s)", o_.request_timeout_s);
    }
    return message;
  }

  // The JSON of a response; a 200 that a strict parser rejects is read tolerantly
  // (tolerant_json.h), so that a billed answer is not paid for again.
  std::optional<json::Value> read_body(const std::string& text, long status) const {
    try {
      return json::parse(text, "response");
    } catch (const Error&) {
    }
    if (status != 200) return std::nullopt;
    std::optional<TolerantRead> read = read_json_tolerantly(text);
    if (!read) return std::nullopt;
    std::string repairs;
    for (const auto& r : read->repairs) repairs += (repairs.empty() ? "" : ", ") + r;
    log::debug("a 200 response was not strict JSON; read it tolerantly ({})", repairs);
    return std::move(read->value);
  }

  // Connection refused or an unknown host, and the endpoint never answered: after a few such
  // failures in a row it is unreachable. Nothing was sent, nothing billed.
  void check_reachable(const retry::AttemptOutcome& outcome) {
    ++connect_failures_;
    if (c_.endpoint_answered ||
        static_cast<std::size_t>(connect_failures_) < std::min<std::size_t>(kUnreachableAfter, jobs_.size()))
      return;
    throw Error(c_.endpoint->scrub(fmt::format(
        "cannot reach {}: {} (after {} attempts to connect; the endpoint never answered, so nothing was sent or "
        "billed). Check --base-url and the network, then run the same command again",
        c_.chat_url, outcome.transport_message, connect_failures_)));
  }

  // A usable completion: priced, cached, then billed and delivered (or held back for its cost).
  void on_answer(std::size_t id, const json::Value& body, double now) {
    Job& job = jobs_[id];
    const ChatRequest& request = request_of(job);
    Completion c;
    c.ok = true;
    c.http_status = 200;
    assign_cost(c, detail::parse_completion(body, c), request.model);
    c.top_logprobs_sent = job.top_logprobs_sent;
    c.attempts = job.attempts;
    c.latency_s = now - job.first_sent;
    if (c_.cache) c_.cache->put(job.key, request.model, detail::completion_to_cache(c));
    c_.concurrency.on_success();
    c_.key_guard.count_billed();
    if (c.cost_source == "none" && !c.generation_id.empty() && c_.reconciler.can_reconcile()) {
      // Until its cost is known, an answer priced only by assumption stays reserved at that price.
      job.reserved_usd = c_.prices.assumed_cost(request.model, c);
      c_.budget.reserve(job.reserved_usd);
      awaiting_cost_ += 1 + job.duplicates.size();
      cost_pending_.emplace_back(id, std::move(c));
      return;
    }
    charge(request.model, c);
    c_.ledger.record(request.model, c, job.key, "ok");
    finish(job, std::move(c));
  }

  void charge(const std::string& model, const Completion& c) {
    c_.budget.charge(model, c.cost_usd, c.cost_source);
    c_.budget.note_upstream_cost(model, c.upstream_cost_usd);
    if (c.cost_source == "none")
      if (const double assumed = c_.prices.assumed_cost(model, c); assumed > 0) {
        c_.budget.charge_possibly_billed(model, assumed, Budget::Unseen::Unpriced);
        assumed_usd_ += assumed;
      }
  }

  // usage.cost is the truth; without it /models pricing x tokens; without that the cost is
  // unknown ("none") until reconciled.
  // A bring-your-own-key charge upstream is added when the user counts it.
  void assign_cost(Completion& c, const detail::ReportedCost& reported, const std::string& model) {
    c.upstream_cost_usd = reported.upstream;
    if (reported.cost) {
      c.cost_usd = *reported.cost + (o_.count_upstream_cost ? reported.upstream : 0.0);
      c.cost_source = "usage";
    } else if (const Pricing* p = c_.prices.find(model)) {
      c.cost_usd = c.prompt_tokens * p->prompt + c.completion_tokens * p->completion + p->request +
                   (o_.count_upstream_cost ? reported.upstream : 0.0);
      c.cost_source = "pricing";
    } else {
      c.cost_usd = o_.count_upstream_cost ? reported.upstream : 0.0;
      c.cost_source = "none";
    }
  }

  // An attempt that may have been billed without a cost we could read: its worst case counts
  // against the budget, with a ledger line.
  void book_unseen_cost(const Job& job, const Transfer& t, double now, Budget::Unseen why) {
    const ChatRequest& request = request_of(job);
    const double bound = c_.prices.worst_case_usd(request);
    c_.budget.charge_possibly_billed(request.model, bound, why);
    ++(why == Budget::Unseen::TimedOut ? timed_out_ : unreadable_);
    Completion lost;
    lost.attempts = job.attempts;
    lost.latency_s = now - t.started;
    lost.provider = "unknown";
    lost.cost_source = "unknown";
    c_.ledger.record(request.model, lost, job.key, why == Budget::Unseen::TimedOut ? "timeout" : "unreadable", bound);
  }

  // A 200 that we retry may still have been billed (an error during generation).
  void book_billed_retry(const Job& job, const Transfer& t, const json::Value& body, double now) {
    Completion billed;
    const detail::ReportedCost reported = detail::read_usage(body, billed);
    if (!reported.cost || *reported.cost <= 0) return;
    const ChatRequest& request = request_of(job);
    billed.cost_usd = *reported.cost + (o_.count_upstream_cost ? reported.upstream : 0.0);
    billed.upstream_cost_usd = reported.upstream;
    billed.cost_source = "usage";
    billed.provider = body.get_string("provider", "unknown");
    billed.generation_id = body.get_string("id");
    billed.attempts = job.attempts;
    billed.latency_s = now - t.started;
    charge(request.model, billed);
    c_.ledger.record(request.model, billed, job.key, "retried");
  }

  void after_failed_attempt(std::size_t id, const retry::Decision& d, long status, double now) {
    Job& job = jobs_[id];
    switch (d.verdict) {
      case retry::Verdict::Retry:
        if (job.attempts < o_.max_attempts) {
          delayed_.push({now + retry_wait(job, d), id});
        } else {
          fail(job, fmt::format("{} (gave up after {} attempts)", d.reason, job.attempts), status);
        }
        break;
      case retry::Verdict::StopDispatch:
        if (c_.stop_reason.empty()) {
          c_.stop_reason = c_.endpoint->scrub(d.reason);
          log::error("{}; no further requests will be sent", c_.stop_reason);
        }
        fail(job, d.reason, status);
        break;
      case retry::Verdict::FailRequest:
        if (status == 400 && retry_with_fewer_top_logprobs(id, d.reason)) break;
        fail(job, d.reason, status);
        break;
      case retry::Verdict::Success:
        break;
    }
  }

  // Seconds before the next attempt: the server's wait when it gave one (capped, and logged), else
  // the backoff.
  double retry_wait(const Job& job, const retry::Decision& d) {
    const retry::Backoff b{o_.backoff_base_s, o_.backoff_factor, o_.backoff_cap_s, o_.max_retry_after_s};
    const double wait = retry::retry_delay(b, job.attempts, d, c_.rng);
    if (d.server_wait_s && *d.server_wait_s > o_.max_retry_after_s && !capped_wait_) {
      capped_wait_ = fmt::format("the server asked to wait {:.0f} s ({}); waited {:g} s at most per attempt",
                                 *d.server_wait_s, d.server_wait_source, o_.max_retry_after_s);
      log::warn("{}", *capped_wait_);
    } else if (d.server_wait_s && monotonic_seconds() - last_wait_logged_ >= 5.0) {
      last_wait_logged_ = monotonic_seconds();
      log::info("{}: waiting {:.1f} s as the server asked ({})", c_.endpoint->scrub(d.reason), wait,
                d.server_wait_source);
    }
    log::debug("request {} attempt {}: {}; retrying in {:.3f} s", job.index, job.attempts, c_.endpoint->scrub(d.reason),
               wait);
    return wait;
  }

  // A 400 saying top_logprobs is above what the server allows: one more attempt with the largest
  // value allowed, and every later request for the model is sent with it (Completion::top_logprobs_sent).
  bool retry_with_fewer_top_logprobs(std::size_t id, const std::string& reason) {
    Job& job = jobs_[id];
    const ChatRequest& request = request_of(job);
    if (job.top_logprobs_retried || !request.logprobs || !request.top_logprobs) return false;
    const int sent = job.top_logprobs_sent.value_or(*request.top_logprobs);
    const std::optional<int> allowed = retry::allowed_top_logprobs(reason, sent);
    if (!allowed) return false;
    auto [cap, first] = c_.top_logprobs_cap.emplace(request.model, *allowed);
    if (!first) cap->second = std::min(cap->second, *allowed);
    if (first)
      log::warn("{} allows at most top_logprobs {} (the server said: {}); sending {} instead of {}", request.model,
                cap->second, c_.endpoint->scrub(reason), cap->second, *request.top_logprobs);
    job.top_logprobs_retried = true;
    job.body.clear();  // rebuilt with the lower value
    ready_.push_front(id);
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Results
  // -------------------------------------------------------------------------------------------

  void deliver(std::size_t index, Completion c) {
    c_.budget.count(requests_[index].model, c);
    results_[index] = std::move(c);
    const Completion& delivered = results_[index];
    ++finished_;
    if (delivered.cache_hit) ++cached_;
    if (!delivered.ok) ++failed_;
    if (on_result_) on_result_(index, delivered);
  }

  // Delivers a job's completion, and to its duplicates as $0 cache hits.
  void finish(Job& job, Completion c) {
    Completion shared = c;
    deliver(job.index, std::move(c));
    for (std::size_t dup : job.duplicates) {
      Completion copy = shared;
      if (copy.ok) {
        copy.cache_hit = true;
        copy.cost_usd = 0.0;
        copy.cost_source = "cache";
        c_.ledger.record(requests_[dup].model, copy, job.key, "ok");
      }
      deliver(dup, std::move(copy));
    }
  }

  void fail(Job& job, const std::string& reason, long status) {
    Completion c;
    c.ok = false;
    c.attempts = job.attempts;
    c.http_status = static_cast<int>(status);
    c.error = c_.endpoint->scrub(reason);
    c.provider = "unknown";
    finish(job, std::move(c));
  }

  // The worst case (the pre-batch /key check's measure) and number of the jobs not finished yet:
  // queued, waiting for a retry or in flight.
  std::pair<double, std::size_t> worst_case_still_open() {
    std::vector<const ChatRequest*> open;
    for (std::size_t id : ready_) open.push_back(&request_of(jobs_[id]));
    for (auto copy = delayed_; !copy.empty(); copy.pop()) open.push_back(&request_of(jobs_[copy.top().second]));
    for (const auto& [easy, t] : in_flight_) open.push_back(&request_of(jobs_[t->job]));
    return {c_.prices.estimated_upper_bound_usd(open), open.size()};
  }

  std::string progress_status() const {
    const double elapsed = std::max(1e-9, monotonic_seconds() - started_);
    const std::size_t total = results_.size();
    const double sent_rate = static_cast<double>(finished_ - cached_) / elapsed;
    const double rate = static_cast<double>(finished_) / elapsed;
    const std::string eta =
        rate > 0 && finished_ < total ? format_duration(static_cast<double>(total - finished_) / rate) : "-";
    return fmt::format("{}/{} done ({} cached, {} failed), {} in flight, {:.1f} req/s, ${:.4f}, ETA {}", finished_,
                       total, cached_, failed_, in_flight_.size(), sent_rate, c_.budget.spent(), eta);
  }

  void abandon_in_flight() {
    for (auto& [easy, t] : in_flight_) c_.transfers.release(easy);
    in_flight_.clear();
    c_.budget.release_all();
  }

  ClientState& c_;
  const ClientOptions& o_;
  const std::vector<ChatRequest>& requests_;
  const ResultCallback& on_result_;
  std::vector<Completion> results_;

  std::vector<Job> jobs_;
  std::deque<std::size_t> ready_;
  using Timed = std::pair<double, std::size_t>;
  std::priority_queue<Timed, std::vector<Timed>, std::greater<>> delayed_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> in_flight_;
  std::size_t finished_ = 0, cached_ = 0, failed_ = 0;
  // Successes without any cost yet, held back (neither billed, logged nor delivered) until
  // GET /generation has been asked; `awaiting_cost_` counts them with their duplicates.
  std::vector<std::pair<std::size_t, Completion>> cost_pending_;
  std::size_t awaiting_cost_ = 0;
  double started_ = 0.0;
  std::unique_ptr<ProgressLine> progress_;
  int connect_failures_ = 0;
  int timed_out_ = 0, unreadable_ = 0;  // attempts booked at their worst case in this batch
  double assumed_usd_ = 0.0;             // answers without a cost booked at --assume-price in this batch
  std::optional<std::string> capped_wait_;
  double last_wait_logged_ = -1e9;
};

}  // namespace

std::vector<Completion> run_batch(ClientState& client, const std::vector<ChatRequest>& requests,
                                  const ResultCallback& on_result) {
  return Batch(client, requests, on_result).run();
}

}  // namespace w2s::llm
