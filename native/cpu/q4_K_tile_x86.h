// What the AVX2 and AVX512-VNNI Q4_K decode tiles (qmatmul_avx2.cc, qmatmul_avx512vnni.cc)
// share: they differ only in how they get each row's integer Σ sc·(q·x). Here are the scales and
// mins they unpack, the activations' sums the mins multiply, and the end of a super-block: the
// four rows' exact sums and mins terms to one float each, by the portable twin's expression
// x->d * (d * (float)isum) - x->d * (dmin * (float)msum), so both tiers give the same bits.
// x86 only; compiled for AVX2 and inlined into either tier's functions (a subset of their targets).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "cpu/qweights.h"
#include "quant/blocks.h"

#define KILN_Q4K_TILE_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace kiln {

// The 8 six-bit scales (bytes 0..7) and mins (8..15) of a Q4_K block's 12 packed bytes.
KILN_Q4K_TILE_INLINE __m128i q4_K_scales_mins(const uint8_t* packed) {
  uint32_t u[4];
  q4_K_scales_mins_words(packed, u);
  return _mm_loadu_si128((const __m128i*)u);
}

// The activations' 32-element sums as int16 (pairs of the 16-element bsums): what the mins multiply.
KILN_Q4K_TILE_INLINE __m128i q8_K_sub_block_sums(const block_q8_K* x) {
  return _mm_hadd_epi16(_mm_loadu_si128((const __m128i*)x->bsums), _mm_loadu_si128((const __m128i*)(x->bsums + 8)));
}

// One row's mins term, 4 int32 lanes to be summed: Σ_j m_j·(Σ x of sub-block j), with sm from
// q4_K_scales_mins and bs from q8_K_sub_block_sums.
KILN_Q4K_TILE_INLINE __m128i q4_K_mins_lanes(__m128i bs, __m128i sm) {
  return _mm_madd_epi16(bs, _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)));
}

// isum[c]: row c's 8 int32 lanes of Σ sc·(q·x); msum[c]: its 4 lanes of Σ m·(sums of x);
// dmins[c]: its block's d (low half) and dmin (high half) as f16 bits; xd: the activations' d.
KILN_Q4K_TILE_INLINE __m128 q4_K_tile_terms(const __m256i (&isum)[4],
                                                                                   const __m128i (&msum)[4],
                                                                                   const uint32_t (&dmins)[4], float xd) {
  // rows' 8-lane sums to one int32 each: [row 0, 1, 2, 3]
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(isum[0], isum[1]), _mm256_hadd_epi32(isum[2], isum[3]));
  const __m128i is = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  const __m128i ms = _mm_hadd_epi32(_mm_hadd_epi32(msum[0], msum[1]), _mm_hadd_epi32(msum[2], msum[3]));
  // [d0 m0 d1 m1 ...] as floats, then d of rows 0..3 in the low half, dmin in the high
  const __m256 dm = _mm256_permutevar8x32_ps(
      _mm256_cvtph_ps(_mm_setr_epi32((int)dmins[0], (int)dmins[1], (int)dmins[2], (int)dmins[3])),
      _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  const __m128 x = _mm_set1_ps(xd);
  return _mm_sub_ps(_mm_mul_ps(x, _mm_mul_ps(_mm256_castps256_ps128(dm), _mm_cvtepi32_ps(is))),
                    _mm_mul_ps(x, _mm_mul_ps(_mm256_extractf128_ps(dm, 1), _mm_cvtepi32_ps(ms))));
}

}  // namespace kiln

#undef KILN_Q4K_TILE_INLINE
