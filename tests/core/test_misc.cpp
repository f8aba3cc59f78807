// Model display names and the linear quantile.
#include <gtest/gtest.h>

#include <set>

#include "w2s/core.h"

TEST(ModelNames, ShortenOnlyWhereTheShortNameIsUnique) {
  const w2s::ModelNames names({"weak60/a", "oracle/a", "org/b", "c"});
  EXPECT_EQ(names("weak60/a"), "weak60/a");
  EXPECT_EQ(names("oracle/a"), "oracle/a");
  EXPECT_EQ(names("org/b"), "b");
  EXPECT_EQ(names("c"), "c");
  EXPECT_EQ(names("not/given"), "not/given");
  // An id without an org that equals another id's short name: the other one stays whole.
  const w2s::ModelNames bare({"a", "x/a"});
  EXPECT_EQ(bare("a"), "a");
  EXPECT_EQ(bare("x/a"), "x/a");
}

TEST(ModelNames, DropTheChatSuffixWhereThatStaysUnique) {
  const w2s::ModelNames names({"meta-llama/llama-3.1-70b-instruct", "qwen/qwen-2.5-72b-instruct"}, true);
  EXPECT_EQ(names("meta-llama/llama-3.1-70b-instruct"), "llama-3.1-70b");
  EXPECT_EQ(names("qwen/qwen-2.5-72b-instruct"), "qwen-2.5-72b");
  // "m" would be shared by the first two; "m-chat" is then the second's and the third's next step.
  const w2s::ModelNames clash({"a/m", "b/m-chat", "c/m-chat-instruct"}, true);
  std::set<std::string> shown;
  for (const char* id : {"a/m", "b/m-chat", "c/m-chat-instruct"}) shown.insert(clash(id));
  EXPECT_EQ(shown.size(), 3u) << clash("a/m") << " " << clash("b/m-chat") << " " << clash("c/m-chat-instruct");
  EXPECT_EQ(clash("a/m"), "m");
  // Without the flag the suffix stays.
  EXPECT_EQ(w2s::ModelNames({"org/x-instruct"})("org/x-instruct"), "x-instruct");
}

TEST(ModelNames, NamesAreUniqueForAnySetOfIds) {
  const std::vector<std::string> pool = {"a", "x/a", "y/a", "a-chat", "x/a-chat", "y/a-instruct", "z/a-Chat", "b/c/a"};
  for (std::size_t mask = 1; mask < (1u << pool.size()); ++mask) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < pool.size(); ++i)
      if (mask & (1u << i)) ids.push_back(pool[i]);
    for (bool drop : {false, true}) {
      const w2s::ModelNames names(ids, drop);
      std::set<std::string> shown;
      for (const auto& id : ids) shown.insert(names(id));
      ASSERT_EQ(shown.size(), ids.size()) << "mask " << mask << " drop " << drop;
    }
  }
}

TEST(LinearQuantile, InterpolatesBetweenOrderStatistics) {
  EXPECT_DOUBLE_EQ(w2s::linear_quantile({3, 1, 2}, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(w2s::linear_quantile({1, 2}, 0.25), 1.25);
  EXPECT_DOUBLE_EQ(w2s::linear_quantile({5}, 0.7), 5.0);
  EXPECT_DOUBLE_EQ(w2s::linear_quantile({4, 0, 2, 6}, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(w2s::linear_quantile({4, 0, 2, 6}, 1.0), 6.0);
  // numpy.quantile([0, 2, 4, 6], 0.9) = 5.4
  EXPECT_NEAR(w2s::linear_quantile({4, 0, 2, 6}, 0.9), 5.4, 1e-12);
  EXPECT_THROW(w2s::linear_quantile({}, 0.5), w2s::Error);
  EXPECT_THROW(w2s::linear_quantile({1}, 1.5), w2s::Error);
}
