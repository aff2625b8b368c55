#include "model/fused_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "model/model_error.h"

// GCC 12's AVX-512 intrinsics start some results from a self-initialised "undefined" vector,
// which -Wmaybe-uninitialized reports once inlined here; it is not a real read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The kernels are compiled for AVX-512 whatever the project's -march; FusedAttentionSupported()
// guards every call. AVX512-BF16 instructions appear only in code the bf16 operand path
// instantiates (if constexpr on the operand type), so f32 runs on AVX-512 CPUs without it.
#define BEIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace beit {
namespace {

using dt = dnnl::memory::data_type;

constexpr int kLanes = 16;
// Queries per block: the context tile keeps 6 rows x 4 vectors (64 head dims) of accumulators
// plus 4 vectors of V in the 32 vector registers.
constexpr int kQueryBlock = 6;

// Both operand types are handled as 32-bit words: one f32, or a pair of bf16 values that
// vdpbf16ps multiplies and adds in one step. kPack is the values per word.
struct F32Operands {
  static constexpr int kPack = 1;
  BEIT_AVX512 static __m512 MultiplyAdd(__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, acc); }
};
struct Bf16Operands {
  static constexpr int kPack = 2;
  BEIT_AVX512 static __m512 MultiplyAdd(__m512 acc, __m512 a, __m512 b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
  }
};

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
  int64_t tokens, head_dim, padded;
};

BEIT_AVX512 inline __mmask16 FirstLanes(int64_t count) {
  return count >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1);
}

BEIT_AVX512 inline __m512 BroadcastWord(const void* p) {
  uint32_t word;
  std::memcpy(&word, p, sizeof word);
  return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(word)));
}

// exp(x) for x <= 0 (softmax arguments after subtracting the row maximum): 2^n * e^r with
// n = round(x log2(e)) and r = x - n ln(2) (ln 2 in two parts), e^r by its degree-7 Taylor
// polynomial; for |r| <= ln(2)/2 the truncation error is below 1e-8 relative, under f32 rounding.
BEIT_AVX512 inline __m512 ExpNonPositive(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.f), x);  // exp underflows to 0 below this; NaN stays NaN
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723212e-6f), r);
  __m512 p = _mm512_set1_ps(1.f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// scores[r][j0 + 16t + lane] = sum_k q[r][k] * K[j0 + 16t + lane][k], t < T.
template <typename Ops, int R, int T>
BEIT_AVX512 inline void ScoresTile(const HeadTask& task, const char* q, int64_t j0) {
  constexpr int64_t kWordBytes = 4;
  __m512 acc[R][T] = {};  // zero vectors
  const uint32_t* kt = task.keys_t + j0;
  const int64_t words = task.head_dim / Ops::kPack;
  for (int64_t k = 0; k < words; ++k, kt += task.padded) {
    __m512 keys[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) keys[t] = _mm512_loadu_ps(kt + t * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 qv = BroadcastWord(q + r * task.query_row_bytes + k * kWordBytes);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc[r][t] = Ops::MultiplyAdd(acc[r][t], qv, keys[t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(task.scores + r * task.padded + j0 + t * kLanes, acc[r][t]);
  }
}

template <typename Ops>
BEIT_AVX512 inline void StoreContext(const HeadTask& task, int64_t offset, __mmask16 lanes, __m512 value) {
  if constexpr (Ops::kPack == 2) {  // bf16 operands
    if (!task.bf16_context) {
      _mm512_mask_storeu_ps(static_cast<float*>(task.context) + offset, lanes, value);
      return;
    }
    const __m256i rounded = (__m256i)_mm512_cvtneps_pbh(value);
    _mm256_mask_storeu_epi16(static_cast<uint16_t*>(task.context) + offset, lanes, rounded);
  } else {  // f32 operands write f32 context (FusedAttention checks)
    _mm512_mask_storeu_ps(static_cast<float*>(task.context) + offset, lanes, value);
  }
}

// context[r][s0 + 16t + lane] = sum_m P[r][m] * V[m][s0 + 16t + lane], t < T; the last vector
// covers the lanes in `last` (head sizes that are not a multiple of 16). `p_rows` holds the
// probabilities as words, `p_stride` words apart.
template <typename Ops, int R, int T>
BEIT_AVX512 inline void ContextTile(const HeadTask& task, const uint32_t* p_rows, int64_t p_stride, int64_t row0,
                                    int64_t s0, __mmask16 last) {
  __m512 acc[R][T] = {};  // zero vectors
  const uint32_t* v = task.values + s0;
  for (int64_t m = 0; m < task.value_rows; ++m, v += task.value_stride) {
    __m512 values[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      values[t] = t == T - 1 ? _mm512_maskz_loadu_ps(last, v + t * kLanes) : _mm512_loadu_ps(v + t * kLanes);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 p = BroadcastWord(p_rows + r * p_stride + m);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc[r][t] = Ops::MultiplyAdd(acc[r][t], p, values[t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      StoreContext<Ops>(task, (row0 + r) * task.context_stride + s0 + t * kLanes, t == T - 1 ? last : __mmask16(0xFFFF),
                   acc[r][t]);
    }
  }
}

// Row of scores for query i: add the bias, softmax, head mask; copy out if wanted. Lanes from N
// to the padded width end up zero (the bf16 context pairs read one of them when N is odd).
BEIT_AVX512 inline void SoftmaxRow(const HeadTask& task, int64_t i, float* row) {
  const int64_t N = task.tokens;
  const float* bias = task.bias ? task.bias + i * N : nullptr;
  __m512 top = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < N; j += kLanes) {
    const __mmask16 m = FirstLanes(N - j);
    __m512 x = _mm512_loadu_ps(row + j);
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + j));
    _mm512_storeu_ps(row + j, x);
    top = _mm512_mask_max_ps(top, m, top, x);
  }
  const __m512 row_max = _mm512_set1_ps(_mm512_reduce_max_ps(top));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < N; j += kLanes) {
    const __m512 e = ExpNonPositive(_mm512_sub_ps(_mm512_loadu_ps(row + j), row_max));
    _mm512_storeu_ps(row + j, e);
    sum = _mm512_mask_add_ps(sum, FirstLanes(N - j), sum, e);
  }
  const __m512 inverse = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
  const __m512 mask = _mm512_set1_ps(task.mask);
  float* probs = task.probs ? task.probs + i * N : nullptr;
  for (int64_t j = 0; j < task.padded; j += kLanes) {
    const __mmask16 m = FirstLanes(N - j);
    const __m512 p = _mm512_mul_ps(_mm512_maskz_mul_ps(m, _mm512_loadu_ps(row + j), inverse), mask);
    _mm512_storeu_ps(row + j, p);
    if (probs && j < N) _mm512_mask_storeu_ps(probs + j, m, p);
  }
}

// Queries i0 .. i0+R: scores, softmax, context.
template <typename Ops, int R>
BEIT_AVX512 void QueryBlock(const HeadTask& task, int64_t i0) {
  const char* q = task.queries + i0 * task.query_row_bytes;
  int64_t j = 0;
  for (; j + 4 * kLanes <= task.padded; j += 4 * kLanes) ScoresTile<Ops, R, 4>(task, q, j);
  for (; j < task.padded; j += kLanes) ScoresTile<Ops, R, 1>(task, q, j);
  for (int r = 0; r < R; ++r) SoftmaxRow(task, i0 + r, task.scores + r * task.padded);

  const uint32_t* p_rows = reinterpret_cast<const uint32_t*>(task.scores);
  int64_t p_stride = task.padded;
  if constexpr (Ops::kPack == 2) {  // bf16: round the probabilities, as the oneDNN path does
    for (int r = 0; r < R; ++r) {
      for (int64_t c = 0; c < task.padded; c += kLanes) {
        const __m256bh rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(task.scores + r * task.padded + c));
        std::memcpy(task.probs_bf16 + r * task.padded + c, &rounded, sizeof rounded);
      }
    }
    p_rows = reinterpret_cast<const uint32_t*>(task.probs_bf16);
    p_stride = task.padded / 2;
  }
  for (int64_t s0 = 0; s0 < task.head_dim; s0 += 4 * kLanes) {
    const int64_t width = std::min<int64_t>(4 * kLanes, task.head_dim - s0);
    const int vectors = static_cast<int>((width + kLanes - 1) / kLanes);
    const __mmask16 last = FirstLanes(width - (vectors - 1) * kLanes);
    switch (vectors) {
      case 1: ContextTile<Ops, R, 1>(task, p_rows, p_stride, i0, s0, last); break;
      case 2: ContextTile<Ops, R, 2>(task, p_rows, p_stride, i0, s0, last); break;
      case 3: ContextTile<Ops, R, 3>(task, p_rows, p_stride, i0, s0, last); break;
      default: ContextTile<Ops, R, 4>(task, p_rows, p_stride, i0, s0, last); break;
    }
  }
}

// Queries begin .. end (begin a multiple of kQueryBlock).
template <typename Ops>
BEIT_AVX512 void Queries(const HeadTask& task, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + kQueryBlock <= end; i += kQueryBlock) QueryBlock<Ops, kQueryBlock>(task, i);
  switch (end - i) {
    case 1: QueryBlock<Ops, 1>(task, i); break;
    case 2: QueryBlock<Ops, 2>(task, i); break;
    case 3: QueryBlock<Ops, 3>(task, i); break;
    case 4: QueryBlock<Ops, 4>(task, i); break;
    case 5: QueryBlock<Ops, 5>(task, i); break;
    default: break;
  }
}
static_assert(kQueryBlock == 6, "the tail switch in Queries covers blocks of 1..5 queries");

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

bool FusedAttentionSupported(dnnl::memory::data_type operands, int64_t head_dim) {
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  static const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  if (operands == dt::f32) return avx512;
  return operands == dt::bf16 && bf16 && head_dim % 2 == 0;
}

void FusedAttention(ConstActivationView qkv, const AttentionShape& shape, const float* bias, const float* head_mask,
                    float* probs, ActivationView context) {
  const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, d = shape.head_dim, C = H * d;
  const bool bf16 = qkv.type == dt::bf16;
  if (context.type == dt::bf16 && !bf16) throw ModelError("fused attention writes bf16 context only from bf16 operands");
  const int64_t element = ElementBytes(qkv.type), pack = bf16 ? 2 : 1;
  const int64_t padded = (N + kLanes - 1) / kLanes * kLanes;
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
    if (bf16) {
      Queries<Bf16Operands>(task, begin, end);
    } else {
      Queries<F32Operands>(task, begin, end);
    }
  }
}

}  // namespace beit
