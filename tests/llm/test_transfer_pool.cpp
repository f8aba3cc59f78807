// The batch loop's connections (http.h, TransferPool): a connection curl keeps for the next request
// stays in the epoll set while idle; one the server closes meanwhile must cost neither a request
// nor a stuck wait.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "llm_test_util.h"

namespace w2s::llm {
namespace {

// Speaks just enough of the protocol (GET /models, POST /chat/completions) and hangs up after
// every answer without saying so (no "Connection: close"), as a server whose keep-alive timeout
// ran out does. "Question 1" is answered after `slow_s`.
class HangUpServer {
 public:
  explicit HangUpServer(double slow_s) : slow_s_(slow_s) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(listener_, 64) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw Error("HangUpServer: cannot listen on 127.0.0.1");
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_until_stopped(); });
  }
  ~HangUpServer() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (std::thread& t : handlers_) t.join();
    close(listener_);
  }
  HangUpServer(const HangUpServer&) = delete;
  HangUpServer& operator=(const HangUpServer&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1"; }
  int connections() const { return connections_; }

 private:
  void accept_until_stopped() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mu_);
      handlers_.emplace_back([this, fd] { answer_once(fd); });
    }
  }

  void answer_once(int fd) {
    std::string in;
    char chunk[4096];
    for (;;) {
      const std::size_t head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = ascii_lower(in.substr(0, head_end));
        const std::size_t at = head.find("content-length:");
        const std::size_t body = at == std::string::npos ? 0 : std::stoul(head.substr(at + 15));
        if (in.size() >= head_end + 4 + body) break;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return close(fd), void();
      const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return close(fd), void();
      in.append(chunk, static_cast<std::size_t>(n));
    }
    std::string body;
    if (in.rfind("GET /api/v1/models", 0) == 0) {
      body = R"({"data":[{"id":"test/small","pricing":{"prompt":"0.0000004","completion":"0.0000008","request":"0"}}]})";
    } else {
      if (in.find("Question 1:") != std::string::npos)
        std::this_thread::sleep_for(std::chrono::duration<double>(slow_s_));
      body = R"({"id":"gen-hang-up","model":"test/small","choices":[{"index":0,"message":{"role":"assistant",)"
             R"("content":"B"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"cost":0.000002}})";
    }
    const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    close(fd);
  }

  double slow_s_;
  int listener_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
};

TEST(ClientConnections, ConnectionsTheServerClosedWhileIdleCostNoRequest) {
  HangUpServer server(0.15);
  ClientOptions o;
  o.base_url = server.base_url();
  o.api_key = testing::kTestKey;
  o.cache_dir = test::scratch_dir("hang-up-server");
  o.ledger_path = o.cache_dir / "ledger.jsonl";
  o.no_cache = true;
  o.key_check = KeyCheck::Off;
  o.progress = false;
  o.request_timeout_s = 5;
  o.max_concurrency = 2;
  o.adaptive_concurrency = false;
  OpenRouterClient client(o);
  // Question 0's connection is closed while Question 1 is still awaited: it sits idle and closed
  // during the wait. The second batch then finds the first's connections closed.
  for (const int n : {2, 4}) {
    const auto got = client.run_batch(make_requests(n));
    for (const Completion& c : got) {
      ASSERT_TRUE(c.ok) << c.error;
      EXPECT_EQ(c.content, "B");
      EXPECT_EQ(c.attempts, 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(testing::read_ledger(o.ledger_path).size(), 6u);
  EXPECT_GE(server.connections(), 7);  // GET /models and a connection per request: none was kept
}

}  // namespace
}  // namespace w2s::llm
