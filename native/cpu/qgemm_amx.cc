// Prefill against Q4_0 and Q5_0 weights on AMX, Intel's tile matrix unit (Sapphire Rapids on): the
// GEMM of qgemm_avx2.cc and qgemm_avx512vnni.cc, with each 32-block's integer dot products of 16
// weight rows × 16 activation rows computed by one tdpbusd, then scaled and summed in those tiers'
// float order, so all three agree bit for bit.
//
// Per 32-block, the tile unit computes C[m][n] += Σ_k a[m][k]·b[k][n], a unsigned, b signed bytes:
//   a  16 weight rows' quants as stored (Q4_0 0..15, Q5_0 0..31), unpacked into the `panel`
//      scratch, per block: 16 rows × 32 bytes, then the rows' scales d_w[16];
//   b  16 activation rows' Q8_0 quants in the unit's layout (row g holds bytes 4g..4g+3 of each of
//      the 16 rows), built once per step by qgemm_q4_0_amx_activations, with the rows' scales
//      d_x[16] and −z·Σx of each row (z = 8 or 16, the weights' zero point);
//   C  starts at that −z·Σx (loaded with stride 0: every weight row the same), so it ends at
//      Σ (q − z)·x, the very integer of the other tiers.
// Then acc[m] (lanes: the 16 activation rows) = fma(d_w[m]·d_x, float(C[m]), acc[m]), blocks in
// order: the other tiers' operations (the product of the scales commutes) on the same numbers.
// At the end the tile is transposed in registers and stored with the bias, + 0 where none, as
// they store it.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's AVX-512 headers (see matmul_avx512.cc)
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_AMX  // the whole file: x86 Linux with a compiler that knows AMX (arch.h)

#include <immintrin.h>

#include <type_traits>

#include "cpu/amx_tiles.h"
#include "cpu/qgemm_avx2.h"
#include "kernels.h"
#include "quant/blocks.h"

namespace kiln {
namespace {

constexpr int kRows = kAmxRows;
constexpr size_t kPanelBlockBytes = kRows * 32 + kRows * 4;  // quants, then d_w
constexpr size_t kActBlockBytes = 8 * 64 + kRows * 4 + kRows * 4;  // quants, then −z·Σx, then d_x
constexpr size_t kActSumOffset = 8 * 64;
constexpr size_t kActScaleOffset = kActSumOffset + kRows * 4;

// The tile registers: two sets (block b in one while block b + 1 runs in the other), each of
// a (16 rows × 32 bytes), b (8 rows × 64 bytes) and C (16 rows × 16 int32).
KILN_AMX_TARGET AmxTileConfig tile_config() {
  AmxTileConfig c;
  for (int s = 0; s < 2; s++) {
    c.rows[3 * s] = kRows, c.colsb[3 * s] = 32;
    c.rows[3 * s + 1] = 8, c.colsb[3 * s + 1] = 64;
    c.rows[3 * s + 2] = kRows, c.colsb[3 * s + 2] = 64;
  }
  return c;
}

// Byte i of the permutation that turns two consecutive Q4_0 blocks (18 bytes each) into four 16-byte
// copies of their quants: block 0's twice (bytes 2..17), then block 1's twice (bytes 20..35).
alignas(64) constexpr uint8_t kTwoBlocks[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 2,  3,  4,  5,  6,  7,
    8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 33, 34, 35, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35};

// One Q4_0 weight row into row r of the panel, two blocks a step: one masked load (36 bytes, never
// past the row), vpermb, the second copy of each block shifted to its high nibbles, one mask.
KILN_AMX_TARGET void unpack_row_q4_0(uint8_t* panel, const block_q4_0* blk, int r, int64_t nb) {
  const __m512i idx = _mm512_load_si512(kTwoBlocks), m4 = _mm512_set1_epi8(0x0F);
  const __mmask32 second_copies = 0xFF00FF00;  // words 8..15 and 24..31
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    uint8_t* pb = panel + b * kPanelBlockBytes;
    __m512i q = _mm512_permutexvar_epi8(idx, _mm512_maskz_loadu_epi8((__mmask64)((1ull << 36) - 1), blk + b));
    q = _mm512_and_si512(_mm512_mask_srli_epi16(q, second_copies, q, 4), m4);
    _mm256_store_si256((__m256i*)(pb + 32 * r), _mm512_castsi512_si256(q));
    _mm256_store_si256((__m256i*)(pb + kPanelBlockBytes + 32 * r), _mm512_extracti64x4_epi64(q, 1));
    ((float*)(pb + kRows * 32))[r] = _cvtsh_ss(blk[b].d);
    ((float*)(pb + kPanelBlockBytes + kRows * 32))[r] = _cvtsh_ss(blk[b + 1].d);
  }
  if (b < nb) {
    uint8_t* pb = panel + b * kPanelBlockBytes;
    _mm256_store_si256((__m256i*)(pb + 32 * r), block32_quants<block_q4_0, false>(blk + b));
    ((float*)(pb + kRows * 32))[r] = _cvtsh_ss(blk[b].d);
  }
}

// Rows [m, m + rows) of w (rows ≤ 16; missing rows are zeros) into the panel layout above, each
// weight row read front to back once.
template <DType DT>
KILN_AMX_TARGET void unpack_panel(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nb) {
  using Block = std::conditional_t<DT == DType::Q5_0, block_q5_0, block_q4_0>;
  for (int r = 0; r < kRows; r++) {
    if (r >= rows) {  // past the weights' last row
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* pb = panel + b * kPanelBlockBytes;
        ((float*)(pb + kRows * 32))[r] = 0.f;
        _mm256_store_si256((__m256i*)(pb + 32 * r), _mm256_setzero_si256());
      }
      continue;
    }
    const Block* blk = (const Block*)(w + (m + r) * w_row);
    if constexpr (DT == DType::Q4_0) {
      unpack_row_q4_0(panel, blk, r, nb);
    } else {
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* pb = panel + b * kPanelBlockBytes;
        ((float*)(pb + kRows * 32))[r] = _cvtsh_ss(blk[b].d);
        _mm256_store_si256((__m256i*)(pb + 32 * r), block32_quants<Block, true>(blk + b));
      }
    }
  }
  asm volatile("" ::: "memory");  // the tile loads (asm without memory operands) come after these stores
}

// acc[m] = fma(d_w[m]·d_x, float(c[m]), acc[m]) for the 16 weight rows m of one block.
KILN_AMX_INLINE void scale_add(__m512 (&acc)[kRows], const int32_t* c, const float* dw, __m512 dx) {
  KILN_UNROLL for (int m = 0; m < kRows; m++) acc[m] = _mm512_fmadd_ps(
      _mm512_mul_ps(_mm512_set1_ps(dw[m]), dx), _mm512_cvtepi32_ps(_mm512_load_si512(c + kRows * m)), acc[m]);
}

// Tile c = −z·Σx + a·b for one block: weights p into tile a, activations x into tile b.
#define KILN_BLOCK_SUMS(a, b, c, p, x)          \
  do {                                          \
    KILN_TILE_LOAD(a, p, 32);                   \
    KILN_TILE_LOAD(b, x, 64);                   \
    KILN_TILE_LOAD(c, (x) + kActSumOffset, 0);  \
    KILN_TILE_DPBUSD(c, a, b);                  \
  } while (0)

// Block b's weight scales and activation scales.
KILN_AMX_INLINE const float* weight_scales(const uint8_t* panel, int64_t b) {
  return (const float*)(panel + b * kPanelBlockBytes + kRows * 32);
}
KILN_AMX_INLINE __m512 act_scales(const uint8_t* xt, int64_t b) {
  return _mm512_load_ps(xt + b * kActBlockBytes + kActScaleOffset);
}

// A panel's 16 weight rows × one activation tile: out rows [0, valid_n), columns [0, valid_m).
// Blocks go in pairs, one in each tile set; a pair's sums are stored while the tile unit runs the
// next pair and scaled after it is issued, so the vector units never wait for the tile unit.
KILN_AMX_TARGET void tile(float* out, int64_t M, const uint8_t* panel, const uint8_t* xt, int64_t nb, const float* bias,
                          int valid_m, int valid_n) {
  __m512 acc[kRows];
  KILN_UNROLL for (int m = 0; m < kRows; m++) acc[m] = _mm512_setzero_ps();
  alignas(64) int32_t c0[kRows * kRows], c1[kRows * kRows];
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* p = panel + b * kPanelBlockBytes;
    const uint8_t* x = xt + b * kActBlockBytes;
    KILN_BLOCK_SUMS(0, 1, 2, p, x);
    KILN_BLOCK_SUMS(3, 4, 5, p + kPanelBlockBytes, x + kActBlockBytes);
    if (b > 0) {  // the previous pair
      scale_add(acc, c0, weight_scales(panel, b - 2), act_scales(xt, b - 2));
      scale_add(acc, c1, weight_scales(panel, b - 1), act_scales(xt, b - 1));
    }
    KILN_TILE_STORE(2, c0);
    KILN_TILE_STORE(5, c1);
  }
  if (b > 0) {
    scale_add(acc, c0, weight_scales(panel, b - 2), act_scales(xt, b - 2));
    scale_add(acc, c1, weight_scales(panel, b - 1), act_scales(xt, b - 1));
  }
  if (b < nb) {  // an odd block count's last
    KILN_BLOCK_SUMS(0, 1, 2, panel + b * kPanelBlockBytes, xt + b * kActBlockBytes);
    KILN_TILE_STORE(2, c0);
    scale_add(acc, c0, weight_scales(panel, b), act_scales(xt, b));
  }
  amx_store_tile(acc, out, M, bias, valid_m, valid_n);
}

template <DType DT>
KILN_AMX_TARGET void gemm(float* out, const uint8_t* xt, const void* w, const float* bias, int64_t N, int64_t K,
                          int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  const int64_t nb = K / QK4_0;
  const size_t w_row = dtype_bytes(DT, K);
  amx_panels(
      tile_config(), (const uint8_t*)w, w_row, N, m0, m1,
      [&](int64_t m, int rows) { unpack_panel<DT>(panel, (const uint8_t*)w, w_row, m, rows, nb); },
      [&](int64_t n, int64_t m, int rows, int valid_n) {
        tile(out + n * M + m, M, panel, xt + (n / kRows) * nb * kActBlockBytes, nb, bias ? bias + m : nullptr, rows,
             valid_n);
      });
}

}  // namespace

size_t qgemm_q4_0_amx_panel_bytes(int64_t K) { return (size_t)(K / QK4_0) * kPanelBlockBytes; }
size_t qgemm_q4_0_amx_activation_bytes(int64_t N, int64_t K) {
  return (size_t)((N + kRows - 1) / kRows) * (size_t)(K / QK4_0) * kActBlockBytes;
}

// One tile of activation rows (Q8_0, x_row bytes apart; rows ≤ 16, missing rows zeros) into the
// layout above, for weights of type dt (its zero point).
KILN_AMX_TARGET void qgemm_q4_0_amx_activations(uint8_t* xt, const uint8_t* xq, size_t x_row, int rows, int64_t K,
                                                DType dt) {
  const int64_t nb = K / QK4_0;
  const __m512i zero_point = _mm512_set1_epi32(dt == DType::Q5_0 ? 16 : 8);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* xb = xt + b * kActBlockBytes;
    __m256i r[kRows];
    alignas(64) float d[kRows];
    for (int j = 0; j < kRows; j++) {
      if (j >= rows) {
        r[j] = _mm256_setzero_si256();
        d[j] = 0.f;
        continue;
      }
      const block_q8_0* blk = (const block_q8_0*)(xq + j * x_row) + b;
      r[j] = _mm256_loadu_si256((const __m256i*)blk->qs);
      d[j] = _cvtsh_ss(blk->d);
    }
    __m256i lo[8], hi[8];
    transpose_dwords_8x8(r, lo);
    transpose_dwords_8x8(r + 8, hi);
    __m512i sum = _mm512_setzero_si512();
    for (int g = 0; g < 8; g++) {
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo[g]), hi[g], 1);  // dword j: row j
      _mm512_store_si512(xb + 64 * g, v);
      sum = _mm512_dpbusd_epi32(sum, ones, v);
    }
    _mm512_store_si512(xb + kActSumOffset, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_mullo_epi32(sum, zero_point)));
    _mm512_store_ps(xb + kActScaleOffset, _mm512_load_ps(d));
  }
}

// out (N, M) columns [m0, m1) = Q4_0 or Q5_0 w × the activations in the layout above (xt: every
// tile of 16 rows, qgemm_q4_0_amx_activation_bytes). panel: qgemm_q4_0_amx_panel_bytes(K), 64-byte
// aligned. m0 a multiple of 16.
void qgemm_q4_0_amx(float* out, const uint8_t* xt, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                    int64_t m0, int64_t m1, int64_t M, uint8_t* panel) {
  if (dt == DType::Q5_0)
    gemm<DType::Q5_0>(out, xt, w, bias, N, K, m0, m1, M, panel);
  else
    gemm<DType::Q4_0>(out, xt, w, bias, N, K, m0, m1, M, panel);
}

}  // namespace kiln

#endif  // KILN_AMX
