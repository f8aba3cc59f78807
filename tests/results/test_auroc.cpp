#include <gtest/gtest.h>

#include "w2s/results.h"

using w2s::results::auroc;
using w2s::results::AurocTies;

TEST(Auroc, SpecVectors) {
  // docs/reference-behaviour.md §18
  EXPECT_DOUBLE_EQ(*auroc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(*auroc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}, AurocTies::Reference), 0.75);
  EXPECT_DOUBLE_EQ(*auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 0, 1, 1, 0}), 0.75);
  // The reference ranks the tie in input order: negative first gives 4/6, positive first 5/6.
  EXPECT_NEAR(*auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 0, 1, 1, 0}, AurocTies::Reference), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(*auroc({0.9, 0.8, 0.8, 0.3, 0.2}, {1, 1, 0, 1, 0}, AurocTies::Reference), 5.0 / 6.0, 1e-12);
}

TEST(Auroc, UndefinedWithOneClassAndLengthMismatchThrows) {
  EXPECT_FALSE(auroc({0.1, 0.2}, {true, true}));
  EXPECT_FALSE(auroc({}, {}));
  EXPECT_THROW(auroc({0.1}, {true, false}), w2s::Error);
}
