#include "model/beit/beit_embeddings.h"

#include <algorithm>

#include "model/ops/interpolate.h"
#include "model/model_error.h"

namespace beit {

BeitEmbeddings::BeitEmbeddings(const BeitConfig& config, Checkpoint& ckpt)
    : channels_(config.num_channels),
      patch_(config.patch_size),
      hidden_(config.hidden_size),
      grid_h_(config.patch_grid_height()),
      grid_w_(config.patch_grid_width()) {
  const int64_t C = hidden_, p = patch_;
  Tensor w = ckpt.TakeBackbone("embeddings.patch_embeddings.projection.weight", {C, channels_, p, p});
  Tensor b = ckpt.TakeBackbone("embeddings.patch_embeddings.projection.bias", {C});
  w.shape = {C, channels_ * p * p};  // [out, in*kh*kw]: the conv as a matmul over patches
  projection_ = Linear(w, &b, {});
  cls_token_ = ckpt.TakeBackbone("embeddings.cls_token", {1, 1, C});
  if (config.use_mask_token) mask_token_ = ckpt.TakeBackbone("embeddings.mask_token", {1, 1, C});
  if (config.use_absolute_position_embeddings) {
    Tensor pos = ckpt.TakeBackbone("embeddings.position_embeddings", {1, grid_h_ * grid_w_ + 1, C});
    cls_position_ = Tensor({C}, std::vector<float>(pos.data.begin(), pos.data.begin() + C));
    patch_positions_ = Tensor({grid_h_ * grid_w_, C}, std::vector<float>(pos.data.begin() + C, pos.data.end()));
  }
}

const Tensor& BeitEmbeddings::PatchPositions(int64_t h, int64_t w) const {
  if (h == grid_h_ && w == grid_w_) return patch_positions_;
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = resized_positions_[{h, w}];
  if (!slot) {
    const int64_t C = hidden_;
    // [grid, C] -> planes [C, gh, gw] -> bicubic -> [h*w, C]
    std::vector<float> planes(C * grid_h_ * grid_w_), resized(C * h * w);
    for (int64_t t = 0; t < grid_h_ * grid_w_; ++t) {
      for (int64_t c = 0; c < C; ++c) planes[c * grid_h_ * grid_w_ + t] = patch_positions_.data[t * C + c];
    }
    ResizeBicubic(planes.data(), C, grid_h_, grid_w_, resized.data(), h, w);
    slot = std::make_unique<Tensor>(Shape{h * w, C});
    for (int64_t t = 0; t < h * w; ++t) {
      for (int64_t c = 0; c < C; ++c) slot->data[t * C + c] = resized[c * h * w + t];
    }
  }
  return *slot;
}

std::pair<int64_t, int64_t> BeitEmbeddings::Forward(dnnl::stream& stream, const Tensor& pixels,
                                                    const std::vector<uint8_t>* bool_masked_pos,
                                                    std::vector<float>& tokens) const {
  if (pixels.shape.size() != 4 || pixels.shape[1] != channels_) {
    throw ModelError("pixel_values must have shape [batch, " + std::to_string(channels_) +
                     ", height, width]; got " + ShapeToString(pixels.shape));
  }
  const int64_t B = pixels.shape[0], H = pixels.shape[2], W = pixels.shape[3], p = patch_, C = hidden_;
  if (B < 1 || H < p || W < p) {
    throw ModelError("pixel_values " + ShapeToString(pixels.shape) + " is smaller than one " +
                     std::to_string(p) + "x" + std::to_string(p) + " patch");
  }
  const int64_t h = H / p, w = W / p, patches = h * w, N = patches + 1;
  if (bool_masked_pos) {
    if (mask_token_.data.empty()) {
      throw ModelError("bool_masked_pos was given but this checkpoint has no mask token (use_mask_token is false)");
    }
    if (static_cast<int64_t>(bool_masked_pos->size()) != B * patches) {
      throw ModelError("bool_masked_pos must have shape [" + std::to_string(B) + ", " + std::to_string(patches) +
                       "] for this input; got " + std::to_string(bool_masked_pos->size()) + " values");
    }
  }

  // Gather non-overlapping patches: row (b, py, px), column (c, ky, kx) as in the conv weight.
  const int64_t K = channels_ * p * p;
  std::vector<float> cols(B * patches * K);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t py = 0; py < h; ++py) {
      for (int64_t px = 0; px < w; ++px) {
        float* dst = cols.data() + ((b * h + py) * w + px) * K;
        for (int64_t c = 0; c < channels_; ++c) {
          for (int64_t ky = 0; ky < p; ++ky) {
            const float* src = pixels.ptr() + ((b * channels_ + c) * H + py * p + ky) * W + px * p;
            std::copy(src, src + p, dst + (c * p + ky) * p);
          }
        }
      }
    }
  }
  std::vector<float> projected(B * patches * C);
  projection_.Forward(stream, cols.data(), B * patches, patches, projected.data());
  stream.wait();

  const Tensor* positions = patch_positions_.data.empty() ? nullptr : &PatchPositions(h, w);
  tokens.assign(B * N * C, 0.f);
  for (int64_t b = 0; b < B; ++b) {
    float* out = tokens.data() + b * N * C;
    for (int64_t c = 0; c < C; ++c) out[c] = cls_token_.data[c] + (positions ? cls_position_.data[c] : 0.f);
    for (int64_t t = 0; t < patches; ++t) {
      float* dst = out + (t + 1) * C;
      // A masked patch becomes the mask token, which then gets its position embedding like any
      // patch (Transformers 5 adds positions after masking: mim-abspos checks it).
      const bool masked = bool_masked_pos && (*bool_masked_pos)[b * patches + t];
      const float* src = masked ? mask_token_.ptr() : projected.data() + (b * patches + t) * C;
      if (positions) {
        const float* pos = positions->ptr() + t * C;
        for (int64_t c = 0; c < C; ++c) dst[c] = src[c] + pos[c];
      } else {
        std::copy(src, src + C, dst);
      }
    }
  }
  return {h, w};
}

}  // namespace beit
