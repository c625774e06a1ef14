// 16×16 float transposes in registers and lane masks, for the AVX-512 kernels that compute a
// tile with lanes along one axis and store it along the other (matmul_avx512_gemm.cc,
// qgemm_amx.cc).
#pragma once
#include "cpu/arch.h"
#if KILN_X86

#include <immintrin.h>

#include <cstdint>

#ifndef KILN_UNROLL
#define KILN_UNROLL _Pragma("GCC unroll 16")
#endif
#define KILN_AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), always_inline)) inline

namespace kiln {

// Lanes 0..n-1 (all 16 from n = 16 on).
KILN_AVX512_INLINE __mmask16 first_lanes(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

// r[i] lane j -> r[j] lane i.
KILN_AVX512_INLINE void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16], v[16];
  KILN_UNROLL
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  KILN_UNROLL
  for (int j = 0; j < 4; j++) {
    u[4 * j + 0] = _mm512_shuffle_ps(t[4 * j + 0], t[4 * j + 2], 0x44);
    u[4 * j + 1] = _mm512_shuffle_ps(t[4 * j + 0], t[4 * j + 2], 0xEE);
    u[4 * j + 2] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0x44);
    u[4 * j + 3] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0xEE);
  }
  // u[4j + c], 128-bit lane L: rows 4j..4j+3 of column 4L + c
  KILN_UNROLL
  for (int c = 0; c < 4; c++) {
    v[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    v[c + 4] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    v[c + 8] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    v[c + 12] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
  }
  KILN_UNROLL
  for (int c = 0; c < 4; c++) {
    r[c] = _mm512_shuffle_f32x4(v[c], v[c + 8], 0x88);
    r[c + 8] = _mm512_shuffle_f32x4(v[c], v[c + 8], 0xDD);
    r[c + 4] = _mm512_shuffle_f32x4(v[c + 4], v[c + 12], 0x88);
    r[c + 12] = _mm512_shuffle_f32x4(v[c + 4], v[c + 12], 0xDD);
  }
}

}  // namespace kiln

#endif  // KILN_X86
