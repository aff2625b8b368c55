#include "model/image/pillow_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace beit {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double BoxFilter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double BilinearFilter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double HammingFilter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // Pillow uses float literals here
}
double BicubicFilter(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double Sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}
double LanczosFilter(double x) { return (-3.0 <= x && x < 3.0) ? Sinc(x) * Sinc(x / 3) : 0.0; }

struct Kernel {
  double (*fn)(double);
  double support;
};

Kernel KernelFor(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kBox: return {BoxFilter, 0.5};
    case ResampleFilter::kBilinear: return {BilinearFilter, 1.0};
    case ResampleFilter::kHamming: return {HammingFilter, 1.0};
    case ResampleFilter::kBicubic: return {BicubicFilter, 2.0};
    case ResampleFilter::kLanczos: return {LanczosFilter, 3.0};
    case ResampleFilter::kNearest: break;
  }
  return {BilinearFilter, 1.0};
}

// Per output pixel: first input index, tap count, and fixed-point weights (ksize per pixel).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Coefficients Precompute(int64_t in_size, int64_t out_size, const Kernel& kernel) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kernel.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(out_size * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = kernel.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      // normalize_coeffs_8bpc: round half away from zero via truncation
      c.weights[xx * c.ksize + x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kPrecisionBits))
                                             : static_cast<int32_t>(0.5 + k[x] * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t Clip8(int32_t ss) {
  const int32_t v = ss >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

Image8 Horizontal(const Image8& src, int64_t out_w, const Coefficients& c) {
  Image8 dst(out_w, src.height, src.channels);
  const int64_t ch = src.channels;
  for (int64_t y = 0; y < src.height; ++y) {
    const uint8_t* in = src.row(y);
    uint8_t* out = dst.row(y);
    if (ch == 3) {  // the three channels' sums side by side: independent chains, one pass over the taps
      for (int64_t x = 0; x < out_w; ++x) {
        const int32_t* w = c.weights.data() + x * c.ksize;
        const uint8_t* p = in + c.first[x] * 3;
        int32_t r = 1 << (kPrecisionBits - 1), g = r, b = r;
        for (int i = 0; i < c.count[x]; ++i, p += 3) {
          r += static_cast<int32_t>(p[0]) * w[i];
          g += static_cast<int32_t>(p[1]) * w[i];
          b += static_cast<int32_t>(p[2]) * w[i];
        }
        out[x * 3] = Clip8(r);
        out[x * 3 + 1] = Clip8(g);
        out[x * 3 + 2] = Clip8(b);
      }
      continue;
    }
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t* w = c.weights.data() + x * c.ksize;
      const uint8_t* base = in + c.first[x] * ch;
      for (int64_t b = 0; b < ch; ++b) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < c.count[x]; ++i) ss += static_cast<int32_t>(base[i * ch + b]) * w[i];
        out[x * ch + b] = Clip8(ss);
      }
    }
  }
  return dst;
}

Image8 Vertical(const Image8& src, int64_t out_h, const Coefficients& c) {
  Image8 dst(src.width, out_h, src.channels);
  const int64_t row_len = src.width * src.channels;
  std::vector<int32_t> acc(row_len);
  for (int64_t y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* w = c.weights.data() + y * c.ksize;
    for (int i = 0; i < c.count[y]; ++i) {
      const uint8_t* in = src.row(c.first[y] + i);
      const int32_t wi = w[i];
      for (int64_t j = 0; j < row_len; ++j) acc[j] += static_cast<int32_t>(in[j]) * wi;
    }
    uint8_t* out = dst.row(y);
    for (int64_t j = 0; j < row_len; ++j) out[j] = Clip8(acc[j]);
  }
  return dst;
}

// Pillow's NEAREST goes through ImagingScaleAffine: positions accumulate by repeated addition.
std::vector<int64_t> NearestIndices(int64_t in, int64_t out) {
  std::vector<int64_t> idx(out);
  const double step = static_cast<double>(in) / static_cast<double>(out);
  double pos = step * 0.5;
  for (int64_t i = 0; i < out; ++i) {
    int64_t v = pos < 0 ? -1 : static_cast<int64_t>(pos);
    idx[i] = std::clamp<int64_t>(v, 0, in - 1);
    pos += step;
  }
  return idx;
}

}  // namespace

Image8 PillowResize(const Image8& src, int64_t out_w, int64_t out_h, ResampleFilter filter) {
  if (out_w == src.width && out_h == src.height) return src;
  if (filter == ResampleFilter::kNearest) {
    Image8 dst(out_w, out_h, src.channels);
    const auto xs = NearestIndices(src.width, out_w);
    const auto ys = NearestIndices(src.height, out_h);
    for (int64_t y = 0; y < out_h; ++y) {
      const uint8_t* in = src.row(ys[y]);
      uint8_t* out = dst.row(y);
      for (int64_t x = 0; x < out_w; ++x) {
        std::copy(in + xs[x] * src.channels, in + (xs[x] + 1) * src.channels, out + x * src.channels);
      }
    }
    return dst;
  }
  const Kernel kernel = KernelFor(filter);
  Image8 tmp = out_w != src.width ? Horizontal(src, out_w, Precompute(src.width, out_w, kernel)) : src;
  return out_h != src.height ? Vertical(tmp, out_h, Precompute(src.height, out_h, kernel)) : tmp;
}

}  // namespace beit
