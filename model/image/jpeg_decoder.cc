#include "model/image/jpeg_decoder.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "model/image/exif_orientation.h"

namespace beit {
namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings such as extraneous bytes are ignored, as Pillow ignores them; running out of data is
// not: Pillow refuses truncated files ("image file is truncated") and so do we.
void OnMessage(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "the file is truncated (premature end of data)");
    std::longjmp(err->jump, 1);
  }
}

// Pillow: MULDIV255(a, b) and cmyk2rgb on inverted ("CMYK;I") samples.
inline uint8_t MulDiv255(uint32_t a, uint32_t b) {
  const uint32_t t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// Rows go to `rows` when given (3-component files only; `declined` when it is not one or `begin`
// declines), else the whole image to `out`.
struct RowSink {
  const std::function<uint8_t*(const JpegRowsInfo&)>& begin;
  const std::function<void(int64_t y)>& row;
  bool declined = false;
};

// Everything libjpeg touches between setjmp and longjmp lives here, so the jump skips no C++
// destructors: the caller owns the buffers. The row callbacks run between libjpeg calls.

bool DecodeInto(jpeg_decompress_struct& cinfo, ErrorManager& err, const uint8_t* data, size_t size,
                const DecodeLimits& limits, Image8& out, int& orientation, std::string& limit_error,
                RowSink* rows = nullptr) {
  if (setjmp(err.jump)) return false;
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  try {
    CheckDimensions(cinfo.image_width, cinfo.image_height, limits, "JPEG");
  } catch (const ImageDecodeError& e) {
    limit_error = e.what();
    return false;
  }
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      orientation = ReadExifOrientation(m->data, m->data_length);
      break;
    }
  }
  const int components = cinfo.num_components;
  if (components == 1) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (components == 3) {
    cinfo.out_color_space = JCS_RGB;
  } else if (components == 4) {
    cinfo.out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK
  } else {
    std::snprintf(err.message, sizeof(err.message), "unsupported JPEG with %d components", components);
    return false;
  }
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  if (rows) {
    uint8_t* buffer = components == 3 ? rows->begin(JpegRowsInfo{cinfo.image_width, cinfo.image_height, orientation})
                                      : nullptr;
    if (!buffer) {
      rows->declined = true;
      return true;
    }
    jpeg_start_decompress(&cinfo);
    while (cinfo.output_scanline < cinfo.output_height) {
      const int64_t y = cinfo.output_scanline;
      JSAMPROW row = buffer;
      jpeg_read_scanlines(&cinfo, &row, 1);
      rows->row(y);
    }
    jpeg_finish_decompress(&cinfo);
    return true;
  }
  jpeg_start_decompress(&cinfo);
  const int64_t w = cinfo.output_width, h = cinfo.output_height, c = cinfo.output_components;
  std::vector<uint8_t>& rowbuf = out.pixels;  // decode rows straight into place, convert below
  rowbuf.assign(static_cast<size_t>(w * h * c), 0);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rowbuf.data() + static_cast<size_t>(cinfo.output_scanline) * w * c;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  out.width = w;
  out.height = h;
  out.channels = c;
  return true;
}

// One libjpeg session around DecodeInto: errors become ImageDecodeErrors, the decompressor is
// destroyed whatever happens.
void Decode(const uint8_t* data, size_t size, const DecodeLimits& limits, Image8& raw, int& orientation,
            RowSink* rows) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  err.message[0] = 0;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = OnError;
  err.base.emit_message = OnMessage;
  std::string limit_error;
  bool ok = false;
  try {
    ok = DecodeInto(cinfo, err, data, size, limits, raw, orientation, limit_error, rows);
  } catch (...) {  // from a row callback
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  jpeg_destroy_decompress(&cinfo);
  if (!limit_error.empty()) throw ImageDecodeError(limit_error);
  if (!ok) throw ImageDecodeError(std::string("corrupt or truncated JPEG: ") + err.message);
}

}  // namespace

bool DecodeJpegRgbRows(const uint8_t* data, size_t size, const DecodeLimits& limits,
                       const std::function<uint8_t*(const JpegRowsInfo&)>& begin,
                       const std::function<void(int64_t y)>& row) {
  RowSink sink{begin, row};
  Image8 unused;
  int orientation = 1;
  Decode(data, size, limits, unused, orientation, &sink);
  return !sink.declined;
}

Image8 DecodeJpeg(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  Image8 raw;
  int orientation = 1;
  Decode(data, size, limits, raw, orientation, nullptr);

  Image8 rgb(raw.width, raw.height, 3);
  const int64_t n = raw.width * raw.height;
  if (raw.channels == 3) {
    rgb.pixels = std::move(raw.pixels);
  } else if (raw.channels == 1) {
    for (int64_t i = 0; i < n; ++i) rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = raw.pixels[i];
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = raw.pixels.data() + 4 * i;
      const uint8_t C = 255 - p[0], M = 255 - p[1], Y = 255 - p[2], K = 255 - p[3];  // Adobe-inverted
      const uint32_t nk = 255 - K;
      auto channel = [&](uint8_t v) {
        const int value = static_cast<int>(nk) - MulDiv255(v, nk);
        return static_cast<uint8_t>(value < 0 ? 0 : (value > 255 ? 255 : value));
      };
      rgb.pixels[3 * i] = channel(C);
      rgb.pixels[3 * i + 1] = channel(M);
      rgb.pixels[3 * i + 2] = channel(Y);
    }
  }
  return ApplyOrientation(std::move(rgb), orientation);
}

}  // namespace beit
