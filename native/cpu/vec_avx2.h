// AVX2+FMA (8 lanes) as the vector type V of the kernel bodies written once over V
// (bidir_attention_simd.h, elementwise_simd.h); the including file compiles them for it.
#pragma once

#include <immintrin.h>

#include <cmath>

#define KILN_TARGET __attribute__((target("avx2,fma")))
#define KILN_SIMD_NS avx2
#define KILN_VEC_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

namespace kiln {
namespace avx2 {

struct V {
  static constexpr int W = 8;
  using vf = __m256;
  KILN_VEC_INLINE __m256i first(int64_t n) {  // lanes 0..n-1 set
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  KILN_VEC_INLINE vf zero() { return _mm256_setzero_ps(); }
  KILN_VEC_INLINE vf set1(float f) { return _mm256_set1_ps(f); }
  KILN_VEC_INLINE vf load(const float* p) { return _mm256_loadu_ps(p); }
  KILN_VEC_INLINE vf load_n(const float* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
  KILN_VEC_INLINE void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
  KILN_VEC_INLINE void store_n(float* p, vf v, int64_t n) { _mm256_maskstore_ps(p, first(n), v); }
  KILN_VEC_INLINE vf fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
  KILN_VEC_INLINE vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
  KILN_VEC_INLINE vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
  KILN_VEC_INLINE vf div(vf a, vf b) { return _mm256_div_ps(a, b); }
  KILN_VEC_INLINE vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
  KILN_VEC_INLINE vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
  KILN_VEC_INLINE vf min(vf a, vf b) { return _mm256_min_ps(a, b); }
  KILN_VEC_INLINE vf abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  KILN_VEC_INLINE vf copysign(vf mag, vf sign) {  // |mag| with the sign bit of sign
    const vf s = _mm256_set1_ps(-0.f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
  }
  KILN_VEC_INLINE vf select_lt(vf a, vf b, vf x, vf y) {  // a < b ? x : y, per lane
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  KILN_VEC_INLINE vf first_n(vf v, int64_t n, float fill) {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(first(n)));
  }
  // ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)): matmul_avx2.cc's order.
  KILN_VEC_INLINE float hsum(vf a) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
  }
  KILN_VEC_INLINE float hmax(vf a) {
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_max_ss(b, _mm_movehdup_ps(b)));
  }
  // e^x as in vec_avx512.h; 2^n built in the exponent field (n ≥ -126 after the clamp).
  KILN_VEC_INLINE vf exp(vf x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33f)), _mm256_set1_ps(88.3f));
    vf n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    vf p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
};

}  // namespace avx2
}  // namespace kiln
