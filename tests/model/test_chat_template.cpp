// Chat templates: w2s's renderings of the known families equal Hugging Face's reference Jinja
// renderer (npm @huggingface/jinja, installed into tests/support/node_modules by
// scripts/install-test-tools.sh) on the real templates of Qwen2.5, SmolLM2, Llama 3 and Mistral
// (tests/model/chat_templates/, sources in SOURCES.md), for several message lists.
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>

#include "assets.h"
#include "w2s/model.h"

namespace {

namespace fs = std::filesystem;
using namespace w2s;
using model::render_chat;

const char* const kSystem = "You are a helpful assistant answering multiple-choice questions.";

struct Case {
  std::vector<llm::Message> messages;
  bool add_generation_prompt = true;
};

// Without and with a system message, one and several turns, an empty assistant turn (a weak
// label that did not parse), whitespace at the ends (Llama 3 trims), newlines and non-ASCII text.
std::vector<Case> cases() {
  const std::string question = "What happens if you eat watermelon seeds?\n\nA) Nothing happens\nB) You die";
  return {
      {{{"user", "Hello"}}},
      {{{"user", "Hello"}}, false},
      {{{"system", kSystem}, {"user", question}}},
      {{{"system", kSystem}, {"user", question}, {"assistant", "A"}, {"user", "Which is right?\nA) x\nB) y"}}},
      {{{"system", kSystem}, {"user", "  padded question \n"}, {"assistant", ""}, {"user", "Café — naïve? 答"}}},
      {{{"user", "Q1"}, {"assistant", " B "}, {"user", "Q2"}, {"assistant", "C"}, {"user", "Q3"}}},
      {{{"user", "Q1"}, {"assistant", "B"}}, false},
  };
}

json::Value cases_json(const std::vector<Case>& cs, const std::string& bos, const std::string& eos) {
  json::Value out = json::Value::array();
  for (const Case& c : cs) {
    json::Value messages = json::Value::array();
    for (const auto& m : c.messages) messages.push_back(json::Object{{"role", m.role}, {"content", m.content}});
    out.push_back(json::Object{{"messages", messages},
                               {"bos_token", bos},
                               {"eos_token", eos},
                               {"add_generation_prompt", c.add_generation_prompt}});
  }
  return out;
}

// Per case: {text} or {error} from @huggingface/jinja.
json::Value reference(const fs::path& template_file, const json::Value& cases, const std::string& name) {
  const fs::path support = test::source_dir() / "tests" / "support";
  if (!fs::exists(support / "node_modules" / "@huggingface" / "jinja"))
    ADD_FAILURE() << "tests/support/node_modules/@huggingface/jinja is missing: run scripts/install-test-tools.sh";
  const fs::path cases_file = test::scratch_dir("chat_template_" + name) / "cases.json";
  write_file_atomic(cases_file, json::dump(cases));
  std::string out;
  const int rc = test::run_command("node '" + (support / "chat_template_reference.js").string() + "' '" +
                                       template_file.string() + "' '" + cases_file.string() + "' 2>&1",
                                   &out);
  EXPECT_EQ(rc, 0) << out;
  return json::parse(out, "chat_template_reference.js");
}

struct Family {
  std::string file, family, bos, eos;
  std::optional<std::string> default_system;
};

void PrintTo(const Family& f, std::ostream* os) { *os << f.file; }  // test names in CTest's output

class ChatTemplateReference : public ::testing::TestWithParam<Family> {};

TEST_P(ChatTemplateReference, RendersAsHuggingFaceJinja) {
  const Family& f = GetParam();
  const fs::path file = test::source_dir() / "tests" / "model" / "chat_templates" / f.file;
  const model::ChatTemplate t = model::parse_chat_template(read_file(file), f.bos, f.eos);
  EXPECT_EQ(t.family, f.family);
  EXPECT_EQ(t.default_system_prompt, f.default_system);
  const auto cs = cases();
  const json::Value expected = reference(file, cases_json(cs, f.bos, f.eos), f.file);
  ASSERT_EQ(expected.size(), cs.size());
  int errors = 0;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const json::Value& want = expected.at(i);
    if (const json::Value* error = want.find("error")) {
      ++errors;
      const std::string ours = test::error_of([&] { render_chat(t, cs[i].messages, cs[i].add_generation_prompt); });
      EXPECT_CONTAINS(ours, error->as_string());
      continue;
    }
    EXPECT_EQ(render_chat(t, cs[i].messages, cs[i].add_generation_prompt), want.at("text").as_string())
        << f.file << " case " << i;
  }
  // Mistral's template refuses a system message and unordered roles; the others take every case.
  EXPECT_EQ(errors, f.family == "mistral" ? 3 : 0);
}

INSTANTIATE_TEST_SUITE_P(
    RealTemplates, ChatTemplateReference,
    ::testing::Values(
        Family{"qwen2.5-0.5b-instruct.jinja", "chatml", "", "<|im_end|>",
               "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."},
        Family{"smollm2-135m-instruct.jinja", "chatml", "<|im_start|>", "<|im_end|>",
               "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
        Family{"llama-3-8b-instruct.jinja", "llama3", "<|begin_of_text|>", "<|eot_id|>", std::nullopt},
        Family{"mistral-7b-instruct-v0.2.jinja", "mistral", "<s>", "</s>", std::nullopt}),
    [](const auto& info) {
      std::string name = info.param.file.substr(0, info.param.file.rfind(".jinja"));
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

TEST(ChatTemplate, UnknownTemplatesFailWithTheirFirstLine) {
  const std::string gemma =
      "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}"
      "<end_of_turn>\n{% endfor %}";
  const std::string error = test::error_of([&] { model::parse_chat_template(gemma, "<bos>", "<eos>"); });
  EXPECT_CONTAINS(error, "unsupported chat template");
  EXPECT_CONTAINS(error, "{{ bos_token }}{% for message in messages %}<start_of_turn>");
  // A ChatML template with reasoning blocks (Qwen3) is not rendered as plain ChatML.
  EXPECT_CONTAINS(test::error_of([] {
                    model::parse_chat_template("{%- if enable_thinking %}<|im_start|><think>{{ add_generation_prompt }}"
                                               "<|im_end|>",
                                               "", "");
                  }),
                  "unsupported chat template");
}

TEST(ChatTemplate, ModelsWithoutATemplateGetThePlainTranscript) {
  const auto dir = test::assets_dir() / "models" / "hf" / "stories260K-llama";
  const model::ChatTemplate t = model::read_chat_template(dir);
  EXPECT_EQ(t.family, "plain");
  EXPECT_TRUE(t.add_special_tokens());  // the tokenizer's own BOS
  EXPECT_EQ(render_chat(t, {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}, {"user", "Q2"}}),
            "System: S\n\nUser: Q\n\nAssistant: A\n\nUser: Q2\n\nAssistant:");
}

TEST(ChatTemplate, ReadsTokenizerConfigTokensAsStringsOrObjects) {
  const auto dir = test::scratch_dir("chat_template_config");
  test::write_text(dir / "tokenizer_config.json",
                   json::dump(json::Object{
                       {"bos_token", json::Object{{"content", "<|begin_of_text|>"}, {"lstrip", false}}},
                       {"eos_token", "<|eot_id|>"},
                       {"chat_template", read_file(test::source_dir() / "tests" / "model" / "chat_templates" /
                                                   "llama-3-8b-instruct.jinja")}}));
  const model::ChatTemplate t = model::read_chat_template(dir);
  EXPECT_EQ(t.family, "llama3");
  EXPECT_EQ(t.bos_token, "<|begin_of_text|>");
  EXPECT_EQ(t.end_of_turn(), "<|eot_id|>");
  EXPECT_EQ(render_chat(t, {{"user", "Hi"}}),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

}  // namespace
