// Decode steps (fewer than 4 rows) against Q4_0, Q8_0, Q4_K and Q6_K weights with AVX512-VNNI:
// the kernels of qmatmul_avx2.cc twice as wide, computing the same numbers in the same order, so
// the avx512vnni and avx2 tiers agree bit for bit (test/native/qmatmul.test.ts checks it):
//   Q4_0, Q8_0: one 512-bit vector holds TWO weight rows' 8 lanes each. A lane's integer (the exact
//     sum of 4 products, as maddubs + madd gives it) comes from one vpdpbusd; it is scaled by
//     d_w·d_x and added with the same FMA, block by block; each row's 8 lanes are reduced in the
//     AVX2 kernel's order.
//   Q4_K, Q6_K: 64 quants per vector; per super-block an exact integer (maddubs pairs times the
//     sub-block scales through vpdpwssd), turned into a float by the very expression of the AVX2
//     kernel and the portable twin. Q4_K takes four weight rows at a time (tile_q4_K, as the AVX2
//     tier), Q6_K one.
// vpdpbusd multiplies unsigned by signed bytes: Q4_0's quants are unsigned (0..15), their offset 8
// comes off through the activations' sums; Q8_0's signed weights go in as w + 128 (unsigned, w xor
// 0x80) against the signed activations, and the extra 128·Σx, the same for every row, is the lanes'
// starting value, computed once per block: one vpdpbusd per pair of rows, exact for any byte. No
// int16 saturation anywhere (maddubs sums of 15·128 or 63·128 pairs), so every integer is exact.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstring>

#include "cpu/q4_K_tile_x86.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

#define KILN_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KILN_VNNI_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {
namespace {

// The AVX2 kernels' lane reduction of one row whose lanes 0..3 are `a` and 4..7 are `b`:
// ((a0+b0)+(a1+b1)) + ((a2+b2)+(a3+b3)).
KILN_VNNI_INLINE float reduce8(__m128 a, __m128 b) {
  const __m128 s0 = _mm_add_ps(a, b);
  const __m128 s = _mm_add_ps(s0, _mm_movehdup_ps(s0));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

// Same prefetch distance as the AVX2 decode (in tiles of kRows weight rows).
constexpr int64_t kPrefetchTiles = 4;
constexpr int kRows = 4;  // weight rows per decode tile: vectors of two rows

template <DType DT>
constexpr size_t block_bytes() {
  return DT == DType::Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
}

// One activation row against weight rows w + c·w_row (c < kRows; rows ≥ `rows` repeat the last,
// their results dropped), every 32-block. Lane layout per vector of rows (2p, 2p+1):
//   Q8_0: lanes 0..7 row 2p's (elements 4j..4j+3 in lane j), 8..15 row 2p+1's.
//   Q4_0: quants unpacked as [row 2p 0..15 | row 2p+1 0..15 | row 2p 16..31 | row 2p+1 16..31]
//         (no shuffle per block: the activations are laid out to match once per block), so row
//         2p's lanes j = 0..3 are 0..3 and j = 4..7 are 8..11.
template <DType DT>
KILN_VNNI void tile32(float* out, const uint8_t* xq, const uint8_t* w, size_t w_row, int64_t nb, const float* bias,
                      int rows) {
  constexpr int P = kRows / 2;
  __m512 acc[P];
  KILN_UNROLL for (int p = 0; p < P; p++) acc[p] = _mm512_setzero_ps();
  const uint8_t* wr[kRows];
  for (int c = 0; c < kRows; c++) wr[c] = w + (c < rows ? c : rows - 1) * w_row;
  const char* next = (const char*)(w + kPrefetchTiles * kRows * w_row);
  const int64_t next_lines = (int64_t)(kRows * w_row + 63) / 64;
  const int64_t lines_per_step = (next_lines + nb - 1) / nb;
  // Which of the 4 scales (d_w·d_x of rows 0..3) each lane takes, per vector of two rows.
  __m512i pick[P];
  if constexpr (DT == DType::Q8_0) {
    pick[0] = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  } else {
    pick[0] = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
  }
  KILN_UNROLL for (int p = 1; p < P; p++) pick[p] = _mm512_add_epi32(pick[0], _mm512_set1_epi32(2 * p));
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; b++) {
    for (int64_t l = b * lines_per_step; l < (b + 1) * lines_per_step && l < next_lines; l++)
      _mm_prefetch(next + l * 64, _MM_HINT_T0);
    const block_q8_0* xb = (const block_q8_0*)xq + b;
    const __m256i xv = _mm256_loadu_si256((const __m256i*)xb->qs);
    uint64_t dwh[2] = {0, 0};  // the rows' scales as f16 bits, 4 to a word, converted together
    KILN_UNROLL for (int c = 0; c < kRows; c++)
      dwh[c / 4] |= (uint64_t)(*(const uint16_t*)(wr[c] + b * block_bytes<DT>())) << (16 * (c % 4));
    const __m256 dwx = _mm256_mul_ps(_mm256_cvtph_ps(_mm_set_epi64x((long long)dwh[1], (long long)dwh[0])),
                                     _mm256_set1_ps(_cvtsh_ss(xb->d)));
    const __m512 dwx512 = _mm512_castps256_ps512(dwx);
    __m512i x512, base;
    if constexpr (DT == DType::Q8_0) {
      // both halves the same block; −128·Σ x per lane: what w + 128 adds, as the lanes' starting value
      x512 = _mm512_broadcast_i64x4(xv);
      base = _mm512_sub_epi32(_mm512_setzero_si512(),
                              _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), x512));
    } else {
      const __m512i xw = _mm512_castsi256_si512(xv);
      x512 = _mm512_shuffle_i64x2(xw, xw, _MM_SHUFFLE(1, 1, 0, 0));
      // −8·Σ x per lane: the quants' offset, as the lanes' starting value
      base = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x512));
    }
    KILN_UNROLL for (int p = 0; p < P; p++) {
      const uint8_t* b0 = wr[2 * p] + b * block_bytes<DT>();
      const uint8_t* b1 = wr[2 * p + 1] + b * block_bytes<DT>();
      __m512i lanes;
      if constexpr (DT == DType::Q8_0) {
        const __m512i wq = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)((const block_q8_0*)b0)->qs)),
            _mm256_loadu_si256((const __m256i*)((const block_q8_0*)b1)->qs), 1);
        lanes = _mm512_dpbusd_epi32(base, _mm512_xor_si512(wq, _mm512_set1_epi8((char)0x80)), x512);
      } else {
        const __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)((const block_q4_0*)b0)->qs)),
            _mm_loadu_si128((const __m128i*)((const block_q4_0*)b1)->qs), 1);
        const __m512i vv = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
        lanes = _mm512_dpbusd_epi32(base, _mm512_and_si512(vv, m4), x512);
      }
      acc[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(pick[p], dwx512), _mm512_cvtepi32_ps(lanes), acc[p]);
    }
  }
  KILN_UNROLL for (int p = 0; p < P; p++) {
    // Q8_0: row 2p in 128-bit lanes 0,1, row 2p+1 in 2,3; Q4_0: row 2p in 0,2, row 2p+1 in 1,3.
    const __m128 q0 = _mm512_extractf32x4_ps(acc[p], 0), q1 = _mm512_extractf32x4_ps(acc[p], 1);
    const __m128 q2 = _mm512_extractf32x4_ps(acc[p], 2), q3 = _mm512_extractf32x4_ps(acc[p], 3);
    const float r0 = DT == DType::Q8_0 ? reduce8(q0, q1) : reduce8(q0, q2);
    const float r1 = DT == DType::Q8_0 ? reduce8(q2, q3) : reduce8(q1, q3);
    if (2 * p < rows) out[2 * p] = r0 + (bias ? bias[2 * p] : 0.f);
    if (2 * p + 1 < rows) out[2 * p + 1] = r1 + (bias ? bias[2 * p + 1] : 0.f);
  }
}

// ---- K-quants: one super-block's exact integer, 64 quants per vector ----

KILN_VNNI_INLINE float dot_q6_K(const block_q6_K* b, const block_q8_K* x) {
  const __m256i sc16_256 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)b->scales));
  const __m512i sc16 = _mm512_castsi256_si512(sc16_256);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
  // The high two bits of the lower 32 quants of a vector sit at bit 2v, of the upper 32 at 2v + 2
  // (v = 0 for quants 0..63 of a half, 1 for 64..127): shifts per 16-bit lane, masked per byte.
  const __m512i shift_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i shift_hi = _mm512_add_epi16(shift_lo, _mm512_set1_epi16(4));
  // i/8 in int16 lane i (two int16 lanes per int32)
  const __m512i sub_of_lane = _mm512_setr_epi32(0, 0, 0, 0, 0x10001, 0x10001, 0x10001, 0x10001, 0x20002, 0x20002, 0x20002,
                                                0x20002, 0x30003, 0x30003, 0x30003, 0x30003);
  __m512i sum = _mm512_setzero_si512();
  KILN_UNROLL for (int h = 0; h < 2; h++) {  // halves of 128 quants
    const __m512i l = _mm512_loadu_si512((const void*)(b->ql + 64 * h));  // [l0 | l1]
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(b->qh + 32 * h)));
    const __m512i q[2] = {
        _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), m3), 4)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), m3), 4)),
    };
    KILN_UNROLL for (int v = 0; v < 2; v++) {
      const __m512i p16 = _mm512_maddubs_epi16(q[v], _mm512_loadu_si512((const void*)(x->qs + 128 * h + 64 * v)));
      // int16 lane i covers quants 2i, 2i+1 of the vector: sub-block 8h + 4v + i/8
      const __m512i idx = _mm512_add_epi16(sub_of_lane, _mm512_set1_epi16((short)(8 * h + 4 * v)));
      sum = _mm512_dpwssd_epi32(sum, p16, _mm512_permutexvar_epi16(idx, sc16));
    }
  }
  // The quants were stored + 32: subtract 32·Σ sc·(Σ q8 of the sub-block), lane by lane (exact),
  // before the one reduction.
  const __m256i corr = _mm256_madd_epi16(sc16_256, _mm256_loadu_si256((const __m256i*)x->bsums));
  sum = _mm512_sub_epi32(sum, _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_slli_epi32(corr, 5), 0));
  const int isum = _mm512_reduce_add_epi32(sum);
  return x->d * (_cvtsh_ss(b->d) * (float)isum);
}

// Decode against Q4_K, kRows weight rows at a time (rows ≥ `rows` repeat the last, their results
// dropped): the AVX2 tile_q4_K's integers and float expression, 64 quants per vector. Per row and
// super-block the exact integer Σ sc_j·(q·x) comes from maddubs + vpdpwssd; the four rows' sums
// and their mins terms are then reduced together and the float expression runs once for the four
// rows, so the reductions and scalar tail of one row per super-block are shared by four.
KILN_VNNI void tile_q4_K(float* out, const block_q8_K* xb, const uint8_t* w, size_t w_row, int64_t nb,
                         const float* bias, int rows) {
  constexpr int C = kRows;
  const uint8_t* wr[C];
  for (int c = 0; c < C; c++) wr[c] = w + (c < rows ? c : rows - 1) * w_row;
  const char* next = (const char*)(w + kPrefetchTiles * C * w_row);
  const int64_t next_lines = (int64_t)(C * w_row + 63) / 64;
  const int64_t lines_per_step = (next_lines + nb - 1) / nb;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // 32 packed bytes broadcast to both halves: the low half keeps the low nibbles (sub-block 2j),
  // the high half shifts the high ones down (sub-block 2j + 1)
  const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  // pick[j]: int16 scale 2j in every lane of the low half, 2j + 1 in the high half (each 128-bit
  // lane holds the 8 scales)
  __m512i pick[4];
  KILN_UNROLL for (int j = 0; j < 4; j++)
    pick[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j)))),
                                 _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))), 1);
  __m128 acc = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    for (int64_t l = b * lines_per_step; l < (b + 1) * lines_per_step && l < next_lines; l++)
      _mm_prefetch(next + l * 64, _MM_HINT_T0);
    const block_q8_K* x = xb + b;
    const __m128i bs = q8_K_sub_block_sums(x);
    __m256i isum[C];
    __m128i msum[C];
    uint32_t dmins[C];  // d (low half) and dmin (high half) of each row's block, as f16 bits
    KILN_UNROLL for (int c = 0; c < C; c++) {
      const block_q4_K* blk = (const block_q4_K*)(wr[c] + b * sizeof(block_q4_K));
      const __m128i sm = q4_K_scales_mins(blk->scales);
      const __m512i sc = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));
      msum[c] = q4_K_mins_lanes(bs, sm);
      __m512i s = _mm512_setzero_si512();
      KILN_UNROLL for (int j = 0; j < 4; j++) {
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(blk->qs + 32 * j)));
        const __m512i p16 = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), m4),
                                                 _mm512_loadu_si512((const void*)(x->qs + 64 * j)));
        s = _mm512_dpwssd_epi32(s, p16, _mm512_shuffle_epi8(sc, pick[j]));
      }
      isum[c] = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
      std::memcpy(&dmins[c], &blk->d, 4);
    }
    acc = _mm_add_ps(acc, q4_K_tile_terms(isum, msum, dmins, x->d));
  }
  alignas(16) float r[C];
  _mm_store_ps(r, acc);
  for (int c = 0; c < rows; c++) out[c] = r[c] + (bias ? bias[c] : 0.f);
}

// Q4_K: kRows weight rows at a time (1.05-1.35x the one-row form, 768x32000 the most).
KILN_VNNI void matmul_q4_K(float* out, const uint8_t* xq, size_t x_row, const uint8_t* w, const float* bias, int64_t N,
                           int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const int64_t nb = K / QK_K;
  const size_t w_row = (size_t)nb * sizeof(block_q4_K);
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = m0; m < m1; m += kRows)
      tile_q4_K(out + n * M + m, (const block_q8_K*)(xq + n * x_row), w + m * w_row, w_row, nb,
                bias ? bias + m : nullptr, (int)(m1 - m < kRows ? m1 - m : kRows));
}

// Q6_K: one weight row at a time (four at a time made it slower, on AVX2 too).
KILN_VNNI void matmul_q6_K(float* out, const uint8_t* xq, size_t x_row, const uint8_t* w, const float* bias, int64_t N,
                           int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const int64_t nb = K / QK_K;
  const size_t w_row = (size_t)nb * sizeof(block_q6_K);
  for (int64_t m = m0; m < m1; m++) {
    const uint8_t* wr = w + m * w_row;
    for (int64_t l = 0; l < (int64_t)w_row; l += 64) _mm_prefetch((const char*)wr + 4 * w_row + l, _MM_HINT_T0);
    for (int64_t n = 0; n < N; n++) {
      const block_q8_K* xb = (const block_q8_K*)(xq + n * x_row);
      float acc = 0.f;
      for (int64_t b = 0; b < nb; b++) acc += dot_q6_K((const block_q6_K*)(wr + b * sizeof(block_q6_K)), xb + b);
      out[n * M + m] = acc + (bias ? bias[m] : 0.f);
    }
  }
}

template <DType DT>
KILN_VNNI void matmul32(float* out, const uint8_t* xq, size_t x_row, const uint8_t* w, const float* bias, int64_t N,
                        int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const int64_t nb = K / 32;
  const size_t w_row = (size_t)nb * block_bytes<DT>();
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = m0; m < m1; m += kRows) {
      const int rows = (int)(m1 - m < kRows ? m1 - m : kRows);
      tile32<DT>(out + n * M + m, xq + n * x_row, w + m * w_row, w_row, nb, bias ? bias + m : nullptr, rows);
    }
}

}  // namespace

// Decode steps (N < 4) of the types above, output columns [m0, m1); false for anything else (the
// caller then takes the AVX2 kernels).
bool matmul_quant_avx512vnni(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                             int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M) {
  if (N >= 4) return false;
  const uint8_t* wb = (const uint8_t*)w;
  switch (dt) {
    case DType::Q4_0:
      matmul32<DType::Q4_0>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q8_0:
      matmul32<DType::Q8_0>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q4_K:
      matmul_q4_K(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q6_K:
      matmul_q6_K(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    default:
      return false;
  }
}

}  // namespace kiln

#endif  // KILN_X86
