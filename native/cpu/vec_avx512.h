// AVX-512 (16 lanes) as the vector type V of the kernel bodies written once over V
// (bidir_attention_simd.h, elementwise_simd.h); the including file compiles them for it.
#pragma once

// GCC 12's AVX-512 headers make their "undefined" placeholder vectors as `__m512 __Y = __Y;`,
// which its own -Wuninitialized then reports at every inlined use; the lanes are don't-cares.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#define KILN_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KILN_SIMD_NS avx512
#define KILN_VEC_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), always_inline)) static inline

namespace kiln {
namespace avx512 {

struct V {
  static constexpr int W = 16;
  using vf = __m512;
  static constexpr __mmask16 first(int64_t n) { return (__mmask16)((1u << n) - 1); }
  KILN_VEC_INLINE vf zero() { return _mm512_setzero_ps(); }
  KILN_VEC_INLINE vf set1(float f) { return _mm512_set1_ps(f); }
  KILN_VEC_INLINE vf load(const float* p) { return _mm512_loadu_ps(p); }
  KILN_VEC_INLINE vf load_n(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  KILN_VEC_INLINE void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
  KILN_VEC_INLINE void store_n(float* p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, first(n), v); }
  KILN_VEC_INLINE vf fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
  KILN_VEC_INLINE vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
  KILN_VEC_INLINE vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
  KILN_VEC_INLINE vf div(vf a, vf b) { return _mm512_div_ps(a, b); }
  KILN_VEC_INLINE vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
  KILN_VEC_INLINE vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
  KILN_VEC_INLINE vf min(vf a, vf b) { return _mm512_min_ps(a, b); }
  KILN_VEC_INLINE vf abs(vf a) { return _mm512_abs_ps(a); }
  KILN_VEC_INLINE vf copysign(vf mag, vf sign) {  // |mag| with the sign bit of sign
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(mag), _mm512_castps_si512(sign),
                                                         _mm512_set1_epi32(0x7fffffff), 0xe4));
  }
  KILN_VEC_INLINE vf select_lt(vf a, vf b, vf x, vf y) {  // a < b ? x : y, per lane
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
  }
  KILN_VEC_INLINE vf first_n(vf v, int64_t n, float fill) { return _mm512_mask_blend_ps(first(n), _mm512_set1_ps(fill), v); }
  // (a_j + a_j+8), then ((c0+c4)+(c1+c5))+((c2+c6)+(c3+c7)): matmul_avx512.cc's order.
  KILN_VEC_INLINE float hsum(vf a) {
    __m256 c = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
    __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
  }
  KILN_VEC_INLINE float hmax(vf a) { return _mm512_reduce_max_ps(a); }
  // e^x, within 2 ulp of the true value for x in [-87.3, 88.3] (Cephes' expf: x = n·ln2 + r,
  // |r| ≤ ln2/2, a degree-7 polynomial for e^r, times 2^n); below, ~1e-38 instead of 0.
  KILN_VEC_INLINE vf exp(vf x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.3f));
    vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    vf p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    return _mm512_scalef_ps(p, n);
  }
};

}  // namespace avx512
}  // namespace kiln
