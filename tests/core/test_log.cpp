#include <gtest/gtest.h>

#include "w2s/core.h"

namespace {

// Captures what w2s::log writes to stdout and stderr while `f` runs.
template <class F>
std::pair<std::string, std::string> captured(F&& f) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  f();
  std::string out = ::testing::internal::GetCapturedStdout();
  return {out, ::testing::internal::GetCapturedStderr()};
}

struct LevelGuard {
  w2s::log::Level saved = w2s::log::level();
  ~LevelGuard() { w2s::log::set_level(saved); }
};

}  // namespace

TEST(Log, MessagesGoToStderrWithTheirLevelAndNeverToStdout) {
  LevelGuard guard;
  w2s::log::set_level(w2s::log::Level::Info);
  auto [out, err] = captured([] {
    w2s::log::info("loaded {} questions", 817);
    w2s::log::warn("price of {} unknown", "m");
  });
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("info loaded 817 questions"), std::string::npos) << err;
  EXPECT_NE(err.find("warning price of m unknown"), std::string::npos) << err;
}

TEST(Log, TheGlobalLevelDropsLowerMessages) {
  LevelGuard guard;
  w2s::log::set_level(w2s::log::Level::Warn);  // --quiet
  auto [out1, quiet] = captured([] {
    w2s::log::debug("d1");
    w2s::log::info("i1");
    w2s::log::warn("w1");
    w2s::log::error("e1");
  });
  EXPECT_EQ(quiet.find("d1"), std::string::npos);
  EXPECT_EQ(quiet.find("i1"), std::string::npos);
  EXPECT_NE(quiet.find("w1"), std::string::npos);
  EXPECT_NE(quiet.find("e1"), std::string::npos);

  w2s::log::set_level(w2s::log::Level::Debug);  // --verbose
  auto [out2, verbose] = captured([] { w2s::log::debug("d2"); });
  EXPECT_NE(verbose.find("debug d2"), std::string::npos) << verbose;
  EXPECT_TRUE(w2s::log::enabled(w2s::log::Level::Debug));

  w2s::log::set_level(w2s::log::Level::Off);
  auto [out3, off] = captured([] { w2s::log::error("e3"); });
  EXPECT_EQ(off, "");
  EXPECT_FALSE(w2s::log::enabled(w2s::log::Level::Off));
}

TEST(Log, ARegisteredSecretNeverAppears) {
  LevelGuard guard;
  w2s::log::set_level(w2s::log::Level::Info);
  w2s::log::redact("sk-or-v1-test-secret");
  w2s::log::redact("");  // ignored, not a match everywhere
  // A secret that is a substring of the replacement must not loop forever.
  w2s::log::redact("dact");
  auto [out, err] = captured([] {
    w2s::log::error("401 for key sk-or-v1-test-secret (sk-or-v1-test-secretsk-or-v1-test-secret)");
  });
  EXPECT_EQ(err.find("sk-or-v1-test-secret"), std::string::npos) << err;
  EXPECT_NE(err.find("401 for key [re[redacted]ed]"), std::string::npos) << err;
}
