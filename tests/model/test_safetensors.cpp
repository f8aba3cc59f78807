// safetensors reader/writer: round trip, sharded index, and hostile files (truncated,
// overlapping, oversized or malformed headers, random byte mutations) that must give w2s::Error.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "assets.h"
#include "w2s/model.h"

namespace {

using namespace w2s::model;
namespace fs = std::filesystem;

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// A file with an arbitrary header text and data block.
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  std::string out;
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  w2s::write_file_atomic(path, out + header + data);
}

void expect_rejected(const fs::path& path, const std::string& fragment) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "accepted a malformed file; expected an error containing: " << fragment;
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RoundTripKeepsNamesShapesDtypesBytesAndMetadata) {
  const fs::path dir = w2s::test::scratch_dir("safetensors_roundtrip");
  const std::string a = float_bytes({1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f});
  const std::string b(4, '\x3f');  // two bf16 / f16 values
  write_safetensors(dir / "t.safetensors",
                    {{"a.weight", DType::F32, {2, 3}, a}, {"b", DType::BF16, {2}, b}, {"c", DType::F16, {1, 2}, b},
                     {"empty", DType::F32, {0, 4}, std::string_view()}},
                    {{"format", "pt"}});
  SafetensorsFile f(dir / "t.safetensors");
  ASSERT_EQ(f.tensors().size(), 4u);
  const TensorView* t = f.find("a.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->data), t->nbytes), a);
  EXPECT_EQ(f.find("b")->dtype, DType::BF16);
  EXPECT_EQ(f.find("c")->dtype, DType::F16);
  EXPECT_EQ(f.find("empty")->nbytes, 0u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // The data block starts 8-byte aligned, as the reference writer makes it.
  const std::string raw = w2s::read_file(dir / "t.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST(Safetensors, WriterRejectsWrongByteCounts) {
  const fs::path dir = w2s::test::scratch_dir("safetensors_writer");
  EXPECT_THROW(write_safetensors(dir / "x.safetensors", {{"a", DType::F32, {3}, "12345678"}}), w2s::Error);
  EXPECT_THROW(write_safetensors(dir / "x.safetensors", {{"a", DType::F32, {1}, "1234"}, {"a", DType::F32, {1}, "1234"}}),
               w2s::Error);
  // A shape whose byte count wraps around 2^64 to the bytes given (2^62 x 4 bytes = 0 mod 2^64).
  try {
    write_safetensors(dir / "x.safetensors", {{"a", DType::F32, {std::int64_t{1} << 62}, std::string_view()}});
    ADD_FAILURE() << "wrote a tensor whose size wraps around";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 2^64 bytes"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, HostileHeadersGiveClearErrors) {
  const fs::path dir = w2s::test::scratch_dir("safetensors_hostile");
  const fs::path p = dir / "bad.safetensors";
  const std::string data(16, '\0');

  w2s::write_file_atomic(p, "abc");
  expect_rejected(p, "need at least 8");

  std::string huge(8, '\0');
  huge[7] = '\x7f';  // header length ~9e18
  w2s::write_file_atomic(p, huge + "{}");
  expect_rejected(p, "100 MB");

  std::string past(8, '\0');
  past[0] = 100;  // 100-byte header in a 10-byte file
  w2s::write_file_atomic(p, past + "{}");
  expect_rejected(p, "runs past the end");

  write_raw(p, "{\"a\":", data);
  expect_rejected(p, "header");
  write_raw(p, "[1,2]", data);
  expect_rejected(p, "not a JSON object");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data);
  expect_rejected(p, "overlap");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data);
  expect_rejected(p, "past the 16-byte data block");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data);
  expect_rejected(p, "needing 12");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data);
  expect_rejected(p, "begin 8 > end 0");
  write_raw(p, R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data);
  expect_rejected(p, "unsupported dtype");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data);
  expect_rejected(p, "non-negative");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", data);
  expect_rejected(p, "bad.safetensors: tensor \"a\": \"shape\" gives a tensor of more than 2^64 bytes");
  // 2^62 elements of 4 bytes: the element count fits, the byte count does not.
  write_raw(p, R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", data);
  expect_rejected(p, "\"shape\" gives a tensor of more than 2^64 bytes");
  // Offsets beyond int64 are no integers of ours.
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551623]}})", data);
  expect_rejected(p, "\"data_offsets\" must be non-negative integers");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data);
  expect_rejected(p, "data_offsets");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data);
  expect_rejected(p, "duplicate");
  write_raw(p, R"({"__metadata__":{"k":1}})", data);
  expect_rejected(p, "__metadata__");
  write_raw(p, R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", data);
  expect_rejected(p, "shape");
}

// Random truncations and byte flips of a valid file: each must load or throw w2s::Error, never
// crash or read out of bounds (run under ASan/valgrind to see the latter).
TEST(Safetensors, MutatedFilesNeverCrash) {
  const fs::path dir = w2s::test::scratch_dir("safetensors_fuzz");
  write_safetensors(dir / "ok.safetensors",
                    {{"x", DType::F32, {2, 2}, float_bytes({1, 2, 3, 4})}, {"y", DType::F16, {3}, std::string(6, '\1')}},
                    {{"format", "pt"}});
  const std::string good = w2s::read_file(dir / "ok.safetensors");
  w2s::PyRandom rng(7);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 600; ++i) {
    std::string bad = good;
    if (i % 3 == 0) {
      bad.resize(rng.randbelow(good.size()));
    } else {
      const int flips = 1 + static_cast<int>(rng.randbelow(4));
      for (int k = 0; k < flips; ++k) bad[rng.randbelow(bad.size())] = static_cast<char>(rng.randbelow(256));
    }
    const fs::path p = dir / "mut.safetensors";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bad;  // no fsync: 600 files
    try {
      SafetensorsFile f(p);
      std::size_t sum = 0;
      for (const auto& t : f.tensors())
        for (std::size_t b = 0; b < t.nbytes; ++b) sum += static_cast<unsigned char>(t.data[b]);
      (void)sum;
      ++accepted;
    } catch (const w2s::Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 100);
  EXPECT_GT(accepted, 10);  // flips inside tensor data are legitimately fine
}

TEST(Safetensors, ShardedIndexListsEveryShardOnce) {
  const fs::path dir = w2s::test::scratch_dir("safetensors_index");
  w2s::write_file_atomic(dir / "model.safetensors.index.json",
                         R"({"metadata":{},"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}})");
  const auto files = weight_files(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "model-00001-of-00002.safetensors");
  w2s::write_file_atomic(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"../etc/passwd"}})");
  EXPECT_THROW(weight_files(dir), w2s::Error);
  EXPECT_THROW(weight_files(w2s::test::scratch_dir("safetensors_empty")), w2s::Error);
}

TEST(Safetensors, ReadsTheSharedCheckpoints) {
  const fs::path models = w2s::test::assets_dir() / "models" / "hf";
  SafetensorsFile llama(models / "stories260K-llama" / "model.safetensors");
  EXPECT_NE(llama.find("model.embed_tokens.weight"), nullptr);
  EXPECT_EQ(llama.find("model.embed_tokens.weight")->shape, (std::vector<std::int64_t>{512, 64}));
  SafetensorsFile gpt2(models / "fake-gpt2-tiny-random" / "model.safetensors");
  EXPECT_FALSE(gpt2.tensors().empty());
}

}  // namespace
