#include <gtest/gtest.h>

#include <cmath>

#include "w2s/core.h"
#include "w2s/utf8.h"

using w2s::json::Value;

TEST(Json, RoundTripKeepsKeyOrderAndTypes) {
  const std::string text = R"({"z":1,"a":[true,null,2.5,-3,"x\ny\u00e9"],"m":{"k":1e300,"i":9007199254740993}})";
  Value v = w2s::json::parse(text);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.as_object()[0].first, "z");
  EXPECT_EQ(v.as_object()[1].first, "a");
  EXPECT_TRUE(v.at("a").at(0).as_bool());
  EXPECT_TRUE(v.at("a").at(1).is_null());
  EXPECT_DOUBLE_EQ(v.at("a").at(2).as_double(), 2.5);
  EXPECT_EQ(v.at("a").at(3).as_int(), -3);
  EXPECT_EQ(v.at("a").at(4).as_string(), "x\ny\xc3\xa9");
  EXPECT_EQ(v.at("m").at("i").as_int(), 9007199254740993LL);
  Value again = w2s::json::parse(w2s::json::dump(v));
  EXPECT_EQ(v, again);
  Value pretty = w2s::json::parse(w2s::json::dump(v, 2));
  EXPECT_EQ(v, pretty);
}

TEST(Json, DoublesStayDoublesAndRoundTrip) {
  for (double d : {0.1, 1.0, -0.0, 1e-7, 0.6394267984578837, 123456789.125}) {
    Value v = w2s::json::parse(w2s::json::dump(Value(d)));
    EXPECT_TRUE(v.type() == Value::Type::Double) << w2s::json::dump(Value(d));
    EXPECT_EQ(v.as_double(), d);
  }
  EXPECT_EQ(w2s::json::dump(Value(std::nan(""))), "null");
}

TEST(Json, CanonicalSortsKeysRecursively) {
  Value v = w2s::json::parse(R"({"b":{"y":1,"x":2},"a":[{"d":1,"c":2}]})");
  EXPECT_EQ(w2s::json::dump_canonical(v), R"({"a":[{"c":2,"d":1}],"b":{"x":2,"y":1}})");
}

TEST(Json, ErrorsNameOriginLineAndColumn) {
  try {
    w2s::json::parse("{\n  \"a\": 1,\n  \"b\": tru\n}", "bad.json");
    FAIL() << "expected an error";
  } catch (const w2s::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json:"), std::string::npos) << msg;
  }
  EXPECT_THROW(w2s::json::parse("[1,2", "x.json"), w2s::Error);
  EXPECT_THROW(w2s::json::parse("{} {}", "x.json"), w2s::Error);
  EXPECT_THROW(w2s::json::parse("", "x.json"), w2s::Error);
}

TEST(Json, TypedAccessErrorsAreClear) {
  Value v = w2s::json::parse(R"({"n":"text"})");
  try {
    v.at("n").as_int();
    FAIL();
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected integer, found string"), std::string::npos);
  }
  EXPECT_THROW(v.at("missing"), w2s::Error);
  EXPECT_EQ(v.get_int("missing", 7), 7);
}

TEST(Json, IntegersBeyond64BitsBecomeDoubles) {
  // GPT-2's tokenizer_config.json writes model_max_length = 1e30 as an integer.
  Value v = w2s::json::parse(R"({"model_max_length": 1000000000000000019884624838656, "n": 18446744073709551615})");
  EXPECT_DOUBLE_EQ(v.at("model_max_length").as_double(), 1e30);
  EXPECT_DOUBLE_EQ(v.at("n").as_double(), 18446744073709551615.0);
  EXPECT_THROW(w2s::json::parse("[1.2.3]"), w2s::Error);
}

// Found by fuzz_json (issue 22): a number beyond a double's range was read as infinity, which no
// JSON writer can write back and which no metric can use. It is a parse error, naming where.
TEST(Json, NumbersBeyondADoublesRangeAreErrorsNotInfinity) {
  for (const char* text : {R"({"eval_loss": 0.69351e308861110687256})", "[1e309]", "-1e400", "1e999999999999999999999"}) {
    try {
      w2s::json::parse(text, "results.json");
      ADD_FAILURE() << "accepted " << text;
    } catch (const w2s::Error& e) {
      EXPECT_NE(std::string(e.what()).find("results.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_DOUBLE_EQ(w2s::json::parse("1.7976931348623157e308").as_double(), 1.7976931348623157e308);
}

TEST(Json, ScalarDocuments) {
  EXPECT_EQ(w2s::json::parse("42").as_int(), 42);
  EXPECT_EQ(w2s::json::parse("\"s\"").as_string(), "s");
  EXPECT_TRUE(w2s::json::parse("null").is_null());
}

TEST(Json, BuildAndSet) {
  Value v;
  v["a"] = 1;
  v["b"]["c"] = "x";
  v.set("a", 2);
  v["list"].push_back(1.5);
  EXPECT_EQ(w2s::json::dump(v), R"({"a":2,"b":{"c":"x"},"list":[1.5]})");
}

// Invalid UTF-8 (a cut byte-fallback sequence from a model, a stray Latin-1 byte) never reaches
// a written file: each maximal invalid subsequence becomes U+FFFD, in values and keys, and the
// output parses again (the parser, simdjson, refuses invalid UTF-8).
TEST(Json, WriterReplacesInvalidUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ok é 日本 🙂", "ok é 日本 🙂"},
      {"cut \xF0\x9F\x98", "cut " + fffd},                       // a 4-byte character missing its last byte
      {"\xF0\x9F", fffd},                                         // a partial sequence alone
      {"latin-1 caf\xE9!", "latin-1 caf" + fffd + "!"},
      {"\xFF\xFE", fffd + fffd},                                  // bytes that never start a sequence
      {"overlong \xC0\xAF", "overlong " + fffd + fffd},
      {"surrogate \xED\xA0\x80", "surrogate " + fffd + fffd + fffd},
      {"beyond \xF4\x90\x80\x80", "beyond " + fffd + fffd + fffd + fffd},
      {"\x80 lone continuation", fffd + " lone continuation"},
  };
  for (const auto& [raw, expected] : cases) {
    EXPECT_EQ(w2s::valid_utf8(raw), expected);
    Value v = Value::object();
    v.set("text", raw);
    v.set("key " + raw, 1);
    const std::string written = w2s::json::dump(v, 2);
    EXPECT_EQ(w2s::valid_utf8(written), written);
    const Value back = w2s::json::parse(written);
    EXPECT_EQ(back.at("text").as_string(), expected);
    EXPECT_TRUE(back.contains("key " + expected));
  }
}
