// A checkpoint file's bytes, as the readers (safetensors.h, torch_checkpoint.h,
// flax_checkpoint.h) index and convert them.
//
// Contract:
// - Map(path) memory-maps a regular file read-only (MAP_PRIVATE); the mapping lives as long as
//   the last shared_ptr to it. A path that cannot be opened is a ModelError
//   "<path>: cannot open: <strerror>", anything but a regular file "<path>: not a regular file",
//   a failed mmap "<path>: mmap failed: <strerror>". An empty file is not mapped (mmap refuses a
//   zero length): size() is 0 and data() null; the reader reports the empty file in its own words.
// - FromMemory(bytes) holds the given bytes instead (tests, fuzzers); mapped() is false.
// - data() and size() never change; nothing here validates the contents.
// - Release(begin, bytes) says a range inside data() was converted and is not needed again soon:
//   for a mapped file, the whole pages inside the range are dropped (madvise MADV_DONTNEED; the
//   partial pages at either end are kept, since a neighbour may still need them), and reading
//   them again still works (the pages come back from the file). In memory it does nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace beit {

class FileBytes {
 public:
  static std::shared_ptr<const FileBytes> Map(const std::string& path);
  static std::shared_ptr<const FileBytes> FromMemory(std::vector<uint8_t> bytes);

  ~FileBytes();
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return mapped_; }

  void Release(const uint8_t* begin, size_t bytes) const;

 private:
  FileBytes() = default;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;  // FromMemory only
};

}  // namespace beit
