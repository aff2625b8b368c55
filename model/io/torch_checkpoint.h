// PyTorch's `pytorch_model.bin` (torch.save of a state dict) as a WeightSource (weight_source.h),
// read without Python and without running anything the file names.
//
// Contract:
// - TorchCheckpointFile::Open memory-maps the file (FromBytes takes the bytes from memory; `name`
//   stands for the path in messages) and validates everything it indexes before returning; any
//   violation is a ModelError naming the file (and the tensor, entry or pickle byte at fault).
// - Two containers, told apart by their first bytes:
//   * the zip archive torch.save writes since 1.6, read through its central directory (ZIP64
//     end records and extra fields understood). Every entry must be stored, not compressed, lie
//     inside the file before the central directory and overlap no other; the top folder is taken
//     from the archive's `<folder>/data.pkl`, never assumed. A `<folder>/byteorder` entry, when
//     present, must say "little". Storage `k` is the entry `<folder>/data/k`, whose size must be
//     the storage's element count times its element size. CRC-32s are not checked (reading
//     them would touch every page at open).
//   * the legacy format (before 1.6): pickles of the magic number 0x1950a86a20f9469cfc6c, the
//     protocol version 1001, the system info (little-endian), the state dict and the list of its
//     storage keys, then each storage in that order: an 8-byte little-endian element count, which
//     must match the state dict's, and the raw bytes.
// - The pickles are read by a restricted unpickler: only the opcodes torch.save writes (protocols
//   2 to 5) and only the globals torch.load(weights_only=True) accepts for a state dict:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2 and _rebuild_parameter, and the typed
//   storages torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage, as persistent
//   ids ('storage', type, key, location, numel). Anything else is a ModelError naming what was
//   found; nothing is ever called. Memory is linear in the file size, and nothing recurses.
// - The state dict is the pickled dict itself, or, when that holds no tensor, the dict under its
//   "state_dict" or "model" key. Every value in it must be a tensor with a string key; names are
//   listed in file order.
// - Tensors may be views: a storage offset and non-negative strides into a storage other tensors
//   share (q/k/v cut from one buffer, a transposed weight). Every element a tensor addresses lies
//   inside its storage, and no tensor has more elements than its storage (so a broadcast view
//   that zero strides expand beyond it is refused), both checked at open.
// - ReadFloat returns a contiguous row-major copy of float32/float16/bfloat16/float64 storage.
//   Integer and bool tensors (num_batches_tracked, relative_position_index) are listed with their
//   shapes; ReadFloat on them is a ModelError naming the tensor, as for safetensors. DTypeOf tells
//   them apart.
// - Release(name) drops the mapped pages of the tensor's storage (whole pages only); reading any
//   tensor of that storage again still works, the pages come back from the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/io/safetensors.h"  // DType
#include "model/tensor.h"
#include "model/io/weight_source.h"

namespace beit {

class FileBytes;

class TorchCheckpointFile : public WeightSource {
 public:
  enum class Container { kZip, kLegacy };

  static std::unique_ptr<TorchCheckpointFile> Open(const std::string& path);
  // The same validation over bytes in memory (`name` stands for the path in messages).
  static std::unique_ptr<TorchCheckpointFile> FromBytes(const std::string& name, std::vector<uint8_t> bytes);

  const std::string& path() const override { return path_; }
  std::vector<std::string> Names() const override;
  bool Has(const std::string& name) const override { return index_.count(name) != 0; }
  Shape ShapeOf(const std::string& name) const override;
  Tensor ReadFloat(const std::string& name) const override;
  void Release(const std::string& name) const override;

  DType DTypeOf(const std::string& name) const;
  Container container() const { return container_; }

 private:
  // One state-dict entry: a view into a storage inside the mapping.
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<int64_t> stride;  // in elements
    int64_t offset = 0;           // in elements, from the storage's start
    const uint8_t* storage = nullptr;
    size_t storage_bytes = 0;
  };

  TorchCheckpointFile() = default;
  static std::unique_ptr<TorchCheckpointFile> Parse(const std::string& path, std::shared_ptr<const FileBytes> contents);
  void ParseZip();
  void ParseLegacy();
  // Checks the view against its storage (`storage_numel` elements), then indexes it.
  void Add(Entry entry, const std::string& storage_key, int64_t storage_numel);
  const Entry& Find(const std::string& name) const;

  std::string path_;
  std::shared_ptr<const FileBytes> contents_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  Container container_ = Container::kZip;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> entries_
};

}  // namespace beit
