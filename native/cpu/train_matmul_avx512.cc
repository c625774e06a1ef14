// AVX-512 weight gradient of matmul, dst (R,L) += aᵀ · b over N rows (train_matmul.cc picks it):
// a packed GEMM. The N rows go in blocks of kBlockN; for each block a group of kRowBlock dst rows
// takes its slice of a packed (column r of a, kTileRows at a time, so a's rows — far apart when a is
// dy of a wide layer — are read once per block) and each kPanel-column panel of b is packed once
// and reused by every row tile of the group, from L1. A tile of kTileRows x kPanel outputs lives in
// registers over a block.
//
// Every output element is summed in one fixed order, whatever the thread count or tiling:
// dst += (dst + a_0 b_0 + a_1 b_1 + ...) as one FMA chain in n order, starting from dst's value,
// written back after each block of kBlockN rows (the next block's chain starts from it). Threads
// split dst's rows, so no two write the same element. Buffers are on the stack (kernels do not
// allocate): kBlockN x kPanel + kBlockN x kRowBlock floats.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include "kernels.h"

#define KILN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KILN_AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {
namespace {

constexpr int kTileRows = 6;       // dst rows per register tile
constexpr int kVecs = 4;           // 16-float vectors per tile row: 24 accumulators of 32 registers
constexpr int64_t kPanel = kVecs * 16;
constexpr int64_t kBlockN = 128;   // rows of a and b per block: a packed panel is 32 KB, inside L1
constexpr int64_t kRowBlock = 96;  // most dst rows sharing each packed panel (16 tiles)
constexpr int64_t kDstBlockBytes = 512 << 10;  // a row group's dst rows: about half of L2

// dst tile (R rows at stride L, NV vectors, masks mk) += ap (kn x kTileRows) · bp (kn x kPanel).
template <int R, int NV>
KILN_AVX512 void tile(float* dst, int64_t L, const float* ap, const float* bp, int64_t kn, const __mmask16 (&mk)[kVecs]) {
  __m512 acc[R][NV];
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_maskz_loadu_ps(mk[v], dst + r * L + 16 * v);
  for (int64_t n = 0; n < kn; n++) {
    __m512 bv[NV];
    KILN_UNROLL
    for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(bp + n * kPanel + 16 * v);
    KILN_UNROLL
    for (int r = 0; r < R; r++) {
      __m512 av = _mm512_set1_ps(ap[n * kTileRows + r]);
      KILN_UNROLL
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  KILN_UNROLL
  for (int r = 0; r < R; r++)
    KILN_UNROLL
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(dst + r * L + 16 * v, mk[v], acc[r][v]);
}

template <int NV>
KILN_AVX512 void tile_rows(int R, float* dst, int64_t L, const float* ap, const float* bp, int64_t kn,
                           const __mmask16 (&mk)[kVecs]) {
  switch (R) {
    case 6: tile<6, NV>(dst, L, ap, bp, kn, mk); break;
    case 5: tile<5, NV>(dst, L, ap, bp, kn, mk); break;
    case 4: tile<4, NV>(dst, L, ap, bp, kn, mk); break;
    case 3: tile<3, NV>(dst, L, ap, bp, kn, mk); break;
    case 2: tile<2, NV>(dst, L, ap, bp, kn, mk); break;
    case 1: tile<1, NV>(dst, L, ap, bp, kn, mk); break;
  }
}

// bp (kn x kPanel) = b's rows n0.., columns l0..l0+w, zero past w.
KILN_AVX512 void pack_panel(float* bp, const float* b, int64_t L, int64_t kn, int64_t l0, int64_t w) {
  __mmask16 mk[kVecs];
  for (int v = 0; v < kVecs; v++) {
    int64_t left = w - 16 * v;
    mk[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : (__mmask16)0;
  }
  for (int64_t n = 0; n < kn; n++) {
    const float* src = b + n * L + l0;
    KILN_UNROLL
    for (int v = 0; v < kVecs; v++) _mm512_store_ps(bp + n * kPanel + 16 * v, _mm512_maskz_loadu_ps(mk[v], src + 16 * v));
  }
}

// ap: for each tile of kTileRows rows of [r0, r0+rows), kn x kTileRows floats: a[n, r] (zero past rows).
KILN_AVX512 void pack_rows(float* ap, const float* a, int64_t A, int64_t kn, int64_t r0, int64_t rows) {
  for (int64_t t = 0; t < rows; t += kTileRows) {
    float* dst = ap + t * kn;  // tile t / kTileRows starts at (t / kTileRows) * kn * kTileRows
    const int64_t tr = rows - t < kTileRows ? rows - t : kTileRows;
    for (int64_t n = 0; n < kn; n++) {
      const float* src = a + n * A + r0 + t;
      int64_t r = 0;
      for (; r < tr; r++) dst[n * kTileRows + r] = src[r];
      for (; r < kTileRows; r++) dst[n * kTileRows + r] = 0.f;
    }
  }
}

}  // namespace

// dst (R,L): rows [s, e) += Σ_n a[n, r] · b[n, :], a (N, A), b (N, L).
KILN_AVX512 void accumulate_outer_avx512(float* dst, const float* a, int64_t A, const float* b, int64_t L, int64_t N,
                                         int64_t s, int64_t e) {
  alignas(64) float bp[kBlockN * kPanel];
  alignas(64) float ap[kBlockN * kRowBlock];
  // Row groups as large as keep their dst rows in L2 across the blocks, in whole tiles.
  int64_t group = kDstBlockBytes / (L * (int64_t)sizeof(float)) / kTileRows * kTileRows;
  group = group < 2 * kTileRows ? 2 * kTileRows : group > kRowBlock ? kRowBlock : group;
  for (int64_t rb = s; rb < e; rb += group) {
    const int64_t rows = e - rb < group ? e - rb : group;
    for (int64_t n0 = 0; n0 < N; n0 += kBlockN) {
      const int64_t kn = N - n0 < kBlockN ? N - n0 : kBlockN;
      pack_rows(ap, a + n0 * A, A, kn, rb, rows);
      for (int64_t l0 = 0; l0 < L; l0 += kPanel) {
        const int64_t w = L - l0 < kPanel ? L - l0 : kPanel;
        pack_panel(bp, b + n0 * L, L, kn, l0, w);
        __mmask16 mk[kVecs];
        for (int v = 0; v < kVecs; v++) {
          int64_t left = w - 16 * v;
          mk[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : (__mmask16)0;
        }
        const int nv = (int)((w + 15) / 16);
        for (int64_t t = 0; t < rows; t += kTileRows) {
          const int R = (int)(rows - t < kTileRows ? rows - t : kTileRows);
          float* d = dst + (rb + t) * L + l0;
          const float* at = ap + t * kn;
          switch (nv) {
            case 4: tile_rows<4>(R, d, L, at, bp, kn, mk); break;
            case 3: tile_rows<3>(R, d, L, at, bp, kn, mk); break;
            case 2: tile_rows<2>(R, d, L, at, bp, kn, mk); break;
            default: tile_rows<1>(R, d, L, at, bp, kn, mk); break;
          }
        }
      }
    }
  }
}

}  // namespace kiln

#endif  // KILN_X86
