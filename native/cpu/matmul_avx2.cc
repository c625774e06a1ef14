// AVX2+FMA matmul kernels, compiled with target attributes so the rest of the addon stays portable.
// Returns false for cases it does not handle, and the portable kernel runs instead.
//
// Every output element is summed in one fixed order, whatever the tiling, the thread count or the
// number of rows N, so a row's result is bit-identical alone or in a batch:
//   w (M,K): one 8-lane FMA chain over k = 0, 8, 16, .. (K rounded down to 8), lanes reduced as
//            ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)), then the K%8 tail by scalar FMA in k order,
//            then + bias.
//   w (K,M): one scalar FMA chain over k = 0..K-1 from 0, then + bias.
// Decode (few rows) streams each weight row once, converting F16/BF16 on the fly; prefill packs a
// block of weight rows to f32 once per thread and reuses it for every row of x.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstdlib>

#include "cpu/cpu_features.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_UNROLL _Pragma("GCC unroll 16")  // register tiles: keep every accumulator in a register
#define KILN_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace kiln {
namespace {

constexpr int kRows = 3;      // x rows per tile
constexpr int kCols = 4;      // weight rows per tile
constexpr int kPackMin = 4;   // N at which converting a weight block to f32 once beats converting per use
constexpr int64_t kXBlockBytes = 256 << 10;  // bytes of x rows per prefill block: about half of L2
constexpr int64_t kKxmPanel = 64;    // columns per (K,M) panel
constexpr int64_t kKxmBlockK = 128;  // w rows per (K,M) block
constexpr int kStreamCols = 4;           // weight rows per decode tile
constexpr bool prefetch_narrow() { return true; }  // software prefetch for 2-byte (F16/BF16) rows too
constexpr int64_t kLinearMax = 32768;    // decode groups up to this many bytes prefetch the next group whole
constexpr int64_t kRowAhead = 1024;      // else each row is prefetched this far ahead

// Floats between packed weight rows: whole vectors plus one cache line (see matmul_tiled).
constexpr int64_t packed_stride(int64_t K) { return ((K + 15) & ~(int64_t)15) + 16; }

template <DType DT>
KILN_AVX2_INLINE __m256 load8(const void* p, int64_t i) {
  if constexpr (DT == DType::F32) {
    return _mm256_loadu_ps((const float*)p + i);
  } else if constexpr (DT == DType::BF16) {
    __m128i h = _mm_loadu_si128((const __m128i*)((const uint16_t*)p + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)((const uint16_t*)p + i)));
  }
}

template <DType DT>
constexpr int64_t elem_size() {
  return DT == DType::F32 ? 4 : 2;
}

constexpr bool is_block(DType t) {
  return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K;
}

// ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)) of one accumulator.
KILN_AVX2_INLINE float hsum(__m256 a) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

KILN_AVX2_INLINE float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// How a decode tile prefetches the weights it will read next (hardware stream prefetchers lose
// track of C interleaved short rows, so the next rows are requested explicitly).
struct Prefetch {
  const char* linear = nullptr;  // short rows: the next group of C rows, in address order
  int64_t row_ahead = 0;         // long rows: bytes ahead within each row
};

// Accumulates chunks [k0, k1) (multiples of 8) of R x rows against C weight rows into acc.
// The weight rows are wr[c] (dtype DT); x rows are x + r*K.
template <DType DT, int R, int C, bool PF>
KILN_AVX2_INLINE void tile_accumulate(__m256 (&acc)[R][C], const float* x, int64_t K, const void* const (&wr)[C],
                                      int64_t k0, int64_t k1, Prefetch pf = {}) {
  constexpr int64_t esz = elem_size<DT>();
  constexpr int64_t step = C * 8 * esz;  // weight bytes consumed per chunk
  for (int64_t k = k0; k < k1; k += 8) {
    if constexpr (PF) {
      if (pf.linear) {  // walks the next group exactly as fast as this one is consumed
        if constexpr (step >= 64) {
          for (int64_t b = 0; b < step; b += 64) _mm_prefetch(pf.linear + b, _MM_HINT_T0);
        } else if (((k / 8) & (64 / step - 1)) == 0) {
          _mm_prefetch(pf.linear, _MM_HINT_T0);
        }
        pf.linear += step;
      } else if (pf.row_ahead > 0 && ((k / 8) & (64 / (8 * esz) - 1)) == 0) {
        KILN_UNROLL
        for (int c = 0; c < C; c++) _mm_prefetch((const char*)wr[c] + k * esz + pf.row_ahead, _MM_HINT_T0);
      }
    }
    __m256 xv[R];
    KILN_UNROLL
    for (int r = 0; r < R; r++) xv[r] = _mm256_loadu_ps(x + r * K + k);
    KILN_UNROLL
    for (int c = 0; c < C; c++) {
      __m256 wv = load8<DT>(wr[c], k);
      KILN_UNROLL
      for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
}

// Reduces the accumulators, adds the K tail and the bias, and stores the R x C outputs.
template <DType DT, int R, int C>
KILN_AVX2_INLINE void tile_finish(__m256 (&acc)[R][C], const float* x, int64_t K, const void* const (&wr)[C],
                                  const float* bias, float* out, int64_t M, int64_t m) {
  int64_t K8 = K & ~(int64_t)7;
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int c = 0; c < C; c++) {
      float s = hsum(acc[r][c]);
      for (int64_t k = K8; k < K; k++) s = fma1(x[r * K + k], load_as_f32(wr[c], DT, k), s);
      out[r * M + m + c] = bias ? s + bias[m + c] : s;
    }
}

// A whole R x C tile over all of K, weight rows read (and converted) in place.
template <DType DT, int R, int C, bool PF>
KILN_AVX2 void tile_full(const float* x, int64_t K, const void* const (&wr)[C], const float* bias, float* out,
                         int64_t M, int64_t m, Prefetch pf = {}) {
  __m256 acc[R][C];
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  tile_accumulate<DT, R, C, PF>(acc, x, K, wr, 0, K & ~(int64_t)7, pf);
  tile_finish<DT, R, C>(acc, x, K, wr, bias, out, M, m);
}

// All N rows of x (N,K) against C weight rows; out (N,M) columns m..m+C-1. pf/pf_bytes: memory
// the caller wants fetched meanwhile (the next weight rows), spread over the row groups so it
// arrives before it is needed.
template <DType DT, int C>
KILN_AVX2_INLINE void rows_full(const float* x, int64_t N, int64_t K, const void* const (&wr)[C],
                                const float* bias, float* out, int64_t M, int64_t m, const char* pf = nullptr,
                                int64_t pf_bytes = 0) {
  int64_t n = 0;
  const int64_t groups = N / kRows, per = groups > 0 ? ((pf_bytes + 63) / 64 + groups - 1) / groups * 64 : 0;
  for (; n + kRows <= N; n += kRows) {
    if (pf_bytes > 0) {
      int64_t len = per < pf_bytes ? per : pf_bytes;
      for (int64_t b = 0; b < len; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
      pf += len;
      pf_bytes -= len;
    }
    tile_full<DT, kRows, C, false>(x + n * K, K, wr, bias, out + n * M, M, m);
  }
  if (N - n == 2) tile_full<DT, 2, C, false>(x + n * K, K, wr, bias, out + n * M, M, m);
  if (N - n == 1) tile_full<DT, 1, C, false>(x + n * K, K, wr, bias, out + n * M, M, m);
}

// The decode driver shared with the other instruction set's file (stream_rows, matmul_stream).
#define KILN_STREAM_TARGET KILN_AVX2
#include "cpu/matmul_stream.h"
#undef KILN_STREAM_TARGET

KILN_AVX2_INLINE void store_scaled_i8(float* dst, __m128i q8, __m256 d) {  // 8 int8 -> 8 floats × d
  _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d));
}

// Dequantized Q8_0 rows, the same values as the table's dequantize_row (q·d, one rounding), faster.
template <DType DT>
KILN_AVX2 void dequantize_row_avx2(float* dst, const uint8_t* src, int64_t n) {
  if constexpr (DT == DType::Q8_0) {
    const block_q8_0* b = (const block_q8_0*)src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
      for (int j = 0; j < QK8_0; j += 8)
        store_scaled_i8(dst + i * QK8_0 + j, _mm_loadl_epi64((const __m128i*)(b[i].qs + j)), d);
    }
  } else {
    quant_weight_kernels(DT)->dequantize(src, dst, n);
  }
}

template <DType DT>
KILN_AVX2 void convert_row(float* dst, const void* src, int64_t n) {
  if constexpr (is_block(DT)) {
    dequantize_row_avx2<DT>(dst, (const uint8_t*)src, n);
  } else {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<DT>(src, i));
    for (; i < n; i++) dst[i] = load_as_f32(src, DT, i);
  }
}

// Many rows: register tiles of kRows x rows by kCols weight rows. F16/BF16 weight rows are
// converted to f32 once per group of kCols rows (into L1) and reused for every row of x, which
// streams from L2. (Blocking K as well measured no faster here, up to K = 8192: the partial sums
// cost what the smaller L1 footprint saves.)
// packed: kCols rows of pstride floats (matmul_avx2_scratch).
template <DType DT>
KILN_AVX2 void matmul_tiled(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                            int64_t M, int64_t ms, int64_t me, float* packed) {
  const int64_t row = (int64_t)dtype_bytes(DT, K);
  const uint8_t* wb = (const uint8_t*)w;
  // Packed rows one cache line further apart than a multiple of 64 bytes, so that rows of 1 KB
  // multiples (K = 1024, 2048, ..) do not all fall in the same L1 set.
  const int64_t pstride = packed_stride(K);
  // F32 rows are used in place (copying them to a padded stride measured no faster, even at
  // K = 2048 where the four rows share an L1 set).
  constexpr bool pack = DT != DType::F32;
  // Rows of x in blocks that stay in L2 while every weight group of this thread passes over them.
  // Equal blocks, whole tiles each, so no block is left with a few rows.
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
          convert_row<DT>(packed + c * pstride, wb + (m + c) * row, K);
          wr[c] = packed + c * pstride;
        } else {
          wr[c] = wb + (m + c) * row;
        }
      }
      const uint8_t* next = wb + (m + kCols) * row;
      int64_t next_bytes = m + 2 * kCols <= me ? kCols * row : 0;
      rows_full<DType::F32, kCols>(xb, rows, K, wr, bias, ob, M, m, (const char*)next, next_bytes);
    }
    // Leftover weight rows (M not a multiple of kCols): in place (block types: dequantized first).
    for (; m < me; m++) {
      if constexpr (is_block(DT)) {
        convert_row<DT>(packed, wb + m * row, K);
        const void* wr[1] = {packed};
        rows_full<DType::F32, 1>(xb, rows, K, wr, bias, ob, M, m);
      } else {
        const void* wr[1] = {wb + m * row};
        rows_full<DT, 1>(xb, rows, K, wr, bias, ob, M, m);
      }
    }
  }
}

// w (K,M): out[n, m] = sum_k x[n,k] w[k,m] as one FMA chain per element in k order, so blocking
// K is free: between blocks the partial sums wait in out. Tiles of R rows by V vectors of 8
// columns broadcast x and stream w rows (stride ldw elements); leftover columns run the same chain
// in scalar. out, x and w point at the tile's first element; kn rows of w; bias only on the last
// block.
template <DType DT, int R, int V>
KILN_AVX2 void kxm_tile(float* out, int64_t M, const float* x, int64_t K, const void* w, int64_t ldw, int64_t kn,
                        bool first, const float* bias) {
  __m256 acc[R][V];
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int v = 0; v < V; v++) acc[r][v] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + r * M + 8 * v);
  for (int64_t k = 0; k < kn; k++) {
    __m256 wv[V];
    KILN_UNROLL
    for (int v = 0; v < V; v++) wv[v] = load8<DT>(w, k * ldw + 8 * v);
    KILN_UNROLL
    for (int r = 0; r < R; r++) {
      __m256 xb = _mm256_broadcast_ss(x + r * K + k);
      KILN_UNROLL
      for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int v = 0; v < V; v++) {
      __m256 o = acc[r][v];
      if (bias) o = _mm256_add_ps(o, _mm256_loadu_ps(bias + 8 * v));
      _mm256_storeu_ps(out + r * M + 8 * v, o);
    }
}

// R rows of x against columns [0, cols) of a w block (stride ldw, kn rows); pointers as kxm_tile.
template <DType DT, int R>
KILN_AVX2 void kxm_rows(float* out, int64_t M, const float* x, int64_t K, const void* w, int64_t ldw, int64_t kn,
                        int64_t cols, bool first, const float* bias) {
  const char* wb = (const char*)w;
  constexpr int64_t esz = elem_size<DT>();
  int64_t m = 0;
  auto b = [&](int64_t off) { return bias ? bias + off : nullptr; };
  if constexpr (R == 1) {  // decode: wide panels keep 8 FMA chains and whole lines in flight
    for (; m + 64 <= cols; m += 64) kxm_tile<DT, 1, 8>(out + m, M, x, K, wb + m * esz, ldw, kn, first, b(m));
  }
  for (; m + 16 <= cols; m += 16) kxm_tile<DT, R, 2>(out + m, M, x, K, wb + m * esz, ldw, kn, first, b(m));
  for (; m + 8 <= cols; m += 8) kxm_tile<DT, R, 1>(out + m, M, x, K, wb + m * esz, ldw, kn, first, b(m));
  for (; m < cols; m++)
    for (int r = 0; r < R; r++) {
      float s = first ? 0.f : out[r * M + m];
      for (int64_t k = 0; k < kn; k++) s = fma1(x[r * K + k], load_as_f32(w, DT, k * ldw + m), s);
      out[r * M + m] = bias ? s + bias[m] : s;
    }
}

template <DType DT>
KILN_AVX2 void kxm_block(float* out, const float* x, int64_t N, int64_t K, int64_t M, const void* w, int64_t ldw,
                         int64_t kn, int64_t cols, bool first, const float* bias) {
  int64_t n = 0;
  for (; n + 6 <= N; n += 6) kxm_rows<DT, 6>(out + n * M, M, x + n * K, K, w, ldw, kn, cols, first, bias);
  float* o = out + n * M;
  const float* xr = x + n * K;
  switch (N - n) {
    case 5: kxm_rows<DT, 5>(o, M, xr, K, w, ldw, kn, cols, first, bias); break;
    case 4: kxm_rows<DT, 4>(o, M, xr, K, w, ldw, kn, cols, first, bias); break;
    case 3: kxm_rows<DT, 3>(o, M, xr, K, w, ldw, kn, cols, first, bias); break;
    case 2: kxm_rows<DT, 2>(o, M, xr, K, w, ldw, kn, cols, first, bias); break;
    case 1: kxm_rows<DT, 1>(o, M, xr, K, w, ldw, kn, cols, first, bias); break;
  }
}

// One row streams w once. More rows copy blocks of kKxmBlockK x kKxmPanel weights to a contiguous
// f32 buffer first: each row of w is a new page, and a tile walking kn pages per column strip
// thrashes the TLB; the copy is reused by every row of x.
// packed: kKxmBlockK x kKxmPanel floats (matmul_avx2_scratch).
template <DType DT>
KILN_AVX2 void matmul_kxm(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                          int64_t M, int64_t ms, int64_t me, float* packed) {
  constexpr int64_t esz = elem_size<DT>();
  const char* wb = (const char*)w;
  if (N <= 1 || K <= 0) {  // one row or K = 0: straight from w, same order
    kxm_block<DT>(out + ms, x, N, K, M, wb + ms * esz, M, K, me - ms, true, bias ? bias + ms : nullptr);
    return;
  }
  for (int64_t p = ms; p < me; p += kKxmPanel) {
    const int64_t cols = p + kKxmPanel < me ? kKxmPanel : me - p;
    for (int64_t k0 = 0; k0 < K; k0 += kKxmBlockK) {
      const int64_t kn = k0 + kKxmBlockK < K ? kKxmBlockK : K - k0;
      for (int64_t k = 0; k < kn; k++) convert_row<DT>(packed + k * cols, wb + ((k0 + k) * M + p) * esz, cols);
      kxm_block<DType::F32>(out + p, x + k0, N, K, M, packed, cols, kn, cols, k0 == 0,
                            bias && k0 + kn == K ? bias + p : nullptr);
    }
  }
}

// out (N,M) = x (N,K) · w (M,K)ᵀ, or x · w (K,M) when w_kxm, + bias (M) when not null.
template <DType DT>
bool matmul_dt(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K, int64_t M,
               bool w_kxm, float* packed, int ith, int nth) {
  int64_t s, e;
  if (w_kxm) {
    // Column ranges in whole vectors, so threads do not share output cache lines.
    split_range((M + 7) / 8, ith, nth, &s, &e);
    s *= 8;
    e = e * 8 < M ? e * 8 : M;
    if (s < e) matmul_kxm<DT>(out, x, w, bias, N, K, M, s, e, packed);
    return true;
  }
  // Weight rows in whole tiles, each streamed from memory by exactly one thread.
  split_range((M + kCols - 1) / kCols, ith, nth, &s, &e);
  s *= kCols;
  e = e * kCols < M ? e * kCols : M;
  if (s >= e) return true;
  if (N < kPackMin) {
    matmul_stream<DT>(out, x, w, bias, N, K, M, s, e);
    return true;
  }
  matmul_tiled<DT>(out, x, w, bias, N, K, M, s, e, packed);
  return true;
}

}  // namespace

// Many rows against Q8_0 weights: each group of weight rows is dequantized to f32 once per block
// of x rows (as F16/BF16 rows are converted) and the f32 tiles do the rest. Threads split
// M in whole tiles; no barrier, so every thread may decide alone how it computes its share.
bool matmul_avx2_prefill_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                               int64_t K, int64_t M, float* packed, int ith, int nth) {
  // Q4_0 and the K-quants have int8 GEMMs (qgemm_*.cc); Q8_0 comes here. Decided before the
  // split: every thread must give the same answer (the others then meet at a barrier).
  if (dt != DType::Q8_0) return false;
  int64_t s, e;
  split_range((M + kCols - 1) / kCols, ith, nth, &s, &e);
  s *= kCols;
  e = e * kCols < M ? e * kCols : M;
  if (s >= e) return true;
  matmul_tiled<DType::Q8_0>(out, x, w, bias, N, K, M, s, e, packed);
  return true;
}

// Bytes of `packed` the kernels above need per thread: converted weight rows for the tiles, or the
// (K,M) layout's weight block.
size_t matmul_avx2_scratch(DType dt, int64_t K, bool w_kxm) {
  if (w_kxm) return (size_t)(kKxmBlockK * kKxmPanel) * sizeof(float);
  return dt == DType::F32 ? 0 : (size_t)(kCols * packed_stride(K)) * sizeof(float);
}

bool matmul_avx2(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t M, bool w_kxm, float* packed, int ith, int nth) {
  if (N <= 0 || M <= 0) return true;
  switch (dt) {
    case DType::F32:
      return matmul_dt<DType::F32>(out, x, w, bias, N, K, M, w_kxm, packed, ith, nth);
    case DType::BF16:
      return matmul_dt<DType::BF16>(out, x, w, bias, N, K, M, w_kxm, packed, ith, nth);
    case DType::F16:
      if (!cpu_features().f16c) return false;
      return matmul_dt<DType::F16>(out, x, w, bias, N, K, M, w_kxm, packed, ith, nth);
    default:
      return false;
  }
}

}  // namespace kiln

#endif  // KILN_X86
