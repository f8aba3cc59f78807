// libcurl plumbing: easy-handle setup, the plain GETs of an endpoint, and the pool of transfers
// the batch loop drives on one multi handle.
#pragma once

#include <curl/curl.h>

#include <string>
#include <string_view>
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

// Resets `easy` and sets URL, headers, callbacks into `exchange`, timeouts, TLS verification,
// HTTP/2 over TLS when offered, no signals, and the body size cap (options.max_response_mib).
void setup(CURL* easy, const std::string& url, const Headers& headers, Exchange& exchange,
           const ClientOptions& options);

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
  std::string key_;
  Headers headers_;
  const ClientOptions& options_;
};

// The multi handle and the easy handles of the batch loop: at most as many easy handles exist as
// were ever in flight at once; finished ones are kept for reuse (with their connections).
class TransferPool {
 public:
  explicit TransferPool(long max_connections);
  ~TransferPool();
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;

  // Starts POST `body` to `url`; the response lands in `exchange`. `body` and `exchange` must
  // stay alive until release().
  CURL* post(const Endpoint& endpoint, const std::string& url, const std::string& body, Exchange& exchange);
  // Takes a transfer (finished or not) off the multi handle and keeps its easy handle for reuse.
  void release(CURL* easy);
  // Drives the transfers (non-blocking).
  void perform();
  // The next finished transfer and its result; nullptr when none has finished since.
  CURL* next_finished(CURLcode* result);
  // Sleeps until a socket is ready or `timeout_ms` passes.
  void wait(int timeout_ms);

 private:
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;
};

}  // namespace w2s::llm::http
