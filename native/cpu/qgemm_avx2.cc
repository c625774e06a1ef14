// Prefill against Q4_0 and Q5_0 weights as an int8 GEMM (AVX2), on panels of 8 repacked rows (qgemm_avx2.h).
// maddubs needs one unsigned operand: the activations are offset to x + 128 (0..255)
// and the weights are the signed q − 8 (−8..7), so Σ (x+128)·w = Σ x·w + 128·Σ w, and 128·Σ w is
// a per-row constant of the panel. Per 32-block a row's exact integer dot product lands in its
// lane and is scaled and added once; so each output is Σ_blocks (d_w·d_x)·Σ (q−8)·x in block
// order, independent of the tile, the other rows or the thread count.
//
// Panel, per 32-block: float d[8] (the rows' scales), int32 c[8] (128·Σ (q−8) of each row), then
// 8 vectors q[g] (g = 0..7) of 32 bytes: lane j of q[g] = row j's quants 4g..4g+3 minus 8.
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

constexpr size_t kPanelBlockBytes = 8 * sizeof(float) + 8 * sizeof(int32_t) + 8 * 32;  // d, c, q

// Rows [m, m + rows) of w (rows ≤ 8; missing rows are zeros) into the panel layout above: each
// row's block unpacked to 32 signed bytes, then the 8 rows transposed as an 8×8 matrix of dwords.
// Q5_0: 5-bit quants (bit 4 of element j in bit j of qh) minus 16.
template <DType DT>
KILN_AVX2 void repack_q4_0(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nb) {
  using Block = std::conditional_t<DT == DType::Q5_0, block_q5_0, block_q4_0>;
  const __m256i offset = _mm256_set1_epi8(DT == DType::Q5_0 ? 16 : 8), ones8 = _mm256_set1_epi8(1),
                ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* pb = panel + b * kPanelBlockBytes;
    float* d = (float*)pb;
    __m256i r[kPanelRows];
    for (int j = 0; j < kPanelRows; j++) {
      if (j >= rows) {
        d[j] = 0.f;
        r[j] = _mm256_setzero_si256();
        continue;
      }
      const Block* blk = (const Block*)(w + (m + j) * w_row) + b;
      d[j] = _cvtsh_ss(blk->d);
      r[j] = _mm256_sub_epi8(block32_quants<Block, DT == DType::Q5_0>(blk), offset);
    }
    __m256i* out = (__m256i*)(pb + 8 * sizeof(float) + 8 * sizeof(int32_t));
    __m256i q[8];
    transpose_dwords_8x8(r, q);
    __m256i sum = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
      _mm256_store_si256(out + g, q[g]);
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q[g]), ones16));
    }
    _mm256_store_si256((__m256i*)(pb + 8 * sizeof(float)), _mm256_slli_epi32(sum, 7));  // 128·Σ(q − 8 or 16)
  }
}

// xu: the rows' quants + 128, 32 bytes per block, nb blocks per row; xd: their scales.
template <DType DT, int R>
KILN_AVX2 void tile(float* out, int64_t M, const uint8_t* panel, const uint8_t* xu, const float* xd, int64_t nb,
                    const float* bias, int valid) {
  __m256 acc[R];
  KILN_UNROLL for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = panel + b * kPanelBlockBytes;
    const __m256 dw = _mm256_load_ps((const float*)pb);
    const __m256i c = _mm256_load_si256((const __m256i*)(pb + 8 * sizeof(float)));
    const __m256i* q = (const __m256i*)(pb + 8 * sizeof(float) + 8 * sizeof(int32_t));
    __m256i s16[R], half[R];
    KILN_UNROLL for (int r = 0; r < R; r++) s16[r] = half[r] = _mm256_setzero_si256();
#pragma GCC unroll 1  // unrolled, GCC tree-sums the 8·R products and spills them
    for (int g = 0; g < 8; g++) {
      const __m256i wq = _mm256_load_si256(q + g);
      KILN_UNROLL for (int r = 0; r < R; r++) {
        int32_t x4;
        std::memcpy(&x4, xu + (r * nb + b) * 32 + 4 * g, 4);
        // Q4_0: |Σ| ≤ 8 · 2·255·8 = 32640, no int16 overflow over the 8 groups; Q5_0's |q − 16|
        // reaches 16, so its sums are widened every 4 groups (≤ 32640 again).
        s16[r] = _mm256_add_epi16(s16[r], _mm256_maddubs_epi16(_mm256_set1_epi32(x4), wq));
      }
      if (DT == DType::Q5_0 && g == 3)
        KILN_UNROLL for (int r = 0; r < R; r++) {
          half[r] = _mm256_madd_epi16(s16[r], ones);
          s16[r] = _mm256_setzero_si256();
        }
    }
    KILN_UNROLL for (int r = 0; r < R; r++) {
      __m256i s32 = _mm256_sub_epi32(_mm256_add_epi32(half[r], _mm256_madd_epi16(s16[r], ones)), c);
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[r * nb + b])), _mm256_cvtepi32_ps(s32), acc[r]);
    }
  }
  store_tile<R>(out, M, acc, bias, valid);
}

}  // namespace

// One Q8_0 activation row (nb blocks) in the GEMM's form: each block's scale as a float, and its
// quants + 128 as unsigned bytes.
KILN_AVX2 void qgemm_q4_0_activation_row(const uint8_t* xq, int64_t nb, float* xd, uint8_t* xu) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  for (int64_t b = 0; b < nb; b++) {
    const block_q8_0* xb = (const block_q8_0*)xq + b;
    xd[b] = _cvtsh_ss(xb->d);
    const __m256i v = _mm256_loadu_si256((const __m256i*)xb->qs);
    _mm256_storeu_si256((__m256i*)(xu + b * 32), _mm256_xor_si256(v, flip));
  }
}

// Bytes of one panel of 8 repacked weight rows (the `panel` scratch below).
size_t qgemm_q4_0_panel_bytes(int64_t K) { return (size_t)(K / QK4_0) * kPanelBlockBytes; }

// Rows [m, m + rows) of Q4_0 or Q5_0 w into one panel (the layout above), for the AVX512-VNNI tiles
// of qgemm_avx512vnni.cc, which read the same panels.
void qgemm_q4_0_repack(uint8_t* panel, const void* w, DType dt, int64_t K, int64_t m, int rows) {
  const size_t w_row = dtype_bytes(dt, K);
  if (dt == DType::Q5_0)
    repack_q4_0<DType::Q5_0>(panel, (const uint8_t*)w, w_row, m, rows, K / QK4_0);
  else
    repack_q4_0<DType::Q4_0>(panel, (const uint8_t*)w, w_row, m, rows, K / QK4_0);
}

namespace {

template <DType DT>
KILN_AVX2 void qgemm(float* out, const float* xd, const uint8_t* xu, const void* w, const float* bias, int64_t N,
                     int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  const int64_t nb = K / QK4_0;
  const size_t w_row = dtype_bytes(DT, K);
  for (int64_t m = m0; m < m1; m += kPanelRows) {
    const int rows = (int)(m1 - m < kPanelRows ? m1 - m : kPanelRows);
    repack_q4_0<DT>(panel, (const uint8_t*)w, w_row, m, rows, nb);
    const float* bm = bias ? bias + m : nullptr;
    int64_t n = 0;
    for (; n + kTileRows <= N; n += kTileRows)
      tile<DT, kTileRows>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows);
    for (; n < N; n++) tile<DT, 1>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows);
  }
}

}  // namespace

// out (N, M) columns [m0, m1) = Q4_0 or Q5_0 w × activations in the form above: xd (N, nb) scales
// and xu (N, nb·32) quants. panel: qgemm_q4_0_panel_bytes(K), 32-byte aligned.
void qgemm_q4_0_avx2(float* out, const float* xd, const uint8_t* xu, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  if (dt == DType::Q5_0)
    qgemm<DType::Q5_0>(out, xd, xu, w, bias, N, K, m0, m1, M, panel);
  else
    qgemm<DType::Q4_0>(out, xd, xu, w, bias, N, K, m0, m1, M, panel);
}

}  // namespace kiln

#endif  // KILN_X86
