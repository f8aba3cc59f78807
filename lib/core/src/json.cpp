// JSON value, simdjson on-demand parser front end, and the project's one JSON writer.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <string_view>

#include "w2s/core.h"
#include "w2s/utf8.h"

namespace w2s::json {

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "boolean";
    case Value::Type::Int: return "integer";
    case Value::Type::Double: return "number";
    case Value::Type::String: return "string";
    case Value::Type::Array: return "array";
    case Value::Type::Object: return "object";
  }
  return "?";
}

namespace {
[[noreturn]] void type_error(const char* wanted, Value::Type got) {
  throw Error(fmt::format("JSON: expected {}, found {}", wanted, type_name(got)));
}

// The alternative T of a value's variant (const or not), or a type error naming `wanted`.
template <class T, class Variant>
auto& held(Variant& v, const char* wanted) {
  if (auto* x = std::get_if<T>(&v)) return *x;
  type_error(wanted, static_cast<Value::Type>(v.index()));
}
}  // namespace

bool Value::as_bool() const { return held<bool>(v_, "boolean"); }
std::int64_t Value::as_int() const {
  if (auto* i = std::get_if<std::int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_); d && std::floor(*d) == *d && std::abs(*d) < 9.2e18)
    return static_cast<std::int64_t>(*d);
  type_error("integer", type());
}
double Value::as_double() const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
  type_error("number", type());
}
const std::string& Value::as_string() const { return held<std::string>(v_, "string"); }
const Array& Value::as_array() const { return held<Array>(v_, "array"); }
Array& Value::as_array() { return held<Array>(v_, "array"); }
const Object& Value::as_object() const { return held<Object>(v_, "object"); }
Object& Value::as_object() { return held<Object>(v_, "object"); }

const Value* Value::find(std::string_view key) const {
  auto* o = std::get_if<Object>(&v_);
  if (!o) return nullptr;
  for (auto& [k, v] : *o)
    if (k == key) return &v;
  return nullptr;
}
Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}
const Value& Value::at(std::string_view key) const {
  if (!is_object()) type_error("object", type());
  if (auto* v = find(key)) return *v;
  throw Error(fmt::format("JSON: missing key \"{}\"", key));
}
Value& Value::set(std::string_view key, Value v) {
  if (is_null()) v_ = Object{};
  auto& o = as_object();
  for (auto& [k, old] : o)
    if (k == key) return old = std::move(v);
  o.emplace_back(std::string(key), std::move(v));
  return o.back().second;
}
Value& Value::operator[](std::string_view key) {
  if (is_null()) v_ = Object{};
  if (auto* v = find(key)) return *v;
  return set(key, Value());
}
const Value& Value::at(std::size_t i) const {
  const auto& a = as_array();
  if (i >= a.size()) throw Error(fmt::format("JSON: index {} out of range (size {})", i, a.size()));
  return a[i];
}
void Value::push_back(Value v) {
  if (is_null()) v_ = Array{};
  as_array().push_back(std::move(v));
}
std::size_t Value::size() const {
  if (auto* a = std::get_if<Array>(&v_)) return a->size();
  if (auto* o = std::get_if<Object>(&v_)) return o->size();
  return 0;
}
std::string Value::get_string(std::string_view key, std::string_view fallback) const {
  auto* v = find(key);
  return v && !v->is_null() ? v->as_string() : std::string(fallback);
}
std::int64_t Value::get_int(std::string_view key, std::int64_t fallback) const {
  auto* v = find(key);
  return v && !v->is_null() ? v->as_int() : fallback;
}
double Value::get_double(std::string_view key, double fallback) const {
  auto* v = find(key);
  return v && !v->is_null() ? v->as_double() : fallback;
}
bool Value::get_bool(std::string_view key, bool fallback) const {
  auto* v = find(key);
  return v && !v->is_null() ? v->as_bool() : fallback;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------
namespace {

struct Parser {
  std::string_view text;
  std::string_view origin;

  [[noreturn]] void fail(simdjson::error_code err, const char* where) const {
    auto [line, col] = position(where);
    throw Error(fmt::format("{}:{}:{}: invalid JSON: {}", origin, line, col, simdjson::error_message(err)));
  }

  std::pair<std::size_t, std::size_t> position(const char* where) const {
    std::size_t off = where && where >= text.data() && where <= text.data() + text.size()
                          ? static_cast<std::size_t>(where - text.data())
                          : text.size();
    std::size_t line = 1 + std::count(text.begin(), text.begin() + off, '\n');
    auto nl = text.rfind('\n', off ? off - 1 : 0);
    std::size_t col = nl == std::string_view::npos || off == 0 ? off + 1 : off - nl;
    return {line, col};
  }

  template <class T>
  const char* loc(T& v) {
    const char* p = nullptr;
    if (v.current_location().get(p) != simdjson::SUCCESS) return nullptr;
    return p;
  }

  Value convert(simdjson::ondemand::value v, int depth) {
    if (depth > 512) throw Error(fmt::format("{}: JSON nested too deeply", origin));
    simdjson::ondemand::json_type t;
    if (auto e = v.type().get(t)) fail(e, loc(v));
    switch (t) {
      case simdjson::ondemand::json_type::object: {
        Object o;
        simdjson::ondemand::object obj;
        if (auto e = v.get_object().get(obj)) fail(e, loc(v));
        for (auto field : obj) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) fail(e, nullptr);
          simdjson::ondemand::value child;
          if (auto e = field.value().get(child)) fail(e, nullptr);
          o.emplace_back(std::string(key), convert(child, depth + 1));
        }
        return Value(std::move(o));
      }
      case simdjson::ondemand::json_type::array: {
        Array a;
        simdjson::ondemand::array arr;
        if (auto e = v.get_array().get(arr)) fail(e, loc(v));
        for (auto item : arr) {
          simdjson::ondemand::value child;
          if (auto e = item.get(child)) fail(e, nullptr);
          a.push_back(convert(child, depth + 1));
        }
        return Value(std::move(a));
      }
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) fail(e, loc(v));
        return Value(std::string(s));
      }
      case simdjson::ondemand::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) fail(e, loc(v));
        return Value(b);
      }
      case simdjson::ondemand::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null); e || !is_null) fail(simdjson::N_ATOM_ERROR, loc(v));
        return Value();
      }
      case simdjson::ondemand::json_type::number: {
        const char* where = loc(v);
        std::string_view raw = v.raw_json_token();
        simdjson::ondemand::number_type nt;
        if (v.get_number_type().get(nt) == simdjson::SUCCESS) {
          std::int64_t i;
          double d;
          if (nt == simdjson::ondemand::number_type::signed_integer && v.get_int64().get(i) == simdjson::SUCCESS)
            return Value(i);
          if (nt == simdjson::ondemand::number_type::unsigned_integer && v.get_int64().get(i) == simdjson::SUCCESS)
            return Value(i);
          if (nt == simdjson::ondemand::number_type::floating_point_number && v.get_double().get(d) == simdjson::SUCCESS)
            return Value(d);
        }
        // Integers beyond 64 bits (e.g. model_max_length = 1e30 written out) become doubles. A number
        // beyond a double's range (1e999) is an error, not infinity: JSON has no infinity, and the
        // writer could not write it back (found by tests/fuzz, fuzz_json).
        std::string token(raw.substr(0, raw.find_first_of(" \t\r\n,]}")));
        char* end = nullptr;
        double d = std::strtod(token.c_str(), &end);
        if (token.empty() || end != token.c_str() + token.size() ||
            token.find_first_not_of("0123456789+-.eE") != std::string::npos || !std::isfinite(d))
          fail(simdjson::NUMBER_ERROR, where);
        return Value(d);
      }
      default:  // simdjson 4 adds json_type::unknown (not in Debian 12's 3.x): not a JSON value
        break;
    }
    fail(simdjson::INCORRECT_TYPE, loc(v));
  }
};

}  // namespace

Value parse(std::string_view text, std::string_view origin) {
  Parser p{text, origin};
  simdjson::padded_string padded(text);
  p.text = std::string_view(padded.data(), padded.size());
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (auto e = parser.iterate(padded).get(doc)) p.fail(e, nullptr);

  // A document that is a bare scalar cannot be read as a `value` in on-demand mode.
  simdjson::ondemand::json_type t;
  if (auto e = doc.type().get(t)) p.fail(e, nullptr);
  Value out;
  if (t == simdjson::ondemand::json_type::object || t == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::value root;
    if (auto e = doc.get_value().get(root)) p.fail(e, nullptr);
    out = p.convert(root, 0);
  } else if (t == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (auto e = doc.get_string().get(s)) p.fail(e, nullptr);
    out = Value(std::string(s));
  } else if (t == simdjson::ondemand::json_type::boolean) {
    bool b;
    if (auto e = doc.get_bool().get(b)) p.fail(e, nullptr);
    out = Value(b);
  } else if (t == simdjson::ondemand::json_type::null) {
    bool n = false;
    if (auto e = doc.is_null().get(n); e || !n) p.fail(simdjson::N_ATOM_ERROR, nullptr);
  } else {
    double d;
    if (auto e = doc.get_double().get(d)) p.fail(e, nullptr);
    std::int64_t i;
    out = doc.get_int64().get(i) == simdjson::SUCCESS ? Value(i) : Value(d);
  }
  // Scalar roots are checked for trailing content by simdjson itself; containers are not.
  const char* where = nullptr;
  if (doc.current_location().get(where) == simdjson::SUCCESS && where < padded.data() + text.size())
    p.fail(simdjson::TRAILING_CONTENT, where);
  return out;
}

Value parse_file(const std::filesystem::path& path) { return parse(read_file(path), path.string()); }

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------
namespace {

}  // namespace

// Never writes invalid UTF-8: a string from a model (a cut byte-fallback character) or from a
// file in another encoding is made valid first (copied only then: most text is plain ASCII).
void write_string(std::string& out, std::string_view raw) {
  const bool ascii = std::all_of(raw.begin(), raw.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string repaired;
  if (!ascii) repaired = valid_utf8(raw);
  const std::string_view s = ascii ? raw : std::string_view(repaired);
  out.push_back('"');
  std::size_t plain_from = 0;  // runs of characters that need no escape are appended at once
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.substr(plain_from, i - plain_from));
    plain_from = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: out += fmt::format("\\u{:04x}", c);
    }
  }
  out.append(s.substr(plain_from));
  out.push_back('"');
}

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  const std::size_t start = out.size();
  fmt::format_to(std::back_inserter(out), "{}", d);  // shortest round-trip representation
  // Keep the number a JSON double on re-read ("1" would come back as an integer).
  if (std::string_view(out).substr(start).find_first_of(".eEn") == std::string_view::npos) out += ".0";
}

void write_number(std::string& out, std::int64_t i) { fmt::format_to(std::back_inserter(out), "{}", i); }

namespace {

void write(std::string& out, const Value& v, int indent, int depth, bool sort_keys) {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out.push_back('\n');
    out.append(static_cast<std::size_t>(indent * d), ' ');
  };
  switch (v.type()) {
    case Value::Type::Null: out += "null"; break;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Type::Int: write_number(out, v.as_int()); break;
    case Value::Type::Double: write_number(out, v.as_double()); break;
    case Value::Type::String: write_string(out, v.as_string()); break;
    case Value::Type::Array: {
      const auto& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        break;
      }
      out.push_back('[');
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out.push_back(',');
        newline(depth + 1);
        write(out, a[i], indent, depth + 1, sort_keys);
      }
      newline(depth);
      out.push_back(']');
      break;
    }
    case Value::Type::Object: {
      const auto& o = v.as_object();
      if (o.empty()) {
        out += "{}";
        break;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (auto& kv : o) items.push_back(&kv);
      if (sort_keys)
        std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out.push_back('{');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        newline(depth + 1);
        write_string(out, items[i]->first);
        out += indent < 0 ? ":" : ": ";
        write(out, items[i]->second, indent, depth + 1, sort_keys);
      }
      newline(depth);
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

std::string dump(const Value& v, int indent) {
  std::string out;
  write(out, v, indent, 0, false);
  return out;
}

std::string dump_canonical(const Value& v) {
  std::string out;
  write(out, v, -1, 0, true);
  return out;
}

}  // namespace w2s::json
