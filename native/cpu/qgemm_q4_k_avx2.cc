// Prefill against Q4_K and Q5_K weights as an int8 GEMM (AVX2), on panels of 8 repacked rows (qgemm_avx2.h),
// with the activations quantized to Q8_K as for decode. The quants are unsigned (0..15; Q5_K 0..31), so maddubs
// takes them as its unsigned operand and the activations as they are. Per super-block and row:
//   isum = Σ_j sc_j · Σ_{32 of sub-block j} q·x     (exact: the 6-bit scale rides in the madd)
//   msum = Σ_j m_j · Σ_{32 of sub-block j} x       (exact: from the activations' 16-element sums)
//   acc += x_d·(d·isum) − x_d·(dmin·msum)           (floats, in the portable twin's order)
// so every output has exactly the bits of the decode kernels and the portable vec_dot, whatever
// the tile, the other rows or the thread count.
//
// Panel, per super-block (kQ4KBlockBytes): float d[8], float dmin[8]; sc[j] (j = 0..7), lane r =
// row r's scale of sub-block j in both int16 halves; mn[p] (p = 0..3), lane r = row r's mins of
// sub-blocks 2p and 2p+1 as int16; then q[j][g] (g = 0..7), lane r = row r's quants 32j+4g..+3.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "cpu/qgemm_avx2.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

namespace kiln {
namespace {

constexpr size_t kScOffset = 16 * sizeof(float);
constexpr size_t kMnOffset = kScOffset + 8 * 32;
constexpr size_t kQOffset = kMnOffset + 4 * 32;
constexpr size_t kQ4KBlockBytes = kQOffset + 64 * 32;

// Rows [m, m + rows) of w (rows ≤ 8; missing rows are zeros) into the panel layout above. Q5_K
// (Q4_K's layout plus qh) gets bit 4 of each quant from qh: bit 2i of qh[l] for element 64i + l,
// bit 2i + 1 for 64i + 32 + l.
template <DType DT>
KILN_AVX2 void repack_q4_K(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nb) {
  using Block = std::conditional_t<DT == DType::Q5_K, block_q5_K, block_q4_K>;
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* pb = panel + b * kQ4KBlockBytes;
    float* d = (float*)pb;
    alignas(32) int32_t sc[8][kPanelRows], mn[4][kPanelRows];
    __m256i sub[8][kPanelRows];  // [sub-block][row]: 32 quants, one per byte
    for (int r = 0; r < kPanelRows; r++) {
      if (r >= rows) {
        d[r] = d[8 + r] = 0.f;
        for (int j = 0; j < 8; j++) sub[j][r] = _mm256_setzero_si256(), sc[j][r] = 0;
        for (int p = 0; p < 4; p++) mn[p][r] = 0;
        continue;
      }
      const Block* blk = (const Block*)(w + (m + r) * w_row) + b;
      d[r] = _cvtsh_ss(blk->d);
      d[8 + r] = _cvtsh_ss(blk->dmin);
      uint8_t s[8], mins[8];
      q4_K_scales(blk->scales, s, mins);
      for (int j = 0; j < 8; j++) sc[j][r] = s[j] * 0x10001;
      for (int p = 0; p < 4; p++) mn[p][r] = mins[2 * p] | (mins[2 * p + 1] << 16);
      for (int i = 0; i < 4; i++) {  // 64 elements: low nibbles sub-block 2i, high 2i+1
        const __m256i v = _mm256_loadu_si256((const __m256i*)(blk->qs + 32 * i));
        sub[2 * i][r] = _mm256_and_si256(v, m4);
        sub[2 * i + 1][r] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if constexpr (DT == DType::Q5_K) {
          const __m256i qh = _mm256_loadu_si256((const __m256i*)blk->qh);
          sub[2 * i][r] = _mm256_or_si256(sub[2 * i][r], bit4(qh, 2 * i, one));
          sub[2 * i + 1][r] = _mm256_or_si256(sub[2 * i + 1][r], bit4(qh, 2 * i + 1, one));
        }
      }
    }
    __m256i* out_sc = (__m256i*)(pb + kScOffset);
    __m256i* out_mn = (__m256i*)(pb + kMnOffset);
    __m256i* out_q = (__m256i*)(pb + kQOffset);
    for (int j = 0; j < 8; j++) {
      _mm256_store_si256(out_sc + j, _mm256_load_si256((const __m256i*)sc[j]));
      transpose_dwords_8x8(sub[j], out_q + 8 * j);
    }
    for (int p = 0; p < 4; p++) _mm256_store_si256(out_mn + p, _mm256_load_si256((const __m256i*)mn[p]));
  }
}

// R activation rows (Q8_K, x_row bytes apart) × the panel's 8 weight rows.
template <DType DT, int R>
KILN_AVX2 void tile_q4_K(float* out, int64_t M, const uint8_t* panel, const uint8_t* xq, size_t x_row, int64_t nb,
                         const float* bias, int valid) {
  __m256 acc[R];
  KILN_UNROLL for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = panel + b * kQ4KBlockBytes;
    const __m256 dw = _mm256_load_ps((const float*)pb);
    const __m256 dmin = _mm256_load_ps((const float*)pb + 8);
    const __m256i* sc = (const __m256i*)(pb + kScOffset);
    const __m256i* mn = (const __m256i*)(pb + kMnOffset);
    const __m256i* q = (const __m256i*)(pb + kQOffset);
    const block_q8_K* xb[R];
    KILN_UNROLL for (int r = 0; r < R; r++) xb[r] = (const block_q8_K*)(xq + r * x_row) + b;
    __m256i isum[R];
    KILN_UNROLL for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (int j = 0; j < 8; j++) {
      __m256i s16[R];
      KILN_UNROLL for (int r = 0; r < R; r++) s16[r] = _mm256_setzero_si256();
      const __m256i scv = _mm256_load_si256(sc + j);
#pragma GCC unroll 1  // unrolled, GCC tree-sums the 8·R products and spills them
      for (int g = 0; g < 8; g++) {
        const __m256i wq = _mm256_load_si256(q + 8 * j + g);
        KILN_UNROLL for (int r = 0; r < R; r++) {
          int32_t x4;
          std::memcpy(&x4, xb[r]->qs + 32 * j + 4 * g, 4);
          // Q4_K: |Σ| ≤ 8 · 2·15·127 = 30480, no int16 overflow over the 8 groups. Q5_K's quants
          // reach 31, so its int16 sums are widened every 4 groups (≤ 31496).
          s16[r] = _mm256_add_epi16(s16[r], _mm256_maddubs_epi16(wq, _mm256_set1_epi32(x4)));
        }
        if (DT == DType::Q5_K && g == 3)
          KILN_UNROLL for (int r = 0; r < R; r++) {
            isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(s16[r], scv));
            s16[r] = _mm256_setzero_si256();
          }
      }
      KILN_UNROLL for (int r = 0; r < R; r++) isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(s16[r], scv));
    }
    KILN_UNROLL for (int r = 0; r < R; r++) {
      // the activations' sums per 32-element sub-block, as int16: xs[j] = bsums[2j] + bsums[2j+1]
      const __m128i xs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i*)xb[r]->bsums),
                                        _mm_loadu_si128((const __m128i*)(xb[r]->bsums + 8)));
      __m256i msum = _mm256_madd_epi16(mn[0], _mm256_set1_epi32(_mm_extract_epi32(xs, 0)));
      msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn[1], _mm256_set1_epi32(_mm_extract_epi32(xs, 1))));
      msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn[2], _mm256_set1_epi32(_mm_extract_epi32(xs, 2))));
      msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn[3], _mm256_set1_epi32(_mm_extract_epi32(xs, 3))));
      const __m256 xd = _mm256_set1_ps(xb[r]->d);
      const __m256 t = _mm256_sub_ps(_mm256_mul_ps(xd, _mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[r]))),
                                     _mm256_mul_ps(xd, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum))));
      acc[r] = _mm256_add_ps(acc[r], t);
    }
  }
  store_tile<R>(out, M, acc, bias, valid);
}

template <DType DT>
void qgemm(float* out, const uint8_t* xq, size_t x_row, const void* w, const float* bias, int64_t N, int64_t K,
           int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  gemm_panels(repack_q4_K<DT>, tile_q4_K<DT, kTileRows>, tile_q4_K<DT, 1>, out, xq, x_row, (const uint8_t*)w,
              dtype_bytes(DT, K), bias, N, K / QK_K, m0, m1, M, panel);
}

}  // namespace

// Bytes of one panel of 8 repacked weight rows (the `panel` scratch below), Q4_K or Q5_K.
size_t qgemm_q4_K_panel_bytes(int64_t K) { return (size_t)(K / QK_K) * kQ4KBlockBytes; }

// Rows [m, m + rows) of Q4_K or Q5_K w into one panel (the layout above), for the AVX512-VNNI
// tiles of qgemm_avx512vnni.cc, which read the same panels.
void qgemm_q4_K_repack(uint8_t* panel, const void* w, DType dt, int64_t K, int64_t m, int rows) {
  const size_t w_row = dtype_bytes(dt, K);
  if (dt == DType::Q5_K)
    repack_q4_K<DType::Q5_K>(panel, (const uint8_t*)w, w_row, m, rows, K / QK_K);
  else
    repack_q4_K<DType::Q4_K>(panel, (const uint8_t*)w, w_row, m, rows, K / QK_K);
}

// out (N, M) columns [m0, m1) = Q4_K or Q5_K w × Q8_K activation rows xq (x_row bytes apart).
// panel: qgemm_q4_K_panel_bytes(K), 32-byte aligned.
void qgemm_q4_K_avx2(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  if (dt == DType::Q5_K)
    qgemm<DType::Q5_K>(out, xq, x_row, w, bias, N, K, m0, m1, M, panel);
  else
    qgemm<DType::Q4_K>(out, xq, x_row, w, bias, N, K, m0, m1, M, panel);
}

}  // namespace kiln

#endif  // KILN_X86
