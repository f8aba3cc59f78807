// w2s llm: chat completions from OpenRouter or any OpenAI-compatible endpoint.
//
// Experiments (lib/icl) build ChatRequests and hand batches to a Provider; completions come back
// as they finish, each with its usage, cost, cache status and provider. Whether a completion came
// over HTTP, from the cache or from a local model is invisible to the caller.
//
//   OpenRouterClient client(options);                // options: ClientOptions (the CLI binds them in apps/w2s)
//   auto completions = client.run_batch(requests, [](std::size_t i, const Completion& c) {...});
//   client.totals();                                  // per-model requests, tokens, USD, sources
//
// The client (docs/openrouter-client.md) sends every request through one libcurl multi handle on
// the calling thread: bounded in-flight requests, optional requests-per-minute limit, adaptive
// concurrency on 429, retries with full-jitter backoff (lib/llm/src/retry_policy.cpp), a SQLite
// response cache that doubles as resume, a JSONL cost ledger and a hard budget cap.
//
// NOTE: this header is the contract between lib/llm and lib/icl. Its types are stable; the
// client's options and extras are filled in by lib/llm.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"
#include "w2s/options.h"

namespace w2s::llm {

struct Message {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

// OpenRouter provider routing (`provider` object); ignored by other endpoints. Only what differs
// from OpenRouter's defaults is sent.
struct ProviderRouting {
  std::vector<std::string> order;
  bool allow_fallbacks = true;
  bool require_parameters = false;
  std::string data_collection;  // "", "allow" or "deny"
  bool empty() const { return order.empty() && allow_fallbacks && !require_parameters && data_collection.empty(); }
};
// Its flags, and its `provider` object (the wire body and the recorded config): the set fields only.
inline const options::Fields<ProviderRouting>& option_fields(const ProviderRouting*) {
  using P = ProviderRouting;
  static const auto fields =
      options::Fields<P>(options::kFlag | options::kRecord)
          .add("order", &P::order, "OpenRouter providers to try, in order (comma-separated)")
          .flag("provider-order")
          .when([](const P& p) { return !p.order.empty(); })
          .add("allow_fallbacks", &P::allow_fallbacks, "OpenRouter: only the providers in --provider-order")
          .flag_turns_off("no-fallbacks")
          .when([](const P& p) { return !p.allow_fallbacks; })
          .add("require_parameters", &P::require_parameters,
               "OpenRouter: only providers supporting every parameter sent")
          .when([](const P& p) { return p.require_parameters; })
          .add("data_collection", &P::data_collection, "OpenRouter: allow or deny providers that may store prompts")
          .when([](const P& p) { return !p.data_collection.empty(); });
  return fields;
}

// OpenRouter's `reasoning` request object, for reasoning models: how much to think (effort or a
// token budget, not both), whether the reasoning text comes back (exclude), or no reasoning at all
// (enabled = false). Empty: the field is not sent (and cache keys are those of plain requests).
struct ReasoningOptions {
  std::string effort;             // "", or e.g. "minimal", "low", "medium", "high"
  std::optional<int> max_tokens;  // reasoning token budget
  bool exclude = false;           // true: think, but do not return the reasoning text
  bool enabled = true;            // false: no reasoning ("enabled": false is sent)
  bool empty() const { return effort.empty() && !max_tokens && !exclude && enabled; }
};
// Its flags, and its `reasoning` object (the wire body and the recorded config): the set fields only.
inline const options::Fields<ReasoningOptions>& option_fields(const ReasoningOptions*) {
  using R = ReasoningOptions;
  static const auto fields =
      options::Fields<R>(options::kFlag | options::kRecord)
          .add("effort", &R::effort, "reasoning models: reasoning effort (minimal, low, medium, high)")
          .flag("reasoning-effort")
          .when([](const R& r) { return !r.effort.empty(); })
          .add("max_tokens", &R::max_tokens, "reasoning models: reasoning token budget")
          .flag("reasoning-max-tokens")
          .omit_unset()
          .add("exclude", &R::exclude, "reasoning models: think, but do not return the reasoning text")
          .flag("reasoning-exclude")
          .when([](const R& r) { return r.exclude; })
          .add("enabled", &R::enabled, "reasoning models: no reasoning at all")
          .flag_turns_off("no-reasoning")
          .when([](const R& r) { return !r.enabled; });
  return fields;
}
// Throws w2s::Error for combinations OpenRouter does not take (an effort and a budget; no
// reasoning together with any other reasoning option; a budget below 1).
void validate(const ReasoningOptions& reasoning);

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::optional<std::int64_t> seed;
  std::optional<double> top_p;
  std::vector<std::string> stop;
  bool logprobs = false;
  std::optional<int> top_logprobs;  // 0..20, needs logprobs
  ProviderRouting provider;
  ReasoningOptions reasoning;
};

struct TopLogprob {
  std::string token;
  double logprob = 0.0;
};

struct TokenLogprob {
  std::string token;
  double logprob = 0.0;
  std::vector<TopLogprob> top;
};

// Why an answer is a refusal rather than an answer (docs/openrouter-client.md, "Outcomes").
enum class RefusalKind {
  ContentFilter,  // finish_reason "content_filter": the provider's filter stopped the answer
  ModelRefusal,   // message.refusal: the model declined, in words
  Moderation,     // HTTP 403 with moderation metadata: OpenRouter's moderation flagged the input
};
inline const options::NameTable<RefusalKind>& names_of(RefusalKind) {
  static const options::NameTable<RefusalKind> names{"refusal kind",
                                                     {{RefusalKind::ContentFilter, "content_filter"},
                                                      {RefusalKind::ModelRefusal, "refusal"},
                                                      {RefusalKind::Moderation, "moderation"}}};
  return names;
}

struct Refusal {
  RefusalKind kind = RefusalKind::ModelRefusal;
  std::string text;  // the refusal text, or the moderation message with its reasons
};

struct Completion {
  bool ok = false;                  // false: failed for good (see error)
  // Set when the model or a filter refused (ok stays true: the request did not fail, and the
  // answer is no format error; content holds whatever text came with it).
  std::optional<Refusal> refusal;
  // The answer: message content, or the text parts of a content list ("" when null). Reasoning
  // never lands here (docs/openrouter-client.md, "Response shapes").
  std::string content;
  // The model's reasoning: message.reasoning / reasoning_content / reasoning_details, thinking
  // parts of a content list, or a leading <think>...</think> block of the content.
  std::string reasoning;
  std::int64_t reasoning_tokens = 0;  // usage.completion_tokens_details.reasoning_tokens
  std::string finish_reason;          // "stop", "length" (cut off at max_tokens), ...
  std::vector<TokenLogprob> logprobs;  // per generated token, when requested and returned
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  double cost_usd = 0.0;            // what this call cost us now (0 for a cache replay)
  std::string cost_source;          // "usage" | "pricing" | "generation" | "none" | "cache"
  // Bring-your-own-key: what the upstream provider charged (usage.cost_details.
  // upstream_inference_cost); part of cost_usd only with ClientOptions::count_upstream_cost.
  double upstream_cost_usd = 0.0;
  // A cache replay: what the response cost when it was first paid (0 otherwise).
  double replayed_cost_usd = 0.0;
  // Attempts of this request that may have been billed without a cost we could read (timed out,
  // connection dropped after sending, a 200 without usage that was retried, a body that could not
  // be read or was over --max-response-mb; an answer priced only by --assume-price that reported
  // no cost): possibly_billed_usd is the worst case of those not reconciled, reconciled_usd what
  // GET /generation said the others cost. Neither is part of cost_usd.
  double possibly_billed_usd = 0.0;
  double reconciled_usd = 0.0;
  // Set when the server capped top_logprobs (a 400 naming it) and the request was sent with this
  // lower value instead.
  std::optional<int> top_logprobs_sent;
  std::string provider;             // upstream provider name, "unknown" when not reported
  std::string generation_id;
  std::string model;                // model id the server reports
  bool cache_hit = false;
  int attempts = 0;
  double latency_s = 0.0;
  // Failures
  int http_status = 0;              // last HTTP status (0: network error / none)
  std::string error;                // final error message (never contains the API key)
};

// Called on the thread that called run_batch, as each request finishes (in completion order).
using ResultCallback = std::function<void(std::size_t index, const Completion&)>;

class Provider {
 public:
  virtual ~Provider() = default;
  // Sends every request (bounded concurrency, retries, cache, budget), calls `on_result` as each
  // finishes, and returns all completions in request order. A failed request yields a Completion
  // with ok == false; it never aborts the rest of the batch.
  virtual std::vector<Completion> run_batch(const std::vector<ChatRequest>& requests,
                                            const ResultCallback& on_result = {}) = 0;
  // What the records say about the model behind `model` beyond its id (a local model's files,
  // checksums and chat template); nullopt for a remote API, whose records stay as they are.
  virtual std::optional<json::Value> model_identity(const std::string& /*model*/) { return std::nullopt; }
};


// ---------------------------------------------------------------------------------------------
// The OpenRouter / OpenAI-compatible client
// ---------------------------------------------------------------------------------------------

inline constexpr const char* kOpenRouterBaseUrl = "https://openrouter.ai/api/v1";

// What to do when GET /key reports a remaining limit below the batch's worst-case estimate.
enum class KeyCheck { Stop, Warn, Off };
inline const options::NameTable<KeyCheck>& names_of(KeyCheck) {
  static const options::NameTable<KeyCheck> names{
      "key check", {{KeyCheck::Stop, "stop"}, {KeyCheck::Warn, "warn"}, {KeyCheck::Off, "off"}}};
  return names;
}

struct ClientOptions {
  // Endpoint: OpenRouter, or any OpenAI-compatible server (llama.cpp, vLLM, Ollama: ".../v1").
  std::string base_url = kOpenRouterBaseUrl;
  // The key itself. Leave empty to resolve it with resolve_api_key() from api_key_file or
  // $OPENROUTER_API_KEY (the constructor does that). Never logged or written anywhere.
  std::string api_key;
  std::filesystem::path api_key_file;

  // Concurrency and rate.
  int max_concurrency = 50;            // in-flight requests (upper bound of the adaptive window)
  int min_concurrency = 4;             // lower bound when adapting to 429 / in-flight 402
  bool adaptive_concurrency = true;    // AIMD: halve on 429, +1 per 50 successes
  double requests_per_minute = 0;      // 0: no limit; otherwise dispatches are spaced 60/rpm s

  // Retries (lib/llm/src/retry_policy.cpp). Tests shrink the backoff to milliseconds.
  int max_attempts = 6;                // total attempts per request, first one included
  double backoff_base_s = 1.0;         // full jitter: sleep U(0, min(cap, base * factor^k))
  double backoff_factor = 2.0;
  double backoff_cap_s = 60.0;
  double max_retry_after_s = 600.0;    // longest server-requested wait honoured
  double request_timeout_s = 120.0;    // whole request, per attempt
  // Connection set-up (name lookup, TCP, TLS), per attempt: short, so that a server that does not
  // accept connections (down, or its listen queue full) fails fast instead of at request_timeout_s.
  double connect_timeout_s = 10.0;
  // The largest response body read, in MiB: a larger one is abandoned (a billed one is booked at
  // its worst case as possibly billed) and its request fails without another attempt.
  double max_response_mib = 32.0;

  // Budget. max_cost_usd: hard cap on this client's spend (USD, all batches together); in-flight
  // requests count at their worst-case cost (prompt bytes + max_tokens, at the higher of the listed
  // or assumed price and the price answers were billed at). Until a reported cost confirms a
  // model's price, one request of it is in flight: the spend passes the cap by at most one
  // request's real cost (docs/openrouter-client.md, "The budget's guarantee").
  std::optional<double> max_cost_usd;
  // The worst case of models the endpoint lists no price for (GET /models): USD per million prompt
  // and completion tokens. Under max_cost_usd, a batch with an unpriced model is refused without it
  // (nothing would bound what its requests cost); with it, such requests are reserved at this
  // price, and an answer that reports no cost counts against the cap at it.
  std::optional<std::array<double, 2>> assume_price;
  // Bring-your-own-key responses: add what the upstream provider charged
  // (usage.cost_details.upstream_inference_cost) to the cost, the totals and the --max-cost spend.
  bool count_upstream_cost = false;
  KeyCheck key_check = KeyCheck::Stop;
  // GET /key again after every this many billed requests of a batch (0: only before the batch).
  // When limit_remaining falls below the worst case of what is still to send or in flight,
  // key_check Stop stops dispatching (the rest fail with the reason), Warn logs once.
  int key_recheck_every = 500;
  // Cost reconciliation (OpenRouter-protocol servers only): a completion without usage.cost and
  // without /models pricing is looked up with GET /generation?id= after the batch's responses;
  // 404 (the record is not there yet) is retried with backoff for at most this many seconds.
  double generation_wait_s = 30.0;
  // Dry run: run_batch sends no chat request; it returns cache hits as usual, fails the other
  // requests with error "dry run" and adds them to dry_run_estimate().
  bool dry_run = false;

  // Cache (SQLite file <cache_dir>/llm-cache.sqlite) and ledger (JSONL, one line per billed
  // request or cache hit). An empty ledger_path means <cache_dir>/ledger.jsonl.
  std::filesystem::path cache_dir = "cache";
  bool no_cache = false;  // neither read nor write the cache
  bool refresh = false;   // ignore cached responses, overwrite them with fresh ones
  std::filesystem::path ledger_path;
  std::string ledger_tag;  // free-form label written on every ledger line (e.g. experiment name)

  bool progress = true;  // progress line on stderr (redrawn on a terminal, periodic otherwise)
  bool verify_tls = true;
};

// The command line (apps/w2s binds it), and what the records say about the client (never the key).
inline const options::Fields<ClientOptions>& option_fields(const ClientOptions*) {
  using C = ClientOptions;
  using options::kFlag, options::kNone;
  static const auto fields =
      options::Fields<C>(options::kFlag | options::kRecord)
          .add("base_url", &C::base_url, "endpoint base URL (e.g. http://127.0.0.1:8080/v1 for llama.cpp)")
          .add("api_key", &C::api_key, "", kNone)
          .add("api_key_file", &C::api_key_file, "file holding the API key (default: $OPENROUTER_API_KEY)", kFlag)
          .add("max_concurrency", &C::max_concurrency, "requests in flight at most", kFlag)
          .add("min_concurrency", &C::min_concurrency, "", kNone)
          .add("adaptive_concurrency", &C::adaptive_concurrency, "keep the concurrency fixed on 429", kFlag)
          .flag_turns_off("no-adaptive-concurrency")
          .add("requests_per_minute", &C::requests_per_minute, "requests per minute at most (0: no limit)", kFlag)
          .flag("rpm")
          .add("max_attempts", &C::max_attempts, "attempts per request, the first included")
          .add("backoff_base_s", &C::backoff_base_s, "", kNone)
          .add("backoff_factor", &C::backoff_factor, "", kNone)
          .add("backoff_cap_s", &C::backoff_cap_s, "", kNone)
          .add("max_retry_after_s", &C::max_retry_after_s, "", kNone)
          .add("request_timeout_s", &C::request_timeout_s, "seconds per attempt", kFlag)
          .flag("request-timeout")
          .add("connect_timeout_s", &C::connect_timeout_s,
               "seconds to establish a connection, per attempt (a server that does not accept fails fast)", kFlag)
          .flag("connect-timeout")
          .add("max_response_mib", &C::max_response_mib,
               "largest response body in MiB; a larger one is abandoned and its request fails", kFlag)
          .flag("max-response-mib")
          .add("max_cost_usd", &C::max_cost_usd,
               "hard budget in USD for this run (in-flight requests count at their worst-case cost)")
          .flag("max-cost")
          .add("assume_price", &C::assume_price,
               "with --max-cost: IN,OUT USD per million prompt,completion tokens, the worst case of models the "
               "endpoint lists no price for (without it such models are refused under --max-cost)")
          .omit_unset()
          .add("count_upstream_cost", &C::count_upstream_cost,
               "bring-your-own-key: add what the upstream provider charged to the cost, the totals and --max-cost")
          .add("key_check", &C::key_check,
               "GET /key before sending: what to do when the key's remaining limit is below the estimate", kFlag)
          .add("key_recheck_every", &C::key_recheck_every,
               "GET /key again every N billed requests of a batch (0: only before the batch)", kFlag)
          .add("generation_wait_s", &C::generation_wait_s, "", kNone)
          .add("dry_run", &C::dry_run, "estimate tokens and cost from /models pricing; send nothing", kFlag)
          .add("cache_dir", &C::cache_dir, "response cache (llm-cache.sqlite) and default ledger directory")
          .add("no_cache", &C::no_cache, "neither read nor write the response cache")
          .add("refresh", &C::refresh, "ignore cached responses and overwrite them")
          .add("ledger_path", &C::ledger_path, "cost ledger JSONL (default: <cache-dir>/ledger.jsonl)", kFlag)
          .flag("ledger")
          .add("ledger_tag", &C::ledger_tag, "", kNone)
          .add("progress", &C::progress, "no progress line on stderr", kFlag)
          .flag_turns_off("no-progress")
          .add("verify_tls", &C::verify_tls, "", kNone);
  return fields;
}

// Throws w2s::Error naming the flag for a value the client cannot work with (--max-concurrency 0,
// a negative --rpm, --no-cache with --refresh, ...). The client's constructor calls it.
void validate(const ClientOptions& options);

// Per-model USD prices per token from GET /models (parsed from decimal strings).
struct Pricing {
  double prompt = 0.0;
  double completion = 0.0;
  double request = 0.0;
  std::int64_t context_length = 0;         // 0: unknown
  std::int64_t max_completion_tokens = 0;  // 0: unknown
};

// GET /key (OpenRouter only). Absent numbers mean "no limit" / "not reported".
struct KeyInfo {
  std::string label;
  std::optional<double> limit;
  std::optional<double> limit_remaining;
  double usage = 0.0;
  bool is_free_tier = false;
};

// Sums for one model.
struct ModelTotals {
  std::int64_t requests = 0;      // completed requests (sent or cached)
  std::int64_t cache_hits = 0;
  std::int64_t failed = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0.0;          // usage + pricing + generation sources
  double cost_from_usage = 0.0;   // reported by the server (usage.cost)
  double cost_from_pricing = 0.0; // /models pricing x tokens (usage.cost absent)
  double cost_from_generation = 0.0;  // GET /generation total_cost (neither of the above)
  std::int64_t cost_unknown = 0;  // requests with none of them (e.g. a local server): counted as $0
  double upstream_cost_usd = 0.0;  // BYOK upstream charges (in cost_usd only with count_upstream_cost)
  double replayed_cost_usd = 0.0;  // what the cache hits cost when they were first paid
  // Attempts abandoned at --request-timeout (timed_out), and 200 responses whose body could not be
  // read (unreadable): the server may have finished and billed them, and no cost comes back.
  // possibly_billed_usd is their worst case (prompt + max tokens at /models prices; 0 where there
  // is no price), plus the answers of models priced at --assume-price whose cost stayed unknown
  // (tokens x the assumed price); it counts against --max-cost but not in cost_usd.
  // Connection dropped after the request was sent (dropped), a 200 without usage that was retried
  // (no_usage), a body over --max-response-mib (oversize): likewise. Attempts whose response
  // carried a generation id are reconciled with GET /generation after the batch: their worst case
  // leaves possibly_billed_usd and what the server booked goes to reconciled_usd (in the
  // --max-cost spend and total_cost_usd(), not in cost_usd).
  std::int64_t timed_out = 0;
  std::int64_t unreadable = 0;
  std::int64_t dropped = 0;
  std::int64_t no_usage = 0;
  std::int64_t oversize = 0;
  double possibly_billed_usd = 0.0;
  double reconciled_usd = 0.0;
  std::int64_t refused = 0;  // answers that are refusals (Completion::refusal)
};

// Dry-run / pre-flight estimate for one model. Tokens are estimated as characters / 4 (plus 4
// per message) because no tokenizer of the remote model is available; it errs on the high side
// for English text with the Llama-3 and Qwen-2.5 tokenizers.
struct ModelEstimate {
  std::int64_t requests = 0;
  std::int64_t cached = 0;               // already in the cache: $0
  std::int64_t prompt_tokens = 0;        // estimated, uncached requests only
  std::int64_t max_completion_tokens = 0;  // sum of max_tokens, uncached requests only
  double prompt_cost_usd = 0.0;          // lower bound: prompt only
  double max_cost_usd = 0.0;             // upper bound: prompt + max_tokens completions
  bool priced = false;                   // false: the model had no /models pricing (nor an assumed one)
  bool price_assumed = false;            // priced at --assume-price (no /models pricing)
};

// Reads the key from `key_file` (trailing whitespace trimmed; warns on stderr when the file is
// readable by group or others) or, when key_file is empty, from $OPENROUTER_API_KEY.
// Returns "" when neither is set. Throws w2s::Error when the file cannot be read or is empty.
std::string resolve_api_key(const std::filesystem::path& key_file);

// Canonical cache key: SHA-256 hex of json::dump_canonical of {endpoint, model, messages,
// temperature, max_tokens, seed, top_p, stop, logprobs, top_logprobs, provider}.
std::string cache_key(const std::string& base_url, const ChatRequest& request);

// The JSON body sent to POST /chat/completions.
json::Value request_body(const ChatRequest& request);

// Estimated prompt tokens of a request: total characters of all messages / 4 + 4 per message.
std::int64_t estimate_prompt_tokens(const ChatRequest& request);

// The response cache in front of a provider that keeps none itself (the local models): a request
// is looked up under cache_key(endpoint_of(request.model), request) and replayed as a $0 cache
// hit; the others go to `inner`, and each answer is stored as it arrives, so a killed run resumes
// with every answer it had. Uses options.cache_dir, no_cache and refresh. Throws w2s::Error when
// the cache cannot be opened.
class CachedProvider : public Provider {
 public:
  using EndpointOf = std::function<std::string(const std::string& model)>;
  CachedProvider(Provider& inner, EndpointOf endpoint_of, const ClientOptions& options);
  ~CachedProvider() override;
  CachedProvider(const CachedProvider&) = delete;
  CachedProvider& operator=(const CachedProvider&) = delete;

  std::vector<Completion> run_batch(const std::vector<ChatRequest>& requests,
                                    const ResultCallback& on_result = {}) override;
  std::optional<json::Value> model_identity(const std::string& model) override {
    return inner_.model_identity(model);
  }

 private:
  struct Impl;
  Provider& inner_;
  std::unique_ptr<Impl> impl_;
};

class OpenRouterClient : public Provider {
 public:
  // Resolves the key (options.api_key, else resolve_api_key(options.api_key_file)); throws
  // w2s::Error when talking to openrouter.ai without a key (except in dry-run mode), or when the
  // cache cannot be opened. Other endpoints may be used without a key.
  explicit OpenRouterClient(ClientOptions options);
  ~OpenRouterClient() override;
  OpenRouterClient(const OpenRouterClient&) = delete;
  OpenRouterClient& operator=(const OpenRouterClient&) = delete;

  // See Provider::run_batch. Runs on the calling thread; not reentrant. Before sending, checks
  // GET /key (OpenRouter only, per options.key_check) and throws w2s::Error when the remaining
  // key limit is below the batch's worst-case estimate, or when the key is rejected (401). Also
  // throws when the endpoint cannot be reached at all (connection refused, unknown host) before it
  // ever answered: the message names the URL and the error.
  // Per-request failures never throw: 400 (bad request), 403 (moderation, with reasons),
  // exhausted retries, budget cap reached, credits exhausted (402 without Retry-After: nothing
  // more is dispatched by this client) and a rejected key (401: likewise) come back as
  // Completion{ok = false, error = "..."}.
  std::vector<Completion> run_batch(const std::vector<ChatRequest>& requests,
                                    const ResultCallback& on_result = {}) override;

  // Worst-case estimate of a batch (cache-aware) from /models pricing; sends no chat request.
  std::map<std::string, ModelEstimate> estimate(const std::vector<ChatRequest>& requests);
  // Sum of everything run_batch saw in dry-run mode.
  const std::map<std::string, ModelEstimate>& dry_run_estimate() const;

  // GET /models pricing (fetched once, then memoised). Models without pricing are absent.
  const std::map<std::string, Pricing>& pricing();
  // GET /key; nullopt when the endpoint has no /key (non-OpenRouter). Throws on 401.
  std::optional<KeyInfo> key_info();

  // Running totals of this client, per model, over all batches.
  const std::map<std::string, ModelTotals>& totals() const;
  double total_cost_usd() const;       // booked (cost_usd of every model) + reconciled
  double possibly_billed_usd() const;  // sum of ModelTotals::possibly_billed_usd
  const ClientOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace w2s::llm
