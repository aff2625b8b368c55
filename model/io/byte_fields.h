// Little-endian fields and file-supplied names in messages, for the readers of binary weight
// files (torch_checkpoint.cc, zip_directory.cc, restricted_unpickler.cc).
//
// Contract: Le16/Le32/Le64 read at `p` (the caller has checked the range). Printable(s) is `s`
// safe to put in a message: control bytes escaped as \xNN, cut after 300 characters with "...".
// Hex(v) is "0x" and v in lower-case hexadecimal.
#pragma once

#include <cstdint>
#include <string>

namespace beit {

inline uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(Le16(p)) | (static_cast<uint32_t>(Le16(p + 2)) << 16);
}
inline uint64_t Le64(const uint8_t* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

std::string Printable(const std::string& s);
std::string Hex(uint64_t v);

}  // namespace beit
