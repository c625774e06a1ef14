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
#include <immintrin.h>

#include <cstdlib>

#include "cpu/cpu_features.h"
#include "kernels.h"

#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace kiln {
namespace {

constexpr int kRows = 3;      // x rows per tile
constexpr int kCols = 4;      // weight rows per tile
constexpr int kPackMin = 4;   // N at which converting a weight block to f32 once beats converting per use
#ifndef KILN_BK
#define KILN_BK 512
#endif
constexpr int64_t kBlockK = KILN_BK;  // K block of the prefill kernel: 3 x rows + 4 w rows stay in L1
constexpr int kPrefetch = 512;    // bytes ahead each decode weight stream is prefetched

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

// ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)) of one accumulator.
KILN_AVX2_INLINE float hsum(__m256 a) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

KILN_AVX2_INLINE float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// Accumulates chunks [k0, k1) (multiples of 8) of R x rows against C weight rows into acc.
// The weight rows are wr[c] (dtype DT); x rows are x + r*K.
template <DType DT, int R, int C, bool PF>
KILN_AVX2_INLINE void tile_accumulate(__m256 (&acc)[R][C], const float* x, int64_t K, const void* const (&wr)[C],
                                      int64_t k0, int64_t k1) {
  for (int64_t k = k0; k < k1; k += 8) {
    if constexpr (PF) {
      // One prefetch per 64-byte line of each stream.
      if (((k * elem_size<DT>()) & 63) == 0)
        for (int c = 0; c < C; c++)
          _mm_prefetch((const char*)wr[c] + k * elem_size<DT>() + kPrefetch, _MM_HINT_T0);
    }
    __m256 xv[R];
    for (int r = 0; r < R; r++) xv[r] = _mm256_loadu_ps(x + r * K + k);
    for (int c = 0; c < C; c++) {
      __m256 wv = load8<DT>(wr[c], k);
      for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
}

// Reduces the accumulators, adds the K tail and the bias, and stores the R x C outputs.
template <DType DT, int R, int C>
KILN_AVX2_INLINE void tile_finish(__m256 (&acc)[R][C], const float* x, int64_t K, const void* const (&wr)[C],
                                  const float* bias, float* out, int64_t M, int64_t m) {
  int64_t K8 = K & ~(int64_t)7;
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) {
      float s = hsum(acc[r][c]);
      for (int64_t k = K8; k < K; k++) s = fma1(x[r * K + k], load_as_f32(wr[c], DT, k), s);
      out[r * M + m + c] = bias ? s + bias[m + c] : s;
    }
}

// A whole R x C tile over all of K, weight rows read (and converted) in place.
template <DType DT, int R, int C, bool PF>
KILN_AVX2 void tile_full(const float* x, int64_t K, const void* const (&wr)[C], const float* bias, float* out,
                         int64_t M, int64_t m) {
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  tile_accumulate<DT, R, C, PF>(acc, x, K, wr, 0, K & ~(int64_t)7);
  tile_finish<DT, R, C>(acc, x, K, wr, bias, out, M, m);
}

template <DType DT, int C, bool PF>
KILN_AVX2_INLINE void rows_full(const float* x, int64_t N, int64_t K, const void* const (&wr)[C],
                                const float* bias, float* out, int64_t M, int64_t m) {
  int64_t n = 0;
  for (; n + kRows <= N; n += kRows) tile_full<DT, kRows, C, PF>(x + n * K, K, wr, bias, out + n * M, M, m);
  if (N - n == 2) tile_full<DT, 2, C, PF>(x + n * K, K, wr, bias, out + n * M, M, m);
  if (N - n == 1) tile_full<DT, 1, C, PF>(x + n * K, K, wr, bias, out + n * M, M, m);
}

// Few rows: stream each group of weight rows once, for all N rows of x.
template <DType DT>
KILN_AVX2 void matmul_stream(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                             int64_t M, int64_t ms, int64_t me) {
  const uint8_t* wb = (const uint8_t*)w;
  const int64_t row = K * elem_size<DT>();
  int64_t m = ms;
  for (; m + kCols <= me; m += kCols) {
    const void* wr[kCols];
    for (int c = 0; c < kCols; c++) wr[c] = wb + (m + c) * row;
    rows_full<DT, kCols, true>(x, N, K, wr, bias, out, M, m);
  }
  for (; m < me; m++) {
    const void* wr[1] = {wb + m * row};
    rows_full<DT, 1, true>(x, N, K, wr, bias, out, M, m);
  }
}

// Thread-local f32 scratch, 64-byte aligned, grown as needed and kept between calls.
KILN_AVX2 float* scratch_f32(size_t n) {
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf b;
  if (n == 0) n = 16;
  if (b.n < n) {
    std::free(b.p);
    b.p = (float*)std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    b.n = b.p ? n : 0;
  }
  return b.p;
}

template <DType DT>
KILN_AVX2 void convert_rows(float* dst, const void* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_store_ps(dst + i, load8<DT>(src, i));
  for (; i < n; i++) dst[i] = load_as_f32(src, DT, i);
}

// One K block [k0, k1) of an R x kCols tile on f32 weight rows; partial sums live in pg between blocks.
template <int R>
KILN_AVX2 void tile_block(__m256* pg, const float* x, int64_t K, const void* const (&wr)[kCols], int64_t k0,
                          int64_t k1, bool first, bool last, const float* bias, float* out, int64_t M, int64_t m) {
  __m256 acc[R][kCols];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < kCols; c++) acc[r][c] = first ? _mm256_setzero_ps() : pg[r * kCols + c];
  tile_accumulate<DType::F32, R, kCols, false>(acc, x, K, wr, k0, k1);
  if (last) {
    tile_finish<DType::F32, R, kCols>(acc, x, K, wr, bias, out, M, m);
  } else {
    for (int r = 0; r < R; r++)
      for (int c = 0; c < kCols; c++) pg[r * kCols + c] = acc[r][c];
  }
}

// Many rows: register tiles of kRows x rows by kCols weight rows, blocked over K so the tile's
// operands stay in L1; F16/BF16 weight rows are converted to f32 once per group of kCols rows.
// Partial sums between K blocks are kept as whole 8-lane vectors, so the order is unchanged.
template <DType DT>
KILN_AVX2 void matmul_tiled(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                            int64_t M, int64_t ms, int64_t me) {
  const int64_t K8 = K & ~(int64_t)7;
  const int64_t row = K * elem_size<DT>();
  const int64_t ngroups = (N + kRows - 1) / kRows;
  const bool pack = DT != DType::F32;
  // [packed weights kCols*K] [partial sums ngroups * kRows*kCols*8]
  size_t pack_n = pack ? (size_t)(kCols * ((K + 15) & ~(int64_t)15)) : 0;
  size_t part_n = K8 > kBlockK ? (size_t)ngroups * kRows * kCols * 8 : 0;
  float* buf = scratch_f32(pack_n + part_n);
  if (!buf) {  // out of memory for scratch: the streaming kernel sums in the same order
    matmul_stream<DT>(out, x, w, bias, N, K, M, ms, me);
    return;
  }
  float* packed = buf;
  __m256* part = (__m256*)(buf + pack_n);
  const int64_t pstride = (K + 15) & ~(int64_t)15;
  const uint8_t* wb = (const uint8_t*)w;

  int64_t m = ms;
  for (; m + kCols <= me; m += kCols) {
    const void* wr[kCols];
    if (pack) {
      for (int c = 0; c < kCols; c++) {
        convert_rows<DT>(packed + c * pstride, wb + (m + c) * row, K);
        wr[c] = packed + c * pstride;
      }
    } else {
      for (int c = 0; c < kCols; c++) wr[c] = wb + (m + c) * row;
    }
    if (part_n == 0) {
      rows_full<DType::F32, kCols, false>(x, N, K, wr, bias, out, M, m);
      continue;
    }
    for (int64_t k0 = 0; k0 < K8; k0 += kBlockK) {
      int64_t k1 = k0 + kBlockK < K8 ? k0 + kBlockK : K8;
      bool first = k0 == 0, last = k1 == K8;
      int64_t n = 0;
      for (int64_t g = 0; g < ngroups; g++, n += kRows) {
        __m256* pg = part + g * kRows * kCols;
        const float* xg = x + n * K;
        float* og = out + n * M;
        switch (N - n < kRows ? N - n : kRows) {
          case 3: tile_block<3>(pg, xg, K, wr, k0, k1, first, last, bias, og, M, m); break;
          case 2: tile_block<2>(pg, xg, K, wr, k0, k1, first, last, bias, og, M, m); break;
          default: tile_block<1>(pg, xg, K, wr, k0, k1, first, last, bias, og, M, m); break;
        }
      }
    }
  }
  // Leftover weight rows (M not a multiple of kCols in this thread's range): in place.
  for (; m < me; m++) {
    const void* wr[1] = {wb + m * row};
    rows_full<DT, 1, false>(x, N, K, wr, bias, out, M, m);
  }
}

// w (K,M): out[n, m] = sum_k x[n,k] w[k,m] as one FMA chain per element in k order. Tiles of R rows
// by V vectors of 8 columns broadcast x and stream w rows; leftover columns run the same chain
// in scalar.
template <DType DT, int R, int V>
KILN_AVX2 void kxm_tile(float* out, const float* x, const void* w, const float* bias, int64_t K, int64_t M,
                        int64_t m) {
  __m256 acc[R][V];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    __m256 wv[V];
    for (int v = 0; v < V; v++) wv[v] = load8<DT>(w, k * M + m + 8 * v);
    for (int r = 0; r < R; r++) {
      __m256 xb = _mm256_broadcast_ss(x + r * K + k);
      for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) {
      __m256 o = acc[r][v];
      if (bias) o = _mm256_add_ps(o, _mm256_loadu_ps(bias + m + 8 * v));
      _mm256_storeu_ps(out + r * M + m + 8 * v, o);
    }
}

template <DType DT, int R>
KILN_AVX2 void kxm_rows(float* out, const float* x, const void* w, const float* bias, int64_t K, int64_t M,
                        int64_t ms, int64_t me) {
  int64_t m = ms;
  if constexpr (R == 1) {  // decode: wide panels keep several FMA chains and whole lines in flight
    for (; m + 64 <= me; m += 64) kxm_tile<DT, 1, 8>(out, x, w, bias, K, M, m);
  }
  for (; m + 16 <= me; m += 16) kxm_tile<DT, R, 2>(out, x, w, bias, K, M, m);
  for (; m + 8 <= me; m += 8) kxm_tile<DT, R, 1>(out, x, w, bias, K, M, m);
  for (; m < me; m++)
    for (int r = 0; r < R; r++) {
      float s = 0.f;
      for (int64_t k = 0; k < K; k++) s = fma1(x[r * K + k], load_as_f32(w, DT, k * M + m), s);
      out[r * M + m] = bias ? s + bias[m] : s;
    }
}

template <DType DT>
KILN_AVX2 void matmul_kxm(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                          int64_t M, int64_t ms, int64_t me) {
  int64_t n = 0;
  for (; n + 6 <= N; n += 6) kxm_rows<DT, 6>(out + n * M, x + n * K, w, bias, K, M, ms, me);
  switch (N - n) {
    case 5: kxm_rows<DT, 5>(out + n * M, x + n * K, w, bias, K, M, ms, me); break;
    case 4: kxm_rows<DT, 4>(out + n * M, x + n * K, w, bias, K, M, ms, me); break;
    case 3: kxm_rows<DT, 3>(out + n * M, x + n * K, w, bias, K, M, ms, me); break;
    case 2: kxm_rows<DT, 2>(out + n * M, x + n * K, w, bias, K, M, ms, me); break;
    case 1: kxm_rows<DT, 1>(out + n * M, x + n * K, w, bias, K, M, ms, me); break;
  }
}

template <DType DT>
bool matmul_dt(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K, int64_t M,
               bool w_kxm, int ith, int nth) {
  int64_t s, e;
  if (w_kxm) {
    // Column ranges in whole vectors, so threads do not share output cache lines.
    split_range((M + 7) / 8, ith, nth, &s, &e);
    s *= 8;
    e = e * 8 < M ? e * 8 : M;
    if (s < e) matmul_kxm<DT>(out, x, w, bias, N, K, M, s, e);
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
  matmul_tiled<DT>(out, x, w, bias, N, K, M, s, e);
  return true;
}

}  // namespace

bool matmul_avx2(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t M, bool w_kxm, int ith, int nth) {
  if (N <= 0 || M <= 0) return true;
  switch (dt) {
    case DType::F32:
      return matmul_dt<DType::F32>(out, x, w, bias, N, K, M, w_kxm, ith, nth);
    case DType::BF16:
      return matmul_dt<DType::BF16>(out, x, w, bias, N, K, M, w_kxm, ith, nth);
    case DType::F16:
      if (!cpu_features().f16c) return false;
      return matmul_dt<DType::F16>(out, x, w, bias, N, K, M, w_kxm, ith, nth);
    default:
      return false;
  }
}

}  // namespace kiln
