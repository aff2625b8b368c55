#include "model/ops/fused_attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "model/ops/cpu_tier.h"
#include "model/model_error.h"

// GCC 12's AVX-512 intrinsics start some results from a self-initialised "undefined" vector,
// which -Wmaybe-uninitialized (or -Wuninitialized) reports once inlined here; it is not a real read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace beit {
namespace {

using dt = dnnl::memory::data_type;

// Queries per block, for every kernel: the context tile keeps 6 rows of accumulators (x 4 vectors
// with AVX-512's 32 registers, x 2 with AVX2's 16) plus the loaded vectors of V in registers.
constexpr int kQueryBlock = 6;

struct HeadTask {
  const char* queries;      // query row i of this head at queries + i * query_row_bytes
  int64_t query_row_bytes;
  const uint32_t* keys_t;   // K^T as words: [d / kPack, padded], zero beyond N
  const uint32_t* values;   // V as words: row m (f32) or pair of rows m/2 (bf16) at values + row * value_stride
  int64_t value_stride;
  int64_t value_rows;       // N (f32) or ceil(N / 2) (bf16)
  const float* bias;        // [N, N] for this head, or null
  float mask;               // head mask factor
  float* probs;             // [N, N] for this head, or null
  float* scores;            // [kQueryBlock, padded] f32 working rows
  uint16_t* probs_bf16;     // [kQueryBlock, padded] bf16 probabilities (bf16 operands only)
  void* context;            // first context row of this head, rows context_stride elements apart
  bool bf16_context;
  int64_t context_stride;
  int64_t tokens, head_dim;
  int64_t padded;           // N rounded up to the kernel's vector width
};

#if defined(__x86_64__)

// Target attributes, so the kernels are compiled for their instruction set whatever the project's
// -march; the kernel choice (EffectiveCpuTier) guards every call. AVX512-BF16 instructions appear
// only in code the bf16 operand type instantiates, so f32 runs on AVX-512 CPUs without it.
#define BEIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define BEIT_AVX2 __attribute__((target("avx2,fma")))

// The vector operations the kernel is written in. Both operand types are handled as 32-bit words:
// one f32, or a pair of bf16 values that vdpbf16ps multiplies and adds in one step; kPack is the
// values per word. Masks select the first lanes of a vector (rows' and head sizes' tails).
struct Avx512 {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kPack = 1;
  static constexpr int kScoreVectors = 4;    // scores tile: 6 x 4 accumulators + 4 vectors of K^T
  static constexpr int kContextVectors = 4;  // context tile: 6 x 4 accumulators + 4 vectors of V (64 dims)

  BEIT_AVX512 static V Set(float x) { return _mm512_set1_ps(x); }
  BEIT_AVX512 static V Load(const void* p) { return _mm512_loadu_ps(p); }
  BEIT_AVX512 static void Store(void* p, V v) { _mm512_storeu_ps(p, v); }
  BEIT_AVX512 static Mask FirstLanes(int64_t count) {
    return count >= kLanes ? Mask(0xFFFF) : Mask((1u << count) - 1);
  }
  BEIT_AVX512 static V LoadMasked(Mask m, const void* p) { return _mm512_maskz_loadu_ps(m, p); }
  BEIT_AVX512 static void StoreMasked(void* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  BEIT_AVX512 static V BroadcastWord(const void* p) {
    uint32_t word;
    std::memcpy(&word, p, sizeof word);
    return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(word)));
  }
  BEIT_AVX512 static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  BEIT_AVX512 static V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
  BEIT_AVX512 static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  BEIT_AVX512 static V Max(V a, V b) { return _mm512_max_ps(a, b); }  // b where either is NaN
  BEIT_AVX512 static V MulAdd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  BEIT_AVX512 static V NegMulAdd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  BEIT_AVX512 static V ZeroOutside(Mask m, V v) { return _mm512_maskz_mov_ps(m, v); }
  BEIT_AVX512 static V MaxWhere(V a, Mask m, V b) { return _mm512_mask_max_ps(a, m, a, b); }
  BEIT_AVX512 static V AddWhere(V a, Mask m, V b) { return _mm512_mask_add_ps(a, m, a, b); }
  BEIT_AVX512 static V RoundToInteger(V x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // p * 2^n for integral n, rounded once.
  BEIT_AVX512 static V ScaleByPowerOfTwo(V p, V n) { return _mm512_scalef_ps(p, n); }
  BEIT_AVX512 static float ReduceMax(V v) { return _mm512_reduce_max_ps(v); }
  BEIT_AVX512 static float ReduceAdd(V v) { return _mm512_reduce_add_ps(v); }
};

struct Avx512Bf16 : Avx512 {
  static constexpr int kPack = 2;
  BEIT_AVX512 static V DotPairs(V acc, V a, V b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
  }
  // The lanes in `m` of v, rounded to bf16 (nearest even), to p.
  BEIT_AVX512 static void StoreBf16(uint16_t* p, Mask m, V v) {
    _mm256_mask_storeu_epi16(p, m, (__m256i)_mm512_cvtneps_pbh(v));
  }
};

// AVX2 + FMA: 16 registers of 8 floats, integer masks (all-ones lanes) for the tails.
struct Avx2 {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kPack = 1;
  static constexpr int kScoreVectors = 2;    // scores tile: 6 x 2 accumulators + 2 vectors of K^T + 1 query
  static constexpr int kContextVectors = 2;  // context tile: 6 x 2 accumulators + 2 vectors of V + 1 probability

  BEIT_AVX2 static V Set(float x) { return _mm256_set1_ps(x); }
  BEIT_AVX2 static V Load(const void* p) { return _mm256_loadu_ps(static_cast<const float*>(p)); }
  BEIT_AVX2 static void Store(void* p, V v) { _mm256_storeu_ps(static_cast<float*>(p), v); }
  BEIT_AVX2 static Mask FirstLanes(int64_t count) {
    const int first = static_cast<int>(std::clamp<int64_t>(count, 0, kLanes));
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Lanes outside the mask are neither read (no fault past the end of a buffer) nor written.
  BEIT_AVX2 static V LoadMasked(Mask m, const void* p) { return _mm256_maskload_ps(static_cast<const float*>(p), m); }
  BEIT_AVX2 static void StoreMasked(void* p, Mask m, V v) { _mm256_maskstore_ps(static_cast<float*>(p), m, v); }
  BEIT_AVX2 static V BroadcastWord(const void* p) {
    uint32_t word;
    std::memcpy(&word, p, sizeof word);
    return _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(word)));
  }
  BEIT_AVX2 static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  BEIT_AVX2 static V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
  BEIT_AVX2 static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  BEIT_AVX2 static V Max(V a, V b) { return _mm256_max_ps(a, b); }  // b where either is NaN
  BEIT_AVX2 static V MulAdd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  BEIT_AVX2 static V NegMulAdd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  BEIT_AVX2 static V ZeroOutside(Mask m, V v) { return _mm256_and_ps(_mm256_castsi256_ps(m), v); }
  BEIT_AVX2 static V MaxWhere(V a, Mask m, V b) {
    return _mm256_blendv_ps(a, _mm256_max_ps(a, b), _mm256_castsi256_ps(m));
  }
  BEIT_AVX2 static V AddWhere(V a, Mask m, V b) { return _mm256_add_ps(a, ZeroOutside(m, b)); }
  BEIT_AVX2 static V RoundToInteger(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n for integral n in [-150, 127] (exp's range here), rounded once, as scalef does. AVX2
  // has no scalef and 2^n is a normal float only down to 2^-126, so 2^n is applied as
  // 2^floor(n/2) * 2^ceil(n/2), both normal: p (in [0.7, 1.5]) times the first is exact, the
  // second rounds once, into the subnormals or to 0 as the true product does. A NaN n (from a
  // NaN argument, where p is NaN too) makes garbage factors, and NaN * anything is NaN.
  BEIT_AVX2 static V ScaleByPowerOfTwo(V p, V n) {
    const __m256i k = _mm256_cvtps_epi32(n);
    const __m256i half = _mm256_srai_epi32(k, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const V low = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    const V high = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, half), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, low), high);
  }
  BEIT_AVX2 static float ReduceMax(V v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_max_ss(x, _mm_movehdup_ps(x)));
  }
  BEIT_AVX2 static float ReduceAdd(V v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
  }
};

namespace avx512 {
#define BEIT_KERNEL_TARGET BEIT_AVX512
#include "model/ops/fused_attention_kernel.inc"  // the kernel, for AVX-512
#undef BEIT_KERNEL_TARGET
}  // namespace avx512

namespace avx2 {
#define BEIT_KERNEL_TARGET BEIT_AVX2
#include "model/ops/fused_attention_kernel.inc"  // the kernel, for AVX2 + FMA
#undef BEIT_KERNEL_TARGET
}  // namespace avx2

#endif  // __x86_64__

// One kernel: its name (FusedAttentionKernel), the vector width rows of scores and K^T are padded
// to, and the entry point running queries begin .. end of one task.
struct Kernel {
  const char* name;
  int64_t lanes;
  void (*queries)(const HeadTask& task, int64_t begin, int64_t end);
};

// The kernel for these operands at the effective CPU tier, or null (the oneDNN primitives then).
const Kernel* ChooseKernel(dt operands, int64_t head_dim) {
#if defined(__x86_64__)
  static constexpr Kernel kAvx512Bf16{"avx512_bf16", Avx512::kLanes, avx512::Queries<Avx512Bf16>};
  static constexpr Kernel kAvx512F32{"avx512_f32", Avx512::kLanes, avx512::Queries<Avx512>};
  static constexpr Kernel kAvx2F32{"avx2_f32", Avx2::kLanes, avx2::Queries<Avx2>};
  const CpuTier tier = EffectiveCpuTier();
  if (operands == dt::f32) {
    if (TierHasAvx512(tier)) return &kAvx512F32;
    if (TierHasAvx2(tier)) return &kAvx2F32;
  } else if (operands == dt::bf16 && TierHasBf16(tier) && head_dim % 2 == 0) {
    return &kAvx512Bf16;
  }
#else
  (void)operands;
  (void)head_dim;
#endif
  return nullptr;
}

// K^T as words with zero columns up to the padded width, so every scores tile is full width.
void TransposeKeys(const char* keys, int64_t row_bytes, int64_t tokens, int64_t words, int64_t padded,
                   uint32_t* keys_t) {
  for (int64_t m = 0; m < tokens; ++m) {
    const char* key = keys + m * row_bytes;
    for (int64_t k = 0; k < words; ++k) std::memcpy(&keys_t[k * padded + m], key + 4 * k, 4);
  }
  for (int64_t k = 0; k < words; ++k) std::fill(keys_t + k * padded + tokens, keys_t + (k + 1) * padded, 0u);
}

// bf16 V rows 2m and 2m+1 interleaved into words (row 2m in the low half, as vdpbf16ps pairs
// them), with a zero row after an odd N.
void PairValueRows(const uint16_t* values, int64_t row_stride, int64_t tokens, int64_t d, uint32_t* pairs) {
  for (int64_t m2 = 0; m2 < (tokens + 1) / 2; ++m2) {
    const uint16_t* even = values + 2 * m2 * row_stride;
    const uint16_t* odd = 2 * m2 + 1 < tokens ? even + row_stride : nullptr;
    for (int64_t j = 0; j < d; ++j) pairs[m2 * d + j] = even[j] | (odd ? uint32_t(odd[j]) << 16 : 0u);
  }
}

}  // namespace

const char* FusedAttentionKernel(dnnl::memory::data_type operands, int64_t head_dim) {
  const Kernel* kernel = ChooseKernel(operands, head_dim);
  return kernel ? kernel->name : nullptr;
}

bool FusedAttentionSupported(dnnl::memory::data_type operands, int64_t head_dim) {
  return ChooseKernel(operands, head_dim) != nullptr;
}

void FusedAttention(ConstActivationView qkv, const AttentionShape& shape, const float* bias, const float* head_mask,
                    float* probs, ActivationView context) {
  const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, d = shape.head_dim, C = H * d;
  const bool bf16 = qkv.type == dt::bf16;
  if (context.type == dt::bf16 && !bf16) throw ModelError("fused attention writes bf16 context only from bf16 operands");
  const Kernel* kernel = ChooseKernel(qkv.type, d);
  if (!kernel) throw ModelError("fused attention has no kernel for these operands at this CPU tier");
  const int64_t element = ElementBytes(qkv.type), pack = bf16 ? 2 : 1;
  const int64_t padded = (N + kernel->lanes - 1) / kernel->lanes * kernel->lanes;
  const char* qkv_bytes = static_cast<const char*>(qkv.data);
  // Tasks are (image, head) pairs, each split into query chunks when there are fewer pairs than
  // twice the threads (batch 1 on many cores); every task prepares its head's K^T (and V pairs).
  const int threads = omp_get_max_threads();
  const int64_t blocks = (N + kQueryBlock - 1) / kQueryBlock;
  const int64_t chunks = std::clamp<int64_t>((2 * threads + B * H - 1) / (B * H), 1, blocks);
  const int64_t blocks_per_chunk = (blocks + chunks - 1) / chunks;
  // Working space per thread, allocated here so no allocation can fail inside the parallel region.
  const int64_t keys_words = d / pack * padded, pair_words = bf16 ? (N + 1) / 2 * d : 0;
  const int64_t score_floats = kQueryBlock * padded, probs_halves = bf16 ? kQueryBlock * padded : 0;
  std::vector<uint32_t> keys_t(threads * keys_words), value_pairs(threads * pair_words);
  std::vector<float> scores(threads * score_floats);
  std::vector<uint16_t> probs_bf16(threads * probs_halves);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t t = 0; t < B * H * chunks; ++t) {
    const int64_t pair = t / chunks, chunk = t % chunks, b = pair / H, h = pair % H;
    const int64_t begin = std::min(N, chunk * blocks_per_chunk * kQueryBlock);
    const int64_t end = std::min(N, begin + blocks_per_chunk * kQueryBlock);
    if (begin == end) continue;
    const int me = omp_get_thread_num();
    const char* image = qkv_bytes + b * N * 3 * C * element;
    HeadTask task{};
    task.queries = image + h * d * element;
    task.query_row_bytes = 3 * C * element;
    uint32_t* my_keys_t = keys_t.data() + me * keys_words;
    TransposeKeys(image + (C + h * d) * element, 3 * C * element, N, d / pack, padded, my_keys_t);
    task.keys_t = my_keys_t;
    if (bf16) {
      uint32_t* my_pairs = value_pairs.data() + me * pair_words;
      PairValueRows(reinterpret_cast<const uint16_t*>(image) + 2 * C + h * d, 3 * C, N, d, my_pairs);
      task.values = my_pairs;
      task.value_stride = d;
      task.value_rows = (N + 1) / 2;
    } else {
      task.values = reinterpret_cast<const uint32_t*>(image) + 2 * C + h * d;
      task.value_stride = 3 * C;
      task.value_rows = N;
    }
    task.bias = bias ? bias + h * N * N : nullptr;
    task.mask = head_mask ? head_mask[h] : 1.f;
    task.probs = probs ? probs + pair * N * N : nullptr;
    task.scores = scores.data() + me * score_floats;
    task.probs_bf16 = probs_bf16.data() + me * probs_halves;
    task.context = static_cast<char*>(context.data) + (b * N * C + h * d) * ElementBytes(context.type);
    task.bf16_context = context.type == dt::bf16;
    task.context_stride = C;
    task.tokens = N;
    task.head_dim = d;
    task.padded = padded;
    kernel->queries(task, begin, end);
  }
}

}  // namespace beit
