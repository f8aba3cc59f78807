// PyRandom against CPython: the spec's test vectors, and python3 on this machine for many seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "assets.h"
#include "w2s/core.h"

using w2s::PyRandom;

TEST(PyRandom, SpecVectors) {
  PyRandom r(42);
  std::vector<std::uint32_t> want = {2746317213u, 478163327u, 107420369u, 3184935163u, 1181241943u};
  for (auto w : want) EXPECT_EQ(r.getrandbits(32), w);
  EXPECT_DOUBLE_EQ(PyRandom(42).random(), 0.6394267984578837);
  PyRandom z(0);
  EXPECT_EQ(z.getrandbits(32), 3626764237u);
  EXPECT_EQ(z.getrandbits(32), 1654615998u);
  EXPECT_EQ(z.getrandbits(32), 3255389356u);
  PyRandom b(42);
  std::vector<int> got;
  for (int i = 0; i < 10; ++i) got.push_back(static_cast<int>(b.randbelow(10)));
  EXPECT_EQ(got, (std::vector<int>{1, 0, 4, 3, 3, 2, 1, 8, 1, 9}));
  auto shuffled = [](std::int64_t seed) {
    std::vector<int> v = {0, 1, 2, 3};
    PyRandom(seed).shuffle(v);
    return v;
  };
  EXPECT_EQ(shuffled(43), (std::vector<int>{2, 3, 1, 0}));
  EXPECT_EQ(shuffled(42), (std::vector<int>{2, 1, 3, 0}));
  EXPECT_EQ(shuffled(696), (std::vector<int>{2, 3, 0, 1}));

  std::vector<int> pop(684);
  std::iota(pop.begin(), pop.end(), 0);
  PyRandom s(42);
  auto perm = s.sample(pop, pop.size());
  EXPECT_EQ(std::vector<int>(perm.begin(), perm.begin() + 10),
            (std::vector<int>{654, 114, 25, 281, 250, 228, 142, 104, 558, 89}));
  EXPECT_EQ(std::vector<int>(perm.begin() + 195, perm.begin() + 200), (std::vector<int>{121, 585, 342, 248, 109}));
  EXPECT_EQ(std::vector<int>(perm.begin() + 200, perm.begin() + 210),
            (std::vector<int>{605, 595, 578, 478, 451, 292, 295, 242, 124, 401}));
}

TEST(PyRandom, SampleRejectsOversizedSample) {
  std::vector<int> pop(5);
  PyRandom r(1);
  EXPECT_THROW(r.sample(pop, 6), w2s::Error);
}

// Compare with the python3 on this machine: seeds incl. negative and > 32-bit, every function.
TEST(PyRandom, MatchesPython3) {
  const std::vector<std::int64_t> seeds = {0, 1, 2, 7, 42, 43, 696, 1000, 65535, 4294967295LL, 4294967296LL,
                                           123456789012345LL, -5, -4294967297LL};
  const std::vector<std::size_t> sizes = {1, 2, 3, 5, 6, 10, 21, 50, 200, 684, 690, 817, 5000};
  std::string script =
      "import random,sys\n"
      "seeds=[int(x) for x in sys.argv[1].split(',')]\n"
      "sizes=[int(x) for x in sys.argv[2].split(',')]\n"
      "for s in seeds:\n"
      " r=random.Random(s); print(' '.join(str(r.getrandbits(32)) for _ in range(700)))\n"
      " r=random.Random(s); print(' '.join(str(r.getrandbits(k)) for k in range(1,33)))\n"
      " r=random.Random(s); print(' '.join(str(r._randbelow(n)) for n in [1,2,3,4,5,7,8,9,1000,2**31+1,2**32,2**40+3]))\n"
      " r=random.Random(s); print(repr(r.random()), repr(r.random()))\n"
      " for n in sizes:\n"
      "  r=random.Random(s); x=list(range(n)); r.shuffle(x); print(' '.join(map(str,x)))\n"
      "  r=random.Random(s); print(' '.join(map(str,r.sample(range(n),n))))\n"
      "  r=random.Random(s); print(' '.join(map(str,r.sample(range(n),min(n,3)))))\n";
  auto dir = w2s::test::scratch_dir("pyrandom");
  w2s::write_file_atomic(dir / "ref.py", script);
  std::string seed_arg, size_arg;
  for (auto s : seeds) seed_arg += (seed_arg.empty() ? "" : ",") + std::to_string(s);
  for (auto n : sizes) size_arg += (size_arg.empty() ? "" : ",") + std::to_string(n);
  std::string out;
  ASSERT_EQ(w2s::test::run_command("python3 " + (dir / "ref.py").string() + " " + seed_arg + " " + size_arg, &out), 0)
      << out;

  std::string mine;
  auto line = [&](const std::string& s) { mine += s + "\n"; };
  auto join = [](const auto& xs) {
    std::string s;
    for (auto& x : xs) s += (s.empty() ? "" : " ") + std::to_string(x);
    return s;
  };
  auto pyrepr = [](double d) {
    // Python repr = shortest round-trip, same as json::dump for finite non-integral doubles.
    return w2s::json::dump(w2s::json::Value(d));
  };
  for (auto s : seeds) {
    {
      PyRandom r(s);
      std::vector<std::uint32_t> v;
      for (int i = 0; i < 700; ++i) v.push_back(r.getrandbits(32));
      line(join(v));
    }
    {
      PyRandom r(s);
      std::vector<std::uint32_t> v;
      for (int k = 1; k <= 32; ++k) v.push_back(r.getrandbits(k));
      line(join(v));
    }
    {
      PyRandom r(s);
      std::vector<std::uint64_t> v;
      for (std::uint64_t n : {1ULL, 2ULL, 3ULL, 4ULL, 5ULL, 7ULL, 8ULL, 9ULL, 1000ULL, (1ULL << 31) + 1, 1ULL << 32,
                              (1ULL << 40) + 3})
        v.push_back(r.randbelow(n));
      line(join(v));
    }
    {
      PyRandom r(s);
      double a = r.random(), b = r.random();
      line(pyrepr(a) + " " + pyrepr(b));
    }
    for (auto n : sizes) {
      std::vector<int> x(n);
      std::iota(x.begin(), x.end(), 0);
      {
        PyRandom r(s);
        auto y = x;
        r.shuffle(y);
        line(join(y));
      }
      {
        PyRandom r(s);
        line(join(r.sample(x, n)));
      }
      {
        PyRandom r(s);
        line(join(r.sample(x, std::min<std::size_t>(n, 3))));
      }
    }
  }
  ASSERT_EQ(out.size(), mine.size());
  EXPECT_TRUE(out == mine) << "first difference at byte "
                           << std::mismatch(out.begin(), out.end(), mine.begin()).first - out.begin();
}
