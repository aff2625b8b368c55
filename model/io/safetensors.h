// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors).
//
// Contract:
// - SafetensorsFile::Open memory-maps the file (FromBytes takes the bytes from memory) and validates the whole header before returning:
//   header length within the file, valid JSON, known dtypes, non-negative shapes whose byte size
//   matches data_offsets, offsets inside the data area and not overlapping. Any violation is a
//   ModelError naming the file (and tensor). Nothing is read outside the mapping afterwards.
// - ReadFloat converts F32, F16, BF16 and F64 storage to float; other dtypes are rejected with a
//   message naming the tensor. ReadBytes returns the raw little-endian bytes of any tensor.
// - WriteSafetensors writes tensors in the given order with `{"format":"pt"}` metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/tensor.h"

namespace beit {

class FileBytes;

enum class DType { kBool, kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64 };

const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  size_t begin = 0;  // byte offsets inside the data area
  size_t end = 0;
};

class SafetensorsFile {
 public:
  static SafetensorsFile Open(const std::string& path);
  // The same validation over bytes in memory (`name` stands for the path in messages).
  static SafetensorsFile FromBytes(const std::string& name, std::vector<uint8_t> bytes);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(const std::string& name) const;

  Tensor ReadFloat(const TensorInfo& info) const;
  std::vector<uint8_t> ReadBytes(const TensorInfo& info) const;
  // Tells the kernel the tensor's pages will not be needed soon (after a copy was taken), so a
  // model's load does not hold the whole file and its converted weights at once. Reading the
  // tensor again still works (the pages come back from the file).
  void Release(const TensorInfo& info) const;

 private:
  static SafetensorsFile Parse(const std::string& path, std::shared_ptr<const FileBytes> bytes);
  std::string path_;
  std::shared_ptr<const FileBytes> bytes_;
  const uint8_t* data_ = nullptr;  // start of the data area
  std::vector<TensorInfo> tensors_;
};

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  const void* data;  // NumElements(shape) * DTypeSize(dtype) bytes
};

void WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries);

}  // namespace beit
