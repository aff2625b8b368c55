// Hostile and unusual inputs for the decoders: every one is an ImageDecodeError with a clear
// message or a correct image — never a crash or an unbounded allocation (also run under ASan).
#include "model/image/image_decoder.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <jpeglib.h>

#include "model/image/jpeg_decoder.h"
#include "model/image/png_decoder.h"
#include "tests/model/image/jpeg_test_encoder.h"

namespace beit {
namespace {

const std::string kImages = std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/";

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string DecodeError(const std::vector<uint8_t>& bytes, const DecodeLimits& limits = {}) {
  try {
    DecodeImage(bytes.data(), bytes.size(), limits);
  } catch (const ImageDecodeError& e) {
    return e.what();
  }
  return "";
}

void Put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

// A PNG chunk with a correct CRC.
void Chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& body) {
  Put32(png, static_cast<uint32_t>(body.size()));
  std::vector<uint8_t> typed(type, type + 4);
  typed.insert(typed.end(), body.begin(), body.end());
  png.insert(png.end(), typed.begin(), typed.end());
  Put32(png, static_cast<uint32_t>(crc32(0, typed.data(), static_cast<uInt>(typed.size()))));
}

// Builds a PNG (no filtering) from raw scanline bytes.
std::vector<uint8_t> MakePng(uint32_t w, uint32_t h, uint8_t depth, uint8_t color_type,
                             const std::vector<uint8_t>& rows_without_filter_byte, size_t row_bytes,
                             const std::vector<uint8_t>& plte = {}, uint8_t interlace = 0) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  Put32(ihdr, w);
  Put32(ihdr, h);
  ihdr.insert(ihdr.end(), {depth, color_type, 0, 0, interlace});
  Chunk(png, "IHDR", ihdr);
  if (!plte.empty()) Chunk(png, "PLTE", plte);
  std::vector<uint8_t> raw;
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rows_without_filter_byte.begin() + y * row_bytes,
               rows_without_filter_byte.begin() + (y + 1) * row_bytes);
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(len);
  compress(z.data(), &len, raw.data(), static_cast<uLong>(raw.size()));
  z.resize(len);
  Chunk(png, "IDAT", z);
  Chunk(png, "IEND", {});
  return png;
}

using testing_jpeg::EncodeJpeg;

TEST(ImageDecoder, ZeroLength) { EXPECT_NE(DecodeError({}).find("empty"), std::string::npos); }

TEST(ImageDecoder, WrongMagic) {
  EXPECT_NE(DecodeError({'G', 'I', 'F', '8', '9', 'a', 0, 0}).find("unrecognised image format"), std::string::npos);
}

TEST(ImageDecoder, TruncatedJpegIsRefusedAsPillowDoes) {
  std::vector<uint8_t> jpg = ReadFile(kImages + "chelsea_q90_420.jpg");
  for (size_t keep : {size_t{3}, size_t{20}, size_t{200}, jpg.size() / 2, jpg.size() - 10}) {
    std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + keep);
    EXPECT_NE(DecodeError(cut).find("JPEG"), std::string::npos) << keep;
  }
}

TEST(ImageDecoder, TruncatedPngIsAnError) {
  std::vector<uint8_t> png = ReadFile(kImages + "astronaut_320x240_rgb.png");
  for (size_t keep : {size_t{8}, size_t{20}, size_t{40}, png.size() / 2, png.size() - 30}) {
    std::vector<uint8_t> cut(png.begin(), png.begin() + keep);
    EXPECT_NE(DecodeError(cut).find("PNG"), std::string::npos) << keep;
  }
  // Only IEND cut: the pixels are complete and Pillow (load_end) accepts the file; so do we.
  std::vector<uint8_t> no_end(png.begin(), png.end() - 5);
  EXPECT_EQ(DecodeError(no_end), "");
}

TEST(ImageDecoder, BadCrcIsAnError) {
  std::vector<uint8_t> png = ReadFile(kImages + "small_20x15.png");
  png[8 + 8 + 13] ^= 0xFF;  // IHDR's CRC
  EXPECT_NE(DecodeError(png).find("PNG"), std::string::npos);
}

TEST(ImageDecoder, HugeDeclaredPngIsRefusedBeforeAllocating) {
  // 65535 x 65535 RGB would be 12 GiB; only the header exists.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  Put32(ihdr, 65535);
  Put32(ihdr, 65535);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  Chunk(png, "IHDR", ihdr);
  EXPECT_NE(DecodeError(png).find("exceeds the limits"), std::string::npos);
}

TEST(ImageDecoder, HugeDeclaredJpegIsRefusedBeforeAllocating) {
  std::vector<uint8_t> jpg = ReadFile(kImages + "chelsea_q90_420.jpg");
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) height(2) width(2)
      jpg[i + 5] = jpg[i + 7] = 0x75;  // 30000 x 30000: within libjpeg's range, over our limit
      jpg[i + 6] = jpg[i + 8] = 0x30;
      break;
    }
  }
  EXPECT_NE(DecodeError(jpg).find("exceeds the limits"), std::string::npos);
}

TEST(ImageDecoder, ConfigurableLimits) {
  std::vector<uint8_t> png = ReadFile(kImages + "small_20x15.png");
  DecodeLimits tight;
  tight.max_pixels = 100;
  EXPECT_NE(DecodeError(png, tight).find("exceeds the limits"), std::string::npos);
  tight = {};
  tight.max_width = 19;
  EXPECT_NE(DecodeError(png, tight).find("20x15"), std::string::npos);
}

TEST(ImageDecoder, GreyscaleJpegIsReplicated) {
  std::vector<uint8_t> px(16 * 8);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 2);
  std::vector<uint8_t> jpg = EncodeJpeg(16, 8, 1, JCS_GRAYSCALE, px);
  Image8 img = DecodeImage(jpg.data(), jpg.size());
  ASSERT_EQ(img.channels, 3);
  ASSERT_EQ(img.width, 16);
  for (int64_t i = 0; i < 16 * 8; ++i) {
    EXPECT_EQ(img.pixels[3 * i], img.pixels[3 * i + 1]);
    EXPECT_EQ(img.pixels[3 * i], img.pixels[3 * i + 2]);
    EXPECT_NEAR(img.pixels[3 * i], px[i], 6);
  }
}

TEST(ImageDecoder, CmykJpegUsesPillowsInvertedConvention) {
  // Adobe-style inverted CMYK as written by Photoshop: stored bytes are 255 - ink. A flat patch of
  // stored (255, 255, 255, 255) means no ink at all: white.
  std::vector<uint8_t> px(8 * 8 * 4, 255);
  std::vector<uint8_t> jpg = EncodeJpeg(8, 8, 4, JCS_CMYK, px);
  Image8 img = DecodeImage(jpg.data(), jpg.size());
  ASSERT_EQ(img.channels, 3);
  for (uint8_t v : img.pixels) EXPECT_EQ(v, 255);
  // Stored K = 0 (full black ink) gives black whatever C, M, Y say.
  for (size_t i = 0; i < px.size(); i += 4) px[i + 3] = 0;
  jpg = EncodeJpeg(8, 8, 4, JCS_CMYK, px);
  img = DecodeImage(jpg.data(), jpg.size());
  for (uint8_t v : img.pixels) EXPECT_LE(v, 2);
}

TEST(ImageDecoder, PngModesConvertAsPillow) {
  // 2x1 images: each mode's conversion rule to RGB.
  auto decode = [](const std::vector<uint8_t>& png) { return DecodeImage(png.data(), png.size()).pixels; };
  // RGBA: alpha dropped, not composited.
  EXPECT_EQ(decode(MakePng(2, 1, 8, 6, {10, 20, 30, 0, 40, 50, 60, 128}, 8)),
            (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
  // Grey + alpha: grey replicated.
  EXPECT_EQ(decode(MakePng(2, 1, 8, 4, {7, 0, 200, 255}, 4)), (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
  // 16-bit grey: clipped to 0..255 (Pillow's "I" mode), not shifted.
  EXPECT_EQ(decode(MakePng(2, 1, 16, 0, {0x00, 0x64, 0x12, 0x34}, 4)),
            (std::vector<uint8_t>{100, 100, 100, 255, 255, 255}));
  // 16-bit RGB: high bytes.
  EXPECT_EQ(decode(MakePng(1, 1, 16, 2, {0x12, 0xFF, 0x34, 0x00, 0xAB, 0xCD}, 6)), (std::vector<uint8_t>{0x12, 0x34, 0xAB}));
  // 2-bit grey: scaled by 85 (0, 1, 2, 3 -> 0, 85, 170, 255).
  EXPECT_EQ(decode(MakePng(4, 1, 2, 0, {0b00011011}, 1)),
            (std::vector<uint8_t>{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));
  // Palette: looked up.
  EXPECT_EQ(decode(MakePng(2, 1, 8, 3, {1, 0}, 2, {9, 8, 7, 1, 2, 3})), (std::vector<uint8_t>{1, 2, 3, 9, 8, 7}));
}

TEST(ImageDecoder, InterlacedPngDecodesToTheSamePixels) {
  // Adam7 with a 1x1 image has one pass holding the single pixel, so the stream is identical.
  std::vector<uint8_t> plain = MakePng(1, 1, 8, 2, {5, 6, 7}, 3, {}, 0);
  std::vector<uint8_t> interlaced = MakePng(1, 1, 8, 2, {5, 6, 7}, 3, {}, 1);
  EXPECT_EQ(DecodeImage(interlaced.data(), interlaced.size()).pixels, DecodeImage(plain.data(), plain.size()).pixels);
}

TEST(ImageDecoder, LabelMapKeepsRawIds) {
  std::vector<uint8_t> png = MakePng(3, 1, 8, 0, {0, 150, 255}, 3);
  Image8 map = DecodeLabelMapPng(png.data(), png.size(), {});
  EXPECT_EQ(map.channels, 1);
  EXPECT_EQ(map.pixels, (std::vector<uint8_t>{0, 150, 255}));
  std::vector<uint8_t> rgb = MakePng(1, 1, 8, 2, {1, 2, 3}, 3);
  EXPECT_THROW(DecodeLabelMapPng(rgb.data(), rgb.size(), {}), ImageDecodeError);
}

// The row-by-row decoder gives DecodeJpeg's rows, in order, and declines what it does not take.
TEST(ImageDecoder, JpegRowsAreDecodeJpegsRows) {
  std::vector<uint8_t> jpg = ReadFile(kImages + "chelsea_q90_420.jpg");
  const Image8 whole = DecodeImage(jpg.data(), jpg.size());
  std::vector<uint8_t> row, rows;
  int64_t next = 0;
  const bool decoded = DecodeJpegRgbRows(
      jpg.data(), jpg.size(), {},
      [&](const JpegRowsInfo& info) {
        EXPECT_EQ(info.width, whole.width);
        EXPECT_EQ(info.height, whole.height);
        EXPECT_EQ(info.orientation, 1);
        row.resize(info.width * 3);
        return row.data();
      },
      [&](int64_t y) {
        EXPECT_EQ(y, next++);
        rows.insert(rows.end(), row.begin(), row.end());
      });
  EXPECT_TRUE(decoded);
  EXPECT_EQ(next, whole.height);
  EXPECT_EQ(rows, whole.pixels);

  // The EXIF orientation is reported (the caller decides); declining decodes nothing.
  jpg = ReadFile(kImages + "astronaut_96x64_exif6.jpg");
  int rows_seen = 0;
  EXPECT_FALSE(DecodeJpegRgbRows(
      jpg.data(), jpg.size(), {},
      [&](const JpegRowsInfo& info) {
        EXPECT_EQ(info.orientation, 6);
        return static_cast<uint8_t*>(nullptr);
      },
      [&](int64_t) { ++rows_seen; }));
  EXPECT_EQ(rows_seen, 0);

  // Greyscale is not taken: `begin` is never asked.
  std::vector<uint8_t> grey(16 * 8, 100);
  jpg = EncodeJpeg(16, 8, 1, JCS_GRAYSCALE, grey);
  bool asked = false;
  EXPECT_FALSE(DecodeJpegRgbRows(
      jpg.data(), jpg.size(), {}, [&](const JpegRowsInfo&) { asked = true; return row.data(); }, [](int64_t) {}));
  EXPECT_FALSE(asked);
}

TEST(ImageDecoder, JpegRowsFailAsDecodeJpegFails) {
  std::vector<uint8_t> jpg = ReadFile(kImages + "chelsea_q90_420.jpg");
  std::vector<uint8_t> row;
  auto rows_error = [&](const std::vector<uint8_t>& bytes, const DecodeLimits& limits) -> std::string {
    try {
      DecodeJpegRgbRows(
          bytes.data(), bytes.size(), limits,
          [&](const JpegRowsInfo& info) { row.resize(info.width * 3); return row.data(); }, [](int64_t) {});
    } catch (const ImageDecodeError& e) {
      return e.what();
    }
    return "";
  };
  for (size_t keep : {size_t{20}, jpg.size() / 2, jpg.size() - 10}) {
    std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + keep);
    EXPECT_EQ(rows_error(cut, {}), DecodeError(cut)) << keep;
    EXPECT_NE(rows_error(cut, {}), "") << keep;
  }
  DecodeLimits tight;
  tight.max_pixels = 100;
  EXPECT_EQ(rows_error(jpg, tight), DecodeError(jpg, tight));
  EXPECT_NE(rows_error(jpg, tight).find("exceeds the limits"), std::string::npos);
  // An exception from a callback passes through, and the decoder is released (ASan checks).
  EXPECT_THROW(DecodeJpegRgbRows(
                   jpg.data(), jpg.size(), {},
                   [&](const JpegRowsInfo& info) { row.resize(info.width * 3); return row.data(); },
                   [](int64_t y) {
                     if (y == 3) throw std::runtime_error("stop");
                   }),
               std::runtime_error);
}

}  // namespace
}  // namespace beit
