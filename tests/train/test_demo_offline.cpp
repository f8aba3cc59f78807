// The README's main job runs with no network: `w2s train --preset demo` and `w2s analyze`, from
// an empty directory (no ./data), with every proxy pointing at a closed port so that any download
// (dataset or model) fails. The run is shrunk with flags (one thread: ctest runs tests side by
// side); the data and the models are the demo's.
#include <gtest/gtest.h>

#include <string>

#include "assets.h"
#include "w2s/core.h"

namespace {

namespace fs = std::filesystem;

TEST(DemoOffline, TrainAndAnalyzeNeedNoNetwork) {
  const fs::path dir = w2s::test::scratch_dir("demo_offline");
  const std::string dead = "http://127.0.0.1:9";  // discard port: nothing listens there
  const std::string env = "cd '" + dir.string() + "' && env -u W2S_DATA_DIR -u W2S_MODELS_DIR -u no_proxy -u NO_PROXY" +
                          " http_proxy=" + dead + " https_proxy=" + dead + " HTTP_PROXY=" + dead +
                          " HTTPS_PROXY=" + dead + " ALL_PROXY=" + dead + " W2S_HF_ENDPOINT=" + dead + " '" +
                          w2s::test::w2s_binary().string() + "'";
  std::string out;
  ASSERT_EQ(w2s::test::run_command(env + " train --preset demo --n-train 400 --n-val 100 --n-test 200 --n-epochs 1 --threads 1",
                                   &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "wrote the built-in copy of sst2-demo/train.tsv");
  EXPECT_TRUE(fs::exists(dir / "data/sst2-demo/train.tsv"));
  EXPECT_TRUE(fs::exists(dir / "data/sst2-demo/dev.tsv"));

  const w2s::json::Value record = w2s::json::parse(w2s::read_file(dir / "results/demo/sst2-demo/w2s/record.json"));
  const w2s::json::Value& dataset = record.at("dataset");
  EXPECT_EQ(dataset.at("name").as_string(), "sst2-demo");
  ASSERT_EQ(dataset.at("sources").as_array().size(), 2u);
  EXPECT_EQ(dataset.at("sources").as_array()[0].at("sha256").as_string(),
            "13a8cd232a58a091aeeb3fd9b13864c608add2f099a361f615eea8bbfddf20c3");

  ASSERT_EQ(w2s::test::run_command(env + " analyze results/demo", &out), 0) << out;
  EXPECT_TRUE(fs::exists(dir / "results/demo/analysis/analysis.json")) << out;
}

}  // namespace
