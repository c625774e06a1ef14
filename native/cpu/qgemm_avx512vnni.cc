// Prefill against Q4_0, Q5_0 (qgemm_avx2.cc) and Q4_K, Q5_K (qgemm_q4_k_avx2.cc) weights with
// AVX512-VNNI: those GEMMs on the same panels (8 weight rows, "lanes = rows"), with TWO activation
// rows per 512-bit vector (lanes 0..7 the first row's, 8..15 the second's) and one vpdpbusd per
// group of 4 quants instead of maddubs, an int16 add and a madd. Each lane's integers are the same
// exact sums, turned into floats by the same operations, so the avx512vnni and avx2 tiers agree
// bit for bit.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

#define KILN_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {

void qgemm_q4_0_repack(uint8_t* panel, const void* w, DType dt, int64_t K, int64_t m, int rows);  // qgemm_avx2.cc
void qgemm_q4_K_repack(uint8_t* panel, const void* w, DType dt, int64_t K, int64_t m, int rows);  // qgemm_q4_k_avx2.cc

namespace {

constexpr int kPanelRows = 8;
constexpr size_t kPanelBlockBytes = 8 * sizeof(float) + 8 * sizeof(int32_t) + 8 * 32;  // as qgemm_avx2.cc
// qgemm_q4_k_avx2.cc's panel, per super-block: d[8], dmin[8], sc[8] (int16 pairs), mn[4], q[8][8]
constexpr size_t kScOffset = 16 * sizeof(float);
constexpr size_t kMnOffset = kScOffset + 8 * 32;
constexpr size_t kQOffset = kMnOffset + 4 * 32;
constexpr size_t kQ4KBlockBytes = kQOffset + 64 * 32;

// Lanes 0..7 from a, 8..15 from b.
#define KILN_PAIR_I(a, b) _mm512_inserti64x4(_mm512_castsi256_si512(a), (b), 1)

// The real rows of P pairs (lanes 0..7 row 2p, 8..15 row 2p+1), `valid` columns each, + bias.
template <int P>
KILN_VNNI void store_pairs(float* out, int64_t M, const __m512 (&acc)[P], const float* bias, int valid, int rows_valid) {
  KILN_UNROLL for (int p = 0; p < P; p++) {
    alignas(64) float o[16];
    _mm512_store_ps(o, acc[p]);
    for (int h = 0; h < 2; h++) {
      const int r = 2 * p + h;
      if (r >= rows_valid) break;
      for (int j = 0; j < valid; j++) out[r * M + j] = o[8 * h + j] + (bias ? bias[j] : 0.f);
    }
  }
}

// P pairs of activation rows (2P rows: xu/xd row r at r·nb blocks; a pair's second row may repeat
// its first, rows_valid says how many are real) × Q panels of 8 weight rows each (Q ≤ 2, the second
// panel kPanelBlockBytes·nb after the first, `valid` rows in the last): each permuted activation
// vector feeds Q vpdpbusd.
template <int P, int Q>
KILN_VNNI void tile(float* out, int64_t M, const uint8_t* panel, const uint8_t* xu, const float* xd, int64_t nb,
                    const float* bias, int valid, int rows_valid) {
  __m512 acc[Q][P];
  KILN_UNROLL for (int k = 0; k < Q; k++) KILN_UNROLL for (int p = 0; p < P; p++) acc[k][p] = _mm512_setzero_ps();
  int row[2 * P];
  KILN_UNROLL for (int r = 0; r < 2 * P; r++) row[r] = r < rows_valid ? r : rows_valid - 1;
  // permutexvar index of group g: dword g of the first row's 32 bytes in lanes 0..7, of the second's in 8..15
  const __m512i g0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8);
  const size_t panel_stride = (size_t)nb * kPanelBlockBytes;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb[Q];
    KILN_UNROLL for (int k = 0; k < Q; k++) pb[k] = panel + k * panel_stride + b * kPanelBlockBytes;
    __m512i x[P], s[Q][P];
    KILN_UNROLL for (int p = 0; p < P; p++) {
      x[p] = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(xu + (row[2 * p] * nb + b) * 32))),
          _mm256_loadu_si256((const __m256i*)(xu + (row[2 * p + 1] * nb + b) * 32)), 1);
      KILN_UNROLL for (int k = 0; k < Q; k++) s[k][p] = _mm512_setzero_si512();
    }
    KILN_UNROLL for (int g = 0; g < 8; g++) {
      __m512i wq[Q];
      KILN_UNROLL for (int k = 0; k < Q; k++)
        wq[k] = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i*)(pb[k] + 8 * sizeof(float) + 8 * sizeof(int32_t)) + g));
      const __m512i idx = _mm512_add_epi32(g0, _mm512_set1_epi32(g));
      KILN_UNROLL for (int p = 0; p < P; p++) {
        const __m512i xg = _mm512_permutexvar_epi32(idx, x[p]);
        KILN_UNROLL for (int k = 0; k < Q; k++) s[k][p] = _mm512_dpbusd_epi32(s[k][p], xg, wq[k]);
      }
    }
    KILN_UNROLL for (int k = 0; k < Q; k++) {
      const __m512 dw = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_load_pd((const double*)pb[k])));
      const __m512i c = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i*)(pb[k] + 8 * sizeof(float))));
      KILN_UNROLL for (int p = 0; p < P; p++) {
        const __m512 xdv = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps(xd[row[2 * p] * nb + b]),
                                                _mm512_set1_ps(xd[row[2 * p + 1] * nb + b]));
        acc[k][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, xdv), _mm512_cvtepi32_ps(_mm512_sub_epi32(s[k][p], c)), acc[k][p]);
      }
    }
  }
  KILN_UNROLL for (int k = 0; k < Q; k++)
    store_pairs<P>(out + k * kPanelRows, M, acc[k], bias ? bias + k * kPanelRows : nullptr, k + 1 < Q ? kPanelRows : valid,
                   rows_valid);
}

// The activations' mins term of one Q8_K row against the panel's 8 rows (qgemm_q4_k_avx2.cc's):
// Σ_j m_j·(Σ x of sub-block j), 8 lanes.
KILN_VNNI __m256i mins_term(const __m256i* mn, const block_q8_K* xb) {
  const __m128i xs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i*)xb->bsums),
                                    _mm_loadu_si128((const __m128i*)(xb->bsums + 8)));
  __m256i msum = _mm256_madd_epi16(_mm256_load_si256(mn), _mm256_set1_epi32(_mm_extract_epi32(xs, 0)));
  msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_load_si256(mn + 1), _mm256_set1_epi32(_mm_extract_epi32(xs, 1))));
  msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_load_si256(mn + 2), _mm256_set1_epi32(_mm_extract_epi32(xs, 2))));
  msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_load_si256(mn + 3), _mm256_set1_epi32(_mm_extract_epi32(xs, 3))));
  return msum;
}

// P pairs of Q8_K activation rows (x_row bytes apart; as tile above for repeats) × a Q4_K panel.
template <int P>
KILN_VNNI void tile_q4_K(float* out, int64_t M, const uint8_t* panel, const uint8_t* xq, size_t x_row, int64_t nb,
                         const float* bias, int valid, int rows_valid) {
  __m512 acc[P];
  KILN_UNROLL for (int p = 0; p < P; p++) acc[p] = _mm512_setzero_ps();
  int row[2 * P];
  KILN_UNROLL for (int r = 0; r < 2 * P; r++) row[r] = r < rows_valid ? r : rows_valid - 1;
  const __m512i g0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8);
  const __m512i low16 = _mm512_set1_epi32(0xFFFF);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = panel + b * kQ4KBlockBytes;
    const __m512 dw = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_load_pd((const double*)pb)));
    const __m512 dmin = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_load_pd((const double*)pb + 4)));
    const __m256i* sc = (const __m256i*)(pb + kScOffset);
    const __m256i* mn = (const __m256i*)(pb + kMnOffset);
    const __m256i* q = (const __m256i*)(pb + kQOffset);
    const block_q8_K* xb[2 * P];
    KILN_UNROLL for (int r = 0; r < 2 * P; r++) xb[r] = (const block_q8_K*)(xq + row[r] * x_row) + b;
    __m512i isum[P];
    KILN_UNROLL for (int p = 0; p < P; p++) isum[p] = _mm512_setzero_si512();
#pragma GCC unroll 1
    for (int j = 0; j < 8; j++) {
      __m512i x[P], s[P];
      KILN_UNROLL for (int p = 0; p < P; p++) {
        x[p] = KILN_PAIR_I(_mm256_loadu_si256((const __m256i*)(xb[2 * p]->qs + 32 * j)),
                           _mm256_loadu_si256((const __m256i*)(xb[2 * p + 1]->qs + 32 * j)));
        s[p] = _mm512_setzero_si512();
      }
      KILN_UNROLL for (int g = 0; g < 8; g++) {
        const __m512i wq = _mm512_broadcast_i64x4(_mm256_load_si256(q + 8 * j + g));
        const __m512i idx = _mm512_add_epi32(g0, _mm512_set1_epi32(g));
        KILN_UNROLL for (int p = 0; p < P; p++) s[p] = _mm512_dpbusd_epi32(s[p], wq, _mm512_permutexvar_epi32(idx, x[p]));
      }
      // the sub-block's scale of each row (stored as an int16 pair)
      const __m512i scv = _mm512_and_si512(_mm512_broadcast_i64x4(_mm256_load_si256(sc + j)), low16);
      KILN_UNROLL for (int p = 0; p < P; p++) isum[p] = _mm512_add_epi32(isum[p], _mm512_mullo_epi32(s[p], scv));
    }
    KILN_UNROLL for (int p = 0; p < P; p++) {
      const __m512i msum = KILN_PAIR_I(mins_term(mn, xb[2 * p]), mins_term(mn, xb[2 * p + 1]));
      const __m512 xd = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps(xb[2 * p]->d), _mm512_set1_ps(xb[2 * p + 1]->d));
      const __m512 t = _mm512_sub_ps(_mm512_mul_ps(xd, _mm512_mul_ps(dw, _mm512_cvtepi32_ps(isum[p]))),
                                     _mm512_mul_ps(xd, _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum))));
      acc[p] = _mm512_add_ps(acc[p], t);
    }
  }
  store_pairs<P>(out, M, acc, bias, valid, rows_valid);
}

}  // namespace

size_t qgemm_q4_0_avx512vnni_panel_bytes(int64_t K) { return 2 * (size_t)(K / QK4_0) * kPanelBlockBytes; }

// As qgemm_q4_K_avx2 (same arguments, same bits).
KILN_VNNI void qgemm_q4_K_avx512vnni(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt,
                                     const float* bias, int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M,
                                     uint8_t* panel) {
  const int64_t nb = K / QK_K;
  for (int64_t m = m0; m < m1; m += kPanelRows) {
    const int rows = (int)(m1 - m < kPanelRows ? m1 - m : kPanelRows);
    qgemm_q4_K_repack(panel, w, dt, K, m, rows);
    const float* bm = bias ? bias + m : nullptr;
    int64_t n = 0;
    for (; n + 4 <= N; n += 4) tile_q4_K<2>(out + n * M + m, M, panel, xq + n * x_row, x_row, nb, bm, rows, 4);
    if (n < N) tile_q4_K<2>(out + n * M + m, M, panel, xq + n * x_row, x_row, nb, bm, rows, (int)(N - n));
  }
}

// As qgemm_q4_0_avx2 (same arguments, same bits), but `panel` holds two panels
// (qgemm_q4_0_avx512vnni_panel_bytes).
KILN_VNNI void qgemm_q4_0_avx512vnni(float* out, const float* xd, const uint8_t* xu, const void* w, DType dt,
                                     const float* bias, int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M,
                                     uint8_t* panel) {
  const int64_t nb = K / QK4_0;
  // Two panels (16 weight rows) at a time where there are; panel: 2·qgemm_q4_0_panel_bytes(K).
  for (int64_t m = m0; m < m1; m += 2 * kPanelRows) {
    const int rows = (int)(m1 - m < 2 * kPanelRows ? m1 - m : 2 * kPanelRows);
    const float* bm = bias ? bias + m : nullptr;
    qgemm_q4_0_repack(panel, w, dt, K, m, rows < kPanelRows ? rows : kPanelRows);
    if (rows > kPanelRows) {
      qgemm_q4_0_repack(panel + (size_t)nb * kPanelBlockBytes, w, dt, K, m + kPanelRows, rows - kPanelRows);
      int64_t n = 0;
      for (; n + 8 <= N; n += 8)
        tile<4, 2>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows - kPanelRows, 8);
      for (; n < N; n += 4)
        tile<2, 2>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows - kPanelRows,
                   (int)(N - n < 4 ? N - n : 4));
    } else {
      int64_t n = 0;
      for (; n + 8 <= N; n += 8) tile<4, 1>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows, 8);
      for (; n < N; n += 4)
        tile<2, 1>(out + n * M + m, M, panel, xu + n * nb * 32, xd + n * nb, nb, bm, rows, (int)(N - n < 4 ? N - n : 4));
    }
  }
}

}  // namespace kiln

#endif  // KILN_X86
