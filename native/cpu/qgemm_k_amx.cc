// Prefill against K-quant weights on AMX: qgemm_q4_k_avx2.cc's (Q4_K, Q5_K) and qgemm_q6_k_avx2.cc's
// (Q6_K) integers, in their float order, so the decode kernels' bits. The sub-blocks' scales (and
// mins) are folded into the bytes the tile unit multiplies, so one tile accumulates a whole
// 256-element super-block, 64 k per tdp instruction. Q4_K, Q5_K (6-bit scales and mins, q < 32):
//   isum = Σ_j sc_j·Σ_{k∈j} q_k·x_k = Σ_k (sc_j·q_k)·x_k, and sc_j·q_k = 32·h_k + l_k (l < 32, h < 62),
//        = 32·Σ h·x + Σ l·x
//   msum = Σ_j m_j·Σ_{k∈j} x_k = Σ_k m_{j(k)}·x_k
//   acc += x_d·(d·isum) − x_d·(dmin·msum)
// three products per 64 k (weights l, h, and the mins repeated over their sub-block). Q6_K (int8
// scales of 16-element sub-blocks, q − 32 in −32..31, so |sc·(q − 32)| ≤ 4096):
//   total = Σ_s sc_s·Σ_{k∈s} (q_k − 32)·x_k = 64·Σ h·x + Σ l·x, sc_s·(q_k − 32) = 64·h_k + l_k
//           (l in 0..63 unsigned, h in −64..64 signed)
//   acc += x_d·(d·total)
// two per 64 k. Lanes = 16 activation rows, rows = 16 weight rows (each product commutes, so these
// are the other tiers' operations on the same numbers). At the end the tile is transposed and
// stored with the bias, + 0 where none, as they store it.
//
// Panel (16 weight rows), per super-block: per 64-k chunk, the weight tiles l[16][64], h[16][64]
// (and m[16][64]); then d[16] (and dmin[16]). Activation tile (16 rows), per super-block: per
// 64-k chunk, 16 rows of 64 bytes, row g holding bytes 4g..4g+3 of each of the 16 rows; then d_x[16].
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's AVX-512 headers (see matmul_avx512.cc)
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_AMX  // the whole file (arch.h)

#include <immintrin.h>

#include <type_traits>

#include "cpu/amx_tiles.h"
#include "cpu/qgemm_avx2.h"
#include "cpu/qweights.h"
#include "cpu/transpose_avx512.h"
#include "kernels.h"
#include "quant/blocks.h"

namespace kiln {
namespace {

constexpr int kRows = kAmxRows;
constexpr size_t kTileBytes = kRows * 64;
constexpr size_t kActSbBytes = 4 * kTileBytes + kRows * sizeof(float);  // chunks, then d_x

// Weight tiles per 64-k chunk (l, h, and for Q4_K/Q5_K the mins) and scales per row (d, dmin).
constexpr int weight_tiles(DType dt) { return dt == DType::Q6_K ? 2 : 3; }
constexpr size_t chunk_bytes(DType dt) { return weight_tiles(dt) * kTileBytes; }
constexpr size_t panel_sb_bytes(DType dt) {
  return 4 * chunk_bytes(dt) + (dt == DType::Q6_K ? 1 : 2) * kRows * sizeof(float);
}

// All eight tiles 16 rows × 64 bytes: 0, 5, 6 the weights' l, h, m; 1 and 7 activations (by
// chunk parity); 2, 3, 4 the sums of l, h, m.
KILN_AMX_TARGET AmxTileConfig tile_config() {
  AmxTileConfig c;
  for (int t = 0; t < 8; t++) c.rows[t] = kRows, c.colsb[t] = 64;
  return c;
}

// Zeros for a panel row past the weights' last.
template <DType DT>
KILN_AMX_INLINE void zero_row(uint8_t* pb, int r) {
  float* d = (float*)(pb + 4 * chunk_bytes(DT));
  d[r] = 0.f;
  if (DT != DType::Q6_K) d[kRows + r] = 0.f;
  for (int c = 0; c < 4; c++)
    for (int t = 0; t < weight_tiles(DT); t++)
      _mm512_store_si512(pb + c * chunk_bytes(DT) + t * kTileBytes + 64 * r, _mm512_setzero_si512());
}

// Two 32-byte halves as one 64-byte tile row.
KILN_AMX_INLINE __m512i halves(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Rows [m, m + rows) of Q4_K or Q5_K w (rows ≤ 16; missing rows are zeros) into the panel layout above.
template <DType DT>
KILN_AMX_TARGET void unpack_panel(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nsb) {
  using Block = std::conditional_t<DT == DType::Q5_K, block_q5_K, block_q4_K>;
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  const __m512i low5 = _mm512_set1_epi16(31);
  for (int r = 0; r < kRows; r++)
    for (int64_t sb = 0; sb < nsb; sb++) {
      uint8_t* pb = panel + sb * panel_sb_bytes(DT);
      if (r >= rows) {
        zero_row<DT>(pb, r);
        continue;
      }
      float* d = (float*)(pb + 4 * chunk_bytes(DT));
      const Block* blk = (const Block*)(w + (m + r) * w_row) + sb;
      d[r] = _cvtsh_ss(blk->d);
      d[kRows + r] = _cvtsh_ss(blk->dmin);
      uint8_t sc[8], mn[8];
      q4_K_scales(blk->scales, sc, mn);
      for (int c = 0; c < 4; c++) {  // 64 elements: low nibbles sub-block 2c, high 2c + 1
        const __m256i v = _mm256_loadu_si256((const __m256i*)(blk->qs + 32 * c));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if constexpr (DT == DType::Q5_K) {
          const __m256i qh = _mm256_loadu_si256((const __m256i*)blk->qh);
          lo = _mm256_or_si256(lo, bit4(qh, 2 * c, one));
          hi = _mm256_or_si256(hi, bit4(qh, 2 * c + 1, one));
        }
        const __m512i wl = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(lo), _mm512_set1_epi16(sc[2 * c]));
        const __m512i wh = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(hi), _mm512_set1_epi16(sc[2 * c + 1]));
        uint8_t* pc = pb + c * chunk_bytes(DT) + 64 * r;
        _mm512_store_si512(pc, halves(_mm512_cvtepi16_epi8(_mm512_and_si512(wl, low5)),
                                      _mm512_cvtepi16_epi8(_mm512_and_si512(wh, low5))));
        _mm512_store_si512(pc + kTileBytes,
                           halves(_mm512_cvtepi16_epi8(_mm512_srli_epi16(wl, 5)), _mm512_cvtepi16_epi8(_mm512_srli_epi16(wh, 5))));
        _mm512_store_si512(pc + 2 * kTileBytes,
                           halves(_mm256_set1_epi8((char)mn[2 * c]), _mm256_set1_epi8((char)mn[2 * c + 1])));
      }
    }
  asm volatile("" ::: "memory");  // the tile loads (asm without memory operands) come after these stores
}

// Rows [m, m + rows) of Q6_K w (rows ≤ 16; missing rows are zeros) into the panel layout above.
KILN_AMX_TARGET void unpack_panel_q6_K(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows,
                                       int64_t nsb) {
  constexpr DType DT = DType::Q6_K;
  const __m512i low6 = _mm512_set1_epi16(63), zero_point = _mm512_set1_epi16(32);
  for (int r = 0; r < kRows; r++)
    for (int64_t sb = 0; sb < nsb; sb++) {
      uint8_t* pb = panel + sb * panel_sb_bytes(DT);
      if (r >= rows) {
        zero_row<DT>(pb, r);
        continue;
      }
      const block_q6_K* blk = (const block_q6_K*)(w + (m + r) * w_row) + sb;
      ((float*)(pb + 4 * chunk_bytes(DT)))[r] = _cvtsh_ss(blk->d);
      __m256i q[8];  // q[j]: elements 32j..32j+31 (sub-blocks 2j, 2j + 1), 0..63
      unpack_q6_K_row(blk, q);
      __m256i l[8], h[8];
      for (int j = 0; j < 8; j++) {
        // words 0..15 scaled by sub-block 2j's scale, 16..31 by 2j + 1's
        const __m512i sc = _mm512_inserti64x4(_mm512_set1_epi16(blk->scales[2 * j]),
                                              _mm256_set1_epi16(blk->scales[2 * j + 1]), 1);
        const __m512i wq = _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_cvtepu8_epi16(q[j]), zero_point), sc);
        l[j] = _mm512_cvtepi16_epi8(_mm512_and_si512(wq, low6));
        h[j] = _mm512_cvtepi16_epi8(_mm512_srai_epi16(wq, 6));
      }
      for (int c = 0; c < 4; c++) {
        uint8_t* pc = pb + c * chunk_bytes(DT) + 64 * r;
        _mm512_store_si512(pc, halves(l[2 * c], l[2 * c + 1]));
        _mm512_store_si512(pc + kTileBytes, halves(h[2 * c], h[2 * c + 1]));
      }
    }
  asm volatile("" ::: "memory");  // the tile loads (asm without memory operands) come after these stores
}

// Q4_K, Q5_K: acc[m] += x_d·(d[m]·float(l[m] + 32·h[m])) − x_d·(dmin[m]·float(mins[m])) for one
// super-block. Q6_K: acc[m] += x_d·(d[m]·float(l[m] + 64·h[m])).
template <DType DT>
KILN_AMX_INLINE void scale_add(__m512 (&acc)[kRows], const int32_t* l, const int32_t* h, const int32_t* mins,
                               const float* d, __m512 xd) {
  KILN_UNROLL for (int m = 0; m < kRows; m++) {
    const __m512i lm = _mm512_load_si512(l + kRows * m), hm = _mm512_load_si512(h + kRows * m);
    if constexpr (DT == DType::Q6_K) {
      const __m512i total = _mm512_add_epi32(lm, _mm512_slli_epi32(hm, 6));
      acc[m] = _mm512_add_ps(acc[m], _mm512_mul_ps(xd, _mm512_mul_ps(_mm512_set1_ps(d[m]), _mm512_cvtepi32_ps(total))));
    } else {
      const __m512i isum = _mm512_add_epi32(lm, _mm512_slli_epi32(hm, 5));
      const __m512 msum = _mm512_cvtepi32_ps(_mm512_load_si512(mins + kRows * m));
      const __m512 t = _mm512_sub_ps(_mm512_mul_ps(xd, _mm512_mul_ps(_mm512_set1_ps(d[m]), _mm512_cvtepi32_ps(isum))),
                                     _mm512_mul_ps(xd, _mm512_mul_ps(_mm512_set1_ps(d[kRows + m]), msum)));
      acc[m] = _mm512_add_ps(acc[m], t);
    }
  }
}

// One 64-k chunk's products into the sums 2 (l), 3 (h) and, but for Q6_K, 4 (mins): activations x
// into tile b, weight tiles from p. Q6_K's h is signed (tdpbssd).
#define KILN_CHUNK_SUMS(b, p, x)                  \
  do {                                            \
    KILN_TILE_LOAD(b, x, 64);                     \
    KILN_TILE_LOAD(0, p, 64);                     \
    KILN_TILE_DPBUSD(2, 0, b);                    \
    KILN_TILE_LOAD(5, (p) + kTileBytes, 64);      \
    if constexpr (DT == DType::Q6_K) {            \
      KILN_TILE_DPBSSD(3, 5, b);                  \
    } else {                                      \
      KILN_TILE_DPBUSD(3, 5, b);                  \
      KILN_TILE_LOAD(6, (p) + 2 * kTileBytes, 64); \
      KILN_TILE_DPBUSD(4, 6, b);                  \
    }                                             \
  } while (0)

// A panel's 16 weight rows × one activation tile: out rows [0, valid_n), columns [0, valid_m).
// A super-block's sums are stored after the next one's products are issued, and scaled after
// those of the next are, so the vector units never wait for the tile unit.
template <DType DT>
KILN_AMX_TARGET void tile(float* out, int64_t M, const uint8_t* panel, const uint8_t* xt, int64_t nsb,
                          const float* bias, int valid_m, int valid_n) {
  constexpr size_t kChunk = chunk_bytes(DT);
  __m512 acc[kRows];
  KILN_UNROLL for (int m = 0; m < kRows; m++) acc[m] = _mm512_setzero_ps();
  alignas(64) int32_t l[kRows * kRows], h[kRows * kRows], mins[kRows * kRows];
  for (int64_t sb = 0; sb <= nsb; sb++) {
    if (sb < nsb) {
      const uint8_t* p = panel + sb * panel_sb_bytes(DT);
      const uint8_t* x = xt + sb * kActSbBytes;
      KILN_TILE_ZERO(2);
      KILN_TILE_ZERO(3);
      if constexpr (DT != DType::Q6_K) KILN_TILE_ZERO(4);
      KILN_CHUNK_SUMS(1, p, x);
      KILN_CHUNK_SUMS(7, p + kChunk, x + kTileBytes);
      KILN_CHUNK_SUMS(1, p + 2 * kChunk, x + 2 * kTileBytes);
      KILN_CHUNK_SUMS(7, p + 3 * kChunk, x + 3 * kTileBytes);
    }
    if (sb > 0)  // the previous super-block's sums
      scale_add<DT>(acc, l, h, mins, (const float*)(panel + (sb - 1) * panel_sb_bytes(DT) + 4 * kChunk),
                    _mm512_load_ps(xt + (sb - 1) * kActSbBytes + 4 * kTileBytes));
    if (sb < nsb) {
      KILN_TILE_STORE(2, l);
      KILN_TILE_STORE(3, h);
      if constexpr (DT != DType::Q6_K) KILN_TILE_STORE(4, mins);
    }
  }
  amx_store_tile(acc, out, M, bias, valid_m, valid_n);
}

template <DType DT>
KILN_AMX_TARGET void gemm(float* out, const uint8_t* xt, const void* w, const float* bias, int64_t N, int64_t K,
                          int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  const int64_t nsb = K / QK_K;
  const size_t w_row = dtype_bytes(DT, K);
  amx_panels(
      tile_config(), (const uint8_t*)w, w_row, N, m0, m1,
      [&](int64_t m, int rows) {
        if constexpr (DT == DType::Q6_K)
          unpack_panel_q6_K(panel, (const uint8_t*)w, w_row, m, rows, nsb);
        else
          unpack_panel<DT>(panel, (const uint8_t*)w, w_row, m, rows, nsb);
      },
      [&](int64_t n, int64_t m, int rows, int valid_n) {
        tile<DT>(out + n * M + m, M, panel, xt + (n / kRows) * nsb * kActSbBytes, nsb, bias ? bias + m : nullptr, rows,
                 valid_n);
      });
}

}  // namespace

size_t qgemm_k_amx_panel_bytes(DType dt, int64_t K) { return (size_t)(K / QK_K) * panel_sb_bytes(dt); }
size_t qgemm_k_amx_activation_bytes(int64_t N, int64_t K) {
  return (size_t)((N + kRows - 1) / kRows) * (size_t)(K / QK_K) * kActSbBytes;
}

// One tile of activation rows (Q8_K, x_row bytes apart; rows ≤ 16, missing rows zeros) into the
// layout above.
KILN_AMX_TARGET void qgemm_k_amx_activations(uint8_t* xt, const uint8_t* xq, size_t x_row, int rows, int64_t K) {
  const int64_t nsb = K / QK_K;
  for (int64_t sb = 0; sb < nsb; sb++) {
    uint8_t* xb = xt + sb * kActSbBytes;
    for (int c = 0; c < 4; c++) {
      __m512 r[kRows];  // row j's 64 bytes as 16 dwords; transposed, r[g] lane j = dword g of row j
      for (int j = 0; j < kRows; j++)
        r[j] = j < rows ? _mm512_loadu_ps(((const block_q8_K*)(xq + j * x_row) + sb)->qs + 64 * c) : _mm512_setzero_ps();
      transpose16(r);
      for (int g = 0; g < kRows; g++) _mm512_store_ps(xb + c * kTileBytes + 64 * g, r[g]);
    }
    alignas(64) float d[kRows];
    for (int j = 0; j < kRows; j++) d[j] = j < rows ? ((const block_q8_K*)(xq + j * x_row) + sb)->d : 0.f;
    _mm512_store_ps(xb + 4 * kTileBytes, _mm512_load_ps(d));
  }
}

// out (N, M) columns [m0, m1) = Q4_K, Q5_K or Q6_K w × the activations in the layout above (xt:
// every tile of 16 rows, qgemm_k_amx_activation_bytes). panel: qgemm_k_amx_panel_bytes(dt, K),
// 64-byte aligned. m0 a multiple of 16.
void qgemm_k_amx(float* out, const uint8_t* xt, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  if (dt == DType::Q6_K)
    gemm<DType::Q6_K>(out, xt, w, bias, N, K, m0, m1, M, panel);
  else if (dt == DType::Q5_K)
    gemm<DType::Q5_K>(out, xt, w, bias, N, K, m0, m1, M, panel);
  else
    gemm<DType::Q4_K>(out, xt, w, bias, N, K, m0, m1, M, panel);
}

}  // namespace kiln

#endif  // KILN_AMX
