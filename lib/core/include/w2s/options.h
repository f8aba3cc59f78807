// w2s options: every options struct is described once, by a field list written beside it. The
// command line (apps/w2s/options_binding.h binds a list to Boost.Program_options), the recorded
// config (config.json, result records) and the stage-cache key are all generated from that list,
// so an option cannot be on the command line but missing from the key.
//
//   struct TrainerOptions { double lr = 5e-4; std::int64_t seed = 42; ... };
//   inline const options::Fields<TrainerOptions>& option_fields(const TrainerOptions*) {
//     using T = TrainerOptions;
//     static const auto fields = options::Fields<T>()
//         .add("lr", &T::lr, "learning rate", options::kRecord | options::kKey)   // no flag
//         .add("seed", &T::seed, "training seed")                                 // --seed, record, key
//         ...;
//   (An entry without a use gets the list's: kAll, or what Fields<T>(use) was made with.)
//     return fields;
//   }
//
// Names: `name` is the key in the recorded config; the flag is --name with '_' → '-' unless
// .flag(...) names another one; the cache key uses `name` unless .key_as(...) says otherwise.
// Member types: bool, integers, double, std::string, std::filesystem::path, enums (their names
// come from `names_of(E{})`, found by argument-dependent lookup), std::optional and std::vector
// of those, std::array<double, N>; and described structs (group / merge). Any other value type
// declares, beside it, `option_from_text(std::string_view, T&)`, `option_to_text(const T&)` and
// `option_to_json(const T&)` (found by argument-dependent lookup), and an operator==.
//
// complete() says whether every member of the struct is in the list; each module's tests assert
// it for each of its structs, so a member added without a field-list line fails a test.
//
// No Boost, no torch: lib/ code uses the JSON side, apps/w2s the command-line side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "w2s/core.h"

namespace w2s::options {

// Where a field shows up.
enum Use : unsigned {
  kNone = 0,
  kFlag = 1u << 0,    // a command-line flag
  kRecord = 1u << 1,  // the recorded config
  kKey = 1u << 2,     // the stage-cache key: a changed value trains the stage again
  kAll = kFlag | kRecord | kKey,
  kListDefault = 1u << 8,  // the use the list was made with: Fields<S>(use)
};

// The JSON an options struct produces: for the recorded config or for a cache key.
enum class Purpose { Record, Key };

// The names of an enum option, in the order help and errors list them. A module declares
// `const options::NameTable<E>& names_of(E)` beside the enum (usually built from its registry).
template <class E>
struct NameTable {
  std::string what;  // "loss" → "unknown loss 'x' (expected one of: ...)"
  std::vector<std::pair<E, std::string>> names;

  const std::string& name(E value) const {
    for (const auto& [e, n] : names)
      if (e == value) return n;
    throw Error("internal: " + what + " without a name");
  }
  E parse(std::string_view text) const {
    for (const auto& [e, n] : names)
      if (n == text) return e;
    throw Error(fmt::format("unknown {} '{}' (expected one of: {})", what, text, joined()));
  }
  std::string joined(std::string_view separator = ", ") const {
    std::string out;
    for (const auto& [e, n] : names) out += (out.empty() ? "" : std::string(separator)) + n;
    return out;
  }
};

// Text of the command line → value. Each throws w2s::Error saying what was expected.
bool parse_bool(std::string_view text);  // true/false, 1/0, yes/no, on/off (as Boost accepts)
std::int64_t parse_integer(std::string_view text);
double parse_number(std::string_view text);

namespace detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_array : std::false_type {};
template <class T, std::size_t N>
struct is_array<std::array<T, N>> : std::true_type {};
template <class>
inline constexpr bool unsupported = false;
template <class T, class = void>
struct has_text_hooks : std::false_type {};
template <class T>
struct has_text_hooks<T, std::void_t<decltype(option_from_text(std::declval<std::string_view>(), std::declval<T&>()))>>
    : std::true_type {};

template <class T>
json::Value to_json(const T& v) {
  if constexpr (is_optional<T>::value) {
    return v ? to_json(*v) : json::Value();
  } else if constexpr (is_vector<T>::value || is_array<T>::value) {
    json::Array out;
    for (const auto& x : v) out.push_back(to_json(x));
    return out;
  } else if constexpr (std::is_enum_v<T>) {
    return names_of(T{}).name(v);
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    return v.string();
  } else if constexpr (has_text_hooks<T>::value) {
    return option_to_json(v);
  } else {
    return json::Value(v);
  }
}

template <class T>
std::string to_text(const T& v) {
  if constexpr (is_optional<T>::value) {
    return v ? to_text(*v) : "";
  } else if constexpr (is_vector<T>::value || is_array<T>::value) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ",") + to_text(x);
    return out;
  } else if constexpr (std::is_enum_v<T>) {
    return names_of(T{}).name(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    return v.string();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (has_text_hooks<T>::value) {
    return option_to_text(v);
  } else {
    return fmt::format("{}", v);
  }
}

template <class T>
void from_text(std::string_view text, T& out) {
  if constexpr (is_optional<T>::value) {
    typename T::value_type v{};
    from_text(text, v);
    out = std::move(v);
  } else if constexpr (is_vector<T>::value) {
    T values;
    for (const auto& part : split_list(text)) from_text(part, values.emplace_back());
    out = std::move(values);
  } else if constexpr (is_array<T>::value) {
    const auto parts = split_list(text);
    if (parts.size() != out.size())
      throw Error(fmt::format("expected {} comma-separated values, got '{}'", out.size(), text));
    for (std::size_t i = 0; i < parts.size(); ++i) from_text(parts[i], out[i]);
  } else if constexpr (std::is_enum_v<T>) {
    out = names_of(T{}).parse(text);
  } else if constexpr (std::is_same_v<T, bool>) {
    out = parse_bool(text);
  } else if constexpr (std::is_integral_v<T>) {
    const std::int64_t v = parse_integer(text);
    if (std::is_unsigned_v<T> && v < 0) throw Error(fmt::format("expected a non-negative integer, got '{}'", text));
    out = static_cast<T>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(parse_number(text));
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::filesystem::path>) {
    out = T(std::string(text));
  } else if constexpr (has_text_hooks<T>::value) {
    option_from_text(text, out);
  } else {
    static_assert(unsupported<T>, "unsupported option type");
  }
}

template <class T>
bool unset(const T& v) {
  if constexpr (is_optional<T>::value) return !v.has_value();
  return false;
}

// Counts an aggregate's members: the largest N for which S{x1, ..., xN} compiles, where each x
// converts to anything (a nested struct member counts as one).
struct AnyValue {
  template <class T>
  operator T() const;
};
template <class S, class Indices, class = void>
struct braces_fit : std::false_type {};
template <class S, std::size_t... I>
struct braces_fit<S, std::index_sequence<I...>, std::void_t<decltype(S{(void(I), AnyValue{})...})>>
    : std::true_type {};

}  // namespace detail

template <class S, std::size_t N = 0>
constexpr std::size_t member_count() {
  static_assert(std::is_aggregate_v<S>, "options structs are aggregates (no constructors, no bases)");
  if constexpr (detail::braces_fit<S, std::make_index_sequence<N + 1>>::value)
    return member_count<S, N + 1>();
  else
    return N;
}

// One command-line flag of S (a member of S or of a described struct inside it).
template <class S>
struct Flag {
  std::string name;  // without the leading dashes
  std::string help;
  bool is_switch = false;  // bool: the flag alone means "true" (--flag=false also works)
  std::function<void(S&, std::string_view)> set;
  std::function<std::optional<std::string>(const S&)> shown;  // the default for --help; nullopt: none
};

template <class S>
class Fields {
 public:
  // `default_use`: where an entry goes unless it says otherwise (the API-side lists, which have no
  // cache key, are made with kFlag | kRecord).
  explicit Fields(unsigned default_use = kAll) : default_use_(default_use) {}

  // A value member.
  template <class T>
  Fields add(std::string name, T S::*member, std::string help, unsigned use = kListDefault) && {
    use = resolved(use);
    Entry e;
    e.name = e.key_name = name;
    e.use = use;
    e.write = [member](const S& s, Purpose purpose, const Entry& self, json::Value& out) {
      const T& value = s.*member;
      if (self.omit_unset && detail::unset(value)) return;
      if (purpose == Purpose::Key && self.key_unless_default && value == default_instance().*member) return;
      out.set(purpose == Purpose::Key ? self.key_name : self.name, detail::to_json(value));
    };
    entries_.push_back(std::move(e));
    note_member(member);
    if (use & kFlag) {
      Flag<S> f;
      f.name = dashed(name);
      f.help = std::move(help);
      if constexpr (std::is_enum_v<T>) f.help += " (one of: " + names_of(T{}).joined(", ") + ")";
      f.is_switch = std::is_same_v<T, bool>;
      f.set = [member](S& s, std::string_view text) { detail::from_text(text, s.*member); };
      f.shown = [member](const S& s) -> std::optional<std::string> {
        if (detail::unset(s.*member)) return std::nullopt;
        return detail::to_text(s.*member);
      };
      flags_.push_back(std::move(f));
      last_flag_ = flags_.size() - 1;
    } else {
      last_flag_.reset();
    }
    return std::move(*this);
  }

  // A member that is itself described: its flags join these; in JSON it is an object under
  // `name` (the key uses .key_as(...) when given). An entry not in `use` is left out as a whole
  // (its fields' own uses apply inside it). `fields` must outlive this list (a static).
  template <class G>
  Fields group(std::string name, G S::*member, const Fields<G>& fields, unsigned use = kListDefault) && {
    return std::move(*this).nest(std::move(name), member, fields, use);
  }

  // A described member whose fields appear as if they were this struct's own (in JSON and on
  // the command line). .key_as(name) puts them under `name` in the key instead (where its list's
  // key_value applies).
  template <class G>
  Fields merge(G S::*member, const Fields<G>& fields, unsigned use = kListDefault) && {
    return std::move(*this).nest("", member, fields, use);
  }

  // ---- modifiers of the entry added last ----------------------------------------------------
  // The flag's name, when it is not the name with dashes.
  Fields flag(std::string name) && {
    if (!last_flag_) throw Error("internal: .flag() after an entry without a flag");
    flags_[*last_flag_].name = std::move(name);
    return std::move(*this);
  }
  // A flag that turns a bool member off (--no-progress for `progress`).
  Fields flag_turns_off(std::string name) && {
    if (!last_flag_) throw Error("internal: .flag_turns_off() after an entry without a flag");
    Flag<S>& f = flags_[*last_flag_];
    f.name = std::move(name);
    auto set_on = std::move(f.set);
    f.set = [set_on](S& s, std::string_view text) { set_on(s, parse_bool(text) ? "false" : "true"); };
    f.shown = [](const S&) -> std::optional<std::string> { return std::nullopt; };
    return std::move(*this);
  }
  // The name in the cache key, when it differs from the recorded name.
  Fields key_as(std::string name) && {
    entries_.back().key_name = std::move(name);
    return std::move(*this);
  }
  // In the key only while it differs from the struct's default: an option added to a key later
  // leaves the keys of earlier runs (which had the default) valid.
  Fields key_unless_default() && {
    entries_.back().key_unless_default = true;
    return std::move(*this);
  }
  // An unset std::optional is left out of the JSON instead of written as null.
  Fields omit_unset() && {
    entries_.back().omit_unset = true;
    return std::move(*this);
  }
  // In the JSON only when `applies` holds (e.g. the options of the selected loss).
  Fields when(std::function<bool(const S&)> applies) && {
    entries_.back().applies = std::move(applies);
    return std::move(*this);
  }
  // ---- the whole list ------------------------------------------------------------------------
  // The key of this struct is transform(s, key JSON of its fields) rather than that JSON (e.g.
  // LoRA settings: "disabled" when LoRA is off).
  Fields key_value(std::function<json::Value(const S&, json::Value)> transform) && {
    key_transform_ = std::move(transform);
    return std::move(*this);
  }

  // ---- generated ---------------------------------------------------------------------------
  const std::vector<Flag<S>>& flags() const { return flags_; }

  // The recorded config or the key material of `s`: an object in list order.
  json::Value to_json(const S& s, Purpose purpose) const {
    json::Value out = json::Value::object();
    write_into(s, purpose, out);
    if (purpose == Purpose::Key && key_transform_) return key_transform_(s, std::move(out));
    return out;
  }
  void write_into(const S& s, Purpose purpose, json::Value& out) const {
    const unsigned wanted = purpose == Purpose::Key ? kKey : kRecord;
    for (const auto& e : entries_)
      if ((e.use & wanted) && (!e.applies || e.applies(s))) e.write(s, purpose, e, out);
  }

  // Every member of S is in the list, once.
  bool complete() const { return offsets_.size() == member_count<S>(); }
  std::size_t listed_members() const { return offsets_.size(); }

 private:
  struct Entry {
    std::string name, key_name;
    unsigned use = kAll;
    bool omit_unset = false, key_unless_default = false;
    std::function<bool(const S&)> applies;
    std::function<void(const S&, Purpose, const Entry&, json::Value&)> write;
  };

  unsigned resolved(unsigned use) const { return use == kListDefault ? default_use_ : use; }

  static const S& default_instance() {
    static const S instance{};
    return instance;
  }

  template <class T>
  void note_member(T S::*member) {
    const S& s = default_instance();
    const auto offset = static_cast<std::size_t>(reinterpret_cast<const char*>(&(s.*member)) -
                                                 reinterpret_cast<const char*>(&s));
    for (auto o : offsets_)
      if (o == offset) throw Error("internal: an options member is listed twice");
    offsets_.push_back(offset);
  }

  static std::string dashed(std::string name) {
    for (char& c : name)
      if (c == '_') c = '-';
    return name;
  }

  template <class G>
  Fields nest(std::string name, G S::*member, const Fields<G>& fields, unsigned use) && {
    use = resolved(use);
    Entry e;
    e.name = e.key_name = name;
    e.use = use;
    e.write = [member, &fields](const S& s, Purpose purpose, const Entry& self, json::Value& out) {
      const std::string& at = purpose == Purpose::Key ? self.key_name : self.name;
      if (at.empty()) return fields.write_into(s.*member, purpose, out);
      out.set(at, fields.to_json(s.*member, purpose));
    };
    entries_.push_back(std::move(e));
    note_member(member);
    if (use & kFlag) {
      for (const auto& f : fields.flags()) {
        Flag<S> lifted;
        lifted.name = f.name;
        lifted.help = f.help;
        lifted.is_switch = f.is_switch;
        lifted.set = [member, set = f.set](S& s, std::string_view text) { set(s.*member, text); };
        lifted.shown = [member, shown = f.shown](const S& s) { return shown(s.*member); };
        flags_.push_back(std::move(lifted));
      }
    }
    last_flag_.reset();
    return std::move(*this);
  }

  unsigned default_use_ = kAll;
  std::vector<Entry> entries_;
  std::vector<Flag<S>> flags_;
  std::vector<std::size_t> offsets_;
  std::optional<std::size_t> last_flag_;
  std::function<json::Value(const S&, json::Value)> key_transform_;
};

// The recorded config and the key material of an options struct with an `option_fields`
// overload (found by argument-dependent lookup).
template <class S>
json::Value record(const S& s) {
  return option_fields(static_cast<const S*>(nullptr)).to_json(s, Purpose::Record);
}
template <class S>
json::Value key(const S& s) {
  return option_fields(static_cast<const S*>(nullptr)).to_json(s, Purpose::Key);
}

}  // namespace w2s::options
