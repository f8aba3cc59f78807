// Chat templates through a Jinja engine (minja, third_party/minja), set up as transformers'
// apply_chat_template sets up Jinja2 (transformers/utils/chat_template_utils.py):
//   ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
//   filters["tojson"] = json.dumps(..., ensure_ascii=False), globals raise_exception and
//   strftime_now, render(messages=..., tools=None, documents=None, add_generation_prompt=...,
//   **special_tokens_map).
// Jinja2's default keep_trailing_newline=False drops one newline at the end of the template.
// tests/model/test_chat_template.cpp compares the result with Python jinja2 byte for byte.
#include <minja/minja.hpp>

#include <cstdio>
#include <ctime>

#include "w2s/model.h"

namespace w2s::model {

struct CompiledChatTemplate {
  std::shared_ptr<minja::TemplateNode> root;
};

namespace {

namespace fs = std::filesystem;

// The special tokens transformers' special_tokens_map holds (SPECIAL_TOKENS_ATTRIBUTES, less
// additional_special_tokens, which templates do not use).
constexpr const char* kSpecialTokenNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                              "pad_token", "cls_token", "mask_token"};

std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.size() > 120 ? line.substr(0, 120) + "..." : line;
}

// The engine appends the source location of every enclosing block while an error unwinds; the
// innermost one says where it happened.
std::string innermost_location(const std::string& message) {
  const auto first = message.find(" at row ");
  if (first == std::string::npos) return message;
  const auto second = message.find(" at row ", first + 1);
  std::string out = message.substr(0, second);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::optional<std::string> token_text(const json::Value* v) {
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_string()) return v->as_string();
  if (v->is_object()) return v->get_string("content");
  return std::nullopt;
}

// The tm of midnight (UTC) of a YYYY-MM-DD date, with its weekday and day of the year, for
// strftime (Python's datetime.strftime hands the C library the same fields).
std::tm midnight_of(const std::string& date) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
      d < 1 || d > 31)
    throw Error("chat template date '" + date + "': expected YYYY-MM-DD");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  const std::time_t t = timegm(&tm);
  std::tm normalized{};
  gmtime_r(&t, &normalized);
  if (normalized.tm_mday != d) throw Error("chat template date '" + date + "': no such day");
  return normalized;
}

std::string format_date(const std::tm& tm, const std::string& format) {
  if (format.empty()) return "";
  std::string out(256 + 4 * format.size(), '\0');
  const std::size_t n = std::strftime(out.data(), out.size(), format.c_str(), &tm);
  out.resize(n);
  return out;
}

}  // namespace

bool ChatTemplate::uses_date() const { return source.find("strftime_now") != std::string::npos; }

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return format_date(tm, "%Y-%m-%d");
}

ChatTemplate parse_chat_template(const std::optional<std::string>& template_text,
                                 std::map<std::string, std::string> special_tokens, std::string origin) {
  ChatTemplate t;
  t.special_tokens = std::move(special_tokens);
  if (!template_text) return t;
  t.kind = ChatTemplateKind::Jinja;
  t.source = *template_text;
  t.origin = std::move(origin);
  auto compiled = std::make_shared<CompiledChatTemplate>();
  try {
    compiled->root = minja::Parser::parse(t.source, minja::Options{.trim_blocks = true,
                                                                   .lstrip_blocks = true,
                                                                   .keep_trailing_newline = false});
  } catch (const std::exception& e) {
    throw Error("chat template" + (t.origin.empty() ? std::string() : " of " + t.origin) +
                " does not parse: " + innermost_location(e.what()) + " (it begins: " + first_line(t.source) + ")");
  }
  t.compiled = std::move(compiled);
  return t;
}

ChatTemplate read_chat_template(const fs::path& model_dir) {
  const fs::path config_file = model_dir / "tokenizer_config.json";
  const fs::path jinja_file = model_dir / "chat_template.jinja";
  std::map<std::string, std::string> special_tokens;
  std::optional<std::string> text;
  std::string origin;
  if (fs::exists(config_file)) {
    const json::Value config = json::parse_file(config_file);
    json::with_origin(config_file.string(), [&] {
      for (const char* name : kSpecialTokenNames)
        if (auto token = token_text(config.find(name))) special_tokens[name] = *token;
      if (const json::Value* t = config.find("chat_template"); t && !t->is_null()) {
        if (t->is_string()) {
          text = t->as_string();
        } else if (t->is_array()) {
          for (const auto& named : t->as_array())
            if (named.get_string("name") == "default") text = named.get_string("template");
          if (!text) throw Error(config_file.string() + ": chat_template lists no \"default\" template");
        } else {
          throw Error(config_file.string() + ": chat_template is neither a string nor a list of {name, template}");
        }
        origin = config_file.string();
      }
    });
  }
  // transformers reads chat_template.jinja first (the file it saves templates to since 4.50).
  if (fs::exists(jinja_file)) {
    text = read_file(jinja_file);
    origin = jinja_file.string();
  }
  return parse_chat_template(text, std::move(special_tokens), origin);
}

std::vector<llm::Message> fold_system_prompt(const std::vector<llm::Message>& messages) {
  if (messages.size() < 2 || messages[0].role != "system" || messages[1].role != "user") return messages;
  std::vector<llm::Message> out(messages.begin() + 1, messages.end());
  out[0].content = messages[0].content + "\n\n" + out[0].content;
  return out;
}

std::string render_chat(const ChatTemplate& t, const std::vector<llm::Message>& given, const ChatOptions& options,
                        bool add_generation_prompt) {
  const std::vector<llm::Message> messages = options.fold_system_prompt ? fold_system_prompt(given) : given;
  if (t.kind == ChatTemplateKind::Plain) {  // a transcript a base model can continue
    std::string out;
    for (const auto& m : messages) {
      std::string role = m.role;
      if (!role.empty()) role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
      out += role + ": " + m.content + "\n\n";
    }
    if (add_generation_prompt) out += "Assistant:";
    return out;
  }
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::ordered_json variables = {
      {"messages", std::move(list)}, {"tools", nullptr}, {"documents", nullptr},
      {"add_generation_prompt", add_generation_prompt}};
  for (const auto& [name, token] : t.special_tokens) variables[name] = token;
  auto context = minja::Context::make(minja::Value(variables));
  // The template's own message, without the source locations the engine appends while unwinding.
  auto raised = std::make_shared<std::optional<std::string>>();
  context->set("raise_exception", minja::simple_function("raise_exception", {"message"},
                                                         [raised](const std::shared_ptr<minja::Context>&,
                                                                  minja::Value& args) -> minja::Value {
                                                           *raised = args.at("message").get<std::string>();
                                                           throw std::runtime_error(**raised);
                                                         }));
  const std::tm day = midnight_of(options.chat_date.value_or(today_utc()));
  context->set("strftime_now",
               minja::simple_function("strftime_now", {"format"},
                                      [day](const std::shared_ptr<minja::Context>&, minja::Value& args) {
                                        return minja::Value(format_date(day, args.at("format").get<std::string>()));
                                      }));
  try {
    return t.compiled->root->render(context);
  } catch (const std::exception& e) {
    if (*raised) throw Error("chat template (" + t.origin + ") raised: " + **raised);
    throw Error("chat template (" + t.origin + ") failed: " + innermost_location(e.what()));
  }
}

std::optional<std::string> end_of_turn_text(const ChatTemplate& t) {
  if (t.kind == ChatTemplateKind::Plain) return std::nullopt;
  const std::string marker = "w2s-end-of-turn-probe";
  try {
    const std::string text = render_chat(t, {{"user", "question"}, {"assistant", marker}}, {}, false);
    const auto at = text.rfind(marker);
    if (at == std::string::npos) return std::nullopt;
    return text.substr(at + marker.size());
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace w2s::model
