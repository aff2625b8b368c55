#include "model/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "model/io/file_bytes.h"
#include "model/io/float_conversion.h"
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

SafetensorsFile SafetensorsFile::FromBytes(const std::string& name, std::vector<uint8_t> bytes) {
  return Parse(name, FileBytes::FromMemory(std::move(bytes)));
}

SafetensorsFile SafetensorsFile::Open(const std::string& path) { return Parse(path, FileBytes::Map(path)); }

SafetensorsFile SafetensorsFile::Parse(const std::string& path, std::shared_ptr<const FileBytes> contents) {
  const uint64_t file_size = contents->size();
  if (file_size < 8) {
    throw ModelError(path + ": truncated (" + std::to_string(file_size) +
                     " bytes; a safetensors file starts with an 8-byte header length)");
  }
  SafetensorsFile file;
  file.path_ = path;
  file.bytes_ = contents;
  const uint8_t* bytes = contents->data();

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
  if (bytes_) bytes_->Release(data_ + info.begin, info.end - info.begin);
}

std::vector<uint8_t> SafetensorsFile::ReadBytes(const TensorInfo& info) const {
  return std::vector<uint8_t>(data_ + info.begin, data_ + info.end);
}

Tensor SafetensorsFile::ReadFloat(const TensorInfo& info) const {
  if (!IsFloatDType(info.dtype)) {
    throw ModelError(path_ + ": tensor '" + info.name + "' has dtype " + DTypeName(info.dtype) +
                     "; expected a floating-point dtype (F32, F16, BF16, F64)");
  }
  Tensor out(info.shape);
  ConvertToFloat(info.dtype, data_ + info.begin, DTypeSize(info.dtype), out.data.size(), out.ptr());
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
