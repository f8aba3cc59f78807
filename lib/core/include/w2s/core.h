// w2s core: the small pieces every module shares.
//
//   * w2s::Error            — the one exception type; its message is meant for the user.
//   * w2s::json::Value      — an ordered JSON value, parsed with simdjson (on-demand), written by
//                             w2s::json::dump. This is the project's one JSON writer.
//   * files                 — read_file, write_file_atomic (temp + fsync + rename).
//   * hashing               — sha256_hex / sha1_hex over bytes or files (OpenSSL).
//   * w2s::PyRandom         — CPython's `random.Random`, bit-exact (seeding, getrandbits,
//                             randbelow, shuffle, sample, random, choice).
//   * time and version      — now_iso8601(), tool_version(), tool_git_commit().
//   * w2s::log              — the one way to print a diagnostic (over spdlog, on stderr).
//
// Nothing here includes torch or curl; the API side and the training side both build on it.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace w2s {

// The one error type. Messages name the file / line / field at fault and never contain secrets.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Logging: every diagnostic goes through w2s::log (spdlog underneath), to stderr as
// "[HH:MM:SS] level message". stdout is left to what the user asked for (tables, JSON, paths), so
// it can be piped. The progress line (ProgressLine below) is separate: it is not a log message.
// ---------------------------------------------------------------------------------------------
namespace log {

enum class Level { Debug, Info, Warn, Error, Off };

// Messages below `level` are dropped. Default Info; `w2s --verbose` sets Debug, `--quiet` Warn.
void set_level(Level level);
Level level();
bool enabled(Level level);

// `secret` (an API key) is replaced by "[redacted]" in every later message: a safety net under the
// scrubbing that the code holding a secret does itself. Empty secrets are ignored.
void redact(std::string secret);

// Writes one message (redacted) at `level`, if enabled.
void write(Level level, std::string_view message);

// log::info("loaded {} rows", n): formats (fmt syntax, checked at compile time) only when enabled.
template <Level L>
struct Logger {
  template <class... Args>
  void operator()(fmt::format_string<Args...> format, Args&&... args) const {
    if (enabled(L)) write(L, fmt::format(format, std::forward<Args>(args)...));
  }
};
inline constexpr Logger<Level::Debug> debug;
inline constexpr Logger<Level::Info> info;
inline constexpr Logger<Level::Warn> warn;
inline constexpr Logger<Level::Error> error;

}  // namespace log

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------
namespace json {

class Value;
using Array = std::vector<Value>;
// Objects keep insertion order: TruthfulQA's mc_task.json relies on key order, and written
// files stay readable in the order the code builds them.
using Object = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Type { Null, Bool, Int, Double, String, Array, Object };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}
  template <class T>
  Value(const std::optional<T>& o) {
    if (o) *this = Value(*o);
  }
  template <class T>
  Value(const std::vector<T>& xs) : v_(Array(xs.begin(), xs.end())) {}

  static Value object() { return Value(Object{}); }
  static Value array() { return Value(Array{}); }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_number() const { return type() == Type::Int || type() == Type::Double; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }

  // Typed access; throws w2s::Error naming the expected type when the value has another.
  bool as_bool() const;
  std::int64_t as_int() const;  // also accepts a double with an integral value
  double as_double() const;     // accepts ints
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object access. `at` throws naming the missing key; `find` returns nullptr.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  const Value& at(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Inserts (or replaces) a key, keeping the position of an existing key.
  Value& set(std::string_view key, Value v);
  // operator[] on an object: get-or-insert null (a null value becomes an object first).
  Value& operator[](std::string_view key);

  // Array access.
  const Value& at(std::size_t i) const;
  void push_back(Value v);
  std::size_t size() const;  // elements of an array or object; 0 otherwise

  // Convenience getters with defaults for optional fields.
  std::string get_string(std::string_view key, std::string_view fallback = "") const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback = 0) const;
  double get_double(std::string_view key, double fallback = 0.0) const;
  bool get_bool(std::string_view key, bool fallback = false) const;

  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_{nullptr};
};

const char* type_name(Value::Type t);

// Parses UTF-8 JSON text. `origin` (a file name) prefixes error messages, with line and column.
Value parse(std::string_view text, std::string_view origin = "<json>");
Value parse_file(const std::filesystem::path& path);

// Serialises a value. indent < 0: compact, no whitespace; indent >= 0: pretty with that many
// spaces. Doubles use the shortest text that round-trips; NaN and infinities become null.
std::string dump(const Value& v, int indent = -1);

// Canonical form for hashing: compact, object keys sorted recursively.
std::string dump_canonical(const Value& v);

// The writer's pieces, for text written straight into a buffer on a hot path (lib/llm's request
// bodies and ledger lines) exactly as dump writes it: a string made valid UTF-8 and escaped, in
// quotes; a double (null when not finite; ".0" kept on whole numbers); an integer.
void write_string(std::string& out, std::string_view s);
void write_number(std::string& out, double d);
void write_number(std::string& out, std::int64_t i);

// Returns f(). An access error that f raises on a parsed document ("JSON: missing key ...",
// "JSON: expected object, found array") is rethrown as "<origin>: ...", so that it names the file.
template <class F>
decltype(auto) with_origin(std::string_view origin, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string_view message = e.what();
    if (message.rfind("JSON: ", 0) != 0) throw;
    throw Error(std::string(origin) + ": " + std::string(message.substr(6)));
  }
}

}  // namespace json

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

// Whole file as bytes; throws w2s::Error naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Writes via a temporary file in the same directory, fsyncs it, renames it over `path` and
// fsyncs the directory: readers see the old file or the complete new one, never a torn one.
// Parent directories are created.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// An append-only file held open for many lines (ledgers, training logs). Each append_line is one
// write() on an O_APPEND descriptor: lines from several processes never interleave, and a killed
// process loses no line it appended. sync() (also run on destruction) makes them durable.
class AppendOnlyFile {
 public:
  // Creates the file (and its directory) with `mode` when missing.
  explicit AppendOnlyFile(const std::filesystem::path& path, unsigned mode = 0644);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;
  void append_line(std::string_view line);  // a '\n' is added
  void sync();                              // fdatasync
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// An exclusive advisory lock (flock) on `path`, created when missing, held until destruction. The
// kernel drops it when the holder exits, even by SIGKILL, so a killed run never leaves it stale.
// When another process (or another ExclusiveFileLock in this one) holds it, `on_wait` is called
// once with who holds it ("pid 1234 on host node7 since 2026-12-06T20:00:00Z", what the holder
// wrote into the file; "" if it has not yet) and the constructor blocks until the lock is free: for
// as long as the holder lives, so the line names the process to look at if it seems stuck.
class ExclusiveFileLock {
 public:
  explicit ExclusiveFileLock(const std::filesystem::path& path,
                             const std::function<void(const std::string& holder)>& on_wait = {});
  ~ExclusiveFileLock();
  ExclusiveFileLock(const ExclusiveFileLock&) = delete;
  ExclusiveFileLock& operator=(const ExclusiveFileLock&) = delete;

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Hashing (OpenSSL EVP)
// ---------------------------------------------------------------------------------------------
std::string sha256_hex(std::string_view bytes);
std::string sha256_file_hex(const std::filesystem::path& path);
std::string sha1_hex(std::string_view bytes);

// ---------------------------------------------------------------------------------------------
// CPython-compatible random (Lib/random.py + Modules/_randommodule.c, CPython 3.x).
// ---------------------------------------------------------------------------------------------
class PyRandom {
 public:
  // random.Random(seed) for a non-negative or negative int seed (CPython uses |seed|).
  explicit PyRandom(std::int64_t seed = 0);
  void seed(std::int64_t seed);

  std::uint32_t next_u32();                // genrand_uint32
  std::uint32_t getrandbits(int k);        // 1 <= k <= 32
  std::uint64_t randbelow(std::uint64_t n);  // n >= 1; _randbelow_with_getrandbits
  double random();                         // 53-bit float in [0, 1)

  template <class T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) {
      std::size_t j = randbelow(i + 1);
      std::swap(x[i], x[j]);
    }
  }

  // random.sample(population, k), both of CPython's branches: the pool branch (n <= setsize,
  // every size the TruthfulQA split uses) and the rejection-with-a-seen-set branch.
  template <class T>
  std::vector<T> sample(const std::vector<T>& population, std::size_t k) {
    const std::size_t n = population.size();
    std::vector<T> out;
    out.reserve(k);
    if (use_sample_pool_branch(n, k)) {
      std::vector<T> pool = population;
      for (std::size_t i = 0; i < k; ++i) {
        std::size_t j = randbelow(n - i);
        out.push_back(pool[j]);
        pool[j] = pool[n - i - 1];
      }
    } else {
      for (std::size_t j : sample_set_branch_indices(n, k)) out.push_back(population[j]);
    }
    return out;
  }

  // random.choice(seq): seq[randbelow(len(seq))].
  template <class T>
  const T& choice(const std::vector<T>& seq) {
    if (seq.empty()) throw Error("PyRandom::choice: empty sequence");
    return seq[randbelow(seq.size())];
  }

 private:
  bool use_sample_pool_branch(std::size_t n, std::size_t k) const;  // throws if k > n
  std::vector<std::size_t> sample_set_branch_indices(std::size_t n, std::size_t k);
  void init_by_array(const std::vector<std::uint32_t>& key);
  void twist();

  std::uint32_t mt_[624];
  int index_ = 624;
};

// ---------------------------------------------------------------------------------------------
// Progress on stderr: redrawn in place when stderr is a terminal, otherwise a plain line every
// `plain_interval_s` seconds (and at finish), so logs of batch jobs stay readable.
// ---------------------------------------------------------------------------------------------
class ProgressLine {
 public:
  explicit ProgressLine(std::string label, double plain_interval_s = 10.0);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  // Cheap to call often: terminal redraws are limited to ~10 per second.
  void update(std::string_view status);
  void finish(std::string_view status);

 private:
  std::string label_;
  double interval_;
  double last_draw_ = -1e9;
  bool tty_;
  bool finished_ = false;
};

// "12.3 s", "4m05s", "1h02m" — for ETAs and timings in progress lines.
std::string format_duration(double seconds);

// ---------------------------------------------------------------------------------------------
// Time, version, misc
// ---------------------------------------------------------------------------------------------
std::string now_iso8601();          // UTC, e.g. 2026-11-21T10:00:00Z
std::string local_timestamp();      // local time %Y%m%d_%H%M%S (the reference's file stamp)
double monotonic_seconds();
const char* tool_version();         // project version from CMake
const char* tool_git_commit();      // commit at configure time, "unknown" outside a checkout

// "meta-llama/llama-3.1-8b-instruct" -> "meta-llama_llama-3.1-8b-instruct" (the reference slug)
std::string model_slug(std::string_view model_id);
// "meta-llama/llama-3.1-8b-instruct" -> "llama-3.1-8b-instruct": the part after the last '/', as the
// reference's result files name a model. Names shown to users come from ModelNames (unique).
std::string model_short_name(std::string_view model_id);

// Display names for the models of one output (a console table, a figure, a CSV): an id loses its
// "org/" prefix, and with drop_chat_suffix then a trailing "-instruct" / "-chat", only where the
// shorter name stays unique among `model_ids`; otherwise it keeps more of itself, up to the whole
// id. So two models never share a name: {"weak60/a", "oracle/a", "org/b"} are shown as
// "weak60/a", "oracle/a", "b".
class ModelNames {
 public:
  explicit ModelNames(const std::vector<std::string>& model_ids, bool drop_chat_suffix = false);
  // The display name of `model_id`; an id that was not given is returned whole.
  std::string operator()(const std::string& model_id) const;

 private:
  std::map<std::string, std::string> names_;
};

// Linear-interpolated quantile (numpy's and torch.quantile's default): position q·(n − 1) of the
// sorted values. Throws w2s::Error for an empty set or q outside [0, 1].
double linear_quantile(std::vector<double> values, double q);

// ASCII letters lowered, other bytes kept (HTTP header names, option words, model ids).
std::string ascii_lower(std::string s);

// Splits "a,b,,c" into {"a","b","c"} (empty parts dropped, spaces trimmed).
std::vector<std::string> split_list(std::string_view s, char sep = ',');

}  // namespace w2s
