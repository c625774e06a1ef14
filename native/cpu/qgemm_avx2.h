// Shared by the int8 GEMMs of prefill (qgemm_avx2.cc for Q4_0, qgemm_q4_k_avx2.cc for Q4_K): weight
// rows are repacked in panels of 8 so that each 32-bit lane of a vector holds four consecutive
// quants of one row ("lanes = rows"), and one maddubs multiplies four quants of eight rows by the
// same four activation bytes, broadcast.
#pragma once
#include <immintrin.h>

#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {

constexpr int kPanelRows = 8;  // weight rows per panel (the 8 lanes)
constexpr int kTileRows = 4;   // activation rows per tile

// 8 rows of 32 bytes (r[j]: row j) → out[g] lane j = dword g of r[j]: an 8×8 transpose of dwords.
KILN_AVX2_INLINE void transpose_dwords_8x8(const __m256i r[8], __m256i out[8]) {
  __m256i t[8], u[8];
  for (int k = 0; k < 4; k++) {
    t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
  }
  for (int h = 0; h < 2; h++) {  // rows 0..3, then 4..7
    u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
  }
  for (int g = 0; g < 4; g++) {
    out[g] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x20);      // dword g
    out[g + 4] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x31);  // dword g + 4
  }
}

}  // namespace kiln
