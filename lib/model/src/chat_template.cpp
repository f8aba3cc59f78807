// Chat templates: the known families recognised from tokenizer_config.json's chat_template text
// and rendered by hand (no Jinja engine), equal to Hugging Face's rendering for {role, content}
// messages. tests/model/test_chat_template.cpp compares with @huggingface/jinja.
#include <cctype>
#include <regex>

#include "w2s/model.h"

namespace w2s::model {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.size() > 120 ? line.substr(0, 120) + "..." : line;
}

// Jinja's `trim` as Python's str.strip() with no argument: Unicode whitespace at both ends. The
// prompts here only ever carry ASCII whitespace and NBSP-free text, so ASCII whitespace suffices
// for equality with the reference on them.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The default system prompt a ChatML template writes as a literal: '<|im_start|>system\n...<|im_end|>'
// ("\n" as the Jinja escape or a real newline), when its text is plain (no Jinja inside).
std::optional<std::string> chatml_default_system(const std::string& source) {
  static const std::regex literal(R"(<\|im_start\|>system(?:\\n|\n)([^'"{}<\\]*)<\|im_end\|>)");
  std::smatch m;
  if (!std::regex_search(source, m, literal)) return std::nullopt;
  return m[1].str();
}

std::string token_text(const json::Value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return v->as_string();
  if (v->is_object()) return v->get_string("content");
  return "";
}

}  // namespace

std::string ChatTemplate::end_of_turn() const {
  if (family == "chatml") return "<|im_end|>";
  if (family == "llama3") return "<|eot_id|>";
  return "";
}

ChatTemplate parse_chat_template(const std::optional<std::string>& template_text, std::string bos_token,
                                 std::string eos_token) {
  ChatTemplate t;
  t.bos_token = std::move(bos_token);
  t.eos_token = std::move(eos_token);
  if (!template_text) {
    t.family = "plain";
    return t;
  }
  const std::string& s = *template_text;
  t.source = s;
  // Features these renderers do not reproduce: reasoning blocks, images, dates, tools in Llama 3.1.
  const bool unsupported = has(s, "<think>") || has(s, "reasoning_content") || has(s, "image") ||
                           has(s, "Cutting Knowledge") || has(s, "strftime_now") || has(s, "date_string");
  if (!unsupported && has(s, "<|im_start|>") && has(s, "<|im_end|>") && has(s, "add_generation_prompt")) {
    t.family = "chatml";
    t.default_system_prompt = chatml_default_system(s);
  } else if (!unsupported && has(s, "<|start_header_id|>") && has(s, "<|eot_id|>") && has(s, "| trim") &&
             has(s, "bos_token") && !has(s, "tools")) {
    t.family = "llama3";
  } else if (!unsupported && has(s, "[INST]") && has(s, "Only user and assistant roles are supported!") &&
             has(s, "Conversation roles must alternate") && !has(s, "<<SYS>>") && !has(s, "system_message")) {
    t.family = "mistral";
    t.eos_then_space = has(s, "eos_token + ' '");
  } else {
    throw Error("unsupported chat template (w2s renders the ChatML, Llama-3 and Mistral [INST] families, "
                "docs/icl.md); it begins: " +
                first_line(s));
  }
  return t;
}

ChatTemplate read_chat_template(const fs::path& model_dir) {
  const fs::path file = model_dir / "tokenizer_config.json";
  if (!fs::exists(file)) return parse_chat_template(std::nullopt, "", "");
  const json::Value config = json::parse_file(file);
  return json::with_origin(file.string(), [&] {
    std::optional<std::string> text;
    if (const json::Value* t = config.find("chat_template"); t && !t->is_null()) {
      if (t->is_string()) {
        text = t->as_string();
      } else if (t->is_array()) {
        for (const auto& named : t->as_array())
          if (named.get_string("name") == "default") text = named.get_string("template");
        if (!text) throw Error(file.string() + ": chat_template lists no \"default\" template");
      }
    }
    return parse_chat_template(text, token_text(config.find("bos_token")), token_text(config.find("eos_token")));
  });
}

std::string render_chat(const ChatTemplate& t, const std::vector<llm::Message>& messages, bool add_generation_prompt) {
  std::string out;
  if (t.family == "chatml") {
    if (t.default_system_prompt && (messages.empty() || messages.front().role != "system"))
      out += "<|im_start|>system\n" + *t.default_system_prompt + "<|im_end|>\n";
    for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
  } else if (t.family == "llama3") {
    for (std::size_t i = 0; i < messages.size(); ++i)
      out += (i == 0 ? t.bos_token : "") + "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" +
             trim(messages[i].content) + "<|eot_id|>";
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  } else if (t.family == "mistral") {
    out += t.bos_token;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if ((m.role == "user") != (i % 2 == 0))
        throw Error("chat template: Conversation roles must alternate user/assistant/user/assistant/...");
      if (m.role == "user") out += "[INST] " + m.content + " [/INST]";
      else if (m.role == "assistant") out += m.content + t.eos_token + (t.eos_then_space ? " " : "");
      else throw Error("chat template: Only user and assistant roles are supported!");
    }
  } else {  // plain: a transcript a base model can continue
    for (const auto& m : messages) {
      std::string role = m.role;
      if (!role.empty()) role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
      out += role + ": " + m.content + "\n\n";
    }
    if (add_generation_prompt) out += "Assistant:";
  }
  return out;
}

}  // namespace w2s::model
