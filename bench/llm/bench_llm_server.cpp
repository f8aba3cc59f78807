// The server bench_llm measures the clients against, as a process of its own: one thread, epoll,
// every answer sent by a timer when it is due (arrival + LATENCY_S), so that what the bench sees is
// the client. The tests' OpenRouter server (tests/support/openrouter_server.h) holds a thread per
// connection that sleeps through the latency; on two shared cores under load its 256 threads woke
// and answered late enough to cost a tenth of the bound at C = 256 (docs/benchmarks.md).
//
//   bench_llm_server LATENCY_S [TIMELINE]
// Prints its base URL on one line of stdout and exits when its stdin closes (the bench closes it; a
// bench that dies closes it too, so no server is left behind). It speaks the part of OpenRouter's
// protocol the bench uses, over HTTP/1.1 keep-alive: GET /api/v1/models lists the test server's
// default models and prices (test::default_models); POST /api/v1/chat/completions answers with the
// test server's deterministic default, built by its own code (test::served_completion: the letter
// picked from sha256 of the messages, usage from character counts, usage.cost from the prices), and
// an X-Generation-Id. Anything else is answered 404.
// With TIMELINE, appends one line per chat request to that file: "QUESTION ARRIVED ANSWERED", the
// number N of its "Question N:" message, when its last byte was read and when its answer was
// written (monotonic seconds, the clock bench_llm reads too).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "openrouter_server.h"

namespace {

using namespace w2s;

constexpr std::size_t kMaxRequestBytes = 64 << 20;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_llm_server: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

long question_number(const json::Value& body) {
  const json::Value* messages = body.find("messages");
  if (!messages || !messages->is_array()) return -1;
  for (const auto& m : messages->as_array())
    if (const json::Value* content = m.find("content"); content && content->is_string())
      if (long n = -1; std::sscanf(content->as_string().c_str(), "Question %ld:", &n) == 1) return n;
  return -1;
}

std::string http_response(int status, std::string_view body, std::string_view extra_headers = {}) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{}", status,
                     status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request", body.size(), extra_headers,
                     body);
}

std::string models_response() {
  return http_response(200, json::dump(json::Object{{"data", test::default_models(test::ServerOptions{})}}));
}

// The answer to one chat request body, and the question it asked (-1: none).
std::string chat_response(const std::string& text, std::uint64_t serial, long* question) {
  json::Value request;
  try {
    request = json::parse(text, "request body");
  } catch (const Error& e) {
    *question = -1;
    return http_response(400, json::dump(json::Object{{"error", json::Object{{"code", 400}, {"message", e.what()}}}}));
  }
  *question = question_number(request);
  // The test server's answer and body (its default policy and prices), without its bookkeeping.
  const std::string id = fmt::format("gen-bench-{}", serial);
  const json::Value body =
      test::served_completion(request, test::OpenRouterServer::default_policy(request, 1), id, test::ServerOptions{})
          .body;
  return http_response(200, json::dump(body), "X-Generation-Id: " + id + "\r\n");
}

// An answer waiting for its time. `connection` tells a connection closed (and its number reused)
// since the request came apart from the one it was for.
struct Due {
  double at = 0;
  int fd = -1;
  std::uint64_t connection = 0;
  long question = -1;
  double arrived = 0;
  std::string response;
  bool operator>(const Due& other) const { return at > other.at; }
};

struct Connection {
  std::uint64_t serial = 0;
  std::string in, out;  // bytes read and not yet parsed; bytes of answers not yet written
  bool watching_out = false;  // out did not fit in the socket: EPOLLOUT is watched
};

class Server {
 public:
  Server(double latency_s, int timeline) : latency_s_(latency_s), timeline_(timeline) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) die("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0) die("bind");
    if (listen(listener_, 4096) != 0) die("listen");
    if (getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
    port_ = ntohs(address.sin_port);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_ < 0 || timer_ < 0) die("epoll/timerfd");
    watch(listener_, EPOLLIN);
    watch(timer_, EPOLLIN);
    watch(STDIN_FILENO, EPOLLIN);
  }

  int port() const { return port_; }

  // Until stdin closes.
  void run() {
    epoll_event events[256];
    for (;;) {
      bool timer_fired = false;
      const int n = epoll_wait(epoll_, events, 256, -1);
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == STDIN_FILENO) {
          char byte;
          if (read(STDIN_FILENO, &byte, 1) <= 0) return;
        } else if (fd == listener_) {
          accept_all();
        } else if (fd == timer_) {
          std::uint64_t expirations;
          [[maybe_unused]] const ssize_t r = read(timer_, &expirations, sizeof expirations);
          timer_fired = true;
        } else if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          drop(fd);
        } else {
          if (events[i].events & EPOLLOUT) flush(fd);
          if (events[i].events & EPOLLIN) receive(fd);
        }
      }
      answer_due(timer_fired);
    }
  }

 private:
  void watch(int fd, std::uint32_t events, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_, op, fd, &ev) != 0) die("epoll_ctl");
  }

  void accept_all() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: none left (or a connection aborted before it was taken)
      // Without it Nagle holds an answer behind the client's delayed ACK.
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      connections_[fd] = Connection{++serial_, {}, {}, false};
      watch(fd, EPOLLIN);
    }
  }

  void drop(int fd) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    connections_.erase(fd);
  }

  void receive(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    char buffer[16384];
    for (;;) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n > 0) {
        it->second.in.append(buffer, static_cast<std::size_t>(n));
        if (it->second.in.size() > kMaxRequestBytes) return drop(fd);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return drop(fd);
      if (errno == EAGAIN) break;
    }
    parse_requests(fd, it->second);
  }

  // Every complete request in the connection's buffer (a client may send the next before the
  // answer to the last: pipelining).
  void parse_requests(int fd, Connection& c) {
    for (;;) {
      const std::size_t head_end = c.in.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      std::string head = c.in.substr(0, head_end);
      for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::size_t body_size = 0;
      if (const std::size_t at = head.find("\r\ncontent-length:"); at != std::string::npos)
        body_size = std::strtoull(head.c_str() + at + 17, nullptr, 10);
      if (head.find("\r\ntransfer-encoding:") != std::string::npos) {
        send_now(fd, c, http_response(400, R"({"error":{"code":400,"message":"chunked bodies are not supported"}})"));
        c.in.clear();
        return;
      }
      if (c.in.size() < head_end + 4 + body_size) return;
      const double arrived = monotonic_seconds();
      const std::string body = c.in.substr(head_end + 4, body_size);
      c.in.erase(0, head_end + 4 + body_size);
      if (head.starts_with("get /api/v1/models ")) {
        send_now(fd, c, models_);
      } else if (head.starts_with("post /api/v1/chat/completions ")) {
        Due due{arrived + latency_s_, fd, c.serial, -1, arrived, {}};
        due.response = chat_response(body, ++answers_, &due.question);
        schedule(std::move(due));
      } else {
        send_now(fd, c, http_response(404, R"({"error":{"code":404,"message":"not found"}})"));
      }
    }
  }

  void schedule(Due due) {
    const bool earliest = due_.empty() || due.at < due_.top().at;
    due_.push(std::move(due));
    if (earliest) arm_timer();
  }

  void arm_timer() {
    itimerspec spec{};
    if (!due_.empty()) {
      // An absolute time on the monotonic clock (never 0, which would disarm): one already past
      // fires at once.
      const double at = due_.top().at;
      spec.it_value.tv_sec = static_cast<time_t>(at);
      spec.it_value.tv_nsec = std::min(999999999L, static_cast<long>(std::ceil((at - std::floor(at)) * 1e9)));
    }
    if (timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) die("timerfd_settime");
  }

  // Writes the answers that are due; the timer is set again for the next one when it fired (it
  // fires once per setting) or when answers left the queue.
  void answer_due(bool timer_fired) {
    if (due_.empty()) return;
    const double now = monotonic_seconds();
    bool answered = false;
    while (!due_.empty() && due_.top().at <= now) {
      Due due = std::move(const_cast<Due&>(due_.top()));
      due_.pop();
      answered = true;
      auto it = connections_.find(due.fd);
      if (it == connections_.end() || it->second.serial != due.connection) continue;  // the client left
      send_now(due.fd, it->second, due.response);
      if (timeline_ >= 0) {
        const std::string line = fmt::format("{} {:.6f} {:.6f}\n", due.question, due.arrived, monotonic_seconds());
        if (write(timeline_, line.data(), line.size()) < 0) std::perror("bench_llm_server: timeline");
      }
    }
    if (answered || timer_fired) arm_timer();
  }

  void send_now(int fd, Connection& c, const std::string& bytes) {
    c.out += bytes;
    flush(fd);
  }

  // Writes what the connection has pending; what the socket does not take waits for EPOLLOUT.
  void flush(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    while (!c.out.empty()) {
      const ssize_t n = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) return drop(fd);
      c.out.erase(0, static_cast<std::size_t>(n));
    }
    if (c.out.empty() == c.watching_out) {
      c.watching_out = !c.out.empty();
      watch(fd, c.watching_out ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
    }
  }

  double latency_s_;
  int timeline_;
  int listener_ = -1, epoll_ = -1, timer_ = -1, port_ = 0;
  std::uint64_t serial_ = 0, answers_ = 0;
  std::unordered_map<int, Connection> connections_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  const std::string models_ = models_response();
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: bench_llm_server LATENCY_S [TIMELINE]\n");
    return 2;
  }
  char* end = nullptr;
  const double latency = std::strtod(argv[1], &end);
  if (end == argv[1] || *end != '\0' || !std::isfinite(latency) || latency < 0 || latency > 3600) {
    std::fprintf(stderr, "bench_llm_server: LATENCY_S must be seconds between 0 and 3600, not '%s'\n", argv[1]);
    return 2;
  }
  int timeline = -1;
  if (argc == 3 && (timeline = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) die(argv[2]);
  Server server(latency, timeline);
  std::printf("http://127.0.0.1:%d/api/v1\n", server.port());
  std::fflush(stdout);
  server.run();
  return 0;
}
