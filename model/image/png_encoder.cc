#include "model/image/png_encoder.h"

#include <spng.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "model/model_error.h"

namespace beit {
namespace {

struct CtxDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};

void Check(int rc, const char* what) {
  if (rc != 0) throw ModelError(std::string("PNG encoding failed (") + what + "): " + spng_strerror(rc));
}

// `rows` holds height rows of PNG-ordered samples (16-bit ones big-endian).
std::string Encode(const void* rows, size_t bytes, int64_t width, int64_t height, uint8_t color_type,
                   uint8_t bit_depth) {
  std::unique_ptr<spng_ctx, CtxDeleter> ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw ModelError("PNG encoding failed: out of memory");
  Check(spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1), "buffer");
  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(width);
  ihdr.height = static_cast<uint32_t>(height);
  ihdr.bit_depth = bit_depth;
  ihdr.color_type = color_type;
  Check(spng_set_ihdr(ctx.get(), &ihdr), "header");
  Check(spng_encode_image(ctx.get(), rows, bytes, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), "image");
  size_t length = 0;
  int rc = 0;
  void* buffer = spng_get_png_buffer(ctx.get(), &length, &rc);
  Check(rc, "buffer");
  std::string png(static_cast<const char*>(buffer), length);
  std::free(buffer);
  return png;
}

}  // namespace

std::string EncodeLabelMapPng(const LabelMap& map) {
  if (map.shape.size() != 2 || map.data.empty()) {
    throw ModelError("PNG encoding: a label map must be [H, W] and non-empty, got " + ShapeToString(map.shape));
  }
  const auto [lo, hi] = std::minmax_element(map.data.begin(), map.data.end());
  if (*lo < 0 || *hi > 65535) throw ModelError("PNG encoding: labels must be in 0..65535");
  if (*hi <= 255) {
    std::vector<uint8_t> samples(map.data.begin(), map.data.end());
    return Encode(samples.data(), samples.size(), map.dim(1), map.dim(0), SPNG_COLOR_TYPE_GRAYSCALE, 8);
  }
  std::vector<uint8_t> samples(map.data.size() * 2);
  for (size_t i = 0; i < map.data.size(); ++i) {
    samples[2 * i] = static_cast<uint8_t>(map.data[i] >> 8);
    samples[2 * i + 1] = static_cast<uint8_t>(map.data[i] & 0xff);
  }
  return Encode(samples.data(), samples.size(), map.dim(1), map.dim(0), SPNG_COLOR_TYPE_GRAYSCALE, 16);
}

std::string EncodeRgbPng(const Image8& image) {
  if (image.channels != 3 || image.width < 1 || image.height < 1) {
    throw ModelError("PNG encoding: need a non-empty RGB image");
  }
  return Encode(image.pixels.data(), image.pixels.size(), image.width, image.height, SPNG_COLOR_TYPE_TRUECOLOR, 8);
}

}  // namespace beit
