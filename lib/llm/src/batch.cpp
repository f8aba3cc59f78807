// The batch loop. One libcurl multi handle driven on the calling thread: the loop dispatches while
// the concurrency window, the requests-per-minute spacing and the budget allow, reads finished
// transfers, classifies them (retry_policy.cpp), and schedules retries.
#include "batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <queue>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "event_stream.h"
#include "internal.h"
#include "model_ids.h"
#include "retry_policy.h"
#include "tolerant_json.h"

namespace w2s::llm {
namespace {

// An attempt that may have been billed without a cost we could read (Budget::Unseen), booked at its
// worst case; reconciled with GET /generation after the batch when its response carried an id.
struct LostAttempt {
  double worst_usd = 0.0;
  std::string generation_id;
  std::optional<double> reconciled_usd;
};

// One distinct request of a batch (duplicates of the same cache key ride along with the first).
struct Job {
  std::size_t index = 0;  // into the batch's requests
  WireRequest wire;       // cache key and wire body
  std::string lowered_body;  // the body with top_logprobs lowered to a server's cap (top_logprobs_sent)
  int attempts = 0;
  double reserved_usd = 0.0;
  double first_sent = 0.0;
  std::vector<std::size_t> duplicates;
  std::optional<int> top_logprobs_sent;  // lowered for a server that caps top_logprobs
  bool top_logprobs_retried = false;     // the one automatic retry after a 400 naming it
  std::vector<LostAttempt> lost;
};

bool reconcilable(const Job& job) {
  return std::any_of(job.lost.begin(), job.lost.end(), [](const LostAttempt& a) { return !a.generation_id.empty(); });
}

// Connection failures (refused, unknown host) before the endpoint ever answered after which the
// client gives up: the endpoint is unreachable, and retrying for minutes would not help.
constexpr int kUnreachableAfter = 3;

// OpenRouter's free variants ("meta-llama/llama-3.3-70b-instruct:free"), under a daily request cap.
bool is_free_model(const std::string& model) {
  return model.size() > 5 && model.compare(model.size() - 5, 5, ":free") == 0;
}

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
    const double spent_before = c_.budget.spent();
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
    warn_free_model_cap();
    transfer_until_done();
    reconcile_costs();
    if (progress_) progress_->finish(progress_status());
    warn_possibly_billed(c_.budget.possibly_billed() - possibly_billed_before - assumed_usd_);
    report_spend(spent_before, possibly_billed_before);
    return std::move(results_);
  }

  ~Batch() { abandon_in_flight(); }

 private:
  const ChatRequest& request_of(const Job& job) const { return requests_[job.index]; }

  // The body to send: the request's own, or with top_logprobs lowered to what its model's server
  // accepts, once known. The cache key stays that of the request as asked.
  std::string_view body_to_send(Job& job) {
    const ChatRequest& r = request_of(job);
    const auto cap = c_.top_logprobs_cap.find(r.model);
    if (!r.logprobs || !r.top_logprobs || cap == c_.top_logprobs_cap.end() || *r.top_logprobs <= cap->second)
      return job.wire.body;
    if (job.top_logprobs_sent != cap->second) {
      ChatRequest lowered = r;
      lowered.top_logprobs = cap->second;
      job.lowered_body = wire_body(lowered);
      job.top_logprobs_sent = cap->second;
    }
    return job.lowered_body;
  }

  // -------------------------------------------------------------------------------------------
  // The steps of run()
  // -------------------------------------------------------------------------------------------

  // Cache hits are delivered at once; every other distinct request becomes a job.
  void replay_cached_and_plan_jobs() {
    std::unordered_map<std::string, std::size_t> job_by_key;
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      const ChatRequest& r = requests_[i];
      WireRequest wire = wire_request(o_.base_url, r);
      const std::string& key = wire.key;
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
      job.wire = std::move(wire);
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

  // The held-back completions (no cost yet, or lost attempts with a generation id) get their
  // costs from GET /generation, then each is billed, logged and delivered exactly once.
  void reconcile_costs() {
    if (cost_pending_.empty()) return;
    std::vector<Completion*> lookups;
    for (auto& [id, completion] : cost_pending_)
      if (completion.ok && completion.cost_source == "none" && !completion.generation_id.empty())
        lookups.push_back(&completion);
    // One probe per lost attempt that carried an id; `lost_of` says whose attempt it is.
    std::vector<Completion> probes;
    std::vector<std::pair<std::size_t, std::size_t>> lost_of;
    for (std::size_t k = 0; k < cost_pending_.size(); ++k) {
      const Job& job = jobs_[cost_pending_[k].first];
      for (std::size_t a = 0; a < job.lost.size(); ++a) {
        if (job.lost[a].generation_id.empty()) continue;
        Completion probe;
        probe.generation_id = job.lost[a].generation_id;
        probe.cost_source = "none";
        probes.push_back(std::move(probe));
        lost_of.emplace_back(k, a);
      }
    }
    for (Completion& probe : probes) lookups.push_back(&probe);
    c_.reconciler.fill_costs(lookups);
    for (std::size_t i = 0; i < probes.size(); ++i) {
      if (probes[i].cost_source != "generation") continue;
      Job& job = jobs_[cost_pending_[lost_of[i].first].first];
      LostAttempt& attempt = job.lost[lost_of[i].second];
      attempt.reconciled_usd = probes[i].cost_usd;
      ++reconciled_;
      c_.budget.reconcile(request_of(job).model, attempt.worst_usd, probes[i].cost_usd);
      reconciled_usd_ += probes[i].cost_usd;
      Completion line;
      line.provider = "unknown";
      line.cost_usd = probes[i].cost_usd;
      line.cost_source = "generation";
      line.generation_id = attempt.generation_id;
      c_.ledger.record(request_of(job).model, line, job.wire.key, "reconciled");
    }
    auto pending = std::move(cost_pending_);
    cost_pending_.clear();
    awaiting_cost_ = 0;
    for (auto& [id, completion] : pending) {
      Job& job = jobs_[id];
      c_.budget.release(job.reserved_usd);
      job.reserved_usd = 0.0;
      if (!completion.ok) {
        finish(job, std::move(completion));
        continue;
      }
      if (completion.cost_source == "generation") {
        observe_price(request_of(job).model, completion);
        // A replay then knows what it cost.
        if (c_.cache) c_.cache->put(job.wire.key, request_of(job).model, detail::completion_to_cache(completion));
      }
      book(job, std::move(completion));
    }
  }

  void warn_possibly_billed(double usd) const {
    const int lost = timed_out_ + dropped_ + unreadable_ + no_usage_ + oversize_;
    if (lost == 0) return;
    std::vector<std::string> what;
    if (timed_out_ > 0)
      what.push_back(fmt::format("{} attempt(s) timed out (--request-timeout {:.0f} s)", timed_out_, o_.request_timeout_s));
    if (dropped_ > 0) what.push_back(fmt::format("{} connection(s) dropped after the request was sent", dropped_));
    if (unreadable_ > 0)
      what.push_back(fmt::format("{} answer(s) came with HTTP 200 and a body that could not be read", unreadable_));
    if (no_usage_ > 0)
      what.push_back(fmt::format("{} HTTP 200 response(s) without usage were retried", no_usage_));
    if (oversize_ > 0)
      what.push_back(fmt::format("{} answer(s) were over --max-response-mib {:g}", oversize_, o_.max_response_mib));
    if (usd <= 1e-15 && reconciled_ == lost) {
      log::warn("{}: the server may have billed them; GET /generation found what each cost (${:.6f} in all, ledger "
                "lines with status \"reconciled\"), counted in the spend and against --max-cost",
                fmt::join(what, ", "), reconciled_usd_);
      return;
    }
    const std::string bound = usd > 1e-15 ? fmt::format("up to ${:.6f}", usd)
                                          : std::string("an unknown amount (no /models price)");
    log::warn("{}: the server may have billed them; {} more than the reported cost after reconciliation (ledger "
              "lines with status \"timeout\", \"dropped\", \"unreadable\", \"no_usage\" or \"oversize\"), "
              "counted against --max-cost",
              fmt::join(what, ", "), bound);
  }

  // The batch's money, in the three sums the books keep apart: booked (the answers' reported or
  // priced cost), reconciled (what GET /generation said lost attempts cost) and possibly billed
  // (the worst case of lost attempts nothing reconciled).
  void report_spend(double spent_before, double possibly_billed_before) const {
    const double booked = c_.budget.spent() - spent_before - reconciled_usd_;
    const double possibly = c_.budget.possibly_billed() - possibly_billed_before;
    if (reconciled_usd_ == 0 && possibly <= 0) return;
    log::info("spend of this batch: booked ${:.6f}, reconciled ${:.6f} (GET /generation), possibly billed up to "
              "${:.6f}",
              booked, reconciled_usd_, std::max(0.0, possibly));
  }

  // OpenRouter's free models (":free") allow 50 requests a day to a key that never bought credits,
  // 1000 to one that did: a batch planning more stops at the cap, so it is said before it starts.
  void warn_free_model_cap() {
    std::size_t planned = 0;
    for (const Job& job : jobs_)
      if (is_free_model(request_of(job).model)) ++planned;
    if (planned == 0 || !c_.key_guard.speaks_openrouter()) return;
    std::optional<KeyInfo> key;
    try {
      key = c_.key_guard.key_info();
    } catch (const Error&) {
      return;  // a rejected key stops the batch at its first request, with the reason
    }
    if (!key) return;
    const std::int64_t per_day = key->is_free_tier ? 50 : 1000;
    count_free_request(0);  // a new UTC day starts the count again
    const std::int64_t left = std::max<std::int64_t>(0, per_day - c_.free_sent_today);
    if (static_cast<std::int64_t>(planned) <= left) return;
    log::warn("{} requests to free (\":free\") models are planned, more than the {} this key can still send to "
              "them today at most ({} a day for {}; {} sent by this run today); the batch will stop at the daily "
              "cap, naming when it resets. Answers received are cached: running the same command again after the "
              "reset sends only the missing requests",
              planned, left, per_day, key->is_free_tier ? "a key that never bought credits" : "a key with credits",
              c_.free_sent_today);
  }

  // Counts `n` requests to free models on today's UTC day (OpenRouter's daily caps reset at 00:00 UTC).
  void count_free_request(std::int64_t n = 1) {
    const std::int64_t today = static_cast<std::int64_t>(std::time(nullptr)) / 86400;
    if (today != c_.free_day) {
      c_.free_day = today;
      c_.free_sent_today = 0;
    }
    c_.free_sent_today += n;
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
      const std::string& model = request_of(jobs_[id]).model;
      // Under --max-cost, a model whose price no reported cost has confirmed yet (or that rose
      // since) has one request in flight: the cap can be passed by that one request's cost at most.
      if (c_.budget.capped() && !c_.prices.confirmed(model) && in_flight_by_model_[model] > 0) break;
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
    auto transfer = std::make_unique<Transfer>();
    transfer->job = id;
    transfer->started = monotonic_seconds();
    if (job.attempts == 0) job.first_sent = transfer->started;
    const bool gzip = http::wants_gzip(c_.endpoint->loopback(), request_of(job));
    CURL* easy = c_.transfers.post(body_to_send(job), transfer->exchange, gzip);
    in_flight_.emplace(easy, std::move(transfer));
    ++in_flight_by_model_[request_of(job).model];
    if (is_free_model(request_of(job).model)) count_free_request();
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
    // Nothing needs a turn of the loop on a clock but the progress line: curl's timer (its
    // timeouts), the retries' and the pacing's due times below wake it when due. The longer cap
    // only bounds a wait no deadline asked for; at low concurrency a wake-up costs about as much
    // CPU as the request itself.
    double wait_s = progress_ ? 0.1 : 1.0;
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
    --in_flight_by_model_[request_of(job).model];
    c_.budget.release(job.reserved_usd);
    job.reserved_usd = 0.0;
    const double now = monotonic_seconds();

    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    long sent_bytes = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    if (status > 0) c_.endpoint_answered = true;
    const bool oversize = code == CURLE_WRITE_ERROR && t->exchange.oversize;
    const std::optional<json::Value> body = code == CURLE_OK ? read_body(t->exchange.body, status) : std::nullopt;

    retry::AttemptOutcome outcome;
    outcome.transport_error = code;
    if (oversize)
      outcome.transport_message = fmt::format("the response body is over --max-response-mib {:g}", o_.max_response_mib);
    else if (code != CURLE_OK)
      outcome.transport_message = transport_message(easy, code, t->exchange);
    c_.transfers.release(easy);
    outcome.status = code == CURLE_OK ? status : 0;
    outcome.headers = std::move(t->exchange.rate_limit_headers);
    outcome.body = body ? &*body : nullptr;
    const retry::Decision d = retry::classify(outcome, std::time(nullptr));
    const std::string& header_id = t->exchange.generation_id;

    if (is_connect_failure(code) || (code == CURLE_OPERATION_TIMEDOUT && sent_bytes == 0)) check_reachable(outcome);
    // We stopped waiting, not the server: once the request was sent it may still finish and bill
    // this attempt, and its cost never reaches us. Likewise when the connection dropped after the
    // request went out and before any response came.
    if (code == CURLE_OPERATION_TIMEDOUT && sent_bytes > 0)
      book_unseen_cost(job, *t, now, Budget::Unseen::TimedOut, header_id);
    else if (code != CURLE_OK && !oversize && status == 0 && sent_bytes > 0 && !is_connect_failure(code))
      book_unseen_cost(job, *t, now, Budget::Unseen::Dropped, header_id);
    if (oversize && status == 200) {
      // A billed answer this large would be as large again: it is not asked for twice. (An
      // over-size error page is retried like any network error.)
      book_unseen_cost(job, *t, now, Budget::Unseen::Oversize, header_id);
      fail(job, outcome.transport_message + "; the answer was abandoned and booked at its worst case", status);
      return;
    }
    if (d.verdict == retry::Verdict::Success) {
      on_answer(t->job, *body, now);
      return;
    }
    if (status == 200 && body) book_billed_retry(job, *t, *body, now);
    // A 200 was generated, hence billed, whatever became of its body.
    if (status == 200 && !body && code != CURLE_OPERATION_TIMEDOUT && !oversize)
      book_unseen_cost(job, *t, now, Budget::Unseen::Unreadable, header_id);
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
  std::optional<json::Value> read_body(const std::string& text, long status) {
    try {
      return json::parse(text, "response");
    } catch (const Error&) {
    }
    if (status != 200) return std::nullopt;
    if (is_event_stream(text)) {
      if (!streamed_warned_) log::debug("the server streamed its answer although \"stream\": false was sent; read the events");
      streamed_warned_ = true;
      return assemble_event_stream(text);
    }
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

  // A usable completion: priced, cached, then billed and delivered (or held back for its cost, or
  // for the reconciliation of its lost attempts).
  void on_answer(std::size_t id, const json::Value& body, double now) {
    Job& job = jobs_[id];
    const ChatRequest& request = request_of(job);
    Completion c;
    c.ok = true;
    c.http_status = 200;
    assign_cost(c, detail::parse_completion(body, c), request.model);
    if (c.cost_source == "usage") observe_price(request.model, c);
    c.top_logprobs_sent = job.top_logprobs_sent;
    c.attempts = job.attempts;
    c.latency_s = now - job.first_sent;
    if (c_.cache) c_.cache->put(job.wire.key, request.model, detail::completion_to_cache(c));
    c_.concurrency.on_success();
    c_.key_guard.count_billed();
    const bool cost_unknown = c.cost_source == "none" && !c.generation_id.empty();
    if ((cost_unknown || reconcilable(job)) && c_.reconciler.can_reconcile()) {
      // Until its cost is known, an answer priced only by assumption stays reserved at that price.
      if (cost_unknown) {
        job.reserved_usd = c_.prices.assumed_cost(request.model, c);
        c_.budget.reserve(job.reserved_usd);
      }
      hold_back(id, std::move(c));
      return;
    }
    book(job, std::move(c));
  }

  void hold_back(std::size_t id, Completion c) {
    awaiting_cost_ += 1 + jobs_[id].duplicates.size();
    cost_pending_.emplace_back(id, std::move(c));
  }

  // A reported cost says what the model's price really is (price_list.h): the first confirms it,
  // a higher one raises the worst cases, with a warning.
  void observe_price(const std::string& model, const Completion& c) {
    const std::optional<double> factor = c_.prices.observe(model, c.prompt_tokens, c.completion_tokens, c.cost_usd);
    if (!factor) return;
    log::warn("{}: billed ${:.6f} for {} prompt + {} completion tokens, {:.2f}x its {} price; its requests are now "
              "reserved at the price billed{}",
              model, c.cost_usd, c.prompt_tokens, c.completion_tokens, *factor,
              c_.prices.find(model) ? "listed (GET /models)" : "assumed (--assume-price)",
              c_.budget.capped() ? " against --max-cost" : "");
  }

  // Bills an answer, logs it and delivers it.
  void book(Job& job, Completion c) {
    charge(request_of(job).model, c);
    c_.ledger.record(request_of(job).model, c, job.wire.key, c.refusal ? "refused" : "ok");
    finish(job, std::move(c));
  }

  void charge(const std::string& model, Completion& c) {
    c_.budget.charge(model, c.cost_usd, c.cost_source);
    c_.budget.note_upstream_cost(model, c.upstream_cost_usd);
    if (c.cost_source == "none")
      if (const double assumed = c_.prices.assumed_cost(model, c); assumed > 0) {
        c_.budget.charge_possibly_billed(model, assumed, Budget::Unseen::Unpriced);
        c.possibly_billed_usd += assumed;
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
  // against the budget, with a ledger line; the job keeps it for reconciliation (by
  // `generation_id`, when the response carried one) and for its completion's possibly_billed_usd.
  void book_unseen_cost(Job& job, const Transfer& t, double now, Budget::Unseen why, const std::string& generation_id) {
    const ChatRequest& request = request_of(job);
    const double bound = c_.prices.worst_case_usd(request);
    c_.budget.charge_possibly_billed(request.model, bound, why);
    const char* status = "";
    switch (why) {
      case Budget::Unseen::TimedOut: ++timed_out_, status = "timeout"; break;
      case Budget::Unseen::Dropped: ++dropped_, status = "dropped"; break;
      case Budget::Unseen::Unreadable: ++unreadable_, status = "unreadable"; break;
      case Budget::Unseen::NoUsage: ++no_usage_, status = "no_usage"; break;
      case Budget::Unseen::Oversize: ++oversize_, status = "oversize"; break;
      case Budget::Unseen::Unpriced: break;
    }
    job.lost.push_back(LostAttempt{bound, generation_id, std::nullopt});
    Completion lost;
    lost.attempts = job.attempts;
    lost.latency_s = now - t.started;
    lost.provider = "unknown";
    lost.cost_source = "unknown";
    lost.generation_id = generation_id;
    c_.ledger.record(request.model, lost, job.wire.key, status, bound);
  }

  // A 200 that we retry may still have been billed (an error during generation): at its reported
  // cost, or at its worst case when it reported none.
  void book_billed_retry(Job& job, const Transfer& t, const json::Value& body, double now) {
    Completion billed;
    const detail::ReportedCost reported = detail::read_usage(body, billed);
    std::string generation_id = body.get_string("id");
    if (generation_id.empty()) generation_id = t.exchange.generation_id;
    if (!reported.cost) {
      book_unseen_cost(job, t, now, Budget::Unseen::NoUsage, generation_id);
      return;
    }
    if (*reported.cost <= 0) return;
    const ChatRequest& request = request_of(job);
    billed.cost_usd = *reported.cost + (o_.count_upstream_cost ? reported.upstream : 0.0);
    billed.upstream_cost_usd = reported.upstream;
    billed.cost_source = "usage";
    billed.provider = body.get_string("provider", "unknown");
    billed.generation_id = generation_id;
    billed.attempts = job.attempts;
    billed.latency_s = now - t.started;
    observe_price(request.model, billed);
    charge(request.model, billed);
    c_.ledger.record(request.model, billed, job.wire.key, "retried");
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
          c_.stop_reason = c_.endpoint->scrub(d.daily_cap ? daily_cap_message(d) : d.reason);
          log::error("{}; no further requests will be sent", c_.stop_reason);
        }
        fail(job, d.daily_cap ? c_.stop_reason : d.reason, status);
        break;
      case retry::Verdict::Refused:
        refuse(job, d.reason, status, now);
        break;
      case retry::Verdict::FailRequest:
        if (status == 400 && retry_with_fewer_top_logprobs(id, d.reason)) break;
        fail(job, d.reason, status);
        break;
      case retry::Verdict::Success:
        break;
    }
  }

  // A daily request cap (retry_policy.h): when it resets, and how to go on from the cache.
  std::string daily_cap_message(const retry::Decision& d) const {
    std::string when = "when the key's daily limit resets (OpenRouter's reset at 00:00 UTC)";
    if (d.server_wait_s) {
      const std::time_t reset = std::time(nullptr) + static_cast<std::time_t>(std::ceil(*d.server_wait_s));
      std::tm utc{};
      gmtime_r(&reset, &utc);
      char stamp[32];
      std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
      when = fmt::format("at {} (in {}; {})", stamp, format_duration(*d.server_wait_s), d.server_wait_source);
    }
    const std::string resume =
        c_.cache ? fmt::format("the answers received so far are in the cache ({}): run the same command again "
                               "after the reset and only the missing requests are sent",
                               (o_.cache_dir / "llm-cache.sqlite").string())
                 : std::string("with --no-cache nothing was kept: run again after the reset, without --no-cache to "
                               "keep the answers");
    return fmt::format("{}. The limit resets {}; {}", d.reason, when, resume);
  }

  // A moderation 403: the request's outcome is a refusal (with the reasons), not a failure.
  void refuse(Job& job, const std::string& reason, long status, double now) {
    Completion c;
    c.ok = true;
    c.refusal = Refusal{RefusalKind::Moderation, c_.endpoint->scrub(reason)};
    c.http_status = static_cast<int>(status);
    c.provider = "unknown";
    c.cost_source = "none";
    c.attempts = job.attempts;
    c.latency_s = now - job.first_sent;
    c_.ledger.record(request_of(job).model, c, job.wire.key, "refused");
    finish(job, std::move(c));
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
    } else if (d.server_wait_s && log::enabled(log::Level::Info) && monotonic_seconds() - last_wait_logged_ >= 5.0) {
      last_wait_logged_ = monotonic_seconds();
      log::info("{}: waiting {:.1f} s as the server asked ({})", c_.endpoint->scrub(d.reason), wait,
                d.server_wait_source);
    }
    if (log::enabled(log::Level::Debug))  // the reason is scrubbed only for a message that is printed
      log::debug("request {} attempt {}: {}; retrying in {:.3f} s", job.index, job.attempts,
                 c_.endpoint->scrub(d.reason), wait);
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
    job.top_logprobs_retried = true;  // body_to_send lowers it
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
    // It is not sent again: a batch of long prompts keeps the bodies of its open requests only.
    job.wire.body = std::string();
    job.lowered_body = std::string();
    for (const LostAttempt& a : job.lost) {
      if (a.reconciled_usd)
        c.reconciled_usd += *a.reconciled_usd;
      else
        c.possibly_billed_usd += a.worst_usd;
    }
    deliver(job.index, std::move(c));
    for (std::size_t dup : job.duplicates) {
      Completion copy = results_[job.index];
      copy.possibly_billed_usd = 0.0;  // the money is the first request's
      copy.reconciled_usd = 0.0;
      if (copy.ok) {
        copy.cache_hit = true;
        copy.cost_usd = 0.0;
        copy.cost_source = "cache";
        c_.ledger.record(requests_[dup].model, copy, job.wire.key, "ok");
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
    if (reconcilable(job) && c_.reconciler.can_reconcile()) {
      hold_back(static_cast<std::size_t>(&job - jobs_.data()), std::move(c));
      return;
    }
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
  // Attempts booked at their worst case in this batch, by why.
  int timed_out_ = 0, dropped_ = 0, unreadable_ = 0, no_usage_ = 0, oversize_ = 0;
  double reconciled_usd_ = 0.0;  // what GET /generation said this batch's lost attempts cost
  int reconciled_ = 0;           // and how many of them it found
  std::map<std::string, int> in_flight_by_model_;
  bool streamed_warned_ = false;
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
