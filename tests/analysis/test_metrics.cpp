#include <gtest/gtest.h>

#include <cmath>

#include "fixtures.h"

using namespace w2s;
using namespace w2s::analysis;

TEST(Pgr, FormulaAndZeroGuard) {
  EXPECT_DOUBLE_EQ(*pgr(0.6, 0.4, 0.8), 0.5);
  EXPECT_DOUBLE_EQ(*pgr(0.9, 0.4, 0.8), 1.25);
  EXPECT_DOUBLE_EQ(*pgr(0.3, 0.4, 0.8), -0.25);
  EXPECT_FALSE(pgr(0.6, 0.5, 0.5));            // equal floor and ceiling: undefined, not 0 or inf
  EXPECT_FALSE(pgr(0.6, 0.5, 0.5005));         // below the 0.1 pp guard
  EXPECT_TRUE(pgr(0.6, 0.5, 0.502));
  EXPECT_FALSE(pgr(0.6, 0.5, 0.6, 0.2));       // custom guard
  EXPECT_DOUBLE_EQ(*pgr(0.6, 0.8, 0.4), 0.5);  // ceiling below floor keeps the sign convention
  EXPECT_FALSE(pgr(0.6, NAN, 0.8));
}

TEST(McNemar, ExactBinomialForFewDiscordantPairs) {
  // b = 1 (a right only), c = 3 (b right only): p = 2 * (1 + 4) / 16.
  const std::vector<bool> a = {1, 1, 0, 0, 0, 1};
  const std::vector<bool> b = {1, 0, 1, 1, 1, 1};
  const McNemar m = mcnemar(a, b);
  EXPECT_EQ(m.only_a_correct, 1);
  EXPECT_EQ(m.only_b_correct, 3);
  EXPECT_EQ(m.method, "exact-binomial");
  EXPECT_FALSE(m.statistic);
  EXPECT_DOUBLE_EQ(m.p_value, 0.625);
  EXPECT_DOUBLE_EQ(mcnemar({1, 0}, {1, 0}).p_value, 1.0);  // no discordant pairs
  EXPECT_THROW(mcnemar({1}, {1, 0}), Error);
}

TEST(McNemar, ChiSquareWithContinuityCorrection) {
  std::vector<bool> a, b;
  for (int i = 0; i < 30; ++i) a.push_back(true), b.push_back(false);   // b = 30
  for (int i = 0; i < 10; ++i) a.push_back(false), b.push_back(true);   // c = 10
  const McNemar m = mcnemar(a, b);
  EXPECT_EQ(m.method, "chi2-continuity");
  EXPECT_DOUBLE_EQ(*m.statistic, 19.0 * 19.0 / 40.0);
  EXPECT_NEAR(m.p_value, 0.00266312, 1e-8);  // scipy.stats.chi2.sf(9.025, 1)
}

TEST(Kappa, KnownValueAndDegenerateCases) {
  const std::vector<std::string> s = {"A", "B", "C", "A", "A", "B", "D", "A", "A", "A"};
  const std::vector<std::string> w = {"A", "B", "C", "D", "B", "C", "D", "A", "C", "C"};
  EXPECT_NEAR(*cohen_kappa(s, w), 0.28 / 0.78, 1e-12);
  EXPECT_DOUBLE_EQ(*cohen_kappa(s, s), 1.0);
  EXPECT_FALSE(cohen_kappa({"A", "A"}, {"A", "A"}));  // chance agreement 1
  EXPECT_FALSE(cohen_kappa({}, {}));
}

TEST(Percentile, MatchesNumpyLinearInterpolation) {
  const auto ci = percentile_interval({5, 1, 4, 2, 3}, 0.5);  // numpy.percentile([1..5], [25, 75])
  ASSERT_TRUE(ci);
  EXPECT_DOUBLE_EQ(ci->lo, 2.0);
  EXPECT_DOUBLE_EQ(ci->hi, 4.0);
  const auto ci90 = percentile_interval({0, 10}, 0.9);
  EXPECT_DOUBLE_EQ(ci90->lo, 0.5);
  EXPECT_DOUBLE_EQ(ci90->hi, 9.5);
  EXPECT_FALSE(percentile_interval({}, 0.95));
}

// Kappa, AUROC and McNemar agree with scikit-learn / scipy on random data.
TEST(Metrics, AgreeWithSklearnAndScipy) {
  PyRandom rng(7);
  std::string cases = "[";
  std::vector<std::string> expected;
  for (int t = 0; t < 5; ++t) {
    const std::size_t n = 40 + 37 * t;
    std::vector<std::string> a, b;
    std::vector<double> scores;
    std::vector<bool> labels, ca, cb;
    json::Value c = json::Value::object();
    json::Value ja = json::Value::array(), jb = json::Value::array(), js = json::Value::array(),
                jl = json::Value::array();
    for (std::size_t i = 0; i < n; ++i) {
      a.push_back(std::string(1, static_cast<char>('A' + rng.randbelow(4))));
      b.push_back(rng.random() < 0.6 ? a.back() : std::string(1, static_cast<char>('A' + rng.randbelow(4))));
      scores.push_back(static_cast<double>(rng.randbelow(10)) / 10.0);  // many ties
      labels.push_back(rng.random() < 0.5);
      ca.push_back(rng.random() < 0.7);
      cb.push_back(rng.random() < 0.5);
      ja.push_back(a.back()), jb.push_back(b.back()), js.push_back(scores.back()), jl.push_back(labels.back() ? 1 : 0);
    }
    json::Value jca = json::Value::array(), jcb = json::Value::array();
    for (std::size_t i = 0; i < n; ++i) jca.push_back(ca[i] ? 1 : 0), jcb.push_back(cb[i] ? 1 : 0);
    c.set("a", ja), c.set("b", jb), c.set("s", js), c.set("l", jl), c.set("ca", jca), c.set("cb", jcb);
    cases += (t ? "," : "") + json::dump(c);
    const McNemar m = mcnemar(ca, cb);
    expected.push_back(fmt::format("{:.10f} {:.10f} {:.10f}", *cohen_kappa(a, b), *w2s::results::auroc(scores, labels), m.p_value));
  }
  cases += "]";
  const auto dir = test::scratch_dir("metrics_reference");
  write_file_atomic(dir / "cases.json", cases);
  write_file_atomic(dir / "check.py", R"(import json, sys
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from scipy.stats import binomtest, chi2
for c in json.load(open(sys.argv[1])):
    b = sum(1 for x, y in zip(c["ca"], c["cb"]) if x and not y)
    d = sum(1 for x, y in zip(c["ca"], c["cb"]) if y and not x)
    if b + d < 25:
        p = binomtest(min(b, d), b + d, 0.5).pvalue if b + d else 1.0
    else:
        p = chi2.sf((abs(b - d) - 1) ** 2 / (b + d), 1)
    print("%.10f %.10f %.10f" % (cohen_kappa_score(c["a"], c["b"]), roc_auc_score(c["l"], c["s"]), min(1.0, p)))
)");
  std::string out;
  ASSERT_EQ(test::run_command(test::debian_python3() + " " + (dir / "check.py").string() + " " + (dir / "cases.json").string(), &out), 0) << out;
  std::string want;
  for (const auto& e : expected) want += e + "\n";
  EXPECT_EQ(out, want);
}

// scipy.stats.t.ppf(q, df)
TEST(StudentT, QuantilesMatchScipy) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736174705, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.975, 3), 3.182446305284263, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.95, 9), 1.8331129326536335, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.025, 30), -2.0422724563012373, 1e-9);
  EXPECT_THROW(student_t_quantile(1.0, 3), Error);
}
