#include "model/image/png_decoder.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spng.h>

#include "model/image/exif_orientation.h"

namespace beit {
namespace {

struct CtxDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};

void Check(int rc, const char* what) {
  if (rc != 0) throw ImageDecodeError(std::string("corrupt or truncated PNG (") + what + "): " + spng_strerror(rc));
}

std::unique_ptr<spng_ctx, CtxDeleter> OpenPng(const uint8_t* data, size_t size, const DecodeLimits& limits,
                                               spng_ihdr* ihdr) {
  std::unique_ptr<spng_ctx, CtxDeleter> ctx(spng_ctx_new(0));
  if (!ctx) throw ImageDecodeError("out of memory creating a PNG decoder");
  // Pillow verifies every chunk's CRC and refuses a mismatch; so do we.
  spng_set_crc_action(ctx.get(), SPNG_CRC_ERROR, SPNG_CRC_ERROR);
  // Bound metadata chunks too (text, ICC): 16 MiB per chunk, 64 MiB in all.
  spng_set_chunk_limits(ctx.get(), 16u << 20, 64u << 20);
  Check(spng_set_png_buffer(ctx.get(), data, size), "reading");
  Check(spng_get_ihdr(ctx.get(), ihdr), "header");
  CheckDimensions(ihdr->width, ihdr->height, limits, "PNG");
  return ctx;
}

std::vector<uint8_t> DecodeAs(spng_ctx* ctx, int fmt) {
  size_t bytes = 0;
  Check(spng_decoded_image_size(ctx, fmt, &bytes), "size");
  std::vector<uint8_t> buf(bytes);
  Check(spng_decode_image(ctx, buf.data(), bytes, fmt, 0), "pixels");
  return buf;
}

}  // namespace

Image8 DecodePng(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  spng_ihdr ihdr{};
  auto ctx = OpenPng(data, size, limits, &ihdr);

  const int64_t w = ihdr.width, h = ihdr.height, n = w * h;
  Image8 rgb(w, h, 3);
  auto decode = [&](int fmt) { return DecodeAs(ctx.get(), fmt); };
  switch (ihdr.color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
      if (ihdr.bit_depth == 16) {
        // Pillow opens 16-bit grey as mode "I"; convert("RGB") clips the value to 0..255.
        std::vector<uint8_t> buf = decode(SPNG_FMT_PNG);
        const uint16_t* v = reinterpret_cast<const uint16_t*>(buf.data());
        for (int64_t i = 0; i < n; ++i) {
          const uint8_t g = v[i] > 255 ? 255 : static_cast<uint8_t>(v[i]);
          rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = g;
        }
      } else {
        std::vector<uint8_t> buf = decode(SPNG_FMT_G8);
        for (int64_t i = 0; i < n; ++i) rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = buf[i];
      }
      break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
    case SPNG_COLOR_TYPE_TRUECOLOR:
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: {
      if (ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR && ihdr.bit_depth == 8) {
        rgb.pixels = decode(SPNG_FMT_RGB8);
        break;
      }
      // Raw samples; Pillow keeps the high byte of 16-bit colour ("RGB;16B", "LA;16B", ...) and
      // drops alpha without compositing. Grey + alpha replicates the grey sample.
      std::vector<uint8_t> buf = decode(SPNG_FMT_PNG);
      const int samples = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2
                          : ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR     ? 3
                                                                              : 4;
      const bool wide = ihdr.bit_depth == 16;
      auto sample = [&](int64_t i) -> uint8_t {
        return wide ? static_cast<uint8_t>(reinterpret_cast<const uint16_t*>(buf.data())[i] >> 8) : buf[i];
      };
      for (int64_t i = 0; i < n; ++i) {
        for (int k = 0; k < 3; ++k) rgb.pixels[3 * i + k] = sample(i * samples + (samples == 2 ? 0 : k));
      }
      break;
    }
    default:  // palette: looked up, tRNS not applied
      rgb.pixels = decode(SPNG_FMT_RGB8);
      break;
  }
  int orientation = 1;
  spng_exif exif{};
  if (spng_get_exif(ctx.get(), &exif) == 0 && exif.data) {
    orientation = ReadExifOrientation(reinterpret_cast<const uint8_t*>(exif.data), exif.length);
  }
  return ApplyOrientation(std::move(rgb), orientation);
}

Image8 DecodeLabelMapPng(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  spng_ihdr ihdr{};
  auto ctx = OpenPng(data, size, limits, &ihdr);
  const bool gray = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE, palette = ihdr.color_type == SPNG_COLOR_TYPE_INDEXED;
  if (ihdr.bit_depth != 8 || !(gray || palette)) {
    throw ImageDecodeError("a segmentation map must be an 8-bit greyscale or palette PNG (label ids per pixel)");
  }
  Image8 map(ihdr.width, ihdr.height, 1);
  map.pixels = DecodeAs(ctx.get(), SPNG_FMT_PNG);  // raw values / palette indices
  return map;
}

}  // namespace beit
