#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

// A NaN score once made the tie-group loop spin forever (issue 22): non-finite scores are refused,
// in both modes, wherever they stand.
TEST(Auroc, NonFiniteScoresAreRefusedNotLoopedOn) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  for (auto ties : {AurocTies::TieAware, AurocTies::Reference}) {
    for (const auto& scores : {std::vector<double>{nan, 0.2, 0.3, 0.4}, std::vector<double>{0.1, 0.2, 0.3, nan},
                               std::vector<double>{nan, nan, nan, nan}, std::vector<double>{0.1, inf, 0.3, 0.4},
                               std::vector<double>{0.1, 0.2, -inf, 0.4}}) {
      try {
        auroc(scores, {0, 1, 0, 1}, ties);
        ADD_FAILURE() << "a non-finite score was accepted";
      } catch (const w2s::Error& e) {
        EXPECT_NE(std::string(e.what()).find("AUROC needs finite scores"), std::string::npos) << e.what();
      }
    }
  }
  try {
    auroc({0.1, nan}, {false, true});
    ADD_FAILURE() << "a NaN score was accepted";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("score 1 of 2 is nan"), std::string::npos) << e.what();
  }
}
