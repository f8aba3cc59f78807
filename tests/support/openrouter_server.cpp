#include "openrouter_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace w2s::test {
namespace {

// Prices are decimal strings on the wire ("0.0000004"), never exponent notation.
std::string price_string(double usd_per_token) {
  std::string s = fmt::format("{:.12f}", usd_per_token);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s.empty() ? "0" : s;
}

std::int64_t chars_over_4(std::size_t chars) { return static_cast<std::int64_t>(chars / 4); }

std::int64_t prompt_chars(const json::Value& body) {
  std::size_t n = 0;
  if (const auto* messages = body.find("messages"); messages && messages->is_array())
    for (const auto& m : messages->as_array()) n += m.get_string("content").size();
  return static_cast<std::int64_t>(n);
}

// The socket of the connection that carried a request, found by the client's port: httplib does
// not expose it, and a connection reset needs it.
int find_connection_socket(int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (peer.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port) == remote_port) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Debian's compiled cpp-httplib listens with a backlog of 5: a burst of connects overflows it
// and the dropped SYNs cost the client a 1 s retransmit. listen() again on the listening socket
// raises the backlog.
void widen_listen_backlog(int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    if (local.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port) != local_port) continue;
    int listening = 0;
    socklen_t optlen = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening)
      ::listen(fd, 4096);
  }
  closedir(dir);
}

void reset_connection(int remote_port) {
  int fd = find_connection_socket(remote_port);
  if (fd < 0) return;
  linger hard{1, 0};  // close() then sends RST instead of FIN
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  shutdown(fd, SHUT_RDWR);
}

json::Value default_logprobs(const std::string& content, const json::Value& request) {
  int top = static_cast<int>(request.get_int("top_logprobs", 0));
  json::Value tops = json::Value::array();
  const char* letters[] = {"A", "B", "C", "D", "E"};
  double lp = -0.05;
  for (int i = 0, k = 0; i < 5 && k < top; ++i) {
    if (content == letters[i]) continue;
    lp -= 1.0;
    tops.push_back(json::Object{{"token", letters[i]}, {"logprob", lp}, {"bytes", nullptr}});
    ++k;
  }
  json::Array top_with_own;
  if (top > 0) {
    top_with_own.push_back(json::Object{{"token", content}, {"logprob", -0.05}, {"bytes", nullptr}});
    for (const auto& t : tops.as_array()) {
      if (static_cast<int>(top_with_own.size()) >= top) break;
      top_with_own.push_back(t);
    }
  }
  json::Value token = json::Object{{"token", content}, {"logprob", -0.05}, {"bytes", nullptr},
                                   {"top_logprobs", json::Value(top_with_own)}};
  return json::Object{{"content", json::Array{token}}, {"refusal", nullptr}};
}

}  // namespace

json::Value default_models(const ServerOptions& options) {
  json::Array data;
  for (const char* id : {"test/small", "test/large", "meta-llama/llama-3.1-8b-instruct",
                         "meta-llama/llama-3.1-70b-instruct", "qwen/qwen-2.5-72b-instruct"}) {
    data.push_back(json::Object{
        {"id", id},
        {"canonical_slug", id},
        {"name", id},
        {"context_length", 131072},
        {"top_provider", json::Object{{"context_length", 131072},
                                      {"max_completion_tokens", 16384},
                                      {"is_moderated", false}}},
        {"pricing", json::Object{{"prompt", price_string(options.prompt_price)},
                                 {"completion", price_string(options.completion_price)},
                                 {"request", price_string(options.request_price)},
                                 {"image", "0"},
                                 {"web_search", "0"},
                                 {"internal_reasoning", "0"}}}});
  }
  // Listed without a price, as local servers (vLLM, llama.cpp, Ollama) list their models.
  for (const char* id : {"test/unpriced", "vendor/unpriced", "unpriced/byok", "local/unpriced"})
    data.push_back(json::Object{{"id", id}, {"object", "model"}, {"owned_by", "test"}});
  return json::Value(data);
}

ServedCompletion served_completion(const json::Value& request, const Reply& r, const std::string& id, const ServerOptions& options) {
  ServedCompletion c;
  c.prompt_tokens = r.prompt_tokens.value_or(chars_over_4(prompt_chars(request)));
  c.completion_tokens = r.completion_tokens.value_or(std::max<std::int64_t>(1, chars_over_4(r.content.size())));
  c.cost = r.cost.value_or(c.prompt_tokens * options.prompt_price + c.completion_tokens * options.completion_price +
                           options.request_price);
  json::Value message = json::Object{{"role", "assistant"}, {"content", r.content}};
  if (r.content_parts) message.set("content", *r.content_parts);
  if (r.null_content) message.set("content", nullptr);
  if (r.refusal) message.set("refusal", *r.refusal);
  if (r.reasoning) message.set(r.reasoning_field, *r.reasoning);
  json::Value choice = json::Object{{"index", 0}};
  if (r.logprobs)
    choice.set("logprobs", *r.logprobs);
  else if (request.get_bool("logprobs"))
    choice.set("logprobs", default_logprobs(r.content, request));
  else
    choice.set("logprobs", nullptr);
  choice.set("finish_reason", r.finish_reason);
  choice.set("native_finish_reason", r.finish_reason);
  choice.set("message", message);
  if (r.choice_error) choice.set("error", *r.choice_error);

  json::Value usage = json::Object{
      {"prompt_tokens", c.prompt_tokens},
      {"completion_tokens", c.completion_tokens},
      {"total_tokens", c.prompt_tokens + c.completion_tokens},
      {"prompt_tokens_details", json::Object{{"cached_tokens", r.cached_tokens}}},
      {"completion_tokens_details", json::Object{{"reasoning_tokens", r.reasoning_tokens}}}};
  if (!r.omit_cost) {
    usage.set("cost", c.cost);
    usage.set("is_byok", r.byok);
  }
  // What billed_cost() adds up: the usage.cost sent, or the whole cost when the reply has no usage
  // at all (billed all the same); a usage without its cost counts nothing.
  c.billed = r.omit_cost && !r.omit_usage ? 0.0 : c.cost;
  if (r.upstream_cost) usage.set("cost_details", json::Object{{"upstream_inference_cost", *r.upstream_cost}});
  c.body = json::Object{{"id", id}};
  if (!r.omit_provider) c.body.set("provider", r.provider);
  c.body.set("model", request.get_string("model"));
  c.body.set("object", "chat.completion");
  c.body.set("created", static_cast<std::int64_t>(std::time(nullptr)));
  c.body.set("choices", r.empty_choices ? json::Value::array() : json::Value(json::Array{choice}));
  if (!r.omit_usage) c.body.set("usage", usage);
  return c;
}

Reply Reply::ok(std::string content) {
  Reply r;
  r.content = std::move(content);
  return r;
}

Reply Reply::error(int status, std::string message, json::Value metadata) {
  Reply r;
  r.status = status;
  json::Value err = json::Object{{"code", status}, {"message", std::move(message)}};
  if (!metadata.is_null()) err.set("metadata", std::move(metadata));
  r.body = json::Object{{"error", std::move(err)}};
  return r;
}

Reply Reply::in_flight_402(std::string retry_after) {
  Reply r = error(402, "In-flight spending budget exceeded",
                  json::Object{{"limit_source", "openrouter_in_flight_budget"}});
  r.headers["Retry-After"] = std::move(retry_after);
  return r;
}

Reply Reply::free_models_per_day(std::int64_t reset_epoch_ms, int limit) {
  Reply r = error(429, fmt::format("Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free "
                                   "model requests per day"),
                  json::Object{{"headers", json::Object{{"X-RateLimit-Limit", std::to_string(limit)},
                                                        {"X-RateLimit-Remaining", "0"},
                                                        {"X-RateLimit-Reset", std::to_string(reset_epoch_ms)}}},
                               {"provider_name", nullptr}});
  r.headers["X-RateLimit-Limit"] = std::to_string(limit);
  r.headers["X-RateLimit-Remaining"] = "0";
  r.headers["X-RateLimit-Reset"] = std::to_string(reset_epoch_ms);
  return r;
}

std::string event_stream_of(const json::Value& body) {
  const json::Value& choice = body.at("choices").at(0);
  const json::Value& message = choice.at("message");
  auto chunk = [&](json::Value delta, json::Value finish_reason) {
    json::Value c = json::Object{{"id", body.at("id")}, {"provider", body.get_string("provider", "TestProvider")},
                                 {"model", body.at("model")}, {"object", "chat.completion.chunk"},
                                 {"created", body.at("created")}};
    c.set("choices", json::Array{json::Object{{"index", 0}, {"delta", std::move(delta)},
                                              {"finish_reason", std::move(finish_reason)}}});
    return c;
  };
  std::string out = ": OPENROUTER PROCESSING\n\n";
  out += "data: " + json::dump(chunk(json::Object{{"role", "assistant"}, {"content", ""}}, nullptr)) + "\n\n";
  if (const json::Value* reasoning = message.find("reasoning"); reasoning && reasoning->is_string())
    out += "data: " + json::dump(chunk(json::Object{{"reasoning", *reasoning}}, nullptr)) + "\n\n";
  if (const json::Value* refusal = message.find("refusal"); refusal && refusal->is_string())
    out += "data: " + json::dump(chunk(json::Object{{"refusal", *refusal}}, nullptr)) + "\n\n";
  const std::string content = message.get_string("content");
  const json::Value* logprobs = choice.find("logprobs");
  for (std::size_t at = 0; at < content.size(); at += 3) {
    json::Value c = chunk(json::Object{{"content", content.substr(at, 3)}}, nullptr);
    if (at == 0 && logprobs && logprobs->is_object())  // every token's logprobs with the first delta
      c["choices"].as_array()[0].set("logprobs", *logprobs);
    out += "data: " + json::dump(c) + "\n\n";
    out += ": OPENROUTER PROCESSING\n\n";
  }
  json::Value last = chunk(json::Object{{"content", ""}}, choice.at("finish_reason"));
  if (const json::Value* usage = body.find("usage")) last.set("usage", *usage);
  out += "data: " + json::dump(last) + "\n\n";
  out += "data: [DONE]\n\n";
  return out;
}

Reply Reply::fault_reply(Fault f) {
  Reply r;
  r.fault = f;
  return r;
}

Reply& Reply::with_retry_after(std::string value) {
  headers["Retry-After"] = std::move(value);
  return *this;
}
Reply& Reply::with_latency(double seconds) {
  latency_s = seconds;
  return *this;
}
Reply& Reply::with_cost(double usd) {
  cost = usd;
  return *this;
}
Reply& Reply::without_cost() {
  omit_cost = true;
  return *this;
}
Reply& Reply::with_header(std::string name, std::string value) {
  headers[std::move(name)] = std::move(value);
  return *this;
}

Reply Reply::cut_off_while_reasoning(std::string reasoning, std::int64_t max_tokens) {
  Reply r;
  r.null_content = true;
  r.reasoning = std::move(reasoning);
  r.finish_reason = "length";
  r.completion_tokens = max_tokens;
  r.reasoning_tokens = max_tokens;
  return r;
}

struct OpenRouterServer::Impl {
  ServerOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  mutable std::mutex mu;
  mutable std::condition_variable idle;
  Policy policy;
  json::Value models;
  std::optional<json::Value> key;
  std::map<std::string, int> attempts_by_body;
  std::map<std::string, json::Value> generations;
  std::map<std::string, int> generation_lookups;
  int generation_requests = 0;
  int key_requests = 0;
  std::vector<json::Value> bodies;
  std::vector<std::string> authorizations;
  std::vector<std::string> accept_encodings;
  std::vector<double> arrivals;
  int chat_requests = 0;
  int completed = 0;
  double billed = 0.0;
  double billed_upstream = 0.0;
  int in_flight = 0;
  int max_in_flight = 0;
  std::uint64_t next_generation = 0;

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + options.api_key) return true;
    res.status = 401;
    res.set_content(R"({"error":{"code":401,"message":"No auth credentials found"}})",
                    "application/json");
    return false;
  }

  json::Value completion_body(const json::Value& request, const Reply& r, double* cost_out) {
    std::string id;
    {
      std::lock_guard lock(mu);
      id = fmt::format("gen-{}-{}", port, ++next_generation);
    }
    ServedCompletion c = served_completion(request, r, id, options);
    *cost_out = c.billed;
    std::lock_guard lock(mu);
    if (r.upstream_cost) billed_upstream += *r.upstream_cost;
    generations[id] = json::Object{
        {"id", id},
        {"total_cost", c.cost},
        {"model", request.get_string("model")},
        {"provider_name", r.provider},
        {"tokens_prompt", c.prompt_tokens},
        {"tokens_completion", c.completion_tokens},
        {"native_tokens_cached", r.cached_tokens},
        {"finish_reason", r.finish_reason}};
    return std::move(c.body);
  }

  void handle_chat(const httplib::Request& req, httplib::Response& res) {
    const double arrival = monotonic_seconds();
    {
      std::lock_guard lock(mu);
      ++chat_requests;
      authorizations.push_back(req.get_header_value("Authorization"));
      accept_encodings.push_back(req.get_header_value("Accept-Encoding"));
      arrivals.push_back(arrival);
      max_in_flight = std::max(max_in_flight, ++in_flight);
    }
    struct Leave {
      Impl* self;
      ~Leave() {
        std::lock_guard lock(self->mu);
        if (--self->in_flight == 0) self->idle.notify_all();
      }
    } leave{this};
    if (!authorized(req, res)) return;

    json::Value request;
    try {
      request = json::parse(req.body, "request body");
    } catch (const Error& e) {
      res.status = 400;
      res.set_content(json::dump(Reply::error(400, e.what()).body.value()), "application/json");
      return;
    }
    int attempt;
    Policy current;
    {
      std::lock_guard lock(mu);
      bodies.push_back(request);
      attempt = ++attempts_by_body[sha256_hex(json::dump_canonical(request))];
      current = policy;
    }
    Reply r = current ? current(request, attempt) : default_policy(request, attempt);
    const std::int64_t top_logprobs = request.get_int("top_logprobs", 0);
    if (options.max_top_logprobs && top_logprobs > *options.max_top_logprobs)
      r = Reply::error(400, fmt::format("Requested sample logprobs of {}, which is greater than max allowed: {}",
                                        top_logprobs, *options.max_top_logprobs));
    if (r.latency_s > 0)
      std::this_thread::sleep_for(std::chrono::duration<double>(r.latency_s));

    if (r.fault == Reply::Fault::ResetConnection) {
      reset_connection(req.remote_port);
      return;
    }
    if (r.fault == Reply::Fault::BilledThenReset) {
      double cost = 0.0;
      completion_body(request, r, &cost);
      {
        std::lock_guard lock(mu);
        billed += cost;
      }
      reset_connection(req.remote_port);
      return;
    }

    std::string text;
    double cost = 0.0;
    if (r.raw_body) {
      text = *r.raw_body;
    } else if (r.body) {
      text = json::dump(*r.body);
    } else {
      const json::Value body = completion_body(request, r, &cost);
      res.set_header("X-Generation-Id", body.get_string("id"));
      text = r.stream ? event_stream_of(body) : json::dump(body);
      if (r.wire) text = r.wire(text);
    }
    // A completion was generated (whatever becomes of its body on the way): it is billed, as on
    // OpenRouter, and so is an error during generation.
    const bool generated = r.status == 200 && !r.raw_body && !r.body;
    if (generated) {
      std::lock_guard lock(mu);
      billed += cost;
      if (!r.empty_choices && !r.choice_error && r.finish_reason != "error") ++completed;
    }
    res.status = r.status;
    for (const auto& [name, value] : r.headers) res.set_header(name, value);

    if (r.fault == Reply::Fault::Truncate) {
      auto shared = std::make_shared<std::string>(std::move(text));
      res.set_content_provider(
          shared->size(), "application/json",
          [shared](size_t offset, size_t, httplib::DataSink& sink) {
            if (offset > 0) return false;
            sink.write(shared->data(), shared->size() / 2);
            return false;  // abandon the response: the client sees a short body
          });
      return;
    }
    if (r.fault == Reply::Fault::SlowBody) {
      auto shared = std::make_shared<std::string>(std::move(text));
      const std::size_t pieces = 10;
      const double pause = r.slow_body_s / pieces;
      res.set_content_provider(
          shared->size(), "application/json",
          [shared, pieces, pause](size_t offset, size_t, httplib::DataSink& sink) {
            std::size_t piece = std::max<std::size_t>(1, shared->size() / pieces);
            std::size_t n = std::min(piece, shared->size() - offset);
            std::this_thread::sleep_for(std::chrono::duration<double>(pause));
            return sink.write(shared->data() + offset, n);
          });
    } else {
      res.set_content(text, r.stream ? "text/event-stream" : "application/json");
    }
  }
};

Reply OpenRouterServer::default_policy(const json::Value& request_body, int) {
  std::string digest = sha256_hex(json::dump_canonical(request_body.find("messages")
                                                           ? request_body.at("messages")
                                                           : request_body));
  static const char* letters[] = {"A", "B", "C", "D"};
  return Reply::ok(letters[std::stoi(digest.substr(0, 2), nullptr, 16) % 4]);
}

OpenRouterServer::OpenRouterServer(Policy policy, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  s.policy = std::move(policy);
  s.models = default_models(s.options);
  const int threads = std::max(1, options.threads);
  s.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.server.set_keep_alive_max_count(1000000);
  s.server.set_keep_alive_timeout(30);
  s.server.set_payload_max_length(64 << 20);
  // Accepted sockets inherit TCP_NODELAY from the listening socket; without it Nagle holds the
  // response body behind its headers until the client's delayed ACK (40 ms per request).
  s.server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });

  s.server.Post("/api/v1/chat/completions",
                [&s](const httplib::Request& req, httplib::Response& res) { s.handle_chat(req, res); });
  s.server.Get("/api/v1/models", [&s](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(s.mu);
    res.set_content(json::dump(json::Object{{"data", s.models}}), "application/json");
  });
  s.server.Get("/api/v1/key", [&s](const httplib::Request& req, httplib::Response& res) {
    if (!s.authorized(req, res)) return;
    std::lock_guard lock(s.mu);
    ++s.key_requests;
    const json::Value limit = s.options.key_limit ? json::Value(*s.options.key_limit) : nullptr;
    const json::Value remaining =
        s.options.key_limit ? json::Value(*s.options.key_limit - s.billed) : nullptr;
    json::Value data = s.key ? *s.key
                             : json::Value(json::Object{{"label", "sk-or-v1-abc...xyz"},
                                                        {"limit", limit},
                                                        {"limit_reset", nullptr},
                                                        {"limit_remaining", remaining},
                                                        {"include_byok_in_limit", false},
                                                        {"usage", s.billed},
                                                        {"is_free_tier", false}});
    res.set_content(json::dump(json::Object{{"data", data}}), "application/json");
  });
  s.server.Get("/api/v1/generation", [&s](const httplib::Request& req, httplib::Response& res) {
    if (!s.authorized(req, res)) return;
    std::lock_guard lock(s.mu);
    ++s.generation_requests;
    const std::string id = req.get_param_value("id");
    auto it = s.generations.find(id);
    const bool not_yet = ++s.generation_lookups[id] <= s.options.generation_not_found_first;
    if (!s.options.serve_generation || not_yet || it == s.generations.end()) {
      res.status = 404;
      res.set_content(R"({"error":{"code":404,"message":"Generation not found"}})",
                      "application/json");
      return;
    }
    res.set_content(json::dump(json::Object{{"data", it->second}}), "application/json");
  });

  s.port = s.server.bind_to_any_port("127.0.0.1");
  if (s.port <= 0) throw Error("OpenRouterServer: cannot bind 127.0.0.1");
  widen_listen_backlog(s.port);
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  while (!s.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

OpenRouterServer::~OpenRouterServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int OpenRouterServer::port() const { return impl_->port; }
std::string OpenRouterServer::base_url() const {
  return fmt::format("http://127.0.0.1:{}/api/v1", impl_->port);
}
void OpenRouterServer::set_policy(Policy policy) {
  std::lock_guard lock(impl_->mu);
  impl_->policy = std::move(policy);
}
void OpenRouterServer::set_models(json::Value data) {
  std::lock_guard lock(impl_->mu);
  impl_->models = std::move(data);
}
void OpenRouterServer::set_key(json::Value data) {
  std::lock_guard lock(impl_->mu);
  impl_->key = std::move(data);
}
int OpenRouterServer::chat_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->chat_requests;
}
int OpenRouterServer::completed_chat_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->completed;
}
double OpenRouterServer::billed_cost() const {
  std::lock_guard lock(impl_->mu);
  return impl_->billed;
}
double OpenRouterServer::billed_upstream_cost() const {
  std::lock_guard lock(impl_->mu);
  return impl_->billed_upstream;
}
std::vector<json::Value> OpenRouterServer::received_bodies() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bodies;
}
std::vector<std::string> OpenRouterServer::authorization_headers() const {
  std::lock_guard lock(impl_->mu);
  return impl_->authorizations;
}
std::vector<std::string> OpenRouterServer::accept_encoding_headers() const {
  std::lock_guard lock(impl_->mu);
  return impl_->accept_encodings;
}
std::vector<double> OpenRouterServer::arrival_times() const {
  std::lock_guard lock(impl_->mu);
  return impl_->arrivals;
}
int OpenRouterServer::max_in_flight() const {
  std::lock_guard lock(impl_->mu);
  return impl_->max_in_flight;
}
int OpenRouterServer::generation_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->generation_requests;
}
int OpenRouterServer::key_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->key_requests;
}
void OpenRouterServer::wait_until_idle() const {
  std::unique_lock lock(impl_->mu);
  impl_->idle.wait(lock, [this] { return impl_->in_flight == 0; });
}

int refused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("refused_port: no socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);  // bound but never listening, and now closed: connections are refused
  if (!bound) throw Error("refused_port: cannot bind 127.0.0.1");
  return ntohs(addr.sin_port);
}

BlackholeListener::BlackholeListener() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0 || filler_ < 0) throw Error("BlackholeListener: no socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  // Backlog 0: Linux queues one connection; the filler takes that place, later SYNs are dropped.
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 0) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::connect(filler_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw Error("BlackholeListener: cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
}

BlackholeListener::~BlackholeListener() {
  ::close(filler_);
  ::close(listener_);
}

}  // namespace w2s::test
