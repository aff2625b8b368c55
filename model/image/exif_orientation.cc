#include "model/image/exif_orientation.h"

#include <cstring>

namespace beit {

int ReadExifOrientation(const uint8_t* data, size_t size) {
  if (size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) {
    data += 6;
    size -= 6;
  }
  if (size < 8) return 1;
  bool little;
  if (data[0] == 'I' && data[1] == 'I') {
    little = true;
  } else if (data[0] == 'M' && data[1] == 'M') {
    little = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t off) -> uint32_t {
    return little ? (data[off] | (data[off + 1] << 8)) : ((data[off] << 8) | data[off + 1]);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return little ? (u16(off) | (u16(off + 2) << 16)) : ((u16(off) << 16) | u16(off + 2));
  };
  if (u16(2) != 42) return 1;
  const uint32_t ifd = u32(4);
  if (ifd > size || size - ifd < 2) return 1;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = ifd + 2 + static_cast<size_t>(i) * 12;
    if (entry + 12 > size) return 1;
    if (u16(entry) != 0x0112) continue;
    const uint32_t type = u16(entry + 2);
    if (type == 3) return static_cast<int>(u16(entry + 8));       // SHORT, value inline
    if (type == 4) return static_cast<int>(u32(entry + 8));       // LONG
    return 1;
  }
  return 1;
}

Image8 ApplyOrientation(Image8 in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int64_t W = in.width, H = in.height, C = in.channels;
  const bool swap = orientation >= 5;
  Image8 out(swap ? H : W, swap ? W : H, C);
  for (int64_t r = 0; r < out.height; ++r) {
    for (int64_t c = 0; c < out.width; ++c) {
      int64_t sr = 0, sc = 0;
      switch (orientation) {
        case 2: sr = r; sc = W - 1 - c; break;                  // FLIP_LEFT_RIGHT
        case 3: sr = H - 1 - r; sc = W - 1 - c; break;          // ROTATE_180
        case 4: sr = H - 1 - r; sc = c; break;                  // FLIP_TOP_BOTTOM
        case 5: sr = c; sc = r; break;                          // TRANSPOSE
        case 6: sr = H - 1 - c; sc = r; break;                  // ROTATE_270 (90 clockwise)
        case 7: sr = H - 1 - c; sc = W - 1 - r; break;          // TRANSVERSE
        case 8: sr = c; sc = W - 1 - r; break;                  // ROTATE_90 (90 counter-clockwise)
      }
      std::memcpy(out.row(r) + c * C, in.row(sr) + sc * C, C);
    }
  }
  return out;
}

}  // namespace beit
