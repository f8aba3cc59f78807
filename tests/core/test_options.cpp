// The options field lists (w2s/options.h): the JSON of the recorded config and of a cache key,
// the command-line flags, and the check that every member of a struct is listed.
#include "w2s/options.h"

#include <gtest/gtest.h>

#include "assets.h"

namespace sample {

enum class Shape { Round, Square };
inline const w2s::options::NameTable<Shape>& names_of(Shape) {
  static const w2s::options::NameTable<Shape> table{"shape", {{Shape::Round, "round"}, {Shape::Square, "square"}}};
  return table;
}

namespace o = w2s::options;

struct Placement {
  std::string device = "cpu";
  int threads = 0;
};
inline const o::Fields<Placement>& option_fields(const Placement*) {
  static const auto fields = o::Fields<Placement>()
                                 .add("device", &Placement::device, "where", o::kFlag | o::kRecord)
                                 .add("threads", &Placement::threads, "how many", o::kFlag);
  return fields;
}

struct Adapter {
  bool off = false;
  std::int64_t rank = 8;
  std::string modules = "auto";
};
inline const o::Fields<Adapter>& option_fields(const Adapter*) {
  static const auto fields = o::Fields<Adapter>()
                                 .add("adapter_off", &Adapter::off, "no adapter", o::kFlag | o::kRecord)
                                 .add("adapter_rank", &Adapter::rank, "rank")
                                 .key_as("r")
                                 .add("adapter_modules", &Adapter::modules, "modules")
                                 .key_as("modules")
                                 .key_unless_default()
                                 .key_value([](const Adapter& a, w2s::json::Value fields) {
                                   return a.off ? w2s::json::Value("off") : fields;
                                 });
  return fields;
}

struct Inner {
  double rate = 0.5;
  std::array<double, 2> betas{0.9, 0.95};
};
inline const o::Fields<Inner>& option_fields(const Inner*) {
  static const auto fields = o::Fields<Inner>()
                                 .add("rate", &Inner::rate, "the rate")
                                 .add("betas", &Inner::betas, "two betas", o::kRecord | o::kKey);
  return fields;
}

struct Options {
  std::string name = "x";
  Shape shape = Shape::Round;
  std::optional<std::int64_t> layer;
  std::optional<std::string> file;
  std::vector<std::string> tags{"a", "b"};
  std::size_t count = 3;
  std::filesystem::path dir = "./out";
  bool progress = true;
  bool internal = true;
  Inner inner;
  Placement placement;
  Adapter adapter;
};
inline const o::Fields<Options>& option_fields(const Options*) {
  static const auto fields =
      o::Fields<Options>()
          .add("name", &Options::name, "a name")
          .add("shape", &Options::shape, "a shape", o::kFlag | o::kRecord)
          .add("layer", &Options::layer, "a layer")
          .flag("the-layer")
          .when([](const Options& s) { return s.shape == Shape::Round; })
          .add("file", &Options::file, "a file", o::kFlag | o::kRecord)
          .omit_unset()
          .add("tags", &Options::tags, "tags", o::kFlag | o::kRecord)
          .add("count", &Options::count, "a count", o::kFlag | o::kRecord)
          .add("dir", &Options::dir, "a folder", o::kFlag)
          .add("progress", &Options::progress, "progress", o::kFlag)
          .flag_turns_off("no-progress")
          .add("internal", &Options::internal, "not an option anyone sets", o::kNone)
          .group("inner_args", &Options::inner, option_fields(static_cast<const Inner*>(nullptr)))
          .merge(&Options::placement, option_fields(static_cast<const Placement*>(nullptr)))
          .merge(&Options::adapter, option_fields(static_cast<const Adapter*>(nullptr)))
          .key_as("adapter");
  return fields;
}

// Two members, one listed: complete() must say so.
struct Forgetful {
  int listed = 1;
  int forgotten = 2;
};
inline const o::Fields<Forgetful>& option_fields(const Forgetful*) {
  static const auto fields = o::Fields<Forgetful>().add("listed", &Forgetful::listed, "listed");
  return fields;
}

}  // namespace sample

namespace {

using namespace w2s;
using sample::Options;

const options::Fields<Options>& fields() { return option_fields(static_cast<const Options*>(nullptr)); }

const options::Flag<Options>& flag(const std::string& name) {
  for (const auto& f : fields().flags())
    if (f.name == name) return f;
  throw Error("no flag " + name);
}

TEST(Options, MemberCountSeesEveryMemberOfAnAggregate) {
  EXPECT_EQ(options::member_count<Options>(), 12u);
  EXPECT_EQ(options::member_count<sample::Inner>(), 2u);
  EXPECT_EQ(options::member_count<sample::Forgetful>(), 2u);
}

TEST(Options, CompleteOnlyWhenEveryMemberIsListed) {
  EXPECT_TRUE(fields().complete());
  EXPECT_TRUE(option_fields(static_cast<const sample::Adapter*>(nullptr)).complete());
  const auto& forgetful = option_fields(static_cast<const sample::Forgetful*>(nullptr));
  EXPECT_FALSE(forgetful.complete());
  EXPECT_EQ(forgetful.listed_members(), 1u);
}

TEST(Options, ListingAMemberTwiceIsAnError) {
  EXPECT_THROW(options::Fields<sample::Inner>().add("a", &sample::Inner::rate, "").add("b", &sample::Inner::rate, ""),
               Error);
}

TEST(Options, RecordHoldsTheRecordedFieldsInListOrder) {
  const Options s;
  EXPECT_EQ(json::dump(options::record(s)),
            R"({"name":"x","shape":"round","layer":null,"tags":["a","b"],"count":3,)"
            R"("inner_args":{"rate":0.5,"betas":[0.9,0.95]},"device":"cpu","adapter_off":false,"adapter_rank":8,)"
            R"("adapter_modules":"auto"})");
  Options t;
  t.file = "f.jsonl";
  t.shape = sample::Shape::Square;  // `layer` applies to round shapes only
  EXPECT_EQ(json::dump(options::record(t)),
            R"({"name":"x","shape":"square","file":"f.jsonl","tags":["a","b"],"count":3,)"
            R"("inner_args":{"rate":0.5,"betas":[0.9,0.95]},"device":"cpu","adapter_off":false,"adapter_rank":8,)"
            R"("adapter_modules":"auto"})");
}

TEST(Options, KeyHoldsTheKeyFieldsUnderTheirKeyNames) {
  Options s;
  EXPECT_EQ(json::dump(options::key(s)),
            R"({"name":"x","layer":null,"inner_args":{"rate":0.5,"betas":[0.9,0.95]},"adapter":{"r":8}})");
  s.adapter.modules = "q,v";  // no longer the default: now in the key
  s.layer = 3;
  EXPECT_EQ(json::dump(options::key(s)),
            R"({"name":"x","layer":3,"inner_args":{"rate":0.5,"betas":[0.9,0.95]},"adapter":{"r":8,"modules":"q,v"}})");
  s.adapter.off = true;  // key_value replaces the adapter's fields
  EXPECT_EQ(options::key(s).at("adapter"), json::Value("off"));
}

TEST(Options, FlagsCoverFlaggedFieldsOfEveryGroup) {
  std::vector<std::string> names;
  for (const auto& f : fields().flags()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"name", "shape", "the-layer", "file", "tags", "count", "dir", "no-progress",
                                             "rate", "device", "threads", "adapter-off", "adapter-rank",
                                             "adapter-modules"}));
  EXPECT_EQ(flag("shape").help, "a shape (one of: round, square)");
  EXPECT_TRUE(flag("adapter-off").is_switch);
  EXPECT_FALSE(flag("rate").is_switch);
}

TEST(Options, FlagsParseTextIntoTheirMembers) {
  Options s;
  flag("name").set(s, "y");
  flag("shape").set(s, "square");
  flag("the-layer").set(s, "7");
  flag("file").set(s, "data.jsonl");
  flag("tags").set(s, "p, q,r");
  flag("count").set(s, "12");
  flag("dir").set(s, "/tmp/x");
  flag("no-progress").set(s, "true");
  flag("rate").set(s, "1e-3");
  flag("threads").set(s, "4");
  flag("adapter-off").set(s, "yes");
  EXPECT_EQ(s.name, "y");
  EXPECT_EQ(s.shape, sample::Shape::Square);
  EXPECT_EQ(s.layer, 7);
  EXPECT_EQ(s.file, "data.jsonl");
  EXPECT_EQ(s.tags, (std::vector<std::string>{"p", "q", "r"}));
  EXPECT_EQ(s.count, 12u);
  EXPECT_EQ(s.dir, std::filesystem::path("/tmp/x"));
  EXPECT_FALSE(s.progress);
  EXPECT_DOUBLE_EQ(s.inner.rate, 1e-3);
  EXPECT_EQ(s.placement.threads, 4);
  EXPECT_TRUE(s.adapter.off);
  flag("no-progress").set(s, "false");
  EXPECT_TRUE(s.progress);
}

TEST(Options, BadTextSaysWhatWasExpected) {
  Options s;
  EXPECT_EQ(test::error_of([&] { flag("shape").set(s, "oval"); }), "unknown shape 'oval' (expected one of: round, square)");
  EXPECT_EQ(test::error_of([&] { flag("count").set(s, "-1"); }), "expected a non-negative integer, got '-1'");
  EXPECT_EQ(test::error_of([&] { flag("the-layer").set(s, "3x"); }), "expected an integer, got '3x'");
  EXPECT_EQ(test::error_of([&] { flag("rate").set(s, "fast"); }), "expected a number, got 'fast'");
  EXPECT_EQ(test::error_of([&] { flag("adapter-off").set(s, "maybe"); }), "expected true or false, got 'maybe'");
}

TEST(Options, ShownDefaultsAreTheMembersAsText) {
  const Options s;
  EXPECT_EQ(flag("name").shown(s), "x");
  EXPECT_EQ(flag("shape").shown(s), "round");
  EXPECT_EQ(flag("the-layer").shown(s), std::nullopt);  // unset optional: no default to show
  EXPECT_EQ(flag("tags").shown(s), "a,b");
  EXPECT_EQ(flag("rate").shown(s), "0.5");
  EXPECT_EQ(flag("adapter-off").shown(s), "false");
  EXPECT_EQ(flag("no-progress").shown(s), std::nullopt);
}

}  // namespace
