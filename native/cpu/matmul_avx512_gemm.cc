// The GEMM-order matmul on AVX-512, for F32/F16/BF16 weights laid out (M,K), in graphs whose
// matmuls all ask for it (the node's i1; encoders, whose steps are whole sequences of many rows).
//
// Order: every output is one FMA chain over k = 0, 1, .., K-1 (acc = fma(w[m][k], x[n][k], acc)
// from acc = 0), then + bias. Nothing of it depends on N, the tiling or the thread count, so a row's
// result is bit-identical alone or in any batch, as with matmul_avx512.cc's order (16 lane chains,
// then a fixed tree). The two orders differ, so a graph uses one for all its steps: that one suits
// decode (each weight row read once, front to back), this one many rows.
//
// Form (BLAS-style outer products): 32 rows of x are packed as a (K, 32) panel, transposed, rows
// past N zero. A tile is kTileRows weight rows against the panel: per k, each weight row's value is
// broadcast and multiplied into the panel's two vectors, 2·kTileRows FMAs into as many accumulators
// (24 of the 32 registers), and nothing is summed across lanes. At the end of K the tile is
// transposed in registers and stored as kTileRows consecutive outputs of each of the 32 rows.
// F16/BF16 weights are widened 16 k at a time into a small f32 block on the stack. Up to 16 rows
// (a short input, or the last rows of a step) are not worth a padded panel: few_rows transposes
// 16 weight rows at a time instead, in the same order.
// Measured on Zen 5, interleaved with matmul_avx512.cc's tiles on the same calls (which stream x
// from L2 and sum lanes per output): 1.0-1.55x at 32-4096 rows (most at K = 3072), 0.7-1.0x at
// 8-16 rows; BERT-base forward 1.2-1.3x at 128 tokens and at 32 × 128, 1.0-1.1x at 8-16 tokens.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's AVX-512 headers (see matmul_avx512.cc)
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include "cpu/transpose_avx512.h"
#include "kernels.h"

#define KILN_GEMM __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KILN_GEMM_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {
namespace {

constexpr int kPanel = 32;     // x rows per packed panel: two vectors
constexpr int kTileRows = 12;  // weight rows per tile
constexpr int kFewRows = 16;   // up to this many x rows, transpose weights instead (few_rows)
constexpr int64_t kFewAhead = 512;  // few_rows prefetches each of its 16 weight rows this far ahead
constexpr int64_t kSmallWeights = 512 << 10;  // weights up to this many bytes: threads split x, not w

// 16 values of a weight row (dtype DT) from element k as f32; lanes outside mask are 0.
template <DType DT>
KILN_GEMM_INLINE __m512 load16(const void* row, int64_t k, __mmask16 mask) {
  if constexpr (DT == DType::F32) {
    return _mm512_maskz_loadu_ps(mask, (const float*)row + k);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t*)row + k);
    if constexpr (DT == DType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else
      return _mm512_cvtph_ps(h);
  }
}

// panel (K, 32) = rows [0, rows) of x (rows ≤ 32, row stride K) transposed; rows past `rows` are 0.
KILN_GEMM void pack_panel(float* panel, const float* x, int64_t K, int64_t rows) {
  for (int64_t k0 = 0; k0 < K; k0 += 16) {
    const int64_t kn = K - k0 < 16 ? K - k0 : 16;
    const __mmask16 mask = first_lanes(kn);
    for (int half = 0; half < 2; half++) {
      __m512 r[16];
      KILN_UNROLL
      for (int i = 0; i < 16; i++) {
        const int64_t n = half * 16 + i;
        r[i] = n < rows ? _mm512_maskz_loadu_ps(mask, x + n * K + k0) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (int64_t j = 0; j < kn; j++) _mm512_store_ps(panel + (k0 + j) * kPanel + half * 16, r[j]);
    }
  }
}

// dst[r] = weights k0 .. k0+15 of row wr[r] as f32 (0 past K).
template <DType DT, int R>
KILN_GEMM_INLINE void widen(const char* const (&wr)[R], int64_t k0, int64_t K, float (&dst)[R][16]) {
  KILN_UNROLL
  for (int r = 0; r < R; r++) _mm512_store_ps(dst[r], load16<DT>(wr[r], k0, first_lanes(K - k0)));
}

// acc[r][H] lane i is out[H*16 + i][m0 + r]: the half transposed (rows r ≥ R are 0), each panel
// row is one vector of its R outputs. (H a constant, so the accumulators stay in registers.)
template <int R, int H>
KILN_GEMM_INLINE void store_half(const __m512 (&acc)[R][2], float* out, int64_t M, int64_t m0, int64_t rows,
                                 const float* bias) {
  const __mmask16 cols = first_lanes(R);
  __m512 t[16];
  KILN_UNROLL
  for (int r = 0; r < 16; r++) t[r] = r < R ? acc[r][H] : _mm512_setzero_ps();
  transpose16(t);
  if (bias) {
    const __m512 b = _mm512_maskz_loadu_ps(cols, bias + m0);
    KILN_UNROLL
    for (int i = 0; i < 16; i++) t[i] = _mm512_add_ps(t[i], b);
  }
  const int64_t n_end = rows - H * 16 < 16 ? rows - H * 16 : 16;
  KILN_UNROLL
  for (int i = 0; i < 16; i++)
    if (i < n_end) _mm512_mask_storeu_ps(out + (H * 16 + i) * M + m0, cols, t[i]);
}

// R (≤ kTileRows) weight rows from m0 against the panel: out[n][m0 + r] for n < rows.
template <DType DT, int R>
KILN_GEMM_INLINE void tile(float* out, int64_t M, int64_t m0, const void* w, int64_t K, const float* panel,
                           int64_t rows, const float* bias) {
  constexpr int64_t esz = DT == DType::F32 ? 4 : 2;
  constexpr int V = 2, stride = kPanel;  // panel vectors and floats per k
  const char* wr[R];
  KILN_UNROLL
  for (int r = 0; r < R; r++) wr[r] = (const char*)w + (m0 + r) * K * esz;
  __m512 acc[R][V];
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
  if constexpr (DT == DType::F32) {
    for (int64_t k = 0; k < K; k++) {
      __m512 b[V];
      KILN_UNROLL
      for (int v = 0; v < V; v++) b[v] = _mm512_load_ps(panel + k * stride + 16 * v);
      KILN_UNROLL
      for (int r = 0; r < R; r++) {
        const __m512 a = _mm512_set1_ps(((const float*)wr[r])[k]);
        KILN_UNROLL
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
      }
    }
  } else {
    // The rows' weights 16 k at a time, widened one block ahead of their use: a broadcast read
    // straight after the vector store it reads from would wait for that store.
    alignas(64) float blk[2][R][16];
    if (K > 0) widen<DT, R>(wr, 0, K, blk[0]);
    for (int64_t k0 = 0, h = 0; k0 < K; k0 += 16, h ^= 1) {
      if (k0 + 16 < K) widen<DT, R>(wr, k0 + 16, K, blk[h ^ 1]);
      const int64_t kn = K - k0 < 16 ? K - k0 : 16;
      const float* p = panel + k0 * stride;
      for (int64_t j = 0; j < kn; j++, p += stride) {
        __m512 b[V];
        KILN_UNROLL
        for (int v = 0; v < V; v++) b[v] = _mm512_load_ps(p + 16 * v);
        KILN_UNROLL
        for (int r = 0; r < R; r++) {
          const __m512 a = _mm512_set1_ps(blk[h][r][j]);
          KILN_UNROLL
          for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
      }
    }
  }
  store_half<R, 0>(acc, out, M, m0, rows, bias);
  if (rows > 16) store_half<R, 1>(acc, out, M, m0, rows, bias);
}

// Few rows (NR ≤ kFewRows): the weights are transposed instead of x, 16 rows of them 16 k at a
// time in registers, so the FMAs are NR per weight vector rather than a padded panel's 16 or 32;
// out[n][m0..m0+15] = one accumulator each, in the same order (fma(w[m][k], x[n][k], acc), k
// ascending) as the panels. Weight rows [s, e).
template <DType DT, int NR>
KILN_GEMM void few_rows(float* out, int64_t M, int64_t s, int64_t e, const void* w, int64_t K, const float* x,
                        const float* bias) {
  constexpr int64_t esz = DT == DType::F32 ? 4 : 2;
  for (int64_t m0 = s; m0 < e; m0 += 16) {
    const int64_t mr = e - m0 < 16 ? e - m0 : 16;
    __m512 acc[NR];
    KILN_UNROLL
    for (int n = 0; n < NR; n++) acc[n] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
      const int64_t kn = K - k0 < 16 ? K - k0 : 16;
      __m512 t[16];
      KILN_UNROLL
      for (int r = 0; r < 16; r++) {
        const char* row = (const char*)w + (m0 + r) * K * esz;
        if (r < mr && ((k0 * esz) & 63) == 0) _mm_prefetch(row + k0 * esz + kFewAhead, _MM_HINT_T0);
        t[r] = r < mr ? load16<DT>(row, k0, first_lanes(kn)) : _mm512_setzero_ps();
      }
      transpose16(t);  // t[j] lane r: w[m0 + r][k0 + j]
      // x rows 8 at a time: the 16 weight vectors and 8 accumulators fit the 32 registers.
      KILN_UNROLL
      for (int n0 = 0; n0 < NR; n0 += 8) {
        KILN_UNROLL
        for (int j = 0; j < 16; j++) {
          if (j >= kn) break;
          KILN_UNROLL
          for (int n = n0; n < NR && n < n0 + 8; n++)
            acc[n] = _mm512_fmadd_ps(t[j], _mm512_set1_ps(x[n * K + k0 + j]), acc[n]);
        }
      }
    }
    const __mmask16 cols = first_lanes(mr);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(cols, bias + m0) : _mm512_setzero_ps();
    KILN_UNROLL
    for (int n = 0; n < NR; n++) _mm512_mask_storeu_ps(out + n * M + m0, cols, bias ? _mm512_add_ps(acc[n], b) : acc[n]);
  }
}

// Weight rows [s, e) against one packed panel.
template <DType DT>
KILN_GEMM void panel_rows(float* o, int64_t M, int64_t s, int64_t e, const void* w, int64_t K, const float* panel,
                          int64_t rows, const float* bias) {
  int64_t m = s;
  for (; m + kTileRows <= e; m += kTileRows) tile<DT, kTileRows>(o, M, m, w, K, panel, rows, bias);
  switch (e - m) {  // the last rows of M
    case 11: tile<DT, 11>(o, M, m, w, K, panel, rows, bias); break;
    case 10: tile<DT, 10>(o, M, m, w, K, panel, rows, bias); break;
    case 9: tile<DT, 9>(o, M, m, w, K, panel, rows, bias); break;
    case 8: tile<DT, 8>(o, M, m, w, K, panel, rows, bias); break;
    case 7: tile<DT, 7>(o, M, m, w, K, panel, rows, bias); break;
    case 6: tile<DT, 6>(o, M, m, w, K, panel, rows, bias); break;
    case 5: tile<DT, 5>(o, M, m, w, K, panel, rows, bias); break;
    case 4: tile<DT, 4>(o, M, m, w, K, panel, rows, bias); break;
    case 3: tile<DT, 3>(o, M, m, w, K, panel, rows, bias); break;
    case 2: tile<DT, 2>(o, M, m, w, K, panel, rows, bias); break;
    case 1: tile<DT, 1>(o, M, m, w, K, panel, rows, bias); break;
  }
}

// Rows [n0, n1) of x against weight rows [s, e): panel by panel, a last one of kFewRows or fewer
// (all of a short input) not packed at all (few_rows).
template <DType DT>
KILN_GEMM void rows_range(float* out, const float* x, const void* w, const float* bias, int64_t n0, int64_t n1,
                          int64_t K, int64_t M, int64_t s, int64_t e, float* panel) {
  for (; n0 < n1; n0 += kPanel) {
    const int64_t rows = n1 - n0 < kPanel ? n1 - n0 : kPanel;
    const float* xr = x + n0 * K;
    float* o = out + n0 * M;
    static_assert(kFewRows == 16, "the cases below");
    switch (rows) {
      case 1: few_rows<DT, 1>(o, M, s, e, w, K, xr, bias); continue;
      case 2: few_rows<DT, 2>(o, M, s, e, w, K, xr, bias); continue;
      case 3: few_rows<DT, 3>(o, M, s, e, w, K, xr, bias); continue;
      case 4: few_rows<DT, 4>(o, M, s, e, w, K, xr, bias); continue;
      case 5: few_rows<DT, 5>(o, M, s, e, w, K, xr, bias); continue;
      case 6: few_rows<DT, 6>(o, M, s, e, w, K, xr, bias); continue;
      case 7: few_rows<DT, 7>(o, M, s, e, w, K, xr, bias); continue;
      case 8: few_rows<DT, 8>(o, M, s, e, w, K, xr, bias); continue;
      case 9: few_rows<DT, 9>(o, M, s, e, w, K, xr, bias); continue;
      case 10: few_rows<DT, 10>(o, M, s, e, w, K, xr, bias); continue;
      case 11: few_rows<DT, 11>(o, M, s, e, w, K, xr, bias); continue;
      case 12: few_rows<DT, 12>(o, M, s, e, w, K, xr, bias); continue;
      case 13: few_rows<DT, 13>(o, M, s, e, w, K, xr, bias); continue;
      case 14: few_rows<DT, 14>(o, M, s, e, w, K, xr, bias); continue;
      case 15: few_rows<DT, 15>(o, M, s, e, w, K, xr, bias); continue;
      case 16: few_rows<DT, 16>(o, M, s, e, w, K, xr, bias); continue;
      default: break;
    }
    pack_panel(panel, xr, K, rows);
    panel_rows<DT>(o, M, s, e, w, K, panel, rows, bias);
  }
}

// Which part a thread takes changes no bits. Small weights (an L2's worth, ≤ kSmallWeights) are
// read whole by every thread, each taking its own panels of x; larger ones are split by tiles of
// weight rows, every thread packing every panel (N·K floats, against N·K·M/nth FMAs).
template <DType DT>
KILN_GEMM void gemm_dt(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K, int64_t M,
                       float* panel, int ith, int nth) {
  const int64_t panels = (N + kPanel - 1) / kPanel;
  int64_t s, e;
  if (panels >= nth && M * K * (DT == DType::F32 ? 4 : 2) <= kSmallWeights) {
    split_range(panels, ith, nth, &s, &e);
    if (s < e) rows_range<DT>(out, x, w, bias, s * kPanel, e * kPanel < N ? e * kPanel : N, K, M, 0, M, panel);
    return;
  }
  split_range((M + kTileRows - 1) / kTileRows, ith, nth, &s, &e);
  s *= kTileRows;
  e = e * kTileRows < M ? e * kTileRows : M;
  if (s < e) rows_range<DT>(out, x, w, bias, 0, N, K, M, s, e, panel);
}

}  // namespace

// Bytes of scratch per thread: the packed panel (64-byte aligned by the caller's cache lines).
size_t matmul_avx512_gemm_scratch(DType dt, int64_t K) {
  return dt == DType::F32 || dt == DType::F16 || dt == DType::BF16 ? (size_t)K * kPanel * sizeof(float) : 0;
}

// False for what it does not handle (other dtypes); the caller then runs its other kernels.
bool matmul_avx512_gemm(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                        int64_t M, float* panel, int ith, int nth) {
  if (N <= 0 || M <= 0) return dt == DType::F32 || dt == DType::F16 || dt == DType::BF16;
  switch (dt) {
    case DType::F32: gemm_dt<DType::F32>(out, x, w, bias, N, K, M, panel, ith, nth); return true;
    case DType::F16: gemm_dt<DType::F16>(out, x, w, bias, N, K, M, panel, ith, nth); return true;
    case DType::BF16: gemm_dt<DType::BF16>(out, x, w, bias, N, K, M, panel, ith, nth); return true;
    default: return false;
  }
}

}  // namespace kiln

#endif  // KILN_X86
