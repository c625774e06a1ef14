// Shared by the int8 GEMMs of prefill (qgemm_avx2.cc for Q4_0, qgemm_q4_k_avx2.cc for Q4_K): weight
// rows are repacked in panels of 8 so that each 32-bit lane of a vector holds four consecutive
// quants of one row ("lanes = rows"), and one maddubs multiplies four quants of eight rows by the
// same four activation bytes, broadcast.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {

constexpr int kPanelRows = 8;  // weight rows per panel (the 8 lanes)
constexpr int kTileRows = 4;   // activation rows per tile

// Byte i = 0xFF where bit i of the 32 bits at p is set (ggml's bytes_from_bits_32).
KILN_AVX2_INLINE __m256i bytes_from_bits_32(const uint8_t* p) {
  uint32_t x32;
  std::memcpy(&x32, p, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i bytes = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf),
                                        _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

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

// R rows of 8 lanes (the first `valid` of them) + bias into out, rows M apart.
template <int R>
KILN_AVX2_INLINE void store_tile(float* out, int64_t M, const __m256* acc, const float* bias, int valid) {
  for (int r = 0; r < R; r++) {
    alignas(32) float o[8];
    _mm256_store_ps(o, acc[r]);
    for (int j = 0; j < valid; j++) out[r * M + j] = o[j] + (bias ? bias[j] : 0.f);
  }
}

// The K-quant GEMMs' loop: panels of 8 weight rows over [m0, m1), each repacked once and then
// multiplied by every activation row (Q8_K, x_row bytes apart), kTileRows at a time.
using RepackFn = void (*)(uint8_t* panel, const uint8_t* w, size_t w_row, int64_t m, int rows, int64_t nb);
using TileFn = void (*)(float* out, int64_t M, const uint8_t* panel, const uint8_t* xq, size_t x_row, int64_t nb,
                        const float* bias, int valid);
inline void gemm_panels(RepackFn repack, TileFn tile_n, TileFn tile_1, float* out, const uint8_t* xq, size_t x_row,
                        const uint8_t* w, size_t w_row, const float* bias, int64_t N, int64_t nb, int64_t m0,
                        int64_t m1, int64_t M, uint8_t* panel) {
  for (int64_t m = m0; m < m1; m += kPanelRows) {
    const int rows = (int)(m1 - m < kPanelRows ? m1 - m : kPanelRows);
    repack(panel, w, w_row, m, rows, nb);
    const float* bm = bias ? bias + m : nullptr;
    int64_t n = 0;
    for (; n + kTileRows <= N; n += kTileRows) tile_n(out + n * M + m, M, panel, xq + n * x_row, x_row, nb, bm, rows);
    for (; n < N; n++) tile_1(out + n * M + m, M, panel, xq + n * x_row, x_row, nb, bm, rows);
  }
}

}  // namespace kiln
