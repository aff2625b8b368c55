// The central directory of a zip archive (what torch.save writes since PyTorch 1.6), for reading
// its stored entries in place from a memory-mapped file.
//
// Contract: ReadZipDirectory(path, bytes, size) finds the end record (ZIP64 end records and extra
// fields understood) and returns every entry in directory order; each must be stored, not
// compressed, lie inside the file before the central directory, have a local header naming it,
// and overlap no other. Anything else is a ModelError naming `path` and the entry. CRC-32s are
// not checked (reading them would touch every page). kLocalHeader is the signature an archive
// starts with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace beit {

struct ZipEntry {
  std::string name;
  uint64_t header = 0;  // local header offset
  uint64_t data = 0;    // first byte of the contents
  uint64_t size = 0;
};

constexpr uint32_t kLocalHeader = 0x04034b50;

std::vector<ZipEntry> ReadZipDirectory(const std::string& path, const uint8_t* bytes, uint64_t size);

}  // namespace beit
