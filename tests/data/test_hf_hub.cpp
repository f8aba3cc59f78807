// Hugging Face model ids → local directories, against a fake hub of file:// URLs (never the network).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>

#include "assets.h"
#include "w2s/data.h"

namespace fs = std::filesystem;
using namespace w2s::data;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";




std::string git_blob_sha1(const std::string& content) {
  std::string blob = fmt::format("blob {}", content.size());
  blob.push_back('\0');
  return w2s::sha1_hex(blob + content);
}

// A hub tree laid out like the hub's URLs: api/models/<id>/revision/<rev>, api/models/<id>/tree/<commit>
// and <id>/resolve/<commit>/<file>. `files` are served; `listed_sha256` overrides the sha256 the
// listing gives for an LFS file (to fake a corrupted download).
struct FakeHub {
  fs::path root;
  std::string repo = "acme/tiny-lm";
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> listed_sha256;
  bool gated = false;

  std::string endpoint() const { return "file://" + root.string(); }

  void build() const {
    w2s::test::write_text(root / "api/models" / repo / "revision/main",
          fmt::format(R"({{"id": "{}", "sha": "{}", "gated": {}, "siblings": []}})", repo, kCommit,
                      gated ? "\"manual\"" : "false"));
    w2s::json::Value tree = w2s::json::Value::array();
    for (const auto& [name, content] : files) {
      w2s::json::Value entry = w2s::json::Value::object();
      entry.set("type", "file");
      entry.set("path", name);
      entry.set("size", static_cast<std::int64_t>(content.size()));
      entry.set("oid", git_blob_sha1(content));
      if (fs::path(name).extension() == ".safetensors") {
        auto it = listed_sha256.find(name);
        entry.set("lfs", w2s::json::Value(w2s::json::Object{
                             {"oid", it != listed_sha256.end() ? it->second : w2s::sha256_hex(content)},
                             {"size", static_cast<std::int64_t>(content.size())},
                             {"pointerSize", 134}}));
      }
      tree.as_array().push_back(entry);
    }
    w2s::test::write_text(root / "api/models" / repo / "tree" / kCommit, w2s::json::dump(tree, 0));
    for (const auto& [name, content] : files) w2s::test::write_text(root / repo / "resolve" / kCommit / name, content);
  }
};

FakeHub sharded_hub(const fs::path& root) {
  FakeHub hub;
  hub.root = root;
  hub.files = {{"config.json", R"({"model_type": "llama"})"},
               {"tokenizer.json", R"({"model": {"type": "BPE"}})"},
               {"tokenizer_config.json", "{}"},
               {"chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}"},
               {"README.md", "not downloaded"},
               {"model.safetensors.index.json",
                R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})"},
               {"model-00001-of-00002.safetensors", "shard one"},
               {"model-00002-of-00002.safetensors", "shard two"}};
  return hub;
}

HubOptions options_for(const FakeHub& hub, const fs::path& models) {
  HubOptions o;
  o.models_dir = models;
  o.endpoint = hub.endpoint();
  o.token = "";
  return o;
}

}  // namespace

TEST(Hub, ModelIdsAndDirectories) {
  EXPECT_TRUE(looks_like_hf_model_id("Qwen/Qwen1.5-0.5B"));
  EXPECT_TRUE(looks_like_hf_model_id("meta-llama/Meta-Llama-3-8B@main"));
  EXPECT_FALSE(looks_like_hf_model_id("./models/x"));
  EXPECT_FALSE(looks_like_hf_model_id("/abs/dir"));
  EXPECT_FALSE(looks_like_hf_model_id("random:hidden=8"));
  EXPECT_FALSE(looks_like_hf_model_id("a/b/c"));
  EXPECT_EQ(hf_model_dir("m", "Qwen/Qwen1.5-0.5B"), fs::path("m/Qwen/Qwen1.5-0.5B"));
  EXPECT_EQ(hf_model_dir("m", "Qwen/Qwen1.5-0.5B@v2"), fs::path("m/Qwen/Qwen1.5-0.5B@v2"));
}

TEST(Hub, DownloadsShardedModelIntoEmptyModelsDirWithChecksums) {
  const fs::path dir = w2s::test::scratch_dir("hub_sharded");
  const FakeHub hub = sharded_hub(dir / "hub");
  hub.build();
  const fs::path got = ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models"));
  EXPECT_EQ(got, dir / "models/acme/tiny-lm");
  EXPECT_TRUE(is_complete_model_dir(got));
  EXPECT_EQ(w2s::read_file(got / "model-00002-of-00002.safetensors"), "shard two");
  EXPECT_EQ(w2s::read_file(got / "tokenizer_config.json"), "{}");
  // Where transformers saves the chat template since it writes it apart from tokenizer_config.json.
  EXPECT_EQ(w2s::read_file(got / "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_FALSE(fs::exists(got / "README.md"));
  const auto record = w2s::json::parse_file(got / ".w2s-hub.json");
  EXPECT_EQ(record.get_string("commit"), kCommit);
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(got)) {
    EXPECT_EQ(e.path().string().find(".download.tmp"), std::string::npos) << e.path();
    ++entries;
  }
  EXPECT_EQ(entries, 8u);  // config, tokenizer, tokenizer_config, chat template, index, 2 shards, .w2s-hub.json
}

TEST(Hub, ExistingCompleteDirectoryIsUsedWithoutNetwork) {
  const fs::path dir = w2s::test::scratch_dir("hub_existing");
  w2s::test::write_text(dir / "models/acme/tiny-lm/config.json", "{}");
  w2s::test::write_text(dir / "models/acme/tiny-lm/tokenizer.json", "{}");
  w2s::test::write_text(dir / "models/acme/tiny-lm/model.safetensors", "weights");
  HubOptions o;
  o.models_dir = dir / "models";
  o.endpoint = "file://" + (dir / "no-hub-here").string();
  o.allow_download = false;
  EXPECT_EQ(ensure_hf_model("acme/tiny-lm", o), dir / "models/acme/tiny-lm");
}

TEST(Hub, ChecksumMismatchIsRejectedAndLeavesNoFile) {
  const fs::path dir = w2s::test::scratch_dir("hub_bad_sum");
  FakeHub hub = sharded_hub(dir / "hub");
  hub.listed_sha256["model-00002-of-00002.safetensors"] = std::string(64, 'a');
  hub.build();
  const std::string msg = w2s::test::error_of([&] { ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models")); });
  EXPECT_CONTAINS(msg, "checksum mismatch for model-00002-of-00002.safetensors");
  EXPECT_CONTAINS(msg, "To provide it by hand");
  EXPECT_CONTAINS(msg, fs::absolute(dir / "models/acme/tiny-lm").string());
  EXPECT_FALSE(fs::exists(dir / "models/acme/tiny-lm/model-00002-of-00002.safetensors"));
  for (const auto& e : fs::directory_iterator(dir / "models/acme/tiny-lm"))
    EXPECT_EQ(e.path().string().find(".download.tmp"), std::string::npos) << e.path();

  // Fixed on the hub: the next call fetches only what is missing and completes the directory.
  hub.listed_sha256.clear();
  hub.build();
  EXPECT_TRUE(is_complete_model_dir(ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models"))));
}

TEST(Hub, RepositoryWithoutSafetensorsIsRefused) {
  const fs::path dir = w2s::test::scratch_dir("hub_bin_only");
  FakeHub hub;
  hub.root = dir / "hub";
  hub.files = {{"config.json", "{}"}, {"tokenizer.json", "{}"}, {"pytorch_model.bin", "pickled"}};
  hub.build();
  const std::string msg = w2s::test::error_of([&] { ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models")); });
  EXPECT_CONTAINS(msg, "only pytorch_model.bin");
  EXPECT_CONTAINS(msg, "safetensors");
}

TEST(Hub, MissingRepositoryOrOfflineSaysHowToProvideTheDirectory) {
  const fs::path dir = w2s::test::scratch_dir("hub_missing");
  HubOptions o;
  o.models_dir = dir / "models";
  o.endpoint = "file://" + (dir / "empty-hub").string();
  const std::string msg = w2s::test::error_of([&] { ensure_hf_model("acme/nothing", o); });
  EXPECT_CONTAINS(msg, "cannot get model acme/nothing");
  EXPECT_CONTAINS(msg, "huggingface-cli download acme/nothing");
  EXPECT_CONTAINS(msg, "$W2S_MODELS_DIR");

  o.allow_download = false;
  EXPECT_CONTAINS(w2s::test::error_of([&] { ensure_hf_model("acme/nothing", o); }), "downloading is disabled");
}

TEST(Hub, GatedModelWithoutTokenAsksForTheLicenceAndHfToken) {
  const fs::path dir = w2s::test::scratch_dir("hub_gated");
  FakeHub hub = sharded_hub(dir / "hub");
  hub.gated = true;
  hub.build();
  const std::string msg = w2s::test::error_of([&] { ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models")); });
  EXPECT_CONTAINS(msg, "accept the licence on https://huggingface.co/acme/tiny-lm");
  EXPECT_CONTAINS(msg, "HF_TOKEN");
}

TEST(Hub, MissingWeightsAreFetchedForAnIncompleteDirectory) {
  const fs::path dir = w2s::test::scratch_dir("hub_partial");
  FakeHub hub;
  hub.root = dir / "hub";
  hub.files = {{"config.json", "{}"}, {"tokenizer.json", "{}"}, {"model.safetensors", "single file"}};
  hub.build();
  w2s::test::write_text(dir / "models/acme/tiny-lm/config.json", "{}");
  w2s::test::write_text(dir / "models/acme/tiny-lm/tokenizer.json", "{}");
  EXPECT_FALSE(is_complete_model_dir(dir / "models/acme/tiny-lm"));
  const fs::path got = ensure_hf_model("acme/tiny-lm", options_for(hub, dir / "models"));
  EXPECT_EQ(w2s::read_file(got / "model.safetensors"), "single file");
}
