// Shared by the int8 GEMMs of prefill (qgemm_avx2.cc for Q4_0, qgemm_q4_k_avx2.cc for Q4_K): weight
// rows are repacked in panels of 8 so that each 32-bit lane of a vector holds four consecutive
// quants of one row ("lanes = rows"), and one maddubs multiplies four quants of eight rows by the
// same four activation bytes, broadcast.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

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

// One Q4_0 block's 32 quants (0..15), or Q5_0's (0..31: bit 4 of element j is bit j of qh), as
// unsigned bytes in element order (elements 0..15 are the low nibbles of qs, 16..31 the high ones).
template <class Block, bool Q5>
KILN_AVX2_INLINE __m256i block32_quants(const Block* blk) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i v = _mm_loadu_si128((const __m128i*)blk->qs);
  const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
  if constexpr (Q5) return _mm256_or_si256(q, _mm256_and_si256(bytes_from_bits_32(blk->qh), _mm256_set1_epi8(0x10)));
  return q;
}

// 16 where bit k of each byte of qh is set, else 0: (qh >> k) & 1 per byte (the bits shifted in
// from the next byte are masked off), then << 4 (stays within the byte).
KILN_AVX2_INLINE __m256i bit4(__m256i qh, int k, __m256i one) {
  return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, k), one), 4);
}

// One Q6_K row's super-block as 8 vectors of 32 unsigned quants (q + 32, 0..63), elements 32j..32j+31.
KILN_AVX2_INLINE void unpack_q6_K_row(const block_q6_K* b, __m256i q[8]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int h = 0; h < 2; h++) {  // halves of 128: ql 64 bytes, qh 32 bytes each
    const __m256i l0 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i*)(b->qh + 32 * h));
    // bits 0-1, 2-3, 4-5, 6-7 of qh, each moved to bits 4-5 (masked first: no bit crosses a byte)
    q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4));
    q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0C)), 2));
    q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
    q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8((char)0xC0)), 2));
  }
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
