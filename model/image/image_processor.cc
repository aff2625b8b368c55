#include "model/image/image_processor.h"

#include <algorithm>

#include "model/model_error.h"

namespace beit {
namespace {

// transformers.image_transforms.center_crop on HWC uint8, including its zero padding.
Image8 CenterCrop(const Image8& img, int64_t ch, int64_t cw) {
  const int64_t H = img.height, W = img.width, C = img.channels;
  int64_t top = CenterCropOffset(H, ch), left = CenterCropOffset(W, cw);
  const Image8* src = &img;
  Image8 padded;
  if (!(top >= 0 && top + ch <= H && left >= 0 && left + cw <= W)) {
    const int64_t nh = std::max(ch, H), nw = std::max(cw, W);
    const int64_t top_pad = (nh - H + 1) / 2, left_pad = (nw - W + 1) / 2;  // ceil: extra on top/left
    padded = Image8(nw, nh, C);
    for (int64_t y = 0; y < H; ++y) std::copy(img.row(y), img.row(y) + W * C, padded.row(y + top_pad) + left_pad * C);
    top += top_pad;
    left += left_pad;
    src = &padded;
  }
  const int64_t y0 = std::max<int64_t>(0, top), y1 = std::min(src->height, top + ch);
  const int64_t x0 = std::max<int64_t>(0, left), x1 = std::min(src->width, left + cw);
  Image8 out(x1 - x0, y1 - y0, C);
  for (int64_t y = y0; y < y1; ++y) std::copy(src->row(y) + x0 * C, src->row(y) + x1 * C, out.row(y - y0));
  return out;
}

}  // namespace

ImageProcessor::ImageProcessor(ImageProcessorConfig config) : config_(std::move(config)) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      // Each step rounds as numpy does: float64 rescale cast to float32, then float32 ops.
      float x = config_.do_rescale ? static_cast<float>(static_cast<double>(v) * config_.rescale_factor)
                                   : static_cast<float>(v);
      if (config_.do_normalize) {
        x = (x - config_.image_mean[c]) / config_.image_std[c];  // true division, as numpy
      }
      lut_[c][v] = x;
    }
  }
}

Image8 ImageProcessor::ResizeAndCrop(const Image8& image) const {
  Image8 out = config_.do_resize
                   ? PillowResize(image, config_.resize_width, config_.resize_height, config_.resample)
                   : image;
  if (config_.do_center_crop) out = CenterCrop(out, config_.crop_height, config_.crop_width);
  return out;
}

void ImageProcessor::PreprocessInto(const Image8& image, float* out) const {
  if (image.channels != 3) throw ModelError("image must have 3 channels (RGB); got " + std::to_string(image.channels));
  if (image.width < 1 || image.height < 1) throw ModelError("image is empty");
  const Image8 img = ResizeAndCrop(image);
  const int64_t hw = img.width * img.height;
  NormalizeRgb(img.pixels.data(), hw, out, out + hw, out + 2 * hw);
}

void ImageProcessor::NormalizeRgb(const uint8_t* px, int64_t n, float* r, float* g, float* b) const {
  for (int64_t i = 0; i < n; ++i) {
    r[i] = lut_[0][px[3 * i]];
    g[i] = lut_[1][px[3 * i + 1]];
    b[i] = lut_[2][px[3 * i + 2]];
  }
}

Tensor ImageProcessor::Preprocess(const std::vector<const Image8*>& images) const {
  if (!config_.do_center_crop && !config_.do_resize && images.size() > 1) {
    for (const Image8* im : images) {
      if (im->width != images[0]->width || im->height != images[0]->height) {
        throw ModelError("images of different sizes cannot be batched without resize or center crop");
      }
    }
  }
  int64_t h = config_.output_height(), w = config_.output_width();
  if (!config_.do_resize && !config_.do_center_crop && !images.empty()) {
    h = images[0]->height;
    w = images[0]->width;
  }
  Tensor out({static_cast<int64_t>(images.size()), 3, h, w});
  for (size_t i = 0; i < images.size(); ++i) PreprocessInto(*images[i], out.ptr() + i * 3 * h * w);
  return out;
}

TypedTensor<int64_t> ImageProcessor::PreprocessLabels(const Image8& label_map) const {
  if (label_map.channels != 1) throw ModelError("a segmentation map must have 1 channel");
  Image8 map = label_map;
  if (config_.do_reduce_labels) {
    for (uint8_t& v : map.pixels) v = v == 0 ? 255 : (v == 255 ? 255 : static_cast<uint8_t>(v - 1));
  }
  map = ResizeAndCrop(map);
  TypedTensor<int64_t> out({1, map.height, map.width});
  std::copy(map.pixels.begin(), map.pixels.end(), out.data.begin());
  return out;
}

}  // namespace beit
