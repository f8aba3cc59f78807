// Chat templates: w2s renders the templates of real models (tests/model/chat_templates/, sources
// and checksums in SOURCES.md) byte for byte as Python jinja2 renders them when configured as
// transformers configures it (tests/support/chat_template_reference.py, Debian python3-jinja2), on
// the experiment's own prompts: 0, 2 and 8 shots of TruthfulQA with gold and weak labels, with,
// without and folded system prompt, generation prompt on and off. A template that raises in
// jinja2 raises in w2s with its own message. Then how templates are found in a model directory.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "assets.h"
#include "w2s/icl.h"
#include "w2s/model.h"
#include "w2s/shell.h"

namespace {

namespace fs = std::filesystem;
using namespace w2s;
using model::render_chat;

const char* const kDate = "2026-02-14";  // what strftime_now renders on both sides

fs::path templates_dir() { return test::source_dir() / "tests" / "model" / "chat_templates"; }

std::vector<std::string> template_files() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(templates_dir()))
    if (e.path().extension() == ".jinja") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

// The special tokens handed to every template (transformers passes the tokenizer's).
const std::map<std::string, std::string>& special_tokens() {
  static const std::map<std::string, std::string> tokens = {
      {"bos_token", "<|bos|>"}, {"eos_token", "<|eos|>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"}};
  return tokens;
}

struct Case {
  std::string name;
  std::vector<llm::Message> messages;
  bool add_generation_prompt = true;
  bool fold = false;  // the system prompt folded into the first user turn (ChatOptions)
};

// The experiment's prompts, as icl::build_messages lays them out: shots of the real TruthfulQA
// train split before a test question. Weak labels differ from the gold ones and include an empty
// assistant turn (a weak answer that did not parse).
std::vector<Case> experiment_cases() {
  data::TruthfulQaOptions o;
  o.data_dir = (test::assets_dir() / "data").string();
  o.allow_download = false;
  const data::TruthfulQa ds = data::load_truthfulqa(o);
  std::vector<Case> cases;
  int question = 0;
  for (int shots : {0, 2, 8})
    for (const char* labels : {"gold", "weak"}) {
      if (shots == 0 && std::string(labels) == "weak") continue;  // no labels to differ
      std::vector<icl::Shot> shot_list;
      for (int i = 0; i < shots; ++i) {
        const data::Question& q = ds.train[i];
        std::string label = q.answer;
        if (std::string(labels) == "weak")
          label = i == 1 ? "" : q.letters[(std::find(q.letters.begin(), q.letters.end(), q.answer) - q.letters.begin() + 1) %
                                          q.letters.size()];
        shot_list.push_back({q.text, label});
      }
      const std::vector<llm::Message> with_system = icl::build_messages(shot_list, ds.test[question++].text);
      const std::vector<llm::Message> without_system(with_system.begin() + 1, with_system.end());
      for (const char* system : {"system", "no-system", "folded"})
        for (bool generation : {true, false}) {
          Case c;
          c.name = std::to_string(shots) + " shots, " + labels + ", " + system + (generation ? ", generation" : "");
          c.messages = std::string(system) == "no-system" ? without_system : with_system;
          c.fold = std::string(system) == "folded";
          c.add_generation_prompt = generation;
          cases.push_back(std::move(c));
        }
    }
  return cases;
}

// Per template file: per case {text}, {raised} or {error} from jinja2. One python3 run renders the
// files asked for (CTest runs each test in a process of its own: one template, one run).
const json::Value& reference_renderings(const std::vector<std::string>& files) {
  static json::Value rendered = json::Value::object();
  std::string command;
  for (const auto& f : files)
    if (!rendered.find(f)) command += " " + shell_quote(f);
  if (command.empty()) return rendered;
  json::Value cases = json::Value::array();
  for (const Case& c : experiment_cases()) {
    json::Value messages = json::Value::array();
    for (const auto& m : c.fold ? model::fold_system_prompt(c.messages) : c.messages)
      messages.push_back(json::Object{{"role", m.role}, {"content", m.content}});
    json::Value tokens = json::Value::object();
    for (const auto& [name, token] : special_tokens()) tokens.set(name, token);
    cases.push_back(json::Object{
        {"messages", messages}, {"add_generation_prompt", c.add_generation_prompt}, {"special_tokens", tokens}});
  }
  const fs::path cases_file = test::scratch_dir("chat_template_reference_" + std::to_string(::getpid())) / "cases.json";
  write_file_atomic(cases_file, json::dump(cases));
  command = test::debian_python3() + " " +
            shell_quote((test::source_dir() / "tests/support/chat_template_reference.py").string()) + " " +
            shell_quote(cases_file.string()) + " " + kDate + command;
  std::string out;
  const int rc = test::run_command("cd " + shell_quote(templates_dir().string()) + " && " + command + " 2>&1", &out);
  if (rc != 0) throw Error("chat_template_reference.py failed (Debian python3-jinja2 installed?): " + out);
  const json::Value parsed = json::parse(out, "chat_template_reference.py");
  for (const auto& [file, renderings] : parsed.as_object()) rendered.set(file, renderings);
  return rendered;
}

// Where minja and jinja2 part (tests/model/chat_templates/SOURCES.md lists the same):
//   Refused: minja stops with an error where jinja2 renders, so w2s refuses the model by name.
//   RendersWhereJinja2Fails: jinja2 fails on the experiment's messages (the tool-use templates
//     iterate over tools=None; firefunction reads an undefined `functions`), minja reads the
//     undefined or none value as empty and renders.
enum class Difference { Refused, RendersWhereJinja2Fails };
const std::map<std::string, Difference>& engine_differences() {
  static const std::map<std::string, Difference> differences = {
      {"Cohere2MoE.jinja", Difference::Refused},  // the `undefined` test ("x is not undefined")
      {"GLM-5.2.jinja", Difference::Refused},     // a numeric attribute, `m.content.0.type`
      {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", Difference::RendersWhereJinja2Fails},
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", Difference::RendersWhereJinja2Fails},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", Difference::RendersWhereJinja2Fails},
      {"fireworks-ai-llama-3-firefunction-v2.jinja", Difference::RendersWhereJinja2Fails},
  };
  return differences;
}

class RealTemplate : public ::testing::TestWithParam<std::string> {};

TEST_P(RealTemplate, RendersTheExperimentPromptsAsJinja2) {
  const std::string file = GetParam();
  const std::vector<Case> cases = experiment_cases();
  const json::Value& expected = reference_renderings({file}).at(file);
  ASSERT_EQ(expected.size(), cases.size());
  const auto difference = engine_differences().find(file);
  if (difference != engine_differences().end() && difference->second == Difference::Refused) {
    const std::string error = test::error_of([&] {
      const model::ChatTemplate t = model::parse_chat_template(read_file(templates_dir() / file), special_tokens(), file);
      for (const Case& c : cases) render_chat(t, c.messages, {}, c.add_generation_prompt);
    });
    EXPECT_CONTAINS(error, "chat template");
    EXPECT_EQ(error.find(" at row "), error.rfind(" at row ")) << "one source location: " << error;
    for (const auto& r : expected.as_array()) EXPECT_TRUE(r.find("text")) << "jinja2 renders " << file;
    return;
  }
  const model::ChatTemplate t =
      model::parse_chat_template(read_file(templates_dir() / file), special_tokens(), file);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const json::Value& want = expected.at(i);
    model::ChatOptions options;
    options.chat_date = kDate;
    options.fold_system_prompt = c.fold;
    auto ours = [&] { return render_chat(t, c.messages, options, c.add_generation_prompt); };
    if (const json::Value* raised = want.find("raised")) {
      EXPECT_CONTAINS(test::error_of(ours), "raised: " + raised->as_string()) << file << ": " << c.name;
    } else if (const json::Value* error = want.find("error")) {
      if (difference != engine_differences().end())
        EXPECT_EQ(test::error_of(ours), "") << file << ": " << c.name;
      else
        EXPECT_NE(test::error_of(ours), "") << file << ": " << c.name << ": jinja2 fails with " << error->as_string();
    } else {
      std::string text;
      EXPECT_NO_THROW(text = ours()) << file << ": " << c.name;
      EXPECT_EQ(text, want.at("text").as_string()) << file << ": " << c.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ChatTemplates, RealTemplate, ::testing::ValuesIn(template_files()), [](const auto& info) {
  std::string name = info.param.substr(0, info.param.rfind(".jinja"));
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
});

// At least 40 of the real templates render every experiment prompt in jinja2, none of them
// a known difference (so RealTemplate compares each of their prompts byte for byte).
TEST(ChatTemplateFixtures, AtLeastFortyRenderEveryExperimentPrompt) {
  int complete = 0;
  const json::Value& rendered = reference_renderings(template_files());
  for (const auto& f : template_files()) {
    bool all = !engine_differences().count(f);
    for (const auto& r : rendered.at(f).as_array()) all = all && r.find("text");
    complete += all;
  }
  EXPECT_GE(complete, 40);
}

// Each fixture is listed in SOURCES.md with the sha256 of its content.
TEST(ChatTemplateFixtures, AreListedWithTheirChecksums) {
  const std::string sources = read_file(templates_dir() / "SOURCES.md");
  const auto files = template_files();
  EXPECT_GE(files.size(), 40u);
  for (const auto& f : files) {
    const std::regex row("\\| " + std::regex_replace(f, std::regex(R"([.+\-])"), R"(\$&)") + " \\|.*`([0-9a-f]{64})`");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(sources, m, row)) << f << " is not in SOURCES.md";
    EXPECT_EQ(m[1].str(), sha256_hex(read_file(templates_dir() / f))) << f;
  }
}

const std::string kLlama31 = "meta-llama-Llama-3.1-8B-Instruct.jinja";

fs::path model_dir_with(const std::string& name, const json::Value& tokenizer_config,
                        const std::optional<std::string>& jinja_file) {
  const fs::path dir = test::scratch_dir("chat_template_" + name);
  test::write_text(dir / "tokenizer_config.json", json::dump(tokenizer_config));
  if (jinja_file) test::write_text(dir / "chat_template.jinja", *jinja_file);
  return dir;
}

TEST(ChatTemplate, ATemplateOnlyInChatTemplateJinjaIsUsed) {
  const std::string source = read_file(templates_dir() / "Qwen-Qwen2.5-7B-Instruct.jinja");
  const fs::path dir = model_dir_with("jinja_file", json::Object{{"eos_token", "<|im_end|>"}}, source);
  const model::ChatTemplate t = model::read_chat_template(dir);
  EXPECT_EQ(t.kind, model::ChatTemplateKind::Jinja);
  EXPECT_EQ(t.origin, (dir / "chat_template.jinja").string());
  EXPECT_FALSE(t.add_special_tokens());
  EXPECT_EQ(render_chat(t, {{"user", "Hi"}}),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // As in transformers, the file wins over a template in tokenizer_config.json.
  const fs::path both = model_dir_with("jinja_file_and_config", json::Object{{"chat_template", "config's"}}, source);
  EXPECT_EQ(model::read_chat_template(both).source, source);
}

TEST(ChatTemplate, TokenizerConfigStringOrNamedListAndTokensAsObjects) {
  const std::string llama = read_file(templates_dir() / kLlama31);
  const json::Value bos = json::Object{{"content", "<|begin_of_text|>"}, {"lstrip", false}};
  const model::ChatTemplate as_string =
      model::read_chat_template(model_dir_with("config_string", json::Object{{"bos_token", bos}, {"chat_template", llama}}, {}));
  json::Value named = json::Value::array();
  named.push_back(json::Object{{"name", "tool_use"}, {"template", "{{ raise_exception('not this one') }}"}});
  named.push_back(json::Object{{"name", "default"}, {"template", llama}});
  const model::ChatTemplate from_list =
      model::read_chat_template(model_dir_with("config_list", json::Object{{"bos_token", bos}, {"chat_template", named}}, {}));
  EXPECT_EQ(as_string.source, llama);
  EXPECT_EQ(from_list.source, llama);
  EXPECT_EQ(from_list.special_tokens.at("bos_token"), "<|begin_of_text|>");
  model::ChatOptions options;
  options.chat_date = "2025-07-04";
  const std::string text = render_chat(from_list, {{"user", "Hi"}}, options);
  EXPECT_EQ(text.rfind("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n", 0), 0u) << text;
  EXPECT_CONTAINS(text, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");  // the template's own default
  EXPECT_FALSE(from_list.uses_date());

  json::Value no_default = json::Value::array();
  no_default.push_back(json::Object{{"name", "tool_use"}, {"template", "x"}});
  EXPECT_CONTAINS(test::error_of([&] {
                    model::read_chat_template(model_dir_with("config_no_default", json::Object{{"chat_template", no_default}}, {}));
                  }),
                  "lists no \"default\" template");
}

TEST(ChatTemplate, StrftimeNowRendersTheGivenDate) {
  const model::ChatTemplate t = model::parse_chat_template(read_file(templates_dir() / "meta-llama-Llama-3.2-3B-Instruct.jinja"),
                                                           special_tokens(), "llama-3.2");
  EXPECT_TRUE(t.uses_date());
  model::ChatOptions options;
  options.chat_date = "2025-07-04";
  EXPECT_CONTAINS(render_chat(t, {{"user", "Hi"}}, options), "Today Date: 04 Jul 2025\n");
  options.chat_date = "2025-02-30";
  EXPECT_CONTAINS(test::error_of([&] { render_chat(t, {{"user", "Hi"}}, options); }), "no such day");
  options.chat_date = "04/07/2025";
  EXPECT_CONTAINS(test::error_of([&] { render_chat(t, {{"user", "Hi"}}, options); }), "expected YYYY-MM-DD");
  // Unset: today (UTC).
  EXPECT_EQ(model::today_utc().size(), 10u);
  EXPECT_NE(render_chat(t, {{"user", "Hi"}}).find("Today Date: "), std::string::npos);
}

// Gemma and Mistral refuse a system message with their own words; folded into the first user turn
// the experiment's prompt renders.
TEST(ChatTemplate, RefusedSystemRoleRaisesItsMessageAndFoldingRenders) {
  const std::vector<llm::Message> messages = {{"system", "S"}, {"user", "Q1"}, {"assistant", "A"}, {"user", "Q2"}};
  const model::ChatTemplate gemma =
      model::parse_chat_template(read_file(templates_dir() / "google-gemma-2-2b-it.jinja"), special_tokens(), "gemma");
  EXPECT_CONTAINS(test::error_of([&] { render_chat(gemma, messages); }), "chat template (gemma) raised: System role not supported");
  model::ChatOptions fold;
  fold.fold_system_prompt = true;
  EXPECT_EQ(render_chat(gemma, messages, fold),
            "<|bos|><start_of_turn>user\nS\n\nQ1<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n"
            "<start_of_turn>user\nQ2<end_of_turn>\n<start_of_turn>model\n");
  const model::ChatTemplate mistral = model::parse_chat_template(
      read_file(templates_dir() / "mistral-7b-instruct-v0.2.jinja"), special_tokens(), "mistral");
  EXPECT_CONTAINS(test::error_of([&] { render_chat(mistral, messages); }),
                  "raised: Conversation roles must alternate user/assistant/user/assistant/...");
  EXPECT_EQ(render_chat(mistral, messages, fold), "<|bos|>[INST] S\n\nQ1 [/INST]A<|eos|>[INST] Q2 [/INST]");
}

TEST(ChatTemplate, EndOfTurnIsWhatFollowsAnAssistantAnswer) {
  auto end_of = [](const std::string& file) {
    return model::end_of_turn_text(model::parse_chat_template(read_file(templates_dir() / file), special_tokens(), file));
  };
  EXPECT_EQ(end_of(kLlama31), "<|eot_id|>");
  EXPECT_EQ(end_of("Qwen-Qwen2.5-7B-Instruct.jinja"), "<|im_end|>\n");
  EXPECT_EQ(end_of("google-gemma-2-2b-it.jinja"), "<end_of_turn>\n");
  EXPECT_EQ(model::end_of_turn_text(model::parse_chat_template(std::nullopt)), std::nullopt);
}

TEST(ChatTemplate, ATemplateThatDoesNotParseNamesItsOrigin) {
  const std::string error = test::error_of([] { model::parse_chat_template("{% for m in messages %}{{ m", {}, "x/chat_template.jinja"); });
  EXPECT_CONTAINS(error, "chat template of x/chat_template.jinja does not parse");
  EXPECT_CONTAINS(error, "it begins: {% for m in messages %}");
}

// The chat options are flags and recorded once, through their field lists.
TEST(ChatTemplate, EveryChatAndLocalProviderOptionIsListed) {
  EXPECT_TRUE(option_fields(static_cast<const model::ChatOptions*>(nullptr)).complete());
  EXPECT_TRUE(option_fields(static_cast<const model::LocalProviderOptions*>(nullptr)).complete());
  std::vector<std::string> flags;
  for (const auto& f : option_fields(static_cast<const model::LocalProviderOptions*>(nullptr)).flags()) flags.push_back(f.name);
  EXPECT_NE(std::find(flags.begin(), flags.end(), "chat-date"), flags.end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "fold-system-prompt"), flags.end());
  EXPECT_EQ(std::find(flags.begin(), flags.end(), "progress"), flags.end());  // the client's --no-progress sets it
}

TEST(ChatTemplate, ModelsWithoutATemplateGetThePlainTranscript) {
  const auto dir = test::assets_dir() / "models" / "hf" / "stories260K-llama";
  const model::ChatTemplate t = model::read_chat_template(dir);
  EXPECT_EQ(t.kind, model::ChatTemplateKind::Plain);
  EXPECT_TRUE(t.add_special_tokens());  // the tokenizer's own BOS
  EXPECT_EQ(render_chat(t, {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}, {"user", "Q2"}}),
            "System: S\n\nUser: Q\n\nAssistant: A\n\nUser: Q2\n\nAssistant:");
}

}  // namespace
