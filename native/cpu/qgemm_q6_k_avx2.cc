// Prefill against Q6_K weights as an int8 GEMM (AVX2), on panels of 8 repacked rows (qgemm_avx2.h),
// with the activations quantized to Q8_K as for decode. The quants are kept unsigned (q + 32, 0..63)
// so maddubs takes them as its unsigned operand; the 32 comes back out through the activations'
// 16-element sums. Per super-block and row:
//   isum = Σ_s sc_s · Σ_{16 of sub-block s} (q+32)·x − 32 · Σ_s sc_s · Σ_{16 of s} x   (exact)
//   acc += x_d·(d·isum)                                    (floats, in the portable twin's order)
// so every output has exactly the bits of the decode kernels and the portable vec_dot, whatever
// the tile, the other rows or the thread count.
//
// Panel, per super-block (kQ6KBlockBytes): float d[8]; sc[s] (s = 0..15), lane r = row r's scale
// of sub-block s in both int16 halves; pairs[p] (p = 0..7), lane r = row r's scales of sub-blocks
// 2p and 2p+1 as int16; then q[j][g] (j = 0..7, g = 0..7), lane r = row r's quants 32j+4g..+3.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstring>

#include "cpu/qgemm_avx2.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

namespace kiln {
namespace {

constexpr size_t kScOffset = 8 * sizeof(float);
constexpr size_t kPairOffset = kScOffset + 16 * 32;
constexpr size_t kQOffset = kPairOffset + 8 * 32;
constexpr size_t kQ6KBlockBytes = kQOffset + 64 * 32;

// int16 lane pattern: lo in bits 0..15, hi in bits 16..31.
inline int32_t pack16(int lo, int hi) { return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16)); }

// Rows [m, m + rows) of w (rows ≤ 8; missing rows are zeros) into the panel layout above.
KILN_AVX2 void repack_q6_K(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nb) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* pb = panel + b * kQ6KBlockBytes;
    float* d = (float*)pb;
    alignas(32) int32_t sc[16][kPanelRows], pairs[8][kPanelRows];
    __m256i sub[8][kPanelRows];  // [group of 32][row]
    for (int r = 0; r < kPanelRows; r++) {
      if (r >= rows) {
        d[r] = 0.f;
        for (int j = 0; j < 8; j++) sub[j][r] = _mm256_setzero_si256(), pairs[j][r] = 0;
        for (int s = 0; s < 16; s++) sc[s][r] = 0;
        continue;
      }
      const block_q6_K* blk = (const block_q6_K*)(w + (m + r) * w_row) + b;
      d[r] = _cvtsh_ss(blk->d);
      for (int s = 0; s < 16; s++) sc[s][r] = pack16(blk->scales[s], blk->scales[s]);
      for (int p = 0; p < 8; p++) pairs[p][r] = pack16(blk->scales[2 * p], blk->scales[2 * p + 1]);
      __m256i q[8];
      unpack_q6_K_row(blk, q);
      for (int j = 0; j < 8; j++) sub[j][r] = q[j];
    }
    __m256i* out_sc = (__m256i*)(pb + kScOffset);
    __m256i* out_pairs = (__m256i*)(pb + kPairOffset);
    __m256i* out_q = (__m256i*)(pb + kQOffset);
    for (int s = 0; s < 16; s++) _mm256_store_si256(out_sc + s, _mm256_load_si256((const __m256i*)sc[s]));
    for (int p = 0; p < 8; p++) _mm256_store_si256(out_pairs + p, _mm256_load_si256((const __m256i*)pairs[p]));
    for (int j = 0; j < 8; j++) transpose_dwords_8x8(sub[j], out_q + 8 * j);
  }
}

// R activation rows (Q8_K, x_row bytes apart) × the panel's 8 weight rows.
template <int R>
KILN_AVX2 void tile_q6_K(float* out, int64_t M, const uint8_t* panel, const uint8_t* xq, size_t x_row, int64_t nb,
                         const float* bias, int valid) {
  __m256 acc[R];
  KILN_UNROLL for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = panel + b * kQ6KBlockBytes;
    const __m256 dw = _mm256_load_ps((const float*)pb);
    const __m256i* sc = (const __m256i*)(pb + kScOffset);
    const __m256i* pairs = (const __m256i*)(pb + kPairOffset);
    const __m256i* q = (const __m256i*)(pb + kQOffset);
    const block_q8_K* xb[R];
    KILN_UNROLL for (int r = 0; r < R; r++) xb[r] = (const block_q8_K*)(xq + r * x_row) + b;
    __m256i isum[R];
    KILN_UNROLL for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (int j = 0; j < 8; j++) {
#pragma GCC unroll 1
      for (int g = 0; g < 8; g += 2) {  // two groups of 4: half a 16-element sub-block
        const __m256i w0 = _mm256_load_si256(q + 8 * j + g), w1 = _mm256_load_si256(q + 8 * j + g + 1);
        const __m256i scv = _mm256_load_si256(sc + 2 * j + g / 4);
        KILN_UNROLL for (int r = 0; r < R; r++) {
          int32_t x0, x1;
          std::memcpy(&x0, xb[r]->qs + 32 * j + 4 * g, 4);
          std::memcpy(&x1, xb[r]->qs + 32 * j + 4 * g + 4, 4);
          // |Σ| ≤ 2 · 2·63·127 = 32004: the int16 sums cannot overflow
          const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(x0)),
                                               _mm256_maddubs_epi16(w1, _mm256_set1_epi32(x1)));
          isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(s16, scv));
        }
      }
    }
    KILN_UNROLL for (int r = 0; r < R; r++) {
      // Σ_s sc_s · (Σ x of sub-block s): the 16-element sums are the sub-blocks' own
      __m256i corr = _mm256_setzero_si256();
      for (int p = 0; p < 8; p++) {
        int32_t bs;
        std::memcpy(&bs, xb[r]->bsums + 2 * p, 4);
        corr = _mm256_add_epi32(corr, _mm256_madd_epi16(_mm256_load_si256(pairs + p), _mm256_set1_epi32(bs)));
      }
      const __m256i total = _mm256_sub_epi32(isum[r], _mm256_slli_epi32(corr, 5));
      const __m256 xd = _mm256_set1_ps(xb[r]->d);
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(xd, _mm256_mul_ps(dw, _mm256_cvtepi32_ps(total))));
    }
  }
  store_tile<R>(out, M, acc, bias, valid);
}

}  // namespace

// Bytes of one panel of 8 repacked weight rows (the `panel` scratch below).
size_t qgemm_q6_K_panel_bytes(int64_t K) { return (size_t)(K / QK_K) * kQ6KBlockBytes; }

// out (N, M) columns [m0, m1) = Q6_K w × Q8_K activation rows xq (x_row bytes apart).
// panel: qgemm_q6_K_panel_bytes(K), 32-byte aligned.
void qgemm_q6_K_avx2(float* out, const uint8_t* xq, size_t x_row, const void* w, const float* bias, int64_t N,
                     int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  gemm_panels(repack_q6_K, tile_q6_K<kTileRows>, tile_q6_K<1>, out, xq, x_row, (const uint8_t*)w,
              dtype_bytes(DType::Q6_K, K), bias, N, K / QK_K, m0, m1, M, panel);
}

}  // namespace kiln

#endif  // KILN_X86
