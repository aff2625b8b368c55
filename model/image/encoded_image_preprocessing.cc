#include "model/image/encoded_image_preprocessing.h"

#include <cstring>
#include <optional>
#include <vector>

#include "model/image/jpeg_decoder.h"
#include "model/image/pillow_resize.h"

namespace beit {
namespace {

// The part of the resized image the output is: all of it, or the center crop when it lies inside.
struct Window {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

std::optional<Window> OnePassWindow(const ImageProcessorConfig& c) {
  if (!c.do_resize || c.resample == ResampleFilter::kNearest) return std::nullopt;
  if (!c.do_center_crop) return Window{0, 0, c.resize_height, c.resize_width};
  const Window w{CenterCropOffset(c.resize_height, c.crop_height), CenterCropOffset(c.resize_width, c.crop_width),
                 c.crop_height, c.crop_width};
  if (w.top < 0 || w.left < 0 || w.top + w.height > c.resize_height || w.left + w.width > c.resize_width) {
    return std::nullopt;  // the crop pads: the general path
  }
  return w;
}

// Rows arrive from the decoder; each needed one is resized horizontally into `resized_` (only the
// window's columns); Finish() runs the vertical pass for the window's rows and normalises them.
class OnePass {
 public:
  OnePass(const ImageProcessor& processor, const Window& window) : processor_(processor), window_(window) {}

  uint8_t* Begin(const JpegRowsInfo& info) {
    if (info.orientation >= 2 && info.orientation <= 8) return nullptr;  // rotated: the general path
    const ImageProcessorConfig& c = processor_.config();
    width_ = info.width;
    height_ = info.height;
    horizontal_ = width_ != c.resize_width;
    vertical_ = height_ != c.resize_height;  // Pillow filters neither a same-size axis
    if (horizontal_) columns_ = PlanResampleAxis(width_, c.resize_width, c.resample);
    if (vertical_) rows_ = PlanResampleAxis(height_, c.resize_height, c.resample);
    const int64_t last = window_.top + window_.height - 1;
    first_row_ = vertical_ ? rows_.first[window_.top] : window_.top;
    end_row_ = vertical_ ? rows_.first[last] + rows_.count[last] : last + 1;
    row_.assign(horizontal_ ? PaddedRgbRowBytes(columns_) : static_cast<size_t>(width_ * 3), 0);
    resized_.resize(static_cast<size_t>((end_row_ - first_row_) * window_.width * 3));
    return row_.data();
  }

  void Row(int64_t y) {
    if (y < first_row_ || y >= end_row_) return;
    uint8_t* out = resized_.data() + (y - first_row_) * window_.width * 3;
    if (horizontal_) {
      ResampleRowRgb(row_.data(), columns_, window_.left, window_.left + window_.width, out);
    } else {
      std::memcpy(out, row_.data() + window_.left * 3, static_cast<size_t>(window_.width * 3));
    }
  }

  PreprocessedImage Finish() {
    PreprocessedImage result;
    result.one_pass = true;
    result.original_height = height_;
    result.original_width = width_;
    result.pixels = Tensor({1, 3, window_.height, window_.width});
    const int64_t stride = window_.width * 3, plane = window_.height * window_.width;
    std::vector<uint8_t> line(static_cast<size_t>(stride));
    float* out = result.pixels.ptr();
    for (int64_t oy = 0; oy < window_.height; ++oy) {
      const int64_t y = window_.top + oy;
      const uint8_t* rgb = resized_.data() + (y - first_row_) * stride;
      if (vertical_) {
        ResampleColumns(resized_.data() + (rows_.first[y] - first_row_) * stride, stride, rows_, y, stride,
                        line.data());
        rgb = line.data();
      }
      float* r = out + oy * window_.width;
      processor_.NormalizeRgb(rgb, window_.width, r, r + plane, r + 2 * plane);
    }
    return result;
  }

 private:
  const ImageProcessor& processor_;
  const Window window_;
  int64_t width_ = 0, height_ = 0;
  bool horizontal_ = false, vertical_ = false;
  ResampleAxis columns_, rows_;
  int64_t first_row_ = 0, end_row_ = 0;  // the input rows the window's output rows read
  std::vector<uint8_t> row_;             // the row being decoded (padded for the horizontal pass)
  std::vector<uint8_t> resized_;         // rows [first_row_, end_row_), horizontally resized
};

}  // namespace

PreprocessedImage PreprocessEncodedImage(const ImageProcessor& processor, const uint8_t* data, size_t size,
                                         const DecodeLimits& limits) {
  const std::optional<Window> window = OnePassWindow(processor.config());
  if (window && size > 0 && SniffImageFormat(data, size) == ImageFormat::kJpeg) {
    OnePass pass(processor, *window);
    if (DecodeJpegRgbRows(
            data, size, limits, [&](const JpegRowsInfo& info) { return pass.Begin(info); },
            [&](int64_t y) { pass.Row(y); })) {
      return pass.Finish();
    }
  }
  const Image8 image = DecodeImage(data, size, limits);
  PreprocessedImage result;
  result.original_height = image.height;
  result.original_width = image.width;
  result.pixels = processor.Preprocess({&image});
  return result;
}

}  // namespace beit
