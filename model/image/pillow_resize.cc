#include "model/image/pillow_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

inline uint8_t Clip8(int32_t ss) {
  const int32_t v = ss >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

Image8 Horizontal(const Image8& src, const ResampleAxis& axis) {
  Image8 dst(axis.out_size, src.height, src.channels);
  const int64_t ch = src.channels;
  if (ch == 3) {  // the row kernel reads past the last pixel: each row goes through a padded copy
    std::vector<uint8_t> padded(PaddedRgbRowBytes(axis), 0);
    for (int64_t y = 0; y < src.height; ++y) {
      std::copy(src.row(y), src.row(y) + src.width * 3, padded.begin());
      ResampleRowRgb(padded.data(), axis, 0, axis.out_size, dst.row(y));
    }
    return dst;
  }
  for (int64_t y = 0; y < src.height; ++y) {
    const uint8_t* in = src.row(y);
    uint8_t* out = dst.row(y);
    for (int64_t x = 0; x < axis.out_size; ++x) {
      const int32_t* w = axis.weights.data() + x * axis.ksize;
      const uint8_t* base = in + axis.first[x] * ch;
      for (int64_t b = 0; b < ch; ++b) {
        int32_t ss = kHalf;
        for (int i = 0; i < axis.count[x]; ++i) ss += static_cast<int32_t>(base[i * ch + b]) * w[i];
        out[x * ch + b] = Clip8(ss);
      }
    }
  }
  return dst;
}

Image8 Vertical(const Image8& src, const ResampleAxis& axis) {
  Image8 dst(src.width, axis.out_size, src.channels);
  const int64_t row_len = src.width * src.channels;
  for (int64_t y = 0; y < axis.out_size; ++y) {
    ResampleColumns(src.row(axis.first[y]), row_len, axis, y, row_len, dst.row(y));
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

ResampleAxis PlanResampleAxis(int64_t in_size, int64_t out_size, ResampleFilter filter) {
  const Kernel kernel = KernelFor(filter);
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kernel.support * filterscale;
  ResampleAxis c;
  c.in_size = in_size;
  c.out_size = out_size;
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
  const int even = (c.ksize + 1) / 2 * 2;
  c.rgb_weights.assign(out_size * even * 4, 0);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    for (int i = 0; i < c.ksize; ++i) {
      std::fill_n(c.rgb_weights.data() + (xx * even + i) * 4, 4, c.weights[xx * c.ksize + i]);
    }
  }
  return c;
}

size_t PaddedRgbRowBytes(const ResampleAxis& axis) {
  // The kernel reads taps two at a time (8 bytes from each pair's first pixel) up to the even tap
  // count past an output's first input pixel, whose weights beyond the count are zero.
  return static_cast<size_t>(axis.in_size * 3 + ((axis.ksize + 1) / 2 * 2 + 2) * 3 + 8);
}

void ResampleRowRgb(const uint8_t* row, const ResampleAxis& axis, int64_t x0, int64_t x1, uint8_t* out) {
#if defined(__AVX2__)
  const int pairs = (axis.ksize + 1) / 2;
  // Two taps' pixels as 8 bytes [r g b 0 r g b 0], widened to 32 bits: one vector per tap pair.
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  for (int64_t x = x0; x < x1; ++x, out += 3) {
    const uint8_t* p = row + axis.first[x] * 3;
    const int32_t* w = axis.rgb_weights.data() + x * pairs * 8;
    __m256i acc = _mm256_setr_epi32(kHalf, kHalf, kHalf, 0, 0, 0, 0, 0);
    for (int i = 0; i < pairs; ++i, p += 6, w += 8) {
      const __m128i bytes = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), spread);
      const __m256i pixels = _mm256_cvtepu8_epi32(bytes);
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(pixels, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
    }
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    sum = _mm_srai_epi32(sum, kPrecisionBits);
    sum = _mm_packus_epi16(_mm_packs_epi32(sum, sum), sum);  // saturating: Clip8
    const uint32_t rgb = static_cast<uint32_t>(_mm_cvtsi128_si32(sum));
    out[0] = static_cast<uint8_t>(rgb);
    out[1] = static_cast<uint8_t>(rgb >> 8);
    out[2] = static_cast<uint8_t>(rgb >> 16);
  }
#else
  for (int64_t x = x0; x < x1; ++x, out += 3) {
    const int32_t* w = axis.weights.data() + x * axis.ksize;
    const uint8_t* p = row + axis.first[x] * 3;
    int32_t r = kHalf, g = kHalf, b = kHalf;
    for (int i = 0; i < axis.count[x]; ++i, p += 3) {
      r += static_cast<int32_t>(p[0]) * w[i];
      g += static_cast<int32_t>(p[1]) * w[i];
      b += static_cast<int32_t>(p[2]) * w[i];
    }
    out[0] = Clip8(r);
    out[1] = Clip8(g);
    out[2] = Clip8(b);
  }
#endif
}

void ResampleColumns(const uint8_t* first_row, int64_t stride, const ResampleAxis& axis, int64_t y, int64_t len,
                     uint8_t* out) {
  const int32_t* w = axis.weights.data() + y * axis.ksize;
  const int count = axis.count[y];
  int64_t j = 0;
#if defined(__AVX2__)
  for (; j + 16 <= len; j += 16) {  // 16 bytes per step: two accumulators of 8
    __m256i lo = _mm256_set1_epi32(kHalf), hi = lo;
    const uint8_t* p = first_row + j;
    for (int i = 0; i < count; ++i, p += stride) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m256i wi = _mm256_set1_epi32(w[i]);
      lo = _mm256_add_epi32(lo, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(bytes), wi));
      hi = _mm256_add_epi32(hi, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)), wi));
    }
    lo = _mm256_srai_epi32(lo, kPrecisionBits);
    hi = _mm256_srai_epi32(hi, kPrecisionBits);
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);  // lanes back in order
    const __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), packed);
  }
#endif
  for (; j < len; ++j) {
    int32_t ss = kHalf;
    const uint8_t* p = first_row + j;
    for (int i = 0; i < count; ++i, p += stride) ss += static_cast<int32_t>(*p) * w[i];
    out[j] = Clip8(ss);
  }
}

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
  Image8 tmp = out_w != src.width ? Horizontal(src, PlanResampleAxis(src.width, out_w, filter)) : src;
  return out_h != src.height ? Vertical(tmp, PlanResampleAxis(src.height, out_h, filter)) : tmp;
}

}  // namespace beit
