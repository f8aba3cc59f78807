#include "http.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
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
  // Every header we keep has a short name; the others are passed over without a copy.
  char lower[64];
  if (colon == std::string_view::npos || colon > sizeof lower) return size * n;
  for (std::size_t i = 0; i < colon; ++i)
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
  const std::string_view name(lower, colon);
  const bool generation_id = name == "x-generation-id";
  if (!generation_id && !retry::is_rate_limit_header(name)) return size * n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
  if (generation_id)
    ex->generation_id = std::string(value);
  else
    ex->rate_limit_headers[std::string(name)] = std::string(value);
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

bool is_loopback_url(const std::string& url) {
  CURLU* parsed = curl_url();
  if (!parsed) return false;
  char* host = nullptr;
  bool loopback = false;
  if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    const std::string h = ascii_lower(host);
    loopback = h == "localhost" || h.rfind("127.", 0) == 0 || h == "[::1]";
  }
  curl_free(host);
  curl_url_cleanup(parsed);
  return loopback;
}

bool wants_gzip(bool loopback, const ChatRequest& r) {
  if (loopback) return false;
  const std::int64_t per_token = 1 + (r.logprobs ? 1 + r.top_logprobs.value_or(0) : 0);
  return !r.max_tokens || *r.max_tokens * per_token > kGzipFromTokens;
}

void accept_gzip(CURL* easy, bool gzip) {
  // gzip only: answers are small, and brotli at a server's default quality costs milliseconds.
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, gzip ? "gzip" : nullptr);
}

void setup(CURL* easy, const std::string& url, const Headers& headers, const ClientOptions& o) {
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout_s * 1000));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_s * 1000));
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  // Over TLS, wait for ALPN so that a burst shares one HTTP/2 connection. Plain http:// is
  // HTTP/1.1 only, and waiting there would hold every new transfer until the first response.
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, url.rfind("https://", 0) == 0 ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
}

void bind(CURL* easy, Exchange& ex, const ClientOptions& o) {
  ex.max_body_bytes = static_cast<std::size_t>(o.max_response_mib * 1024.0 * 1024.0);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, ex.error);
}

// ---------------------------------------------------------------------------------------------

Endpoint::Endpoint(std::string base_url, std::string api_key, const ClientOptions& options)
    : base_url_(trim_slash(std::move(base_url))),
      loopback_(is_loopback_url(base_url_)),
      key_(std::move(api_key)),
      headers_(key_),
      options_(options) {
  global_init();
}

bool Endpoint::is_openrouter() const { return base_url_.find("openrouter.ai") != std::string::npos; }

GetResult Endpoint::get(std::string_view path_and_query) const {
  CURL* easy = curl_easy_init();
  if (!easy) throw Error("curl_easy_init failed");
  Exchange ex;
  setup(easy, base_url_ + std::string(path_and_query), headers_, options_);
  bind(easy, ex, options_);
  accept_gzip(easy, !loopback_);  // a /models list is hundreds of KB
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

TransferPool::TransferPool(const Endpoint& endpoint, std::string url, long max_connections)
    : endpoint_(endpoint), url_(std::move(url)) {
  global_init();
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw Error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  multi_ = curl_multi_init();
  if (!multi_) {
    close(epoll_);
    throw Error("curl_multi_init failed");
  }
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_connections);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

TransferPool::~TransferPool() {
  for (CURL* easy : idle_) curl_easy_cleanup(easy);
  if (multi_) curl_multi_cleanup(multi_);
  if (epoll_ >= 0) close(epoll_);
}

// curl's socket callback: which events of `socket` it waits for now (CURL_POLL_*).
// A socket curl has not seen before comes with `socket_data` null: it is marked (curl_multi_assign)
// until curl removes it. A socket curl stops watching (its transfer is over; the connection waits
// in curl's cache for the next one) stays in the epoll set, parked: the next transfer on it costs
// one EPOLL_CTL_MOD instead of a DEL at the end of the last and an ADD.
int TransferPool::on_socket(CURL*, curl_socket_t socket, int what, void* pool_data, void* socket_data) {
  auto* pool = static_cast<TransferPool*>(pool_data);
  auto it = pool->sockets_.find(socket);
  if (what == CURL_POLL_REMOVE) {
    if (it != pool->sockets_.end()) it->second.curl_watches = false;
    return 0;
  }
  if (!socket_data) curl_multi_assign(pool->multi_, socket, pool);
  epoll_event ev{};
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = socket;
  const bool watched = it != pool->sockets_.end() && it->second.curl_watches;
  if (watched && it->second.events == ev.events) return 0;
  // A parked number may belong to a new socket by now (closing a socket takes it out of the set):
  // ENOENT says so, and it is added. EEXIST: a socket closed and opened again under the same
  // number before curl said so.
  const bool known = it != pool->sockets_.end();
  if (known ? epoll_ctl(pool->epoll_, EPOLL_CTL_MOD, socket, &ev) != 0 && errno == ENOENT
            : epoll_ctl(pool->epoll_, EPOLL_CTL_ADD, socket, &ev) != 0 && errno == EEXIST)
    epoll_ctl(pool->epoll_, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &ev);
  pool->sockets_[socket] = Watched{ev.events, true};
  return 0;
}

// curl's timer callback: run socket_action(CURL_SOCKET_TIMEOUT) in `timeout_ms` (-1: no timer).
int TransferPool::on_timer(CURLM*, long timeout_ms, void* pool) {
  static_cast<TransferPool*>(pool)->timeout_at_ =
      timeout_ms < 0 ? -1.0 : monotonic_seconds() + static_cast<double>(timeout_ms) / 1000.0;
  return 0;
}

CURL* TransferPool::post(std::string_view body, Exchange& exchange, bool gzip) {
  CURL* easy = nullptr;
  if (!idle_.empty()) {
    easy = idle_.back();
    idle_.pop_back();
  } else {
    easy = curl_easy_init();
    if (!easy) throw Error("curl_easy_init failed");
    setup(easy, url_, endpoint_.headers(), endpoint_.options());
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
  }
  bind(easy, exchange, endpoint_.options());
  accept_gzip(easy, gzip);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_multi_add_handle(multi_, easy);
  return easy;
}

void TransferPool::release(CURL* easy) {
  curl_multi_remove_handle(multi_, easy);
  idle_.push_back(easy);
}

void TransferPool::run_timeout() {
  timeout_at_ = -1.0;  // curl sets the next one from inside, if any
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
}

void TransferPool::perform() {
  if (timeout_at_ >= 0 && timeout_at_ <= monotonic_seconds()) run_timeout();
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

void TransferPool::wait(int timeout_ms) {
  if (timeout_at_ >= 0) {
    const double due_ms = std::ceil((timeout_at_ - monotonic_seconds()) * 1000.0);
    timeout_ms = static_cast<int>(std::clamp(due_ms, 0.0, static_cast<double>(timeout_ms)));
  }
  constexpr int kEvents = 64;
  epoll_event events[kEvents];
  const int n = epoll_wait(epoll_, events, kEvents, timeout_ms);
  int running = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (auto it = sockets_.find(fd); it != sockets_.end() && !it->second.curl_watches) {
      // A parked connection became ready: the server closed it (or sent what no request asked
      // for). curl finds out when it next picks the connection; until then it leaves the set, or
      // it would end every wait at once.
      epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
      sockets_.erase(it);
      continue;
    }
    const int mask = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                     (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(multi_, fd, mask, &running);
  }
  perform();
}

}  // namespace w2s::llm::http
