// safetensors: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then the data
// block. Everything in the header is checked against the file before a tensor is handed out.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "w2s/model.h"

namespace w2s::model {

namespace {

// Same bound as the reference implementation (huggingface/safetensors): 100 MB of header.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "F64") return DType::F64;
  if (s == "I64") return DType::I64;
  if (s == "I32") return DType::I32;
  if (s == "I16") return DType::I16;
  if (s == "I8") return DType::I8;
  if (s == "U8") return DType::U8;
  if (s == "BOOL") return DType::BOOL;
  throw Error(where + ": unsupported dtype \"" + s + "\" (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
}

// Sizes come from a header anyone can write: a product that does not fit 64 bits is refused (it
// would wrap around to a small number and pass the size checks below).
std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& where, const char* key) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a)
    throw Error(where + ": \"" + key + "\" gives a tensor of more than 2^64 bytes");
  return a * b;
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::F64: case DType::I64: return 8;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

struct SafetensorsFile::Impl {
  std::filesystem::path path;
  void* map = nullptr;
  std::size_t map_size = 0;
  std::vector<TensorView> tensors;
  std::map<std::string, std::string> metadata;

  ~Impl() {
    if (map) munmap(map, map_size);
  }
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  const std::string file = path.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(file + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(file + ": cannot stat: " + std::strerror(errno));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw Error(file + ": not a safetensors file (" + std::to_string(size) + " bytes, need at least 8)");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error(file + ": mmap failed: " + std::strerror(errno));
  impl_->map = map;
  impl_->map_size = size;
  const auto* bytes = static_cast<const unsigned char*>(map);

  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes)
    throw Error(file + ": header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > size - 8)
    throw Error(file + ": header length " + std::to_string(header_len) + " runs past the end of the " +
                std::to_string(size) + "-byte file (truncated?)");
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8), header_len);
  const std::uint64_t data_begin = 8 + header_len;
  const std::uint64_t data_size = size - data_begin;

  json::Value root;
  try {
    root = json::parse(header, file + " header");
  } catch (const Error& e) {
    throw Error(std::string("safetensors: ") + e.what());
  }
  if (!root.is_object()) throw Error(file + ": header is not a JSON object");

  std::set<std::string> seen;
  struct Span { std::uint64_t begin, end; std::size_t index; };
  std::vector<Span> spans;
  for (const auto& [name, entry] : root.as_object()) {
    const std::string where = file + ": tensor \"" + name + "\"";
    if (!seen.insert(name).second) throw Error(file + ": duplicate entry \"" + name + "\" in the header");
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(file + ": __metadata__ is not an object");
      for (const auto& [k, v] : entry.as_object()) {
        if (!v.is_string()) throw Error(file + ": __metadata__ value of \"" + k + "\" is not a string");
        impl_->metadata[k] = v.as_string();
      }
      continue;
    }
    if (!entry.is_object()) throw Error(where + ": header entry is not an object");
    const json::Value* dtype = entry.find("dtype");
    const json::Value* shape = entry.find("shape");
    const json::Value* offsets = entry.find("data_offsets");
    if (!dtype || !dtype->is_string()) throw Error(where + ": missing or non-string \"dtype\"");
    if (!shape || !shape->is_array()) throw Error(where + ": missing or non-array \"shape\"");
    if (!offsets || !offsets->is_array() || offsets->size() != 2)
      throw Error(where + ": \"data_offsets\" must be an array [begin, end]");
    TensorView view;
    view.name = name;
    view.dtype = parse_dtype(dtype->as_string(), where);
    std::uint64_t elements = 1;
    for (const auto& d : shape->as_array()) {
      if (!d.is_int() || d.as_int() < 0) throw Error(where + ": \"shape\" entries must be non-negative integers");
      view.shape.push_back(d.as_int());
      elements = checked_mul(elements, static_cast<std::uint64_t>(d.as_int()), where, "shape");
    }
    const std::uint64_t expected = checked_mul(elements, dtype_size(view.dtype), where, "shape");
    const json::Value& b = offsets->at(std::size_t{0});
    const json::Value& e = offsets->at(std::size_t{1});
    if (!b.is_int() || !e.is_int() || b.as_int() < 0 || e.as_int() < 0)
      throw Error(where + ": \"data_offsets\" must be non-negative integers");
    const auto begin = static_cast<std::uint64_t>(b.as_int());
    const auto end = static_cast<std::uint64_t>(e.as_int());
    if (begin > end) throw Error(where + ": data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size)
      throw Error(where + ": data_offsets end " + std::to_string(end) + " is past the " +
                  std::to_string(data_size) + "-byte data block (truncated file?)");
    if (end - begin != expected)
      throw Error(where + ": " + std::to_string(end - begin) + " bytes for shape/dtype needing " +
                  std::to_string(expected));
    view.data = reinterpret_cast<const std::byte*>(bytes + data_begin + begin);
    view.nbytes = static_cast<std::size_t>(expected);
    spans.push_back({begin, end, impl_->tensors.size()});
    impl_->tensors.push_back(std::move(view));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end)
      throw Error(file + ": tensors \"" + impl_->tensors[spans[i - 1].index].name + "\" and \"" +
                  impl_->tensors[spans[i].index].name + "\" overlap in the data block");
  }
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

const std::vector<TensorView>& SafetensorsFile::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }
const std::filesystem::path& SafetensorsFile::path() const { return impl_->path; }

const TensorView* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : impl_->tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorBytes>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json::Value header = json::Value::object();
  if (!metadata.empty()) {
    json::Value meta = json::Value::object();
    for (const auto& [k, v] : metadata) meta.set(k, v);
    header.set("__metadata__", std::move(meta));
  }
  std::uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      throw Error(path.string() + ": duplicate or reserved tensor name \"" + t.name + "\"");
    const std::string where = path.string() + ": tensor \"" + t.name + "\"";
    std::uint64_t elements = 1;
    json::Value shape = json::Value::array();
    for (auto d : t.shape) {
      if (d < 0) throw Error(where + " has a negative dimension");
      elements = checked_mul(elements, static_cast<std::uint64_t>(d), where, "shape");
      shape.push_back(d);
    }
    const std::uint64_t needed = checked_mul(elements, dtype_size(t.dtype), where, "shape");
    if (needed != t.bytes.size())
      throw Error(where + " has " + std::to_string(t.bytes.size()) + " bytes, its shape and dtype need " +
                  std::to_string(needed));
    json::Value entry = json::Value::object();
    entry.set("dtype", dtype_name(t.dtype));
    entry.set("shape", std::move(shape));
    json::Value offsets = json::Value::array();
    offsets.push_back(static_cast<long long>(offset));
    offsets.push_back(static_cast<long long>(offset + t.bytes.size()));
    entry.set("data_offsets", std::move(offsets));
    header.set(t.name, std::move(entry));
    offset += t.bytes.size();
  }
  std::string header_text = json::dump(header);
  // Pad with spaces so the data block starts 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + header_text.size() + offset);
  std::uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += header_text;
  for (const auto& t : tensors) out.append(t.bytes.data(), t.bytes.size());
  write_file_atomic(path, out);
}

std::vector<std::filesystem::path> weight_files(const std::filesystem::path& model_dir) {
  const auto index = model_dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    const json::Value root = json::parse_file(index);
    const json::Value* map = root.find("weight_map");
    if (!map || !map->is_object()) throw Error(index.string() + ": missing \"weight_map\" object");
    std::set<std::string> shards;
    for (const auto& [name, file] : map->as_object()) {
      if (!file.is_string()) throw Error(index.string() + ": weight_map entry \"" + name + "\" is not a string");
      const std::string& f = file.as_string();
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        throw Error(index.string() + ": weight_map entry \"" + name + "\" names an unsafe file \"" + f + "\"");
      shards.insert(f);
    }
    std::vector<std::filesystem::path> out;
    for (const auto& s : shards) out.push_back(model_dir / s);
    return out;
  }
  const auto single = model_dir / "model.safetensors";
  if (std::filesystem::exists(single)) return {single};
  throw Error(model_dir.string() + ": no model.safetensors or model.safetensors.index.json");
}

}  // namespace w2s::model
