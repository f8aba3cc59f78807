// OpenRouterClient: the batch loop. One libcurl multi handle driven on the calling thread; the
// loop dispatches while the concurrency window, the requests-per-minute spacing and the budget
// allow, reads finished transfers, classifies them (retry_policy.cpp), and schedules retries.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <deque>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http.h"
#include "internal.h"
#include "ledger.h"
#include "response_cache.h"
#include "retry_policy.h"

namespace w2s::llm {
namespace {

bool is_openrouter(const std::string& base_url) {
  return base_url.find("openrouter.ai") != std::string::npos;
}

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// One request of a batch (duplicates of the same cache key ride along with the first one).
struct Job {
  std::size_t index = 0;
  std::string key;
  std::string body;  // wire body, serialised on first dispatch
  int attempts = 0;
  double reserved_usd = 0.0;
  double first_sent = 0.0;
  std::vector<std::size_t> duplicates;
};

struct Transfer {
  std::size_t job = 0;
  double started = 0.0;
  http::Exchange exchange;
};

}  // namespace

struct OpenRouterClient::Impl {
  ClientOptions o;
  std::string key;
  std::string chat_url;
  std::unique_ptr<http::Headers> headers;
  std::unique_ptr<ResponseCache> cache;
  std::unique_ptr<Ledger> ledger;
  std::optional<std::map<std::string, Pricing>> pricing;
  std::optional<bool> has_key_endpoint;
  std::optional<bool> has_generation_endpoint;
  bool key_limit_warned = false;
  std::map<std::string, ModelTotals> totals;
  std::map<std::string, ModelEstimate> dry;
  double spent = 0.0;
  double possibly_billed = 0.0;  // timed-out attempts, at worst case (see ModelTotals)
  std::string stop_reason;  // set by 401 / 402-without-Retry-After: nothing more is dispatched

  // Adaptive concurrency (AIMD).
  double window = 0.0;
  int successes_since_raise = 0;
  double last_slow_down = -1e9;

  std::mt19937_64 rng{std::random_device{}()};
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;

  // Per-batch state.
  const std::vector<ChatRequest>* requests = nullptr;
  const ResultCallback* on_result = nullptr;
  std::vector<Completion>* results = nullptr;
  std::vector<Job> jobs;
  std::deque<std::size_t> ready;
  using Timed = std::pair<double, std::size_t>;
  std::priority_queue<Timed, std::vector<Timed>, std::greater<>> delayed;
  std::unordered_map<CURL*, Transfer> in_flight;
  double reserved = 0.0;
  double next_dispatch_at = 0.0;
  std::size_t finished = 0, cached = 0, failed = 0;
  // Successes without any cost yet, held back (neither billed, logged nor delivered) until
  // GET /generation has been asked; `awaiting_cost` counts them with their duplicates.
  std::vector<std::pair<std::size_t, Completion>> cost_pending;
  std::size_t awaiting_cost = 0;
  int billed_since_key_check = 0;

  const std::map<std::string, Pricing>& prices() {
    if (pricing) return *pricing;
    pricing.emplace();
    try {
      http::GetResult r = http::get(trim_slash(o.base_url) + "/models", *headers, o);
      if (r.code == CURLE_OK && r.status == 200)
        *pricing = detail::parse_models(json::parse(r.body, "GET /models"));
      else
        spdlog::debug("GET /models: {} {}", r.status, r.message);
    } catch (const Error& e) {
      spdlog::debug("GET /models: {}", detail::scrub(e.what(), key));
    }
    return *pricing;
  }

  const Pricing* price_of(const std::string& model) {
    const auto& p = prices();
    auto it = p.find(model);
    return it == p.end() ? nullptr : &it->second;
  }

  std::int64_t completion_bound(const ChatRequest& r, const Pricing& p, std::int64_t prompt) {
    if (r.max_tokens) return *r.max_tokens;
    if (p.max_completion_tokens > 0) return p.max_completion_tokens;
    if (p.context_length > 0) return std::max<std::int64_t>(0, p.context_length - prompt);
    return 4096;
  }

  // Reservation for an in-flight request. The prompt is bounded by its byte count (a token is
  // at least one byte), so the cap holds even where chars/4 underestimates.
  double worst_case_usd(const ChatRequest& r) {
    const Pricing* p = price_of(r.model);
    if (!p) return 0.0;
    std::int64_t prompt_bytes = 0;
    for (const auto& m : r.messages) prompt_bytes += static_cast<std::int64_t>(m.content.size()) + 4;
    return prompt_bytes * p->prompt + completion_bound(r, *p, prompt_bytes) * p->completion +
           p->request;
  }

  void add_estimate(std::map<std::string, ModelEstimate>& out, const ChatRequest& r, bool is_cached) {
    ModelEstimate& e = out[r.model];
    ++e.requests;
    if (is_cached) {
      ++e.cached;
      return;
    }
    const std::int64_t prompt = estimate_prompt_tokens(r);
    e.prompt_tokens += prompt;
    const Pricing* p = price_of(r.model);
    const std::int64_t completion = p ? completion_bound(r, *p, prompt) : r.max_tokens.value_or(0);
    e.max_completion_tokens += completion;
    if (p) {
      e.priced = true;
      e.prompt_cost_usd += prompt * p->prompt + p->request;
      e.max_cost_usd += prompt * p->prompt + completion * p->completion + p->request;
    }
  }

  std::optional<KeyInfo> key_info() {
    if (has_key_endpoint == false) return std::nullopt;
    http::GetResult r = http::get(trim_slash(o.base_url) + "/key", *headers, o);
    if (r.code == CURLE_OK && r.status == 401)
      throw Error("API key rejected by GET /key (401): check $OPENROUTER_API_KEY or --api-key-file");
    std::optional<json::Value> body;
    if (r.code == CURLE_OK && r.status == 200) {
      try {
        body = json::parse(r.body, "GET /key");
      } catch (const Error&) {
      }
    }
    const json::Value* data = body ? body->find("data") : nullptr;
    if (!data || !data->is_object()) {
      has_key_endpoint = false;
      return std::nullopt;
    }
    has_key_endpoint = true;
    KeyInfo info;
    info.label = data->get_string("label");
    if (const json::Value* v = data->find("limit"); v && v->is_number()) info.limit = v->as_double();
    if (const json::Value* v = data->find("limit_remaining"); v && v->is_number())
      info.limit_remaining = v->as_double();
    info.usage = data->get_double("usage");
    info.is_free_tier = data->get_bool("is_free_tier");
    return info;
  }

  void check_key_limit(double estimate_usd) {
    if (o.key_check == KeyCheck::Off) return;
    std::optional<KeyInfo> info = key_info();
    if (!info || !info->limit_remaining || *info->limit_remaining >= estimate_usd) return;
    std::string message = fmt::format(
        "the key's remaining limit (${:.6f}) is below this batch's worst-case estimate "
        "(${:.6f}); raise the key limit, lower max_tokens, or pass --key-check warn",
        *info->limit_remaining, estimate_usd);
    if (o.key_check == KeyCheck::Stop) throw Error(message);
    spdlog::warn("{}", message);
  }

  // -------------------------------------------------------------------------------------------
  void record(const Completion& c, const std::string& model) {
    ModelTotals& t = totals[model];
    if (!c.ok) {
      ++t.failed;
      return;
    }
    ++t.requests;
    if (c.cache_hit) {
      ++t.cache_hits;
      return;
    }
    t.prompt_tokens += c.prompt_tokens;
    t.completion_tokens += c.completion_tokens;
  }

  void bill(const std::string& model, double usd, const std::string& source) {
    ModelTotals& t = totals[model];
    spent += usd;
    t.cost_usd += usd;
    if (source == "usage") t.cost_from_usage += usd;
    if (source == "pricing") t.cost_from_pricing += usd;
    if (source == "generation") t.cost_from_generation += usd;
    if (source == "none") ++t.cost_unknown;
  }

  void write_ledger(const std::string& model, const Completion& c, const std::string& key_hash,
                    const char* status, std::optional<double> possibly_billed_usd = std::nullopt) {
    json::Value line = json::Object{{"time", now_iso8601()}};
    if (!o.ledger_tag.empty()) line.set("tag", o.ledger_tag);
    line.set("model", model);
    line.set("provider", c.provider);
    line.set("prompt_tokens", c.prompt_tokens);
    line.set("completion_tokens", c.completion_tokens);
    line.set("cached_tokens", c.cached_tokens);
    line.set("cost_usd", c.cost_usd);
    line.set("cost_source", c.cost_source);
    line.set("generation_id", c.generation_id);
    line.set("cache_hit", c.cache_hit);
    line.set("status", status);
    line.set("attempts", c.attempts);
    line.set("latency_ms", std::round(c.latency_s * 1000.0));
    line.set("request", key_hash);
    if (possibly_billed_usd) line.set("possibly_billed_usd", *possibly_billed_usd);
    ledger->append(line);
  }

  void deliver(std::size_t index, Completion c) {
    record(c, (*requests)[index].model);
    (*results)[index] = std::move(c);
    ++finished;
    if ((*results)[index].cache_hit) ++cached;
    if (!(*results)[index].ok) ++failed;
    if (*on_result) (*on_result)(index, (*results)[index]);
  }

  void finish(Job& job, Completion c) {
    Completion shared = c;
    deliver(job.index, std::move(c));
    for (std::size_t dup : job.duplicates) {
      Completion copy = shared;
      if (copy.ok) {
        copy.cache_hit = true;
        copy.cost_usd = 0.0;
        copy.cost_source = "cache";
        write_ledger((*requests)[dup].model, copy, job.key, "ok");
      }
      deliver(dup, std::move(copy));
    }
  }

  void fail(Job& job, const std::string& reason, long status) {
    Completion c;
    c.ok = false;
    c.attempts = job.attempts;
    c.http_status = static_cast<int>(status);
    c.error = detail::scrub(reason, key);
    c.provider = "unknown";
    finish(job, std::move(c));
  }

  bool budget_blocks(double worst) const {
    if (!o.max_cost_usd) return false;
    const double cap = *o.max_cost_usd;
    if (worst > 0) return spent + possibly_billed + reserved + worst > cap;
    return spent + possibly_billed >= cap;
  }

  void start(std::size_t id, double worst) {
    Job& job = jobs[id];
    if (job.body.empty()) job.body = json::dump(request_body((*requests)[job.index]));
    CURL* easy = nullptr;
    if (!idle.empty()) {
      easy = idle.back();
      idle.pop_back();
    } else {
      easy = curl_easy_init();
      if (!easy) throw Error("curl_easy_init failed");
    }
    Transfer& t = in_flight[easy];
    t.job = id;
    t.started = monotonic_seconds();
    if (job.attempts == 0) job.first_sent = t.started;
    http::setup(easy, chat_url, *headers, t.exchange, o);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, job.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(job.body.size()));
    curl_multi_add_handle(multi, easy);
    ++job.attempts;
    job.reserved_usd = worst;
    reserved += worst;
  }

  void slow_down(double now) {
    if (!o.adaptive_concurrency) return;
    successes_since_raise = 0;
    if (now - last_slow_down < o.backoff_base_s) return;  // one halving per burst of 429s
    last_slow_down = now;
    window = std::max<double>(o.min_concurrency, std::floor(window / 2));
  }

  void speed_up() {
    if (!o.adaptive_concurrency || window >= o.max_concurrency) return;
    if (++successes_since_raise >= 50) {
      successes_since_raise = 0;
      window = std::min<double>(o.max_concurrency, window + 1);
    }
  }

  void on_done(CURL* easy, CURLcode code) {
    auto it = in_flight.find(easy);
    Transfer t = std::move(it->second);
    in_flight.erase(it);
    curl_multi_remove_handle(multi, easy);
    idle.push_back(easy);

    Job& job = jobs[t.job];
    const ChatRequest& request = (*requests)[job.index];
    reserved -= job.reserved_usd;
    job.reserved_usd = 0.0;
    const double now = monotonic_seconds();

    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    std::optional<json::Value> body;
    if (code == CURLE_OK) {
      try {
        body = json::parse(t.exchange.body, "response");
      } catch (const Error&) {
      }
    }
    retry::AttemptOutcome outcome;
    outcome.transport_error = code;
    outcome.transport_message = t.exchange.error[0] ? t.exchange.error : curl_easy_strerror(code);
    outcome.status = code == CURLE_OK ? status : 0;
    outcome.retry_after = t.exchange.retry_after;
    outcome.rate_limit_reset = t.exchange.rate_limit_reset;
    outcome.body = body ? &*body : nullptr;
    const retry::Decision d = retry::classify(outcome, std::time(nullptr));

    if (code == CURLE_OPERATION_TIMEDOUT) {
      // We stopped waiting, not the server: it may still finish and bill this attempt, and its
      // cost never reaches us. Count the worst case against the budget and leave a ledger line.
      const double bound = worst_case_usd(request);
      possibly_billed += bound;
      ModelTotals& totals_of_model = totals[request.model];
      ++totals_of_model.timed_out;
      totals_of_model.possibly_billed_usd += bound;
      Completion lost;
      lost.attempts = job.attempts;
      lost.latency_s = now - t.started;
      lost.provider = "unknown";
      lost.cost_source = "unknown";
      write_ledger(request.model, lost, job.key, "timeout", bound);
    }

    if (d.verdict == retry::Verdict::Success) {
      Completion c;
      c.ok = true;
      c.http_status = 200;
      const std::optional<double> reported = detail::parse_completion(*body, c);
      if (reported) {
        c.cost_usd = *reported;
        c.cost_source = "usage";
      } else if (const Pricing* p = price_of(request.model)) {
        c.cost_usd = c.prompt_tokens * p->prompt + c.completion_tokens * p->completion + p->request;
        c.cost_source = "pricing";
      } else {
        c.cost_usd = 0.0;
        c.cost_source = "none";
      }
      c.attempts = job.attempts;
      c.latency_s = now - job.first_sent;
      if (cache) cache->put(job.key, request.model, detail::completion_to_cache(c));
      speed_up();
      ++billed_since_key_check;
      if (c.cost_source == "none" && !c.generation_id.empty() && can_reconcile_cost()) {
        awaiting_cost += 1 + job.duplicates.size();
        cost_pending.emplace_back(t.job, std::move(c));
        return;
      }
      bill(request.model, c.cost_usd, c.cost_source);
      write_ledger(request.model, c, job.key, "ok");
      finish(job, std::move(c));
      return;
    }

    // A 200 that we retry may still have been billed (an error during generation).
    if (status == 200 && body) {
      Completion billed;
      if (const json::Value* usage = body->find("usage"); usage && usage->is_object()) {
        const json::Value* c = usage->find("cost");
        if (c && c->is_number() && c->as_double() > 0) {
          billed.prompt_tokens = usage->get_int("prompt_tokens");
          billed.completion_tokens = usage->get_int("completion_tokens");
          billed.cost_usd = c->as_double();
          billed.cost_source = "usage";
          billed.provider = body->get_string("provider", "unknown");
          billed.generation_id = body->get_string("id");
          billed.attempts = job.attempts;
          billed.latency_s = now - t.started;
          bill(request.model, billed.cost_usd, billed.cost_source);
          write_ledger(request.model, billed, job.key, "retried");
        }
      }
    }

    if (d.slow_down) slow_down(now);
    switch (d.verdict) {
      case retry::Verdict::Retry:
        if (job.attempts < o.max_attempts) {
          retry::Backoff b{o.backoff_base_s, o.backoff_factor, o.backoff_cap_s, o.max_retry_after_s};
          const double wait = retry::retry_delay(b, job.attempts, d, rng);
          spdlog::debug("request {} attempt {}: {}; retrying in {:.3f} s", job.index, job.attempts,
                        detail::scrub(d.reason, key), wait);
          delayed.push({now + wait, t.job});
        } else {
          fail(job, fmt::format("{} (gave up after {} attempts)", d.reason, job.attempts), status);
        }
        break;
      case retry::Verdict::StopDispatch:
        if (stop_reason.empty()) {
          stop_reason = detail::scrub(d.reason, key);
          spdlog::error("{}; no further requests will be sent", stop_reason);
        }
        fail(job, d.reason, status);
        break;
      case retry::Verdict::FailRequest:
        fail(job, d.reason, status);
        break;
      case retry::Verdict::Success:
        break;
    }
  }

  // Sum of add_estimate's worst case (the pre-batch /key check's measure) over every job not
  // finished yet: queued, waiting for a retry or in flight.
  std::pair<double, std::size_t> worst_case_still_to_send() {
    std::vector<std::size_t> open(ready.begin(), ready.end());
    for (auto copy = delayed; !copy.empty(); copy.pop()) open.push_back(copy.top().second);
    for (const auto& [easy, t] : in_flight) open.push_back(t.job);
    std::map<std::string, ModelEstimate> estimate;
    for (std::size_t id : open) add_estimate(estimate, (*requests)[jobs[id].index], false);
    double usd = 0.0;
    for (const auto& [model, e] : estimate) usd += e.max_cost_usd;
    return {usd, open.size()};
  }

  // A long batch re-reads GET /key every key_recheck_every billed requests: other runs on the
  // same key spend from the same limit. Too little left stops dispatch as a 402 would.
  void recheck_key_limit() {
    if (o.key_check == KeyCheck::Off || o.key_recheck_every <= 0 || has_key_endpoint != true ||
        !stop_reason.empty() || billed_since_key_check < o.key_recheck_every)
      return;
    billed_since_key_check = 0;
    std::optional<KeyInfo> info;
    try {
      info = key_info();
    } catch (const Error& e) {  // 401: the key was revoked mid-batch
      stop_reason = detail::scrub(e.what(), key);
      spdlog::error("{}; no further requests will be sent", stop_reason);
      return;
    }
    if (!info) {
      has_key_endpoint = true;  // one failed re-check does not make /key go away
      return;
    }
    if (!info->limit_remaining) return;
    const auto [worst, count] = worst_case_still_to_send();
    if (*info->limit_remaining >= worst) return;
    const std::string message = fmt::format(
        "key limit nearly reached: GET /key reports ${:.6f} remaining, below the worst case "
        "${:.6f} of the {} requests still to send or in flight",
        *info->limit_remaining, worst, count);
    if (o.key_check == KeyCheck::Stop) {
      stop_reason = message + " (raise the key limit, or pass --key-check warn)";
      spdlog::error("{}; no further requests will be sent", stop_reason);
    } else if (!key_limit_warned) {
      key_limit_warned = true;
      spdlog::warn("{}", message);
    }
  }

  // GET /generation is OpenRouter's; on other servers (llama.cpp ids "chatcmpl-...") every
  // lookup would only 404 for the whole wait. A server that answers /key speaks the protocol.
  bool can_reconcile_cost() {
    if (has_generation_endpoint) return *has_generation_endpoint;
    if (is_openrouter(o.base_url)) return true;
    if (!has_key_endpoint) {
      try {
        key_info();
      } catch (const Error&) {
      }
    }
    return has_key_endpoint == true;
  }

  // Fills in the cost of the held-back completions from GET /generation?id= (`data.total_cost`),
  // then bills, logs and delivers each exactly once. A record appears a few seconds after its
  // completion, so 404 is retried with doubling waits for at most generation_wait_s in all.
  void reconcile_costs() {
    if (cost_pending.empty()) return;
    CURL* escaper = curl_easy_init();
    if (!escaper) throw Error("curl_easy_init failed");
    std::vector<std::size_t> open(cost_pending.size());
    for (std::size_t i = 0; i < open.size(); ++i) open[i] = i;
    const double deadline = monotonic_seconds() + o.generation_wait_s;
    double wait = o.backoff_base_s;
    bool found_any = false;
    while (true) {
      std::vector<std::size_t> not_yet;
      for (std::size_t i : open) {
        Completion& c = cost_pending[i].second;
        char* id = curl_easy_escape(escaper, c.generation_id.c_str(),
                                    static_cast<int>(c.generation_id.size()));
        const std::string url = o.base_url + "/generation?id=" + (id ? id : "");
        curl_free(id);
        http::GetResult r = http::get(url, *headers, o);
        if (r.code != CURLE_OK || r.status == 404 || r.status == 429 || r.status >= 500) {
          not_yet.push_back(i);
          continue;
        }
        if (r.status != 200) continue;  // e.g. 401/403: the cost stays unknown
        try {
          const json::Value body = json::parse(r.body, "GET /generation");
          const json::Value* data = body.find("data");
          const json::Value* cost = data && data->is_object() ? data->find("total_cost") : nullptr;
          if (cost && cost->is_number()) {
            c.cost_usd = cost->as_double();
            c.cost_source = "generation";
            found_any = true;
          }
        } catch (const Error&) {
        }
      }
      open = std::move(not_yet);
      const double now = monotonic_seconds();
      if (open.empty() || now >= deadline) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, deadline - now)));
      wait = std::min(wait * o.backoff_factor, o.backoff_cap_s);
    }
    curl_easy_cleanup(escaper);

    if (found_any) has_generation_endpoint = true;
    if (!open.empty()) {
      if (has_generation_endpoint != true) {
        has_generation_endpoint = false;
        spdlog::warn("GET /generation found none of {} generation ids within {:.0f} s: this "
                     "endpoint does not serve it; their cost stays unknown (cost_source \"none\", "
                     "counted as $0) and /generation is not asked again",
                     open.size(), o.generation_wait_s);
      } else {
        spdlog::warn("GET /generation: {} generation records did not appear within {:.0f} s; "
                     "their cost stays unknown (cost_source \"none\", counted as $0)",
                     open.size(), o.generation_wait_s);
      }
    }
    auto pending = std::move(cost_pending);
    cost_pending.clear();
    awaiting_cost = 0;
    for (auto& [id, c] : pending) {
      const std::string& model = (*requests)[jobs[id].index].model;
      bill(model, c.cost_usd, c.cost_source);
      write_ledger(model, c, jobs[id].key, "ok");
      finish(jobs[id], std::move(c));
    }
  }

  std::string progress_status(double started) const {
    const double elapsed = std::max(1e-9, monotonic_seconds() - started);
    const std::size_t total = results->size();
    const double sent_rate = static_cast<double>(finished - cached) / elapsed;
    const double rate = static_cast<double>(finished) / elapsed;
    std::string eta = rate > 0 && finished < total
                          ? format_duration(static_cast<double>(total - finished) / rate)
                          : "-";
    return fmt::format("{}/{} done ({} cached, {} failed), {} in flight, {:.1f} req/s, ${:.4f}, ETA {}",
                       finished, total, cached, failed, in_flight.size(), sent_rate, spent, eta);
  }

  void abandon_in_flight() {
    for (auto& [easy, t] : in_flight) {
      curl_multi_remove_handle(multi, easy);
      idle.push_back(easy);
    }
    in_flight.clear();
    reserved = 0.0;
  }

  void run(std::vector<Completion>& out);
};

void OpenRouterClient::Impl::run(std::vector<Completion>& out) {
  const std::size_t n = requests->size();
  out.assign(n, Completion{});
  results = &out;
  jobs.clear();
  ready.clear();
  delayed = {};
  finished = cached = failed = 0;
  cost_pending.clear();
  awaiting_cost = 0;
  billed_since_key_check = 0;
  const double started = monotonic_seconds();
  const double possibly_billed_before = possibly_billed;

  std::unordered_map<std::string, std::size_t> job_by_key;
  for (std::size_t i = 0; i < n; ++i) {
    const ChatRequest& r = (*requests)[i];
    std::string k = cache_key(o.base_url, r);
    if (cache && !o.refresh) {
      if (std::optional<json::Value> hit = cache->get(k)) {
        Completion c = detail::completion_from_cache(*hit);
        if (o.dry_run) add_estimate(dry, r, true);
        write_ledger(r.model, c, k, "ok");
        deliver(i, std::move(c));
        continue;
      }
    }
    if (cache) {
      auto [it, inserted] = job_by_key.emplace(k, jobs.size());
      if (!inserted) {
        jobs[it->second].duplicates.push_back(i);
        continue;
      }
    }
    Job job;
    job.index = i;
    job.key = std::move(k);
    jobs.push_back(std::move(job));
    ready.push_back(jobs.size() - 1);
  }

  if (o.dry_run) {
    for (Job& job : jobs) {
      add_estimate(dry, (*requests)[job.index], false);
      for (std::size_t dup : job.duplicates) add_estimate(dry, (*requests)[dup], true);
      fail(job, "dry run: not sent", 0);
    }
    return;
  }
  if (jobs.empty()) return;

  if (o.key_check != KeyCheck::Off && has_key_endpoint != false) {
    std::map<std::string, ModelEstimate> estimate;
    for (const Job& job : jobs) add_estimate(estimate, (*requests)[job.index], false);
    double usd = 0.0;
    for (const auto& [model, e] : estimate) usd += e.max_cost_usd;
    check_key_limit(usd);
  }

  std::unique_ptr<ProgressLine> progress;
  if (o.progress) progress = std::make_unique<ProgressLine>(fmt::format("llm {} requests", n));
  double last_progress = 0.0;

  struct Cleanup {
    Impl* self;
    ~Cleanup() { self->abandon_in_flight(); }
  } cleanup{this};

  while (finished + awaiting_cost < n) {
    double now = monotonic_seconds();
    while (!delayed.empty() && delayed.top().first <= now) {
      ready.push_front(delayed.top().second);  // retries go first: they are the oldest
      delayed.pop();
    }
    if (!stop_reason.empty()) {
      while (!delayed.empty()) {
        ready.push_back(delayed.top().second);
        delayed.pop();
      }
      while (!ready.empty()) {
        std::size_t id = ready.front();
        ready.pop_front();
        fail(jobs[id], stop_reason, 0);
      }
    }
    while (!ready.empty() && in_flight.size() < static_cast<std::size_t>(window)) {
      if (o.requests_per_minute > 0 && now < next_dispatch_at) break;
      const std::size_t id = ready.front();
      const double worst = o.max_cost_usd ? worst_case_usd((*requests)[jobs[id].index]) : 0.0;
      if (budget_blocks(worst)) {
        if (!in_flight.empty()) break;  // a completion may free part of the reservation
        ready.pop_front();
        fail(jobs[id],
             fmt::format("budget cap reached: --max-cost ${:.4f}, spent ${:.4f}, this request "
                         "may cost up to ${:.6f}",
                         *o.max_cost_usd, spent, worst),
             0);
        continue;
      }
      ready.pop_front();
      start(id, worst);
      if (o.requests_per_minute > 0)
        next_dispatch_at = std::max(now, next_dispatch_at) + 60.0 / o.requests_per_minute;
    }

    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    bool completed_any = false;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      on_done(m->easy_handle, m->data.result);
      completed_any = true;
    }
    if (completed_any) recheck_key_limit();
    now = monotonic_seconds();
    if (progress && now - last_progress >= 0.1) {
      last_progress = now;
      progress->update(progress_status(started));
    }
    if (finished + awaiting_cost >= n || completed_any) continue;

    double wait_s = 0.1;
    if (!delayed.empty()) wait_s = std::min(wait_s, delayed.top().first - now);
    if (!ready.empty() && o.requests_per_minute > 0 && in_flight.size() < window)
      wait_s = std::min(wait_s, next_dispatch_at - now);
    const int wait_ms = static_cast<int>(std::ceil(std::max(0.0, wait_s) * 1000.0));
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
  reconcile_costs();
  if (progress) progress->finish(progress_status(started));
  if (possibly_billed > possibly_billed_before)
    spdlog::warn("some attempts timed out (--request-timeout {:.0f} s): the server may have billed them; up to "
                 "${:.6f} more than the reported cost (ledger lines with status \"timeout\"), counted against "
                 "--max-cost",
                 o.request_timeout_s, possibly_billed - possibly_billed_before);
}

// ---------------------------------------------------------------------------------------------

OpenRouterClient::OpenRouterClient(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.o = std::move(options);
  if (s.o.max_concurrency < 1) throw Error("max_concurrency must be at least 1");
  if (s.o.max_attempts < 1) throw Error("max_attempts must be at least 1");
  s.o.min_concurrency = std::clamp(s.o.min_concurrency, 1, s.o.max_concurrency);
  s.key = !s.o.api_key.empty() ? s.o.api_key : resolve_api_key(s.o.api_key_file);
  s.o.api_key.clear();  // options() must not hand the key around
  if (s.key.empty() && is_openrouter(s.o.base_url) && !s.o.dry_run)
    throw Error("no API key: set $OPENROUTER_API_KEY or pass --api-key-file");
  s.o.base_url = trim_slash(s.o.base_url);
  s.chat_url = s.o.base_url + "/chat/completions";
  s.window = s.o.max_concurrency;  // AIMD starts at the top and halves on 429
  http::global_init();
  s.headers = std::make_unique<http::Headers>(s.key);
  if (!s.o.no_cache) s.cache = std::make_unique<ResponseCache>(s.o.cache_dir / "llm-cache.sqlite");
  s.ledger = std::make_unique<Ledger>(!s.o.ledger_path.empty() ? s.o.ledger_path
                                                                : s.o.cache_dir / "ledger.jsonl");
  s.multi = curl_multi_init();
  if (!s.multi) throw Error("curl_multi_init failed");
  curl_multi_setopt(s.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, static_cast<long>(s.o.max_concurrency + 16));
}

OpenRouterClient::~OpenRouterClient() {
  Impl& s = *impl_;
  s.abandon_in_flight();
  for (CURL* easy : s.idle) curl_easy_cleanup(easy);
  if (s.multi) curl_multi_cleanup(s.multi);
}

std::vector<Completion> OpenRouterClient::run_batch(const std::vector<ChatRequest>& requests,
                                                    const ResultCallback& on_result) {
  Impl& s = *impl_;
  s.requests = &requests;
  s.on_result = &on_result;
  std::vector<Completion> out;
  try {
    s.run(out);
  } catch (...) {
    s.ledger->sync();
    throw;
  }
  s.ledger->sync();
  return out;
}

std::map<std::string, ModelEstimate> OpenRouterClient::estimate(const std::vector<ChatRequest>& requests) {
  Impl& s = *impl_;
  std::map<std::string, ModelEstimate> out;
  for (const auto& r : requests) {
    const bool hit = s.cache && !s.o.refresh && s.cache->get(cache_key(s.o.base_url, r)).has_value();
    s.add_estimate(out, r, hit);
  }
  return out;
}

const std::map<std::string, ModelEstimate>& OpenRouterClient::dry_run_estimate() const {
  return impl_->dry;
}
const std::map<std::string, Pricing>& OpenRouterClient::pricing() { return impl_->prices(); }
std::optional<KeyInfo> OpenRouterClient::key_info() { return impl_->key_info(); }
const std::map<std::string, ModelTotals>& OpenRouterClient::totals() const { return impl_->totals; }
double OpenRouterClient::total_cost_usd() const { return impl_->spent; }
double OpenRouterClient::possibly_billed_usd() const { return impl_->possibly_billed; }
const ClientOptions& OpenRouterClient::options() const { return impl_->o; }

}  // namespace w2s::llm
