// CPython's random.Random, bit for bit: MT19937 with init_by_array seeding (see
// docs/reference-behaviour.md §4). std::mt19937's own seeding differs, so seeding is by hand.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "w2s/core.h"

namespace w2s {

PyRandom::PyRandom(std::int64_t s) { seed(s); }

void PyRandom::seed(std::int64_t s) {
  // CPython seeds with |s| split into 32-bit words, least significant first; 0 -> [0].
  std::uint64_t a = s < 0 ? 0 - static_cast<std::uint64_t>(s) : static_cast<std::uint64_t>(s);
  std::vector<std::uint32_t> key;
  do {
    key.push_back(static_cast<std::uint32_t>(a & 0xffffffffu));
    a >>= 32;
  } while (a);
  init_by_array(key);
}

void PyRandom::init_by_array(const std::vector<std::uint32_t>& key) {
  constexpr int N = 624;
  mt_[0] = 19650218u;
  for (int i = 1; i < N; ++i)
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  int i = 1;
  std::size_t j = 0;
  for (std::size_t k = std::max<std::size_t>(N, key.size()); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= N) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = N - 1; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= N) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = N;
}

void PyRandom::twist() {
  constexpr int N = 624, M = 397;
  constexpr std::uint32_t kMatrix = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;
  for (int k = 0; k < N; ++k) {
    std::uint32_t y = (mt_[k] & kUpper) | (mt_[(k + 1) % N] & kLower);
    mt_[k] = mt_[(k + M) % N] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
  }
  index_ = 0;
}

std::uint32_t PyRandom::next_u32() {
  if (index_ >= 624) twist();
  std::uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

std::uint32_t PyRandom::getrandbits(int k) {
  if (k < 1 || k > 32) throw Error(fmt::format("PyRandom::getrandbits: k={} outside 1..32", k));
  return next_u32() >> (32 - k);
}

std::uint64_t PyRandom::randbelow(std::uint64_t n) {
  if (n == 0) throw Error("PyRandom::randbelow: n must be >= 1");
  int k = 0;
  for (std::uint64_t t = n; t; t >>= 1) ++k;  // n.bit_length()
  if (k > 32) {
    // getrandbits(k) for k > 32 concatenates 32-bit words, least significant first.
    for (;;) {
      std::uint64_t r = 0;
      int bits = k, shift = 0;
      while (bits > 0) {
        std::uint32_t w = next_u32();
        if (bits < 32) w >>= (32 - bits);
        r |= static_cast<std::uint64_t>(w) << shift;
        shift += 32;
        bits -= 32;
      }
      if (r < n) return r;
    }
  }
  for (;;) {
    std::uint64_t r = getrandbits(k);
    if (r < n) return r;
  }
}

double PyRandom::random() {
  std::uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

bool PyRandom::use_sample_pool_branch(std::size_t n, std::size_t k) const {
  if (k > n) throw Error(fmt::format("PyRandom::sample: sample larger than population ({} > {})", k, n));
  std::size_t setsize = 21;
  if (k > 5) setsize += static_cast<std::size_t>(std::pow(4.0, std::ceil(std::log(3.0 * k) / std::log(4.0))));
  return n <= setsize;
}

std::vector<std::size_t> PyRandom::sample_set_branch_indices(std::size_t n, std::size_t k) {
  std::unordered_set<std::size_t> selected;
  std::vector<std::size_t> out;
  out.reserve(k);
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t j = randbelow(n);
    while (selected.count(j)) j = randbelow(n);
    selected.insert(j);
    out.push_back(j);
  }
  return out;
}

}  // namespace w2s
