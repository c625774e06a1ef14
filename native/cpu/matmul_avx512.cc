// AVX-512 matmul kernels for F32/F16/BF16 weights laid out (M,K) (and Q8_0's prefill), compiled with target attributes
// so the rest of the addon stays portable. matmul.cc picks them over the AVX2 ones when the CPU
// has AVX-512 (F, BW, VL) and KILN_SIMD does not cap it; on cores with full-width 512-bit FMA
// units (Zen 5, Intel server parts) they do twice the work per instruction.
//
// Every output element is summed in one fixed order, whatever the tiling, the thread count or the
// number of rows N, so a row's result is bit-identical alone or in a batch:
//   one 16-lane FMA chain over k = 0, 16, 32, .. (the last chunk masked, missing lanes adding
//   +0), lanes reduced as (a_j + a_j+8), then ((c0+c4)+(c1+c5))+((c2+c6)+(c3+c7)), then + bias.
// (K,M) weights are left to the AVX2 kernel: its order there is one scalar chain per element,
// which no vector width changes.
// Decode (few rows) streams each weight row once, converting F16/BF16 on the fly; prefill packs a
// group of weight rows to f32 once per block of x rows and reuses it for every row of the block.
// GCC 12's AVX-512 headers make their "undefined" placeholder vectors as `__m512 __Y = __Y;`,
// which its own -Wuninitialized then reports at every inlined use; the lanes are don't-cares.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include "cpu/cpu_features.h"
#include "cpu/qweights.h"
#include "kernels.h"

#define KILN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KILN_AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")  // register tiles: keep every accumulator in a register

namespace kiln {
namespace {

constexpr int kRows = 4;      // x rows per prefill tile
constexpr int kCols = 6;      // weight rows per prefill tile (24 accumulators of the 32 registers)
constexpr int kPackMin = 4;   // N at which converting a weight group to f32 once beats converting per use
constexpr int64_t kXBlockBytes = 512 << 10;  // bytes of x rows per prefill block: well inside L2
// Decode streams one weight row at a time, and software-prefetches 4-byte rows: measured on Zen 5
// (110M llama, 1 thread, interleaved), 4-row tiles with prefetch gave F16 85 and F32 47 tokens/s,
// 1-row with hardware prefetch alone F16 108 and F32 42, 1-row with F32 prefetched F32 47
// (2 threads: F16 139 -> 191, F32 85 -> 89). 2-byte rows too on Intel CPUs: on a Sapphire Rapids
// VM their GEMVs streamed 8-9 GB/s a thread with the hardware prefetchers alone, F32's 12.
constexpr int kStreamCols = 1;  // weight rows per decode tile
bool prefetch_narrow() {        // software prefetch for 2-byte (F16/BF16) rows too
  static const bool intel = cpu_features().intel;
  return intel;
}
constexpr int64_t kLinearMax = 32768;        // decode groups up to this many bytes prefetch the next group whole
constexpr int64_t kRowAhead = 1024;          // else each row is prefetched this far ahead

// Floats between packed weight rows: whole vectors plus one cache line, so rows of 1 KB multiples
// do not all fall in the same L1 set.
constexpr int64_t packed_stride(int64_t K) { return ((K + 15) & ~(int64_t)15) + 16; }

template <DType DT>
constexpr int64_t elem_size() {
  return DT == DType::F32 ? 4 : 2;
}

// 16 weights from p + i as f32; lanes outside mask read nothing and are 0.
template <DType DT, bool MASKED>
KILN_AVX512_INLINE __m512 load16(const void* p, int64_t i, __mmask16 mask) {
  if constexpr (DT == DType::F32) {
    const float* f = (const float*)p + i;
    return MASKED ? _mm512_maskz_loadu_ps(mask, f) : _mm512_loadu_ps(f);
  } else {
    const uint16_t* h = (const uint16_t*)p + i;
    __m256i v = MASKED ? _mm256_maskz_loadu_epi16(mask, h) : _mm256_loadu_si256((const __m256i*)h);
    if constexpr (DT == DType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    else
      return _mm512_cvtph_ps(v);
  }
}

// (a_j + a_j+8), then ((c0+c4)+(c1+c5))+((c2+c6)+(c3+c7)) of one accumulator.
KILN_AVX512_INLINE float hsum(__m512 a) {
  __m256 c = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
  __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

// hsum of many accumulators at once, as a transposed reduction: the same additions with the same
// operands as hsum (so the same bits), shared shuffles. fold8: two accumulators -> their 8 values
// a_j + a_j+8, side by side; fold4: two of those -> four accumulators' c_j + c_j+4 (4 lanes each);
// fold2 (per 128-bit lane, twice): pairs of neighbours, then pairs of those.
KILN_AVX512_INLINE __m512 fold8(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
KILN_AVX512_INLINE __m512 fold4(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
KILN_AVX512_INLINE __m512 fold2(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// hsum of 24 accumulators (acc[0..23]) into res[0..23]: ~2 shuffles and 1 add an accumulator
// instead of hsum's ~5 and 4, which held the prefill tile's epilogue at ~130 cycles a tile.
KILN_AVX512_INLINE void hsum24(const __m512 (&acc)[24], float* res) {
  __m512 v1[12], v2[6];
  KILN_UNROLL
  for (int i = 0; i < 12; i++) v1[i] = fold8(acc[2 * i], acc[2 * i + 1]);
  KILN_UNROLL
  for (int i = 0; i < 6; i++) v2[i] = fold4(v1[2 * i], v1[2 * i + 1]);  // d of accumulators 4i..4i+3
  // accumulators 0..15: lane 4g + t holds accumulator 4t + g
  const __m512 f16 = fold2(fold2(v2[0], v2[1]), fold2(v2[2], v2[3]));
  _mm512_storeu_ps(res, _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), f16));
  // accumulators 16..23: lane 4g holds 16 + g, lane 4g + 1 holds 20 + g
  const __m512 e = fold2(v2[4], v2[5]);
  const __m512 f8 = fold2(e, e);
  _mm256_storeu_ps(res + 16, _mm512_castps512_ps256(
                                 _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), f8)));
}

// How a decode tile prefetches the weights it will read next (hardware stream prefetchers lose
// track of C interleaved short rows, so the next rows are requested explicitly).
struct Prefetch {
  const char* linear = nullptr;  // short rows: the next group of C rows, in address order
  int64_t row_ahead = 0;         // long rows: bytes ahead within each row
};

// One step of the chain at k: R x rows (x + r*K) against C weight rows wr[c] (dtype DT).
template <DType DT, int R, int C, bool MASKED>
KILN_AVX512_INLINE void tile_step(__m512 (&acc)[R][C], const float* x, int64_t K, const void* const (&wr)[C],
                                  int64_t k, __mmask16 mask) {
  __m512 xv[R];
  KILN_UNROLL
  for (int r = 0; r < R; r++) xv[r] = load16<DType::F32, MASKED>(x + r * K, k, mask);
  KILN_UNROLL
  for (int c = 0; c < C; c++) {
    __m512 wv = load16<DT, MASKED>(wr[c], k, mask);
    KILN_UNROLL
    for (int r = 0; r < R; r++) acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
  }
}

// A whole R x C tile over all of K, weight rows read (and converted) in place: the R x C outputs
// out[r*M + m + c].
template <DType DT, int R, int C, bool PF>
KILN_AVX512 void tile_full(const float* x, int64_t K, const void* const (&wr)[C], const float* bias, float* out,
                           int64_t M, int64_t m, Prefetch pf = {}) {
  constexpr int64_t esz = elem_size<DT>();
  constexpr int64_t step = C * 16 * esz;  // weight bytes consumed per chunk
  __m512 acc[R][C];
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
  const int64_t K16 = K & ~(int64_t)15;
  for (int64_t k = 0; k < K16; k += 16) {
    if constexpr (PF) {
      if (pf.linear) {  // walks the next group exactly as fast as this one is consumed, a line at a time
        if constexpr (step >= 64) {
          for (int64_t b = 0; b < step; b += 64) _mm_prefetch(pf.linear + b, _MM_HINT_T0);
        } else if (((k / 16) & (64 / step - 1)) == 0) {
          _mm_prefetch(pf.linear, _MM_HINT_T0);
        }
        pf.linear += step;
      } else if (pf.row_ahead > 0 && ((k / 16) & (64 / (16 * esz) - 1)) == 0) {
        KILN_UNROLL
        for (int c = 0; c < C; c++) _mm_prefetch((const char*)wr[c] + k * esz + pf.row_ahead, _MM_HINT_T0);
      }
    }
    tile_step<DT, R, C, false>(acc, x, K, wr, k, 0);
  }
  if (K16 < K) tile_step<DT, R, C, true>(acc, x, K, wr, K16, (__mmask16)((1u << (K - K16)) - 1));
  if constexpr (R * C == 24) {
    alignas(64) float res[24];
    hsum24(reinterpret_cast<const __m512(&)[24]>(acc), res);
    KILN_UNROLL
    for (int r = 0; r < R; r++)
      KILN_UNROLL
      for (int c = 0; c < C; c++) out[r * M + m + c] = bias ? res[r * C + c] + bias[m + c] : res[r * C + c];
  } else {
    KILN_UNROLL
    for (int r = 0; r < R; r++)
      KILN_UNROLL
      for (int c = 0; c < C; c++) {
        float s = hsum(acc[r][c]);
        out[r * M + m + c] = bias ? s + bias[m + c] : s;
      }
  }
}

// The decode driver shared with the other instruction set's file (stream_rows, matmul_stream).
#define KILN_STREAM_TARGET KILN_AVX512
#include "cpu/matmul_stream.h"
#undef KILN_STREAM_TARGET

// All N rows of x (N,K) against C weight rows; out (N,M) columns m..m+C-1.
template <DType DT, int C>
KILN_AVX512_INLINE void rows_full(const float* x, int64_t N, int64_t K, const void* const (&wr)[C],
                                  const float* bias, float* out, int64_t M, int64_t m) {
  int64_t n = 0;
  for (; n + kRows <= N; n += kRows) tile_full<DT, kRows, C, false>(x + n * K, K, wr, bias, out + n * M, M, m);
  const float* xr = x + n * K;
  float* o = out + n * M;
  switch (N - n) {
    case 3: tile_full<DT, 3, C, false>(xr, K, wr, bias, o, M, m); break;
    case 2: tile_full<DT, 2, C, false>(xr, K, wr, bias, o, M, m); break;
    case 1: tile_full<DT, 1, C, false>(xr, K, wr, bias, o, M, m); break;
  }
}

template <DType DT>
KILN_AVX512 void convert_row(float* dst, const void* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16<DT, false>(src, i, 0));
  if (i < n) {
    const __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, mask, load16<DT, true>(src, i, mask));
  }
}

// Many rows: register tiles of kRows x rows by kCols weight rows. F16/BF16 weight rows are
// converted to f32 once per group of kCols rows (into L1), Q8_0 rows dequantized (q·d, the
// table's values), and reused for every row of an x block, which streams from L2. packed: kCols
// rows of packed_stride(K) floats (matmul_avx512_scratch).
template <DType DT>
KILN_AVX512 void matmul_tiled(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                              int64_t M, int64_t ms, int64_t me, float* packed) {
  constexpr bool quant = DT == DType::Q8_0;
  const int64_t row = quant ? (int64_t)dtype_bytes(DT, K) : K * elem_size<DT>();
  const uint8_t* wb = (const uint8_t*)w;
  const int64_t pstride = packed_stride(K);
  constexpr bool pack = DT != DType::F32;
  auto pack_row = [&](int c, int64_t m) {
    if constexpr (quant)
      weight_row_to_f32(w, DT, m, K, packed + c * pstride);
    else
      convert_row<DT>(packed + c * pstride, wb + m * row, K);
  };
  // Rows of x in equal blocks of whole tiles that stay in L2 while every weight group of this
  // thread passes over them.
  const int64_t xbytes = N * K * (int64_t)sizeof(float);
  const int64_t blocks = xbytes > kXBlockBytes ? (xbytes + kXBlockBytes - 1) / kXBlockBytes : 1;
  int64_t nb = ((N + blocks - 1) / blocks + kRows - 1) / kRows * kRows;
  if (nb < 8 * kRows) nb = 8 * kRows;
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t rows = N - n0 < nb ? N - n0 : nb;
    const float* xb = x + n0 * K;
    float* ob = out + n0 * M;
    int64_t m = ms;
    for (; m + kCols <= me; m += kCols) {
      const void* wr[kCols];
      KILN_UNROLL
      for (int c = 0; c < kCols; c++) {
        if constexpr (pack) {
          pack_row(c, m + c);
          wr[c] = packed + c * pstride;
        } else {
          wr[c] = wb + (m + c) * row;
        }
      }
      rows_full<DType::F32, kCols>(xb, rows, K, wr, bias, ob, M, m);
    }
    for (; m < me; m++) {  // leftover weight rows (M not a multiple of kCols): in place, Q8_0 dequantized
      if constexpr (quant) {
        pack_row(0, m);
        const void* wr[1] = {packed};
        rows_full<DType::F32, 1>(xb, rows, K, wr, bias, ob, M, m);
      } else {
        const void* wr[1] = {wb + m * row};
        rows_full<DT, 1>(xb, rows, K, wr, bias, ob, M, m);
      }
    }
  }
}

// Weight rows in whole tiles of kCols, each streamed from memory by exactly one thread; the split
// depends on M only, so decode and prefill agree on it. Returns the thread's [s, e).
static void split_tiles(int64_t M, int ith, int nth, int64_t* s, int64_t* e) {
  split_range((M + kCols - 1) / kCols, ith, nth, s, e);
  *s *= kCols;
  *e = *e * kCols < M ? *e * kCols : M;
}

template <DType DT>
void matmul_dt(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K, int64_t M,
               float* packed, int ith, int nth) {
  int64_t s, e;
  split_tiles(M, ith, nth, &s, &e);
  if (s >= e) return;
  if (N < kPackMin)
    matmul_stream<DT>(out, x, w, bias, N, K, M, s, e);
  else
    matmul_tiled<DT>(out, x, w, bias, N, K, M, s, e, packed);
}

}  // namespace

// Many rows against Q8_0 weights (qmatmul.cc's prefill): the f32 tiles on dequantized rows, so
// the result is exactly that of the f32 matmul with the dequantized weights.
bool matmul_avx512_prefill_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                                 int64_t K, int64_t M, float* packed, int ith, int nth) {
  if (dt != DType::Q8_0) return false;  // decided before the split: every thread answers alike
  int64_t s, e;
  split_tiles(M, ith, nth, &s, &e);
  if (s < e) matmul_tiled<DType::Q8_0>(out, x, w, bias, N, K, M, s, e, packed);
  return true;
}

// Bytes of `packed` the kernels above need per thread: converted weight rows for the tiles.
size_t matmul_avx512_scratch(DType dt, int64_t K) {
  return dt == DType::F32 ? 0 : (size_t)(kCols * packed_stride(K)) * sizeof(float);
}

// False when it does not handle the case ((K,M) weights, other dtypes); the caller then runs the
// AVX2 kernel.
bool matmul_avx512(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                   int64_t M, bool w_kxm, float* packed, int ith, int nth) {
  if (w_kxm) return false;
  if (N <= 0 || M <= 0) return true;
  switch (dt) {
    case DType::F32: matmul_dt<DType::F32>(out, x, w, bias, N, K, M, packed, ith, nth); return true;
    case DType::BF16: matmul_dt<DType::BF16>(out, x, w, bias, N, K, M, packed, ith, nth); return true;
    case DType::F16: matmul_dt<DType::F16>(out, x, w, bias, N, K, M, packed, ith, nth); return true;
    default: return false;
  }
}

}  // namespace kiln

#endif  // KILN_X86
