#include "model/ops/interpolate.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace beit {

// PyTorch's compute_source_index_and_lambda for align_corners=False.
std::vector<LinearTap> LinearTaps(int64_t in, int64_t out) {
  std::vector<LinearTap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (in == out) {
      taps[o] = {o, o, 1.f, 0.f};
      continue;
    }
    float real = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (real < 0.f) real = 0.f;
    int64_t i0 = static_cast<int64_t>(real);
    int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    float l1 = real - static_cast<float>(i0);
    taps[o] = {i0, i1, 1.f - l1, l1};
  }
  return taps;
}

namespace {

struct CubicTap {
  int64_t idx[4];
  float w[4];
};

float Cubic1(float x, float a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
float Cubic2(float x, float a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

std::vector<CubicTap> CubicTaps(int64_t in, int64_t out) {
  std::vector<CubicTap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float a = -0.75f;
  for (int64_t o = 0; o < out; ++o) {
    const float real = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    const int64_t base = static_cast<int64_t>(std::floor(real));
    const float t = real - static_cast<float>(base);
    CubicTap& tap = taps[o];
    tap.w[0] = Cubic2(t + 1.f, a);
    tap.w[1] = Cubic1(t, a);
    tap.w[2] = Cubic1(1.f - t, a);
    tap.w[3] = Cubic2(2.f - t, a);
    for (int k = 0; k < 4; ++k) tap.idx[k] = std::clamp<int64_t>(base - 1 + k, 0, in - 1);
  }
  return taps;
}

}  // namespace

void ResizeBilinear(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow) {
  const auto ty = LinearTaps(h, oh);
  const auto tx = LinearTaps(w, ow);
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = in + p * h * w;
    float* dst = out + p * oh * ow;
    for (int64_t y = 0; y < oh; ++y) {
      const LinearTap& a = ty[y];
      const float* r0 = src + a.i0 * w;
      const float* r1 = src + a.i1 * w;
      for (int64_t x = 0; x < ow; ++x) {
        const LinearTap& b = tx[x];
        dst[y * ow + x] = a.l0 * (b.l0 * r0[b.i0] + b.l1 * r0[b.i1]) + a.l1 * (b.l0 * r1[b.i0] + b.l1 * r1[b.i1]);
      }
    }
  }
}

void ResizeBicubic(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow) {
  if (h == oh && w == ow) {  // PyTorch copies in this case
    std::copy(in, in + planes * h * w, out);
    return;
  }
  const auto ty = CubicTaps(h, oh);
  const auto tx = CubicTaps(w, ow);
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = in + p * h * w;
    float* dst = out + p * oh * ow;
    for (int64_t y = 0; y < oh; ++y) {
      const CubicTap& a = ty[y];
      for (int64_t x = 0; x < ow; ++x) {
        const CubicTap& b = tx[x];
        float acc = 0.f;
        for (int i = 0; i < 4; ++i) {
          const float* row = src + a.idx[i] * w;
          float r = 0.f;
          for (int j = 0; j < 4; ++j) r += b.w[j] * row[b.idx[j]];
          acc += a.w[i] * r;
        }
        dst[y * ow + x] = acc;
      }
    }
  }
}

}  // namespace beit
