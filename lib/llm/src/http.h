// libcurl plumbing: easy-handle setup, the plain GETs of an endpoint, and the pool of transfers
// the batch loop drives on one multi handle (curl's socket interface over epoll).
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rate_limit_headers.h"
#include "w2s/llm.h"

namespace w2s::llm::http {

// Buffers of one exchange; must outlive the easy handle's transfer.
struct Exchange {
  std::string body;
  retry::HeaderMap rate_limit_headers;  // Retry-After, X-RateLimit-*, ... (lower-case names)
  std::string generation_id;            // X-Generation-Id, when sent (before the body: kept if it is lost)
  // Bodies longer than this are abandoned (the transfer ends with CURLE_WRITE_ERROR, oversize set).
  std::size_t max_body_bytes = 0;
  bool oversize = false;
  char error[CURL_ERROR_SIZE] = {};
};

// Owns a header list: Authorization (when a key is given), JSON content type, no
// "Expect: 100-continue" (it costs a round trip on every large POST).
class Headers {
 public:
  explicit Headers(const std::string& api_key);
  ~Headers();
  Headers(const Headers&) = delete;
  Headers& operator=(const Headers&) = delete;
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

void global_init();

// Whether `url` names this machine (localhost, 127.0.0.0/8, ::1): answers there are not worth
// compressing (see accept_gzip).
bool is_loopback_url(const std::string& url);

// gzip pays for answers of some kilobytes over a network; on loopback, or for a short answer (a
// letter, a few tokens), inflating it costs more CPU than the bytes it saves. So a chat request asks
// for it only from another host, and only when its answer can be long: no max_tokens, or
// max_tokens (times 2 + top_logprobs with logprobs: each token then carries a list) above
// kGzipFromTokens.
inline constexpr std::int64_t kGzipFromTokens = 256;
bool wants_gzip(bool loopback, const ChatRequest& request);

// On an easy handle set up by `setup`: Accept-Encoding: gzip, or none.
void accept_gzip(CURL* easy, bool gzip);

// Sets up a fresh easy handle for `url`: headers, callbacks, timeouts, TLS verification, HTTP/2
// over TLS when offered, no signals. These stay for every transfer of the handle; bind() then
// points it at the buffers of one exchange.
void setup(CURL* easy, const std::string& url, const Headers& headers, const ClientOptions& options);
// Points `easy`'s callbacks at `exchange` and sets its body size cap (options.max_response_mib).
void bind(CURL* easy, Exchange& exchange, const ClientOptions& options);

struct GetResult {
  CURLcode code = CURLE_OK;
  std::string message;  // curl's error text
  long status = 0;
  std::string body;
};

// The server the client talks to: its base URL, the request headers (with the key) and the
// transfer options. It is the one holder of the key, and scrubs it out of any text.
class Endpoint {
 public:
  Endpoint(std::string base_url, std::string api_key, const ClientOptions& options);
  const std::string& base_url() const { return base_url_; }
  bool loopback() const { return loopback_; }
  const Headers& headers() const { return headers_; }
  const ClientOptions& options() const { return options_; }
  // openrouter.ai itself (other servers may speak its protocol too: see KeyGuard).
  bool is_openrouter() const;
  bool has_key() const { return !key_.empty(); }
  // A blocking GET of base_url + path_and_query (/models, /key, /generation?id=).
  GetResult get(std::string_view path_and_query) const;
  // `text` with every occurrence of the key replaced by "[redacted]".
  std::string scrub(std::string text) const;

 private:
  std::string base_url_;
  bool loopback_ = false;
  std::string key_;
  Headers headers_;
  const ClientOptions& options_;
};

// The multi handle and the easy handles of the batch loop: at most as many easy handles exist as
// were ever in flight at once; finished ones are kept for reuse (with their settings and
// connections).
//
// Driven through curl's socket interface: curl says which sockets to watch (kept in an epoll set)
// and when its next timeout is due, and only the transfers whose sockets are ready (or whose
// timeout is due) are run. curl_multi_perform would instead visit every transfer on every turn,
// and poll each one's socket once more (a system call per transfer in flight per turn).
class TransferPool {
 public:
  // POSTs go to `url` of `endpoint` (both must outlive the pool).
  TransferPool(const Endpoint& endpoint, std::string url, long max_connections);
  ~TransferPool();
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;

  // Starts POST `body`; the response lands in `exchange`. `body` and `exchange` must stay alive
  // until release().
  CURL* post(std::string_view body, Exchange& exchange, bool gzip);
  // Takes a transfer (finished or not) off the multi handle and keeps its easy handle for reuse.
  void release(CURL* easy);
  // Runs what is due (curl's timeout: new transfers start there); non-blocking.
  void perform();
  // The next finished transfer and its result; nullptr when none has finished since.
  CURL* next_finished(CURLcode* result);
  // Sleeps until a socket is ready, curl's timeout is due or `timeout_ms` passes, and runs the
  // transfers of the ready sockets.
  void wait(int timeout_ms);

 private:
  static int on_socket(CURL* easy, curl_socket_t socket, int what, void* pool, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* pool);
  void run_timeout();

  const Endpoint& endpoint_;
  std::string url_;
  CURLM* multi_ = nullptr;
  int epoll_ = -1;
  // When curl's timeout is due (monotonic seconds); negative: none set.
  double timeout_at_ = -1.0;
  std::vector<CURL*> idle_;
  // The sockets in the epoll set: the events asked for, and whether curl watches the socket now
  // (otherwise it is parked: see on_socket).
  struct Watched {
    std::uint32_t events = 0;
    bool curl_watches = false;
  };
  std::unordered_map<curl_socket_t, Watched> sockets_;
};

}  // namespace w2s::llm::http
