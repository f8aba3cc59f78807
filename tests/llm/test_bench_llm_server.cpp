// bench_llm_server (bench/llm), the event-driven server bench_llm measures the clients against: it
// must answer as the tests' OpenRouter server does, read requests however they come in, never
// answer before its latency is over, and write its timeline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "llm_test_util.h"
#include "server_process.h"

namespace w2s::llm {
namespace {

ClientOptions bench_options(const std::string& base_url, const std::string& name) {
  ClientOptions o;
  o.base_url = base_url;
  o.api_key = testing::kTestKey;
  o.cache_dir = test::scratch_dir(name);
  o.request_timeout_s = 5;
  o.progress = false;
  o.no_cache = true;
  o.ledger_path = o.cache_dir / "ledger.jsonl";
  o.key_check = KeyCheck::Off;
  o.max_concurrency = 4;
  o.adaptive_concurrency = false;
  return o;
}

TEST(BenchLlmServer, AnswersAsTheTestServerDoes) {
  const auto requests = make_requests(12);
  OpenRouterServer reference;
  const auto expected = OpenRouterClient(bench_options(reference.base_url(), "bench-server-ref")).run_batch(requests);

  const bench::ServerProcess server(0.02);
  const ClientOptions o = bench_options(server.base_url(), "bench-server");
  const auto got = OpenRouterClient(o).run_batch(requests);
  ASSERT_EQ(got.size(), requests.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(got[i].ok) << got[i].error;
    EXPECT_EQ(got[i].content, expected[i].content);
    EXPECT_EQ(got[i].prompt_tokens, expected[i].prompt_tokens);
    EXPECT_EQ(got[i].completion_tokens, expected[i].completion_tokens);
    EXPECT_DOUBLE_EQ(got[i].cost_usd, expected[i].cost_usd);
    EXPECT_EQ(got[i].cost_source, "usage");
    EXPECT_EQ(got[i].provider, expected[i].provider);
    EXPECT_GE(got[i].latency_s, 0.02);
    ids.insert(got[i].generation_id);
  }
  EXPECT_EQ(ids.size(), requests.size());  // one id per answer, none empty
  EXPECT_EQ(ids.count(""), 0u);
  EXPECT_EQ(testing::read_ledger(o.ledger_path).size(), requests.size());
}

TEST(BenchLlmServer, NeverAnswersEarlyAndWritesItsTimeline) {
  const auto timeline = test::scratch_dir("bench-server-timeline") / "timeline.txt";
  const double latency = 0.05;
  {
    const bench::ServerProcess server(latency, timeline.string());
    const auto got = OpenRouterClient(bench_options(server.base_url(), "bench-server-timeline-client"))
                         .run_batch(make_requests(8));
    for (const Completion& c : got) ASSERT_TRUE(c.ok) << c.error;
  }
  std::ifstream in(timeline);
  std::set<long> questions;
  long q = 0;
  double arrived = 0, answered = 0;
  while (in >> q >> arrived >> answered) {
    questions.insert(q);
    EXPECT_GE(answered - arrived, latency) << "question " << q;
  }
  EXPECT_EQ(questions, (std::set<long>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// A raw connection to the server, to send requests as no HTTP client would.
class RawConnection {
 public:
  explicit RawConnection(const std::string& base_url) {
    const int port = std::atoi(base_url.c_str() + base_url.rfind(':') + 1);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval limit{10, 0};  // a bounded wait for every read
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw Error("cannot connect");
  }
  ~RawConnection() { close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send_text(const std::string& text) {
    ASSERT_EQ(send(fd_, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  }
  // The next response: its status and body.
  std::pair<int, std::string> read_response() {
    for (;;) {
      const std::size_t head_end = buffer_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::size_t length_at = buffer_.find("Content-Length: ");
        const std::size_t length = std::stoul(buffer_.substr(length_at + 16));
        if (buffer_.size() >= head_end + 4 + length) {
          const int status = std::stoi(buffer_.substr(9, 3));
          std::string body = buffer_.substr(head_end + 4, length);
          buffer_.erase(0, head_end + 4 + length);
          return {status, body};
        }
      }
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) throw Error("the server closed the connection or sent nothing within 10 s");
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

std::string chat_post(int question) {
  const std::string body = R"({"model":"test/small","messages":[{"role":"user","content":"Question )" +
                           std::to_string(question) + R"(: which?"}]})";
  return "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(BenchLlmServer, ReadsPipelinedAndSplitRequestsAndRefusesTheRest) {
  const bench::ServerProcess server(0.0);
  RawConnection c(server.base_url());
  // Two requests in one write: two answers, in order.
  c.send_text(chat_post(1) + chat_post(2));
  for (int i = 0; i < 2; ++i) {
    const auto [status, body] = c.read_response();
    EXPECT_EQ(status, 200);
    EXPECT_TRUE(json::parse(body, "answer").at("choices").at(0).at("message").at("content").is_string());
  }
  // One request in pieces, its body cut in the middle.
  const std::string split = chat_post(3);
  c.send_text(split.substr(0, split.size() - 10));
  usleep(20000);
  c.send_text(split.substr(split.size() - 10));
  EXPECT_EQ(c.read_response().first, 200);

  c.send_text("GET /api/v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto [models_status, models] = c.read_response();
  EXPECT_EQ(models_status, 200);
  EXPECT_EQ(json::parse(models, "models").at("data").at(0).get_string("id"), "test/small");

  c.send_text("GET /api/v1/key HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().first, 404);
  c.send_text("POST /api/v1/chat/completions HTTP/1.1\r\ncontent-length: 5\r\n\r\n{nope");
  EXPECT_EQ(c.read_response().first, 400);
  // Still serving on the same connection.
  c.send_text(chat_post(4));
  EXPECT_EQ(c.read_response().first, 200);
}

}  // namespace
}  // namespace w2s::llm
