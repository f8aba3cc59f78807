// The in-context prompt of every registry dataset (lib/icl/src/prompt.cpp, docs/icl.md "Registry
// datasets"): the golden texts of tests/icl/golden/registry-prompts.json, checked by hand — for
// each dataset a marker txt of class 1, and for the datasets in the test assets the first test
// question as the model sees it. W2S_UPDATE_GOLDEN=1 rewrites the file.
#include <gtest/gtest.h>

#include <cstdlib>

#include "assets.h"
#include "w2s/icl.h"

namespace {

using namespace w2s;
namespace fs = std::filesystem;

icl::Dataset registry(const std::string& name, std::size_t n_test) {
  data::TrainingDataOptions o;
  o.data_dir = (test::assets_dir() / "data").string();
  o.allow_download = false;
  o.n_train = 100;
  o.n_val = 20;
  o.n_test = n_test;
  return icl::load_registry_dataset(name, o, n_test, false);
}

TEST(RegistryPrompts, EveryBinaryRegistryDatasetHasTheGoldenPrompt) {
  json::Value golden = json::Value::object();
  for (const auto& name : data::training_dataset_names()) {
    if (name == "jsonl") continue;  // refused below
    const data::Question q = icl::registry_question(name, {"0123abcd", "TXT", 1});
    EXPECT_EQ(q.answer, "B");
    EXPECT_EQ(q.id, "0123abcd");
    EXPECT_EQ(q.letters, (std::vector<std::string>{"A", "B"}));
    golden[name] = q.text;
  }
  for (const char* name : {"sst2", "sciq-binary", "boolq-dev-split"}) {
    const icl::Dataset ds = registry(name, 10);
    golden[std::string("first test question of ") + name] = ds.test.front().text;
  }
  const fs::path file = test::source_dir() / "tests" / "icl" / "golden" / "registry-prompts.json";
  const std::string text = json::dump(golden, 2) + "\n";
  if (std::getenv("W2S_UPDATE_GOLDEN")) write_file_atomic(file, text);
  ASSERT_TRUE(fs::exists(file)) << file << " (run with W2S_UPDATE_GOLDEN=1 to create it)";
  EXPECT_EQ(text, read_file(file)) << "a registry prompt differs from " << file;
  // Two checked by hand here as well: sst2 asks for the sentiment, boolq's txt asks its own question.
  EXPECT_EQ(golden.get_string("sst2"), "TXT\n\nWhat is the sentiment of this sentence?\n\nA) negative\nB) positive");
  EXPECT_EQ(golden.get_string("boolq"), "TXT\n\nA) no\nB) yes");
}

TEST(RegistryPrompts, UserJsonlAndUnknownNamesAreRefusedByName) {
  try {
    icl::registry_prompt("jsonl");
    FAIL() << "jsonl has no in-context prompt";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "'jsonl' has no in-context prompt");
  }
  try {
    icl::dataset_kind("sst3");
    FAIL() << "sst3 is no dataset";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "unknown dataset 'sst3'");
    EXPECT_CONTAINS(std::string(e.what()), "truthfulqa, anli-r2");
  }
  EXPECT_EQ(icl::dataset_kind("truthfulqa"), icl::DatasetKind::TruthfulQa);
  EXPECT_EQ(icl::dataset_kind("sciq-binary"), icl::DatasetKind::Registry);
}

// The split of the contract: test = a prefix of the training test split, shot pool = the strong
// half of train in its order, extra pool = val; ids are the training ids, gold letters the classes.
TEST(RegistryPrompts, SplitIsTheFineTuningSplit) {
  data::TrainingDataOptions o;
  o.name = "sst2";
  o.data_dir = (test::assets_dir() / "data").string();
  o.allow_download = false;
  o.n_train = 100;
  o.n_val = 20;
  o.n_test = 50;
  const data::TrainingData data = data::load_training_data(o);
  const icl::Dataset ds = icl::load_registry_dataset("sst2", o, 30, false);
  const auto strong = data::split_weak_strong(data.train).strong;
  ASSERT_EQ(ds.test.size(), 30u);
  ASSERT_EQ(ds.shot_pool.size(), strong.size());
  ASSERT_EQ(ds.extra_pool.size(), data.val.size());
  for (std::size_t i = 0; i < ds.test.size(); ++i) {
    EXPECT_EQ(ds.test[i].id, data.test[i].id);
    EXPECT_EQ(ds.test[i].answer, data.test[i].label ? "B" : "A");
    EXPECT_EQ(ds.test[i].text.rfind(data.test[i].txt, 0), 0u);
  }
  for (std::size_t i = 0; i < strong.size(); ++i) EXPECT_EQ(ds.shot_pool[i].id, strong[i].id);
  for (std::size_t i = 0; i < data.val.size(); ++i) EXPECT_EQ(ds.extra_pool[i].id, data.val[i].id);
  EXPECT_EQ(ds.name, "sst2");
  EXPECT_EQ(ds.variant, "");
  EXPECT_EQ(ds.seed, 0);
  EXPECT_EQ(json::dump(ds.class_of_letter), R"({"A":0,"B":1})");
  const auto identity = icl::dataset_identity(ds, "test");
  EXPECT_EQ(identity.split_sizes.at("test"), 30);
  EXPECT_EQ(identity.split_sizes.at("train"), static_cast<std::int64_t>(data.train.size()));

  // A test size larger than the data: refused when asked for, all of it for the default.
  try {
    icl::load_registry_dataset("sst2", o, 51, false);
    FAIL() << "51 > 50 test examples";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "--test-size 51 is more than the 50 test examples of sst2");
  }
  EXPECT_EQ(icl::load_registry_dataset("sst2", o, 200, true).test.size(), 50u);
}

TEST(RegistryPrompts, MissingFilesNameTheExpectedPath) {
  const fs::path empty = test::scratch_dir("icl_registry_no_data");
  data::TrainingDataOptions o;
  o.data_dir = empty.string();
  o.allow_download = false;
  try {
    icl::load_registry_dataset("boolq-dev-split", o, 10, true);
    FAIL() << "no files";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), (empty / "boolq" / "dev.jsonl").string());
  }
}

}  // namespace
