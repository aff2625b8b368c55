#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "model/model_error.h"

namespace beit {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

bool ParseDType(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"BOOL", DType::kBool}, {"U8", DType::kU8},     {"I8", DType::kI8},
      {"I16", DType::kI16},   {"I32", DType::kI32},   {"I64", DType::kI64},
      {"F16", DType::kF16},   {"BF16", DType::kBF16}, {"F32", DType::kF32},
      {"F64", DType::kF64}};
  for (const auto& [name, dtype] : kTable) {
    if (s == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "BOOL";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
    case DType::kI16: return "I16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF32: return "F32";
    case DType::kF64: return "F64";
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kU8:
    case DType::kI8: return 1;
    case DType::kI16:
    case DType::kF16:
    case DType::kBF16: return 2;
    case DType::kI32:
    case DType::kF32: return 4;
    case DType::kI64:
    case DType::kF64: return 8;
  }
  return 0;
}

// The file's bytes: a read-only mapping of the file, or (FromBytes) an owned copy.
struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  std::vector<uint8_t> owned;
  ~Mapping() {
    if (owned.empty() && addr && addr != MAP_FAILED) munmap(addr, size);
  }
};

SafetensorsFile SafetensorsFile::FromBytes(const std::string& name, std::vector<uint8_t> bytes) {
  if (bytes.size() < 8) {
    throw ModelError(name + ": truncated (" + std::to_string(bytes.size()) +
                     " bytes; a safetensors file starts with an 8-byte header length)");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->owned = std::move(bytes);
  mapping->addr = mapping->owned.data();
  mapping->size = mapping->owned.size();
  return Parse(name, std::move(mapping));
}

SafetensorsFile SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(path + ": not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw ModelError(path + ": truncated (" + std::to_string(file_size) +
                     " bytes; a safetensors file starts with an 8-byte header length)");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = file_size;
  mapping->addr = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->addr == MAP_FAILED) throw ModelError(path + ": mmap failed: " + std::strerror(errno));
  return Parse(path, std::move(mapping));
}

SafetensorsFile SafetensorsFile::Parse(const std::string& path, std::shared_ptr<Mapping> mapping) {
  SafetensorsFile file;
  file.path_ = path;
  file.mapping_ = mapping;
  const uint64_t file_size = mapping->size;
  const auto* bytes = static_cast<const uint8_t*>(mapping->addr);

  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian on every platform we build for
  if (header_len > file_size - 8 || header_len > kMaxHeaderBytes) {
    throw ModelError(path + ": header length " + std::to_string(header_len) +
                     " exceeds the file size (" + std::to_string(file_size) +
                     " bytes): the file is truncated or not safetensors");
  }
  const uint64_t data_size = file_size - 8 - header_len;
  file.data_ = bytes + 8 + header_len;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number overflow
    throw ModelError(path + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw ModelError(path + ": header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + it.key() + "'";
    const auto& v = it.value();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      throw ModelError(where + ": entry needs dtype, shape and data_offsets");
    }
    TensorInfo info;
    info.name = it.key();
    if (!v["dtype"].is_string() || !ParseDType(v["dtype"].get<std::string>(), &info.dtype)) {
      throw ModelError(where + ": unsupported dtype " + v["dtype"].dump());
    }
    if (!v["shape"].is_array()) throw ModelError(where + ": shape is not a list");
    uint64_t count = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw ModelError(where + ": shape has a non-integer or negative dimension");
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / 16 / dim) {
        throw ModelError(where + ": shape is too large");
      }
      count *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      throw ModelError(where + ": data_offsets must be [begin, end]");
    }
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      throw ModelError(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                       "] lie outside the " + std::to_string(data_size) +
                       "-byte data area (file truncated?)");
    }
    if (end - begin != count * DTypeSize(info.dtype)) {
      throw ModelError(where + ": holds " + std::to_string(end - begin) + " bytes but shape " +
                       ShapeToString(info.shape) + " of " + DTypeName(info.dtype) + " needs " +
                       std::to_string(count * DTypeSize(info.dtype)));
    }
    info.begin = begin;
    info.end = end;
    file.tensors_.push_back(std::move(info));
  }
  // Overlapping tensors would mean a corrupt or hostile header.
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : file.tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->begin < sorted[i - 1]->end) {
      throw ModelError(path + ": tensors '" + sorted[i - 1]->name + "' and '" + sorted[i]->name +
                       "' overlap");
    }
  }
  return file;
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void SafetensorsFile::Release(const TensorInfo& info) const {
  if (!mapping_ || !mapping_->owned.empty()) return;  // only file mappings hold pages to drop
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(data_ + info.begin) + page - 1) / page * page;
  const uintptr_t last = reinterpret_cast<uintptr_t>(data_ + info.end) / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

std::vector<uint8_t> SafetensorsFile::ReadBytes(const TensorInfo& info) const {
  return std::vector<uint8_t>(data_ + info.begin, data_ + info.end);
}

Tensor SafetensorsFile::ReadFloat(const TensorInfo& info) const {
  Tensor out(info.shape);
  const uint8_t* src = data_ + info.begin;
  const size_t n = out.data.size();
  float* dst = out.ptr();
  switch (info.dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, n * 4);  // an empty tensor has no buffer to copy into
      break;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = HalfToFloat(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    default:
      throw ModelError(path_ + ": tensor '" + info.name + "' has dtype " + DTypeName(info.dtype) +
                       "; expected a floating-point dtype (F32, F16, BF16, F64)");
  }
  return out;
}

void WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const auto& e : entries) {
    size_t bytes = static_cast<size_t>(NumElements(e.shape)) * DTypeSize(e.dtype);
    header[e.name] = {{"dtype", DTypeName(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');  // keep the data area 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw ModelError(path + ": cannot open for writing");
  uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& e : entries) {
    size_t bytes = static_cast<size_t>(NumElements(e.shape)) * DTypeSize(e.dtype);
    out.write(static_cast<const char*>(e.data), static_cast<std::streamsize>(bytes));
  }
  if (!out) throw ModelError(path + ": write failed");
}

}  // namespace beit
