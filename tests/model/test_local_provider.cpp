// The local provider (`--provider local`): a pretrained Llama (stories260K, no chat template) and
// a random tiny Qwen2-shaped model with Qwen2.5's ChatML template, and random Gemma 2 and Phi-3
// models (sliding windows shorter than the prompts) answer the in-context experiments. Shared-prefix reuse gives the same answers as computing every prompt in full, and the
// questions of a point decoded together as padded batches give those of each question alone; the
// whole pipeline (baseline, gold-sweep, weak-sweep, analyze) runs through the `w2s` binary and
// writes schema-valid records; a sweep stopped midway resumes from the response cache.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "assets.h"
#include "icl_http_util.h"
#include "w2s/icl.h"
#include "w2s/model.h"
#include "w2s/model_torch.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;
using namespace w2s;
using test::shell_quote;

fs::path stories_dir() { return test::assets_dir() / "models" / "hf" / "stories260K-llama"; }

// A random Qwen2-shaped model (q/k/v biases, GQA) with GPT-2's byte-level tokenizer plus the two
// ChatML tokens, and Qwen2.5's chat template in its tokenizer_config.json. Written once per
// process (CTest runs the tests of this file in parallel processes).
fs::path tiny_qwen_dir() {
  static const fs::path dir = [] {
    const fs::path d = test::scratch_dir("local_tiny_qwen_" + std::to_string(::getpid()));
    model::ModelConfig config = model::tiny_config("qwen2", 50259, 32, 2, 4, 2);
    config.bos_token_id = std::nullopt;
    config.eos_token_id = 50258;  // <|im_end|>, as Qwen2.5-Instruct's config says
    config.config_json.set("bos_token_id", json::Value());
    config.config_json.set("eos_token_id", 50258);
    model::CausalLM lm = model::random_causal_lm(config, 7);
    model::save_pretrained(lm, d);
    json::Value tokenizer = json::parse_file(test::assets_dir() / "models" / "hf" / "fake-gpt2-tiny-random" /
                                             "tokenizer.json");
    for (const auto& [id, content] : {std::pair{50257, "<|im_start|>"}, std::pair{50258, "<|im_end|>"}})
      tokenizer["added_tokens"].push_back(json::Object{{"id", id},
                                                       {"content", content},
                                                       {"single_word", false},
                                                       {"lstrip", false},
                                                       {"rstrip", false},
                                                       {"normalized", false},
                                                       {"special", true}});
    test::write_text(d / "tokenizer.json", json::dump(tokenizer));
    test::write_text(
        d / "tokenizer_config.json",
        json::dump(json::Object{
            {"bos_token", json::Value()},
            {"eos_token", "<|im_end|>"},
            {"pad_token", "<|endoftext|>"},
            {"chat_template",
             read_file(test::source_dir() / "tests" / "model" / "chat_templates" / "qwen2.5-0.5b-instruct.jinja")}}));
    return d;
  }();
  return dir;
}

data::TruthfulQa truthfulqa(std::size_t test_size) {
  data::TruthfulQaOptions o;
  o.data_dir = (test::assets_dir() / "data").string();
  o.test_size = test_size;
  o.allow_download = false;
  return data::load_truthfulqa(o);
}

// The requests of one evaluation point per shot count: gold shots train[0:N], then each question.
std::vector<llm::ChatRequest> icl_requests(const std::string& model, const data::TruthfulQa& ds,
                                           const std::vector<int>& shot_counts) {
  std::vector<llm::ChatRequest> out;
  for (int n : shot_counts) {
    std::vector<icl::Shot> shots;
    for (int i = 0; i < n; ++i) shots.push_back({ds.train[i].text, ds.train[i].answer});
    for (const auto& q : ds.test) {
      llm::ChatRequest r;
      r.model = model;
      r.messages = icl::build_messages(shots, q.text);
      r.max_tokens = 6;
      r.temperature = 0.0;
      r.logprobs = true;
      r.top_logprobs = 20;
      out.push_back(std::move(r));
    }
  }
  return out;
}

model::LocalProviderOptions cpu_options(bool prefix_cache) {
  model::LocalProviderOptions o;
  o.run.device = "cpu";
  o.run.threads = 1;
  o.prefix_cache = prefix_cache;
  o.progress = false;
  return o;
}

// A random model of the family `model_type` (`w2s model new`) with the stories260K tokenizer and
// a sliding window of 16 tokens, shorter than the prompts: the shared prefix in the KV cache
// crosses it. Written once per process.
fs::path new_family_dir(const std::string& model_type) {
  static std::map<std::string, fs::path> dirs;
  if (!dirs.count(model_type)) {
    const fs::path d = test::scratch_dir("local_" + model_type + "_" + std::to_string(::getpid()));
    model::NewModelOptions o;
    o.model_type = model_type;
    o.hidden_size = 32;
    o.tokenizer = stories_dir();
    o.config.set("sliding_window", 16);
    if (model_type == "phi3_longrope") {  // Phi-3-128k's rope, switching within the test's prompts
      o.model_type = "phi3";
      o.config.set("max_position_embeddings", 4096);
      o.config.set("original_max_position_embeddings", 256);
      o.config.set("rope_scaling", json::parse(R"({"type":"longrope","short_factor":[1,1.2,1.5,2],"long_factor":[2,3,4,5]})"));
    }
    model::write_new_model(d, o);
    dirs[model_type] = d;
  }
  return dirs[model_type];
}

class LocalModels : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const {
    if (GetParam() == "stories") return stories_dir();
    if (GetParam() == "tiny_qwen") return tiny_qwen_dir();
    return new_family_dir(GetParam());
  }
};

// The same answers in what is recorded: content, finish, token counts, and every step's logprobs
// (within float rounding: batches and shared prefixes sum in another order).
void expect_same_answers(const std::vector<llm::Completion>& a, const std::vector<llm::Completion>& b,
                         const data::TruthfulQa& ds) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(a[i].ok) << a[i].error;
    ASSERT_TRUE(b[i].ok) << b[i].error;
    EXPECT_EQ(a[i].content, b[i].content);
    EXPECT_EQ(a[i].finish_reason, b[i].finish_reason);
    EXPECT_EQ(a[i].prompt_tokens, b[i].prompt_tokens);
    EXPECT_EQ(a[i].completion_tokens, b[i].completion_tokens);
    EXPECT_EQ(a[i].provider, "local");
    EXPECT_EQ(a[i].cost_usd, 0.0);
    ASSERT_EQ(a[i].logprobs.size(), b[i].logprobs.size());
    ASSERT_FALSE(a[i].logprobs.empty());
    for (std::size_t step = 0; step < a[i].logprobs.size(); ++step) {
      EXPECT_EQ(a[i].logprobs[step].token, b[i].logprobs[step].token) << step;
      EXPECT_NEAR(a[i].logprobs[step].logprob, b[i].logprobs[step].logprob, 1e-4) << step;
    }
    const auto& first_a = a[i].logprobs.front();
    const auto& first_b = b[i].logprobs.front();
    ASSERT_EQ(first_a.top.size(), first_b.top.size());
    for (std::size_t k = 0; k < first_a.top.size(); ++k) {
      EXPECT_EQ(first_a.top[k].token, first_b.top[k].token);
      EXPECT_NEAR(first_a.top[k].logprob, first_b.top[k].logprob, 1e-4);
      // The chosen token is the argmax of the full distribution.
      EXPECT_LE(first_a.top[k].logprob, first_a.logprob + 1e-6);
    }
    const auto letters = ds.test[i % ds.test.size()].letters;
    const auto pa = icl::letter_probabilities(a[i], letters), pb = icl::letter_probabilities(b[i], letters);
    ASSERT_EQ(pa.size(), letters.size()) << "every option letter is a token of the vocabulary";
    for (const auto& [letter, p] : pa) EXPECT_NEAR(p, pb.at(letter), 1e-5) << letter;
  }
}

TEST_P(LocalModels, SharedPrefixReuseGivesTheSameAnswers) {
  const data::TruthfulQa ds = truthfulqa(5);
  const auto requests = icl_requests(dir().string(), ds, {0, 3});
  auto reusing = model::make_local_provider(cpu_options(true));
  auto full = model::make_local_provider(cpu_options(false));
  const auto a = reusing->run_batch(requests);
  const auto b = full->run_batch(requests);
  expect_same_answers(a, b, ds);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(b[i].cached_tokens, 0);
    // Every question of a point starts from the shared prefix (system prompt and shots).
    EXPECT_GT(a[i].cached_tokens, 0) << i;
    EXPECT_LT(a[i].cached_tokens, a[i].prompt_tokens);
  }
}

// The questions of a point decoded together (right-padded prompts of different lengths, six
// tokens each, over the shared prefix; the 2- and 3-shot prefixes grown from the ones before)
// answer as each question sent alone, a batch of one computed in full.
TEST_P(LocalModels, BatchedQuestionsAnswerAsEachAlone) {
  const data::TruthfulQa ds = truthfulqa(5);
  const auto requests = icl_requests(dir().string(), ds, {0, 2, 3});
  auto provider = model::make_local_provider(cpu_options(true));
  const auto batched = provider->run_batch(requests);
  std::vector<llm::Completion> alone;
  std::set<std::int64_t> lengths;
  for (const auto& r : requests) {
    alone.push_back(provider->run_batch({r}).front());
    EXPECT_EQ(alone.back().cached_tokens, 0);
    lengths.insert(alone.back().prompt_tokens);
  }
  EXPECT_GE(lengths.size(), 4u) << "prompts of different lengths: the batches are padded";
  expect_same_answers(batched, alone, ds);
}

// Batches are cut in order of length: each question is padded to its neighbours' lengths, not to a
// long question sent beside it (request order 30, 5, 20, 6, 25, 7 pads 150 tokens in pairs; by
// length 112), and the answers still go to their own requests (the test above).
TEST(BatchesByLength, ShortestFirstEqualLengthsInOrderEveryQuestionOnce) {
  const std::vector<std::size_t> lengths = {30, 5, 20, 6, 25, 7};
  const auto batches = model::batches_by_length(lengths, 2);
  EXPECT_EQ(batches, (std::vector<std::vector<std::size_t>>{{1, 3}, {5, 2}, {4, 0}}));
  std::size_t padded = 0;
  for (const auto& b : batches) {
    std::size_t longest = 0;
    for (std::size_t i : b) longest = std::max(longest, lengths[i]);
    padded += longest * b.size();
  }
  EXPECT_EQ(padded, 112u);
  EXPECT_EQ(model::batches_by_length({4, 4, 4}, 2), (std::vector<std::vector<std::size_t>>{{0, 1}, {2}}));
  EXPECT_EQ(model::batches_by_length({9, 3}, 5), (std::vector<std::vector<std::size_t>>{{1, 0}}));
  EXPECT_TRUE(model::batches_by_length({}, 3).empty());
  EXPECT_THROW(model::batches_by_length({1}, 0), Error);
}

TEST_P(LocalModels, IdentityNamesTheFilesAndTheTemplate) {
  auto provider = model::make_local_provider(cpu_options(true));
  const json::Value id = *provider->model_identity(dir().string());
  EXPECT_EQ(id.get_string("provider"), "local");
  EXPECT_EQ(id.get_string("dtype"), "float32");
  EXPECT_EQ(id.at("weights_sha256").get_string("model.safetensors"), sha256_file_hex(dir() / "model.safetensors"));
  if (GetParam() != "tiny_qwen") {  // the stories260K tokenizer has no template
    EXPECT_EQ(id.get_string("chat_template"), "plain (the model has no chat_template)");
  } else {
    EXPECT_EQ(id.get_string("chat_template"), "jinja (tokenizer_config.json)");
    EXPECT_EQ(id.get_string("chat_template_sha256"),
              sha256_hex(read_file(test::source_dir() / "tests/model/chat_templates/qwen2.5-0.5b-instruct.jinja")));
    EXPECT_EQ(id.find("chat_date"), nullptr);  // the template does not call strftime_now
  }
  // The cache endpoint depends on the files, not on where they are or how the prompt is computed.
  auto other = model::make_local_provider(cpu_options(false));
  EXPECT_EQ(provider->endpoint(dir().string()), other->endpoint(dir().string()));
  EXPECT_NE(provider->endpoint(stories_dir().string()), provider->endpoint(tiny_qwen_dir().string()));
}

INSTANTIATE_TEST_SUITE_P(Models, LocalModels, ::testing::Values("stories", "tiny_qwen", "gemma2", "phi3", "phi3_longrope"));

TEST(LocalProvider, ChatMLPromptEndsWithTheAssistantTurnAndStopsAtImEnd) {
  const fs::path dir = tiny_qwen_dir();
  const model::Tokenizer tok = model::Tokenizer::from_dir(dir);
  const model::ChatTemplate t = model::read_chat_template(dir);
  const auto ids = tok.encode(model::render_chat(t, {{"system", "S"}, {"user", "Q"}}), t.add_special_tokens());
  // <|im_start|> and <|im_end|> are single special tokens of the prompt.
  EXPECT_EQ(ids.front(), 50257);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 50258), 2);
  EXPECT_EQ(tok.decode(ids, false), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
}

// A template that writes the BOS itself: the rendered prompt is tokenized without the tokenizer's
// special tokens (as apply_chat_template does), so the prompt starts with one BOS, not two.
TEST(LocalProvider, TheTemplatesBosIsNotAddedTwice) {
  const fs::path d = test::scratch_dir("local_stories_bos_template_" + std::to_string(::getpid()));
  fs::copy(stories_dir(), d, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  test::write_text(d / "chat_template.jinja",
                   "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
                   "{% if add_generation_prompt %}assistant:{% endif %}\n");
  const model::Tokenizer tok = model::Tokenizer::from_dir(d);
  const json::Value shown = model::prompt_to_json(d, {{"user", "Once upon a time"}}, {});
  EXPECT_EQ(shown.get_string("text"), "<s>user: Once upon a time\nassistant:");  // Jinja drops one final newline
  EXPECT_EQ(shown.at("ids").at(0).as_int(), *tok.bos_id());
  EXPECT_NE(shown.at("ids").at(1).as_int(), *tok.bos_id());
  EXPECT_EQ(tok.encode("user: Once upon a time", true).at(0), *tok.bos_id());  // the tokenizer alone adds one
  EXPECT_FALSE(shown.at("add_special_tokens").as_bool());
}

// A template that calls strftime_now renders the --chat-date, which the identity (and so the cache
// endpoint) records; a template that does not call it records no date.
TEST(LocalProvider, TheChatDateIsRecordedForTemplatesThatRenderIt) {
  const fs::path dated = test::scratch_dir("local_dated_template_" + std::to_string(::getpid()));
  fs::copy(tiny_qwen_dir(), dated, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::copy_file(test::source_dir() / "tests/model/chat_templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
                dated / "chat_template.jinja");
  model::LocalProviderOptions july = cpu_options(true), august = cpu_options(true);
  july.chat.chat_date = "2025-07-04";
  august.chat.chat_date = "2025-08-04";
  auto in_july = model::make_local_provider(july), in_august = model::make_local_provider(august);
  const json::Value id = *in_july->model_identity(dated.string());
  EXPECT_EQ(id.get_string("chat_template"), "jinja (chat_template.jinja)");
  EXPECT_EQ(id.get_string("chat_date"), "2025-07-04");
  EXPECT_NE(in_july->endpoint(dated.string()), in_august->endpoint(dated.string()));
  EXPECT_EQ(in_july->endpoint(tiny_qwen_dir().string()), in_august->endpoint(tiny_qwen_dir().string()));
  EXPECT_EQ(in_july->model_identity(tiny_qwen_dir().string())->find("chat_date"), nullptr);
  model::ChatOptions options;
  options.chat_date = "2025-07-04";
  EXPECT_CONTAINS(model::prompt_to_json(dated, {{"user", "Q"}}, options).get_string("text"), "Today Date: 04 Jul 2025");
}

// A sweep interrupted after some answers (the process killed) resumes from the response cache:
// the rerun computes only the missing answers, and its records equal an uninterrupted run's.
class Interrupting : public llm::Provider {
 public:
  Interrupting(llm::Provider& inner, int allowed) : inner_(inner), allowed_(allowed) {}
  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result) override {
    computed += static_cast<int>(requests.size());
    return inner_.run_batch(requests, [&](std::size_t i, const llm::Completion& c) {
      if (allowed_-- <= 0) throw std::runtime_error("killed");
      on_result(i, c);
    });
  }
  std::optional<json::Value> model_identity(const std::string& model) override { return inner_.model_identity(model); }
  int computed = 0;

 private:
  llm::Provider& inner_;
  int allowed_;
};

TEST(LocalProvider, KilledSweepResumesFromTheCache) {
  const auto scratch = test::scratch_dir("local_resume");
  const data::TruthfulQa ds = truthfulqa(6);
  icl::Config config;
  config.models = {tiny_qwen_dir().string()};
  config.shots = {0, 2};
  config.sampling.max_tokens = 4;
  config.score = icl::ScoreMode::Logprobs;
  config.client.progress = false;
  auto local = model::make_local_provider(cpu_options(true));
  const auto endpoint = [&local](const std::string& m) { return local->endpoint(m); };

  config.results_dir = scratch / "killed";
  config.client.cache_dir = scratch / "cache";
  {
    Interrupting killed(*local, 7);
    llm::CachedProvider cached(killed, endpoint, config.client);
    EXPECT_THROW(icl::run_gold_sweep(config, ds, cached), std::runtime_error);
  }
  Interrupting resumed(*local, 1000);
  llm::CachedProvider cached(resumed, endpoint, config.client);
  const icl::RunSummary summary = icl::run_gold_sweep(config, ds, cached);
  EXPECT_EQ(resumed.computed, 12 - 7);
  EXPECT_EQ(summary.cost.total.cache_hits, 7);

  config.results_dir = scratch / "uninterrupted";
  config.client.cache_dir = scratch / "cache-uninterrupted";
  llm::CachedProvider fresh(*local, endpoint, config.client);
  icl::run_gold_sweep(config, ds, fresh);
  for (int n : {0, 2}) {
    const fs::path rel = fs::path("icl") / "gold-sweep" / model_slug(config.models[0]) / ("shots-" + std::to_string(n) + ".json");
    const auto a = results::read_record(scratch / "killed" / rel), b = results::read_record(scratch / "uninterrupted" / rel);
    ASSERT_EQ(a.predictions.size(), 6u);
    for (std::size_t i = 0; i < a.predictions.size(); ++i) {
      EXPECT_EQ(a.predictions[i].prediction, b.predictions[i].prediction);
      EXPECT_EQ(a.predictions[i].raw_completion, b.predictions[i].raw_completion);
    }
    EXPECT_TRUE(results::validate(json::parse_file(scratch / "killed" / rel)).empty());
  }
}

// baseline -> gold-sweep -> weak-sweep -> analyze through the `w2s` binary, stories260K as the
// weak model and the tiny Qwen as the strong one; a rerun is served from the cache.
TEST(LocalProvider, PipelineEndToEnd) {
  const auto dir = test::scratch_dir("local_e2e");
  const std::string weak = stories_dir().string(), strong = tiny_qwen_dir().string();
  const std::string common = " --provider local --threads 1 --max-tokens 4 --score logprobs --test-size 6 --data-dir " +
                             shell_quote((test::assets_dir() / "data").string()) + " --cache-dir " +
                             shell_quote((dir / "cache").string()) + " --results-dir " +
                             shell_quote((dir / "results").string()) + " --run-name local --no-progress";
  const std::string w2s = shell_quote(test::w2s_binary().string());
  const std::string models = " --models " + shell_quote(weak + "," + strong);
  std::string out;
  ASSERT_EQ(test::run_command(w2s + " baseline" + models + common, &out), 0) << out;
  ASSERT_EQ(test::run_command(w2s + " gold-sweep --shots 0,2" + models + common, &out), 0) << out;
  ASSERT_EQ(test::run_command(w2s + " weak-sweep --shots 0,2 --pairs " + shell_quote(weak + "->" + strong) + common, &out),
            0)
      << out;
  const fs::path run = dir / "results" / "local";
  test::expect_valid_records(run / "baseline", 2);
  test::expect_valid_records(run / "gold-sweep", 4);
  test::expect_valid_records(run / "weak-labels", 1);
  test::expect_valid_records(run / "weak-sweep", 2);
  const auto record = results::read_record(run / "weak-sweep" / (model_slug(weak) + "__" + model_slug(strong)) / "shots-2.json");
  EXPECT_EQ(record.extra.at("providers").get_int("local"), 6);
  EXPECT_EQ(record.extra.at("model_identity").get_string("chat_template"), "jinja (tokenizer_config.json)");
  EXPECT_EQ(record.extra.at("label_model_identity").get_string("provider"), "local");
  EXPECT_EQ(record.cost.total.usd, 0.0);
  EXPECT_GT(record.cost.total.prompt_tokens, 0);
  for (const auto& p : record.predictions) EXPECT_EQ(p.scored_by, "logprobs");

  ASSERT_EQ(test::run_command(w2s + " gold-sweep --shots 0,2" + models + common, &out), 0) << out;
  EXPECT_CONTAINS(out, "total: $0.000000 (0 requests sent");

  ASSERT_EQ(test::run_command(w2s + " analyze " + shell_quote(run.string()) + " --resamples 50", &out), 0) << out;
  EXPECT_TRUE(fs::exists(run / "analysis")) << out;
}

// A copy of the tiny Qwen with another tokenizer_config.json (chat template) or damaged weights.
fs::path tiny_qwen_variant(const std::string& name, const std::function<void(const fs::path&)>& change) {
  const fs::path d = test::scratch_dir("local_variant_" + name + "_" + std::to_string(::getpid()));
  fs::copy(tiny_qwen_dir(), d, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  change(d);
  return d;
}

std::string experiment_command(const fs::path& scratch, const std::string& args) {
  return shell_quote(test::w2s_binary().string()) + " " + args +
         " --provider local --threads 1 --max-tokens 2 --test-size 4 --data-dir " +
         shell_quote((test::assets_dir() / "data").string()) + " --cache-dir " + shell_quote((scratch / "cache").string()) +
         " --results-dir " + shell_quote((scratch / "results").string()) + " --run-name local";
}

// Local runs show the API's progress line: answers so far, the rate, the ETA.
TEST(LocalProvider, ProgressLineWithEta) {
  const auto scratch = test::scratch_dir("local_progress");
  std::string out;
  ASSERT_EQ(test::run_command(experiment_command(scratch, "baseline --models " + shell_quote(tiny_qwen_dir().string())), &out), 0)
      << out;
  EXPECT_CONTAINS(out, "local 4 requests 4/4 done (0 failed)");
  EXPECT_CONTAINS(out, "answers/s, ETA");
}

// Every model is checked before the first question: a template that refuses the experiment's
// system prompt stops the run with its own message before any model answers (no records, nothing
// cached); --fold-system-prompt makes it run and is recorded. Damaged weights stop it as well.
TEST(LocalProvider, ModelsAreCheckedBeforeTheFirstQuestion) {
  const fs::path mistral_like = tiny_qwen_variant("mistral", [](const fs::path& d) {
    test::write_text(d / "tokenizer_config.json",
                     json::dump(json::Object{{"eos_token", "<|im_end|>"},
                                             {"chat_template", read_file(test::source_dir() / "tests/model/chat_templates/"
                                                                                             "mistral-7b-instruct-v0.2.jinja")}}));
  });
  const auto scratch = test::scratch_dir("local_checked");
  const std::string models = " --shots 0,2 --no-progress --models " + shell_quote(tiny_qwen_dir().string() + "," + mistral_like.string());
  std::string out;
  EXPECT_NE(test::run_command(experiment_command(scratch, "gold-sweep" + models), &out), 0);
  EXPECT_CONTAINS(out, "local model '" + mistral_like.string() + "'");
  EXPECT_CONTAINS(out, "raised: Conversation roles must alternate user/assistant/user/assistant/...");
  EXPECT_CONTAINS(out, "(--fold-system-prompt puts the system prompt into the first user message");
  EXPECT_FALSE(fs::exists(scratch / "results" / "local" / "gold-sweep")) << out;
  EXPECT_EQ(out.find("local model " + tiny_qwen_dir().string() + ": loading"), std::string::npos) << out;

  ASSERT_EQ(test::run_command(experiment_command(scratch, "gold-sweep --fold-system-prompt" + models), &out), 0) << out;
  const auto record = results::read_record(scratch / "results" / "local" / "gold-sweep" / model_slug(mistral_like.string()) /
                                           "shots-2.json");
  EXPECT_TRUE(record.extra.at("model_identity").at("fold_system_prompt").as_bool());

  const fs::path truncated = tiny_qwen_variant("truncated", [](const fs::path& d) {
    fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") / 2);
  });
  const auto again = test::scratch_dir("local_checked_weights");
  EXPECT_NE(test::run_command(experiment_command(again, "baseline --no-progress --models " +
                                                            shell_quote(tiny_qwen_dir().string() + "," + truncated.string())),
                              &out),
            0);
  EXPECT_CONTAINS(out, "local model '" + truncated.string() + "'");
  EXPECT_CONTAINS(out, "model.safetensors");
  EXPECT_FALSE(fs::exists(again / "results" / "local" / "baseline")) << out;
}

// `w2s model prompt` prints the exact text and ids an experiment's prompt gives a local model.
TEST(ModelPrompt, PrintsTheRenderedTextAndTokenIds) {
  const std::string w2s = shell_quote(test::w2s_binary().string());
  const std::string data = " --test-size 4 --data-dir " + shell_quote((test::assets_dir() / "data").string());
  std::string out;
  ASSERT_EQ(test::run_command(w2s + " model prompt " + shell_quote(tiny_qwen_dir().string()) + " --shots 2" + data + " 2>/dev/null", &out), 0)
      << out;
  const json::Value shown = json::parse(out, "w2s model prompt");
  const data::TruthfulQa ds = truthfulqa(4);
  const auto messages = icl::build_messages({{ds.train[0].text, ds.train[0].answer}, {ds.train[1].text, ds.train[1].answer}},
                                            ds.test[0].text);
  const model::ChatTemplate t = model::read_chat_template(tiny_qwen_dir());
  const std::string text = model::render_chat(t, messages);
  EXPECT_EQ(shown.get_string("text"), text);
  EXPECT_EQ(text.substr(text.size() - 22), "<|im_start|>assistant\n");
  const auto ids = model::Tokenizer::from_dir(tiny_qwen_dir()).encode(text, false);
  ASSERT_EQ(shown.at("ids").size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(shown.at("ids").at(i).as_int(), ids[i]);
  EXPECT_EQ(shown.get_int("token_count"), static_cast<std::int64_t>(ids.size()));

  // Weak labels come from a weak-labels record: written here by a weak-sweep of stories260K.
  const auto scratch = test::scratch_dir("model_prompt_weak");
  ASSERT_EQ(test::run_command(experiment_command(scratch, "weak-sweep --shots 2 --no-progress --pairs " +
                                                              shell_quote(stories_dir().string() + "->" + tiny_qwen_dir().string())),
                              &out),
            0)
      << out;
  const fs::path labels_file = scratch / "results" / "local" / "weak-labels" / (model_slug(stories_dir().string()) + ".json");
  const auto labels = results::read_record(labels_file);
  ASSERT_EQ(test::run_command(w2s + " model prompt " + shell_quote(stories_dir().string()) +
                                  " --shots 2 --no-generation-prompt --weak-labels " +
                                  shell_quote(labels_file.string()) + data + " 2>/dev/null",
                              &out),
            0)
      << out;
  const json::Value weak = json::parse(out, "w2s model prompt");
  EXPECT_EQ(weak.get_string("chat_template"), "plain (the model has no chat_template)");
  EXPECT_EQ(weak.get_string("text"),
            model::render_chat(model::read_chat_template(stories_dir()),
                               icl::build_messages({{ds.train[0].text, labels.predictions[0].prediction},
                                                    {ds.train[1].text, labels.predictions[1].prediction}},
                                                   ds.test[0].text),
                               {}, false));
  const fs::path not_labels = scratch / "results" / "local" / "weak-sweep" /
                              (model_slug(stories_dir().string()) + "__" + model_slug(tiny_qwen_dir().string())) / "shots-2.json";
  EXPECT_NE(test::run_command(w2s + " model prompt " + shell_quote(stories_dir().string()) + " --shots 2 --weak-labels " +
                                  shell_quote(not_labels.string()) + data,
                              &out),
            0);
  EXPECT_CONTAINS(out, "not a weak-labels record");
}

}  // namespace
