#include "bench/cpu_peak.h"

#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstring>

#include "model/ops/cpu_tier.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start some results from a self-initialised "undefined" vector,
// which -Wuninitialized reports once inlined here; it is not a real read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define BEIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512bf16,avx512vnni")))
#define BEIT_AVX2 __attribute__((target("avx2,fma,avxvnni")))
#define BEIT_AMX __attribute__((target("amx-tile,amx-bf16,amx-int8")))

#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace beit {
namespace {

constexpr int kChains = 12;      // independent accumulators: enough to cover the multiply-add latency
constexpr int64_t kBlock = 1 << 16;  // iterations between clock reads

enum class Op { kNone, kF32x16, kBf16x16, kVnnix16, kMaddubsx16, kF32x8, kVnnix8, kMaddubsx8, kAmxBf16, kAmxInt8 };

struct Probe {
  Op op;
  double flops_per_step;  // per chain step: lanes x products per lane x 2
  const char* instruction;
};

Probe ProbeFor(const std::string& precision) {
  const CpuTier tier = EffectiveCpuTier();
  if (tier >= CpuTier::kAvx512CoreAmx) {
    // A tile multiply: C[16x16] += A[16x64 bytes] B[16x64 bytes]: 16*16*32 bf16 products (x 2
    // flops) or 16*16*64 int8 ones (x 2 ops).
    if (precision == "bf16") return {Op::kAmxBf16, 16 * 16 * 32 * 2, "tdpbf16ps"};
    if (precision == "int8") return {Op::kAmxInt8, 16 * 16 * 64 * 2, "tdpbusd"};
  }
  if (precision == "f32") {
    if (TierHasAvx512(tier)) return {Op::kF32x16, 32, "vfmadd231ps zmm"};
    if (TierHasAvx2(tier)) return {Op::kF32x8, 16, "vfmadd231ps ymm"};
  } else if (precision == "bf16") {
    if (TierHasBf16(tier)) return {Op::kBf16x16, 64, "vdpbf16ps zmm"};
  } else if (precision == "int8") {
    if (TierHasAvx512(tier) && TierHasVnni(tier)) return {Op::kVnnix16, 128, "vpdpbusd zmm"};
    if (TierHasAvx512(tier)) return {Op::kMaddubsx16, 128, "vpmaddubsw zmm"};
    if (tier == CpuTier::kAvx2Vnni) return {Op::kVnnix8, 64, "vpdpbusd ymm"};
    if (TierHasAvx2(tier)) return {Op::kMaddubsx8, 64, "vpmaddubsw ymm"};
  }
  return {Op::kNone, 0, ""};
}

#if defined(__x86_64__)
// One block of kBlock steps on every chain, with the chains in registers; `acc` holds them between
// blocks (kChains vectors of 16 floats' room). Operands are normal values in every reading the
// loops use: f32 near 1, bf16 pairs (1.0, 1.0), bytes (0x80, 0x3F).
template <Op kOp>
BEIT_AVX512 __attribute__((noinline)) void Block512(float* acc) {
  __m512 r[kChains];
  for (int i = 0; i < kChains; ++i) r[i] = _mm512_loadu_ps(acc + 16 * i);
  const __m512 a = _mm512_castsi512_ps(_mm512_set1_epi32(0x3F803F80)), b = a;
  for (int64_t it = 0; it < kBlock; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) {
      if constexpr (kOp == Op::kF32x16) {
        r[i] = _mm512_fmadd_ps(a, b, r[i]);
      } else if constexpr (kOp == Op::kBf16x16) {
        r[i] = _mm512_dpbf16_ps(r[i], (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
      } else if constexpr (kOp == Op::kMaddubsx16) {  // the previous products are the next u8 operand
        r[i] = _mm512_castsi512_ps(_mm512_maddubs_epi16(_mm512_castps_si512(r[i]), _mm512_castps_si512(b)));
      } else {
        r[i] = _mm512_castsi512_ps(
            _mm512_dpbusd_epi32(_mm512_castps_si512(r[i]), _mm512_castps_si512(a), _mm512_castps_si512(b)));
      }
    }
  }
  for (int i = 0; i < kChains; ++i) _mm512_storeu_ps(acc + 16 * i, r[i]);
}

template <Op kOp>
BEIT_AVX2 __attribute__((noinline)) void Block256(float* acc) {
  __m256 r[kChains];
  for (int i = 0; i < kChains; ++i) r[i] = _mm256_loadu_ps(acc + 16 * i);
  const __m256 a = _mm256_castsi256_ps(_mm256_set1_epi32(0x3F803F80)), b = a;
  for (int64_t it = 0; it < kBlock; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) {
      if constexpr (kOp == Op::kF32x8) {
        r[i] = _mm256_fmadd_ps(a, b, r[i]);
      } else if constexpr (kOp == Op::kVnnix8) {
        r[i] = _mm256_castsi256_ps(
            _mm256_dpbusd_avx_epi32(_mm256_castps_si256(r[i]), _mm256_castps_si256(a), _mm256_castps_si256(b)));
      } else {  // the previous products are the next u8 operand
        r[i] = _mm256_castsi256_ps(_mm256_maddubs_epi16(_mm256_castps_si256(r[i]), _mm256_castps_si256(b)));
      }
    }
  }
  for (int i = 0; i < kChains; ++i) _mm256_storeu_ps(acc + 16 * i, r[i]);
}

// AMX: kBlock * kChains tile multiplies per block, four independent accumulator tiles (0-3) fed
// by tiles 4 and 5, all 16 rows of 64 bytes. The process must have asked Linux for the tile data
// state first (RequestTilePermission); a value of each row of tile 0 is added into `acc`.
struct TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

template <Op kOp>
BEIT_AMX __attribute__((noinline)) void BlockAmx(float* acc) {
  TileConfig config;
  for (int t = 0; t < 6; ++t) config.colsb[t] = 64, config.rows[t] = 16;
  _tile_loadconfig(&config);
  alignas(64) static thread_local uint8_t operand[16 * 64], out[16 * 64];
  for (int i = 0; i < 16 * 64; ++i) operand[i] = (i % 2) ? 0x3F : 0x80;  // bf16 pairs near 1; u8/s8 bytes
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  for (int64_t it = 0; it < kBlock * kChains / 4; ++it) {
    if constexpr (kOp == Op::kAmxBf16) {
      _tile_dpbf16ps(0, 4, 5);
      _tile_dpbf16ps(1, 4, 5);
      _tile_dpbf16ps(2, 4, 5);
      _tile_dpbf16ps(3, 4, 5);
    } else {
      _tile_dpbusd(0, 4, 5);
      _tile_dpbusd(1, 4, 5);
      _tile_dpbusd(2, 4, 5);
      _tile_dpbusd(3, 4, 5);
    }
  }
  _tile_stored(0, out, 64);
  _tile_release();
  for (int i = 0; i < 16; ++i) {  // one value per row of tile 0 into `acc`, so the work is kept
    float v;
    std::memcpy(&v, out + i * 64, sizeof v);
    acc[i] += v;
  }
}

// Linux hands out the AMX tile data state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XTILEDATA, as oneDNN does); without it the first tile instruction faults.
bool RequestTilePermission() {
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtileData = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
}

using BlockFunction = void (*)(float* acc);

BlockFunction BlockFor(Op op) {
  switch (op) {
    case Op::kF32x16: return Block512<Op::kF32x16>;
    case Op::kBf16x16: return Block512<Op::kBf16x16>;
    case Op::kVnnix16: return Block512<Op::kVnnix16>;
    case Op::kMaddubsx16: return Block512<Op::kMaddubsx16>;
    case Op::kF32x8: return Block256<Op::kF32x8>;
    case Op::kVnnix8: return Block256<Op::kVnnix8>;
    case Op::kMaddubsx8: return Block256<Op::kMaddubsx8>;
    case Op::kAmxBf16: return BlockAmx<Op::kAmxBf16>;
    case Op::kAmxInt8: return BlockAmx<Op::kAmxInt8>;
    default: return nullptr;
  }
}

// Runs blocks until `seconds` have passed; returns the chain steps issued. The accumulators are
// folded into `sink` so the work cannot be dropped.
int64_t RunLoop(Op op, double seconds, float* sink) {
  const BlockFunction block = BlockFor(op);
  if (!block) return 0;
  if ((op == Op::kAmxBf16 || op == Op::kAmxInt8) && !RequestTilePermission()) return 0;
  float acc[kChains * 16];
  for (int i = 0; i < kChains * 16; ++i) acc[i] = float(i / 16);
  const auto start = std::chrono::steady_clock::now();
  int64_t issued = 0;
  do {
    block(acc);
    issued += kBlock * kChains;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
  float total = 0;
  for (float x : acc) total += x;
  *sink = total;
  return issued;
}
#else
int64_t RunLoop(Op, double, float*) { return 0; }
#endif

}  // namespace

std::string CpuPeakInstruction(const std::string& precision) { return ProbeFor(precision).instruction; }

double MeasureCpuPeakGflops(const std::string& precision, int threads, double seconds) {
  const Probe probe = ProbeFor(precision);
  if (probe.op == Op::kNone) return 0;
  int64_t issued = 0;
  float sink = 0;
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : issued)
  {
    float local = 0;
    issued += RunLoop(probe.op, seconds, &local);
#pragma omp atomic
    sink += local;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float keep = sink;
  (void)keep;
  return double(issued) * probe.flops_per_step / elapsed / 1e9;
}

}  // namespace beit
