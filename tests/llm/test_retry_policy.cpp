// The retry policy in isolation: classification of every status and body, Retry-After parsing,
// full-jitter bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "retry_policy.h"

namespace w2s::llm::retry {
namespace {

Decision classify_status(long status, const std::string& body_text, std::string retry_after = "") {
  json::Value body = json::parse(body_text);
  AttemptOutcome o;
  o.status = status;
  o.body = &body;
  if (!retry_after.empty()) o.headers["retry-after"] = std::move(retry_after);
  return classify(o, 1700000000);
}

TEST(RetryPolicy, ClassifiesStatusCodes) {
  const std::string err = R"({"error":{"code":0,"message":"m"}})";
  EXPECT_EQ(classify_status(400, err).verdict, Verdict::FailRequest);
  EXPECT_EQ(classify_status(401, err).verdict, Verdict::StopDispatch);
  EXPECT_EQ(classify_status(402, err).verdict, Verdict::StopDispatch);
  EXPECT_EQ(classify_status(402, err, "3").verdict, Verdict::Retry);
  EXPECT_TRUE(classify_status(402, err, "3").slow_down);
  EXPECT_EQ(classify_status(403, err).verdict, Verdict::FailRequest);
  EXPECT_EQ(classify_status(404, err).verdict, Verdict::FailRequest);
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L})
    EXPECT_EQ(classify_status(s, err).verdict, Verdict::Retry) << s;
  EXPECT_TRUE(classify_status(429, err).slow_down);
  EXPECT_FALSE(classify_status(503, err).slow_down);
  EXPECT_NE(classify_status(400, err).reason.find("bad request"), std::string::npos);
  EXPECT_NE(classify_status(401, err).reason.find("API key rejected"), std::string::npos);
  EXPECT_NE(classify_status(402, err).reason.find("credits exhausted"), std::string::npos);
}

TEST(RetryPolicy, ReportsModerationReasons) {
  Decision d = classify_status(
      403, R"({"error":{"code":403,"message":"flagged","metadata":{"reasons":["violence","hate"],"flagged_input":"x","provider_name":"P","model_slug":"m"}}})");
  EXPECT_EQ(d.verdict, Verdict::Refused);  // an outcome of its own, not a failure
  EXPECT_NE(d.reason.find("moderation"), std::string::npos);
  EXPECT_NE(d.reason.find("violence, hate"), std::string::npos);
  EXPECT_NE(d.reason.find("provider: P"), std::string::npos);
}

TEST(RetryPolicy, RetriesErrorsInsideA200) {
  EXPECT_EQ(classify_status(200, R"({"choices":[{"message":{"content":"A"},"finish_reason":"stop"}]})").verdict,
            Verdict::Success);
  EXPECT_EQ(classify_status(200, R"({"choices":[]})").verdict, Verdict::Retry);
  EXPECT_EQ(classify_status(200, R"({"id":"x"})").verdict, Verdict::Retry);
  EXPECT_EQ(classify_status(200, R"({"choices":[{"message":{"content":""},"finish_reason":"error"}]})").verdict,
            Verdict::Retry);
  Decision d = classify_status(
      200, R"({"choices":[{"message":{"content":""},"finish_reason":"stop","error":{"code":502,"message":"upstream died"}}]})");
  EXPECT_EQ(d.verdict, Verdict::Retry);
  EXPECT_NE(d.reason.find("upstream died"), std::string::npos);
  EXPECT_EQ(classify_status(200, R"({"error":{"code":500,"message":"x"}})").verdict, Verdict::Retry);
  AttemptOutcome malformed;
  malformed.status = 200;
  EXPECT_EQ(classify(malformed, 0).verdict, Verdict::Retry);
}

TEST(RetryPolicy, RetriesTransportErrors) {
  AttemptOutcome o;
  o.transport_error = 56;  // CURLE_RECV_ERROR
  o.transport_message = "Connection reset by peer";
  Decision d = classify(o, 0);
  EXPECT_EQ(d.verdict, Verdict::Retry);
  EXPECT_NE(d.reason.find("network error"), std::string::npos);
  o.transport_error = 28;  // CURLE_OPERATION_TIMEDOUT
  EXPECT_NE(classify(o, 0).reason.find("timeout"), std::string::npos);
}

TEST(RetryPolicy, ParsesRetryAfterSecondsAndHttpDates) {
  EXPECT_DOUBLE_EQ(*parse_retry_after("120", 0), 120.0);
  EXPECT_DOUBLE_EQ(*parse_retry_after("0.5", 0), 0.5);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  EXPECT_DOUBLE_EQ(*parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7.0);
  EXPECT_DOUBLE_EQ(*parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0.0);
  EXPECT_FALSE(parse_retry_after("soon", 0));
  EXPECT_FALSE(parse_retry_after("", 0));
}

TEST(RetryPolicy, UsesTheServersWaitThenRateLimitResetThenBackoff) {
  json::Value body = json::parse(R"({"error":{"code":429,"message":"slow"}})");
  AttemptOutcome o;
  o.status = 429;
  o.body = &body;
  o.headers["retry-after"] = "7";
  o.headers["x-ratelimit-reset"] = "1700000003500";
  EXPECT_DOUBLE_EQ(*classify(o, 1700000000).server_wait_s, 7.0);  // Retry-After first
  o.headers.erase("retry-after");
  EXPECT_DOUBLE_EQ(*classify(o, 1700000000).server_wait_s, 3.5);  // ms since the epoch
  o.headers.clear();
  EXPECT_FALSE(classify(o, 1700000000).server_wait_s);

  Backoff b{1.0, 2.0, 60.0, 600.0};
  std::mt19937_64 rng(1);
  Decision server;
  server.server_wait_s = 5000.0;
  EXPECT_DOUBLE_EQ(retry_delay(b, 1, server, rng), 600.0);
  for (int retry = 1; retry <= 10; ++retry) {
    const double ceiling = std::min(60.0, std::pow(2.0, retry - 1));
    double highest = 0.0;
    for (int k = 0; k < 2000; ++k) {
      double d = retry_delay(b, retry, Decision{}, rng);
      ASSERT_GE(d, 0.0);
      ASSERT_LE(d, ceiling);
      highest = std::max(highest, d);
    }
    EXPECT_GT(highest, 0.9 * ceiling);  // full jitter spans the whole range
  }
}

}  // namespace
}  // namespace w2s::llm::retry
