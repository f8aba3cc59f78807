// An in-process HTTP server (cpp-httplib, 127.0.0.1, ephemeral port) that speaks the OpenRouter
// protocol: POST /chat/completions, GET /models, GET /key, GET /generation?id=.
//
// Each chat request is answered by a scriptable policy: a callback receives the parsed request
// body and returns a Reply (content as a string, null or a list of typed parts; reasoning text and
// tokens; usage, cost, bring-your-own-key upstream cost; provider; logprobs) or a fault (status
// codes with OpenRouter error bodies and any rate-limit headers, errors inside HTTP 200, bodies
// that are not strict JSON, truncated bodies, connection resets, latency, slow bodies). Without a policy the server answers
// deterministically (default_policy). The server counts and records every request so tests can
// check what the client sent.
//
//   w2s::test::OpenRouterServer server;                     // default policy
//   server.set_policy([](const w2s::json::Value& body, int n) {
//     if (n == 1) return Reply::error(429, "slow down").with_retry_after("0");
//     return Reply::ok("B");
//   });
//   client_options.base_url = server.base_url();            // "http://127.0.0.1:PORT/api/v1"
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "w2s/core.h"

namespace w2s::test {

struct Reply {
  enum class Fault {
    None,
    ResetConnection,  // close the connection (RST) without any response
    Truncate,         // send headers and half the body, then close
    SlowBody,         // send the body in small pieces over slow_body_s seconds
    BilledThenReset,  // generate and bill the completion, then close the connection (RST) unanswered
  };

  // A successful completion (status 200) unless `status` or a body override says otherwise.
  int status = 200;
  std::string content = "A";
  std::string finish_reason = "stop";
  std::optional<double> cost;              // usage.cost; nullopt: computed from the price table
  bool omit_cost = false;                  // no usage.cost at all; GET /generation still has it
  bool omit_usage = false;                 // no usage object; billed all the same (GET /generation has it)
  std::optional<std::string> refusal;      // message.refusal (a model that declines in words)
  // The completion as server-sent events although "stream": false was asked (a gateway that
  // streams anyway): a keep-alive comment, a role chunk, the content in 3-character deltas, a last
  // chunk with finish_reason and usage, then [DONE].
  bool stream = false;
  std::optional<std::int64_t> prompt_tokens;      // default: characters / 4 of the messages
  std::optional<std::int64_t> completion_tokens;  // default: characters / 4 of content, >= 1
  std::int64_t cached_tokens = 0;
  std::string provider = "TestProvider";
  bool omit_provider = false;
  std::optional<json::Value> logprobs;     // choices[0].logprobs; default: derived when requested
  std::optional<json::Value> choice_error; // choices[0].error (an error inside HTTP 200)
  bool empty_choices = false;              // "choices": []

  // Reasoning models. `content_parts` replaces message.content with a list of typed parts
  // ({"type":"thinking",...}, {"type":"text","text":...}); `null_content` sends content: null.
  // `reasoning` goes into message.<reasoning_field> ("reasoning" as OpenRouter, "reasoning_content"
  // as DeepSeek and vLLM); reasoning_tokens into usage.completion_tokens_details.
  std::optional<json::Value> content_parts;
  bool null_content = false;
  std::optional<std::string> reasoning;
  std::string reasoning_field = "reasoning";
  std::int64_t reasoning_tokens = 0;

  // Bring-your-own-key: usage.is_byok and usage.cost_details.upstream_inference_cost.
  bool byok = false;
  std::optional<double> upstream_cost;

  // The completion body as it goes on the wire: strict JSON text in, bytes out (keep-alive lines
  // before it, garbage after it, NaN, comments, ...). The server bills it like any completion.
  std::function<std::string(const std::string&)> wire;

  std::optional<json::Value> body;  // full JSON body override (sent with `status`)
  std::optional<std::string> raw_body;  // raw text override (malformed JSON)
  std::map<std::string, std::string> headers;  // extra response headers (Retry-After, X-RateLimit-Reset, ...)

  double latency_s = 0.0;  // wait before answering
  Fault fault = Fault::None;
  double slow_body_s = 0.0;

  static Reply ok(std::string content);
  // OpenRouter error body {"error": {"code": status, "message": ..., "metadata": ...}}.
  static Reply error(int status, std::string message, json::Value metadata = nullptr);
  // 402 of the in-flight budget kind (metadata.limit_source + Retry-After).
  static Reply in_flight_402(std::string retry_after = "0");
  static Reply fault_reply(Fault f);
  // OpenRouter's daily cap of free models: 429 "Rate limit exceeded: free-models-per-day ..." with
  // X-RateLimit-Limit, X-RateLimit-Remaining 0 and X-RateLimit-Reset (epoch milliseconds).
  static Reply free_models_per_day(std::int64_t reset_epoch_ms, int limit = 50);
  // A reasoning model that spent all of max_tokens thinking: content null, the text in
  // message.reasoning, finish_reason "length", every completion token a reasoning token.
  static Reply cut_off_while_reasoning(std::string reasoning, std::int64_t max_tokens);

  Reply& with_retry_after(std::string value);
  Reply& with_latency(double seconds);
  Reply& with_cost(double usd);
  Reply& without_cost();  // omit_cost: no usage.cost in the reply
  Reply& with_header(std::string name, std::string value);
};

// `attempt` counts chat requests with this exact body seen so far, this one included (1 = first).
using Policy = std::function<Reply(const json::Value& request_body, int attempt)>;

struct ServerOptions {
  int threads = 64;           // httplib worker threads (one per open connection)
  std::string api_key;        // when non-empty: chat and /key demand "Bearer <api_key>" (else 401)
  double prompt_price = 0.0000004;      // USD per token, served as decimal strings by /models
  double completion_price = 0.0000008;
  double request_price = 0.0;
  // GET /generation: false answers 404 for every id (as a server without the endpoint would);
  // otherwise each id answers 404 this many times before its record appears (OpenRouter makes
  // it queryable a few seconds after the completion).
  bool serve_generation = true;
  int generation_not_found_first = 0;
  // GET /key without set_key(): when set, "limit" is this and "limit_remaining" is it minus the
  // cost billed so far; otherwise both are null (no limit).
  std::optional<double> key_limit;
  // When set, a chat request asking for more top_logprobs is refused with vLLM's 400
  // ("Requested sample logprobs of N, which is greater than max allowed: M").
  std::optional<int> max_top_logprobs;
};

// A 200 completion answering `request` as `reply` says, under generation id `id`: its body, its
// token counts (the reply's, else characters / 4), its cost (the reply's, else from `options`'
// prices) and what billed_cost() counts of it. The server answers with it, and so does the bench's
// event-driven server (bench/llm/bench_llm_server.cpp), so both give the client the same answers.
struct ServedCompletion {
  json::Value body;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost = 0.0;
  double billed = 0.0;
};
ServedCompletion served_completion(const json::Value& request, const Reply& reply, const std::string& id,
                      const ServerOptions& options);

// GET /models' `data` by default: the test models test/small and test/large and the reference
// study's three, priced as `options` says; test/unpriced, vendor/unpriced, unpriced/byok and
// local/unpriced without a price.
json::Value default_models(const ServerOptions& options);

class OpenRouterServer {
 public:
  explicit OpenRouterServer(Policy policy = {}, ServerOptions options = {});
  ~OpenRouterServer();
  OpenRouterServer(const OpenRouterServer&) = delete;
  OpenRouterServer& operator=(const OpenRouterServer&) = delete;

  int port() const;
  std::string base_url() const;  // http://127.0.0.1:<port>/api/v1
  // The policy runs on the server's threads until the server is destroyed: it may refer only to
  // what outlives the server (declared before it), and takes anything else by value.
  void set_policy(Policy policy);

  // The deterministic default: content = the letter (A-D) picked from sha256 of the body, usage
  // from character counts, cost from the price table, provider "TestProvider".
  static Reply default_policy(const json::Value& request_body, int attempt);

  // Overrides for GET /models (`data` array; default_models by default) and GET /key (`data` object).
  void set_models(json::Value data);
  void set_key(json::Value data);

  // Observations.
  int chat_requests() const;                        // POST /chat/completions received
  int completed_chat_requests() const;              // answered 200 with a completion
  // Sum of usage.cost of every 200 reply with usage (errors during generation included), also
  // of replies the client gave up waiting for.
  double billed_cost() const;
  double billed_upstream_cost() const;              // BYOK: upstream_inference_cost sent in 200s
  std::vector<json::Value> received_bodies() const; // in arrival order
  std::vector<std::string> authorization_headers() const;
  std::vector<std::string> accept_encoding_headers() const;  // per chat request, "" when absent
  std::vector<double> arrival_times() const;        // monotonic_seconds() per chat request
  int max_in_flight() const;                        // highest number of concurrent chat handlers
  int generation_requests() const;                  // GET /generation received
  int key_requests() const;                         // GET /key received
  // Blocks until no chat request is being handled (replies the client stopped waiting for are
  // still billed when their handler finishes).
  void wait_until_idle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The completion body (strict JSON) as OpenRouter streams it: see Reply::stream.
std::string event_stream_of(const json::Value& completion_body);

// A loopback port nobody listens on: connecting to it is refused at once (an unreachable endpoint).
int refused_port();

// A loopback listener that never accepts, its queue already full: a connection to it is neither
// refused nor set up (the SYN is dropped), as with a server that is down behind a firewall or
// overwhelmed. Only a connect timeout ends such an attempt.
class BlackholeListener {
 public:
  BlackholeListener();
  ~BlackholeListener();
  BlackholeListener(const BlackholeListener&) = delete;
  BlackholeListener& operator=(const BlackholeListener&) = delete;
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int filler_ = -1;  // the one connection the queue holds
  int port_ = 0;
};

}  // namespace w2s::test
