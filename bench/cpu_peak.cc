#include "bench/cpu_peak.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>

// GCC 12's AVX-512 intrinsics start some results from a self-initialised "undefined" vector,
// which -Wuninitialized reports once inlined here; it is not a real read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define BEIT_AVX512 __attribute__((target("avx512f,avx512bf16,avx512vnni")))

namespace beit {
namespace {

constexpr int kChains = 12;      // independent accumulators: enough to cover the FMA latency
constexpr int64_t kBlock = 1 << 16;  // iterations between clock reads

enum class Op { kF32, kBf16, kInt8 };

// Runs multiply-adds until `seconds` have passed; returns the vector instructions issued. The
// result is folded into `sink` so the loop cannot be dropped.
template <Op kOp>
BEIT_AVX512 __attribute__((noinline)) int64_t MultiplyAddLoop(double seconds, float* sink) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  // Normal values in every interpretation the loops use: f32 near 1, bf16 pairs (1.0, 1.0),
  // int8 bytes (0x80, 0x3F).
  const __m512 a = _mm512_castsi512_ps(_mm512_set1_epi32(0x3F803F80)), b = a;
  const auto start = std::chrono::steady_clock::now();
  int64_t issued = 0;
  do {
    for (int64_t it = 0; it < kBlock; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) {
        if constexpr (kOp == Op::kF32) {
          acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
        } else if constexpr (kOp == Op::kBf16) {
          acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
        } else {
          acc[i] = _mm512_castsi512_ps(
              _mm512_dpbusd_epi32(_mm512_castps_si512(acc[i]), _mm512_castps_si512(a), _mm512_castps_si512(b)));
        }
      }
    }
    issued += kBlock * kChains;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
  float total = 0;
  for (int i = 0; i < kChains; ++i) total += _mm512_reduce_add_ps(acc[i]);
  *sink = total;
  return issued;
}

}  // namespace

double MeasureCpuPeakGflops(const std::string& precision, int threads, double seconds) {
  Op op;
  double flops_per_instruction;  // 16 lanes x products per lane x 2
  if (precision == "f32" && __builtin_cpu_supports("avx512f")) {
    op = Op::kF32, flops_per_instruction = 32;
  } else if (precision == "bf16" && __builtin_cpu_supports("avx512bf16")) {
    op = Op::kBf16, flops_per_instruction = 64;
  } else if (precision == "int8" && __builtin_cpu_supports("avx512vnni")) {
    op = Op::kInt8, flops_per_instruction = 128;
  } else {
    return 0;
  }
  int64_t issued = 0;
  float sink = 0;
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : issued)
  {
    float local = 0;
    issued += op == Op::kF32    ? MultiplyAddLoop<Op::kF32>(seconds, &local)
              : op == Op::kBf16 ? MultiplyAddLoop<Op::kBf16>(seconds, &local)
                                : MultiplyAddLoop<Op::kInt8>(seconds, &local);
#pragma omp atomic
    sink += local;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float keep = sink;
  (void)keep;
  return double(issued) * flops_per_instruction / elapsed / 1e9;
}

}  // namespace beit
