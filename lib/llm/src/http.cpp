#include "http.h"

#include <cctype>
#include <mutex>

#include "internal.h"
#include "w2s/core.h"

namespace w2s::llm::http {
namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  if (ex->body.size() + size * n > ex->max_body_bytes) {
    ex->oversize = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  ex->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100): start over
    ex->rate_limit_headers.clear();
    ex->generation_id.clear();
    return size * n;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  const std::string name = ascii_lower(std::string(line.substr(0, colon)));
  const bool generation_id = name == "x-generation-id";
  if (!generation_id && !retry::is_rate_limit_header(name)) return size * n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
  if (generation_id)
    ex->generation_id = std::string(value);
  else
    ex->rate_limit_headers[std::move(name)] = std::string(value);
  return size * n;
}

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Headers::Headers(const std::string& api_key) {
  if (!api_key.empty()) list_ = curl_slist_append(list_, ("Authorization: Bearer " + api_key).c_str());
  list_ = curl_slist_append(list_, "Content-Type: application/json");
  list_ = curl_slist_append(list_, "Expect:");
  list_ = curl_slist_append(list_, "X-OpenRouter-Title: w2s");
}

Headers::~Headers() { curl_slist_free_all(list_); }

void setup(CURL* easy, const std::string& url, const Headers& headers, Exchange& ex,
           const ClientOptions& o) {
  curl_easy_reset(easy);
  ex.max_body_bytes = static_cast<std::size_t>(o.max_response_mib * 1024.0 * 1024.0);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, ex.error);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout_s * 1000));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_s * 1000));
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  // Over TLS, wait for ALPN so that a burst shares one HTTP/2 connection. Plain http:// is
  // HTTP/1.1 only, and waiting there would hold every new transfer until the first response.
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, url.rfind("https://", 0) == 0 ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  // gzip only: answers are small, and brotli at a server's default quality costs milliseconds.
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
}

// ---------------------------------------------------------------------------------------------

Endpoint::Endpoint(std::string base_url, std::string api_key, const ClientOptions& options)
    : base_url_(trim_slash(std::move(base_url))), key_(std::move(api_key)), headers_(key_), options_(options) {
  global_init();
}

bool Endpoint::is_openrouter() const { return base_url_.find("openrouter.ai") != std::string::npos; }

GetResult Endpoint::get(std::string_view path_and_query) const {
  CURL* easy = curl_easy_init();
  if (!easy) throw Error("curl_easy_init failed");
  Exchange ex;
  setup(easy, base_url_ + std::string(path_and_query), headers_, ex, options_);
  GetResult r;
  r.code = curl_easy_perform(easy);
  r.message = ex.error[0] ? ex.error : curl_easy_strerror(r.code);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(ex.body);
  curl_easy_cleanup(easy);
  return r;
}

std::string Endpoint::scrub(std::string text) const { return detail::scrub(std::move(text), key_); }

// ---------------------------------------------------------------------------------------------

TransferPool::TransferPool(long max_connections) {
  global_init();
  multi_ = curl_multi_init();
  if (!multi_) throw Error("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_connections);
}

TransferPool::~TransferPool() {
  for (CURL* easy : idle_) curl_easy_cleanup(easy);
  if (multi_) curl_multi_cleanup(multi_);
}

CURL* TransferPool::post(const Endpoint& endpoint, const std::string& url, const std::string& body,
                         Exchange& exchange) {
  CURL* easy = nullptr;
  if (!idle_.empty()) {
    easy = idle_.back();
    idle_.pop_back();
  } else {
    easy = curl_easy_init();
    if (!easy) throw Error("curl_easy_init failed");
  }
  setup(easy, url, endpoint.headers(), exchange, endpoint.options());
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_multi_add_handle(multi_, easy);
  return easy;
}

void TransferPool::release(CURL* easy) {
  curl_multi_remove_handle(multi_, easy);
  idle_.push_back(easy);
}

void TransferPool::perform() {
  int running = 0;
  curl_multi_perform(multi_, &running);
}

CURL* TransferPool::next_finished(CURLcode* result) {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    *result = m->data.result;
    return m->easy_handle;
  }
  return nullptr;
}

void TransferPool::wait(int timeout_ms) { curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr); }

}  // namespace w2s::llm::http
