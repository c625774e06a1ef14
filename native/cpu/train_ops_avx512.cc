// AVX-512 bodies of the memory-bound training ops that train_ops.cc hands over on CPUs that have it:
// AdamW (the same float operations as the portable loop in the same order, no FMA, so the result is
// bit-identical to it) and the loss's row log-sum-exp and softmax (vector e^x, sums in double).
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <cmath>

#include "cpu/vec_avx512.h"
#include "kernels.h"

namespace kiln {

using avx512::V;

// Elements [s, e) of AdamW; hyper as adamw_kernel.
KILN_TARGET void adamw_avx512(float* param, float* grad, float* m, float* v, const float* hyper, int64_t s,
                              int64_t e) {
  const float lr = hyper[0], b1 = hyper[1], b2 = hyper[2], eps = hyper[3], wd = hyper[4], bc1 = hyper[5],
              bc2 = hyper[6], gs = hyper[7];
  const float step = lr / bc1, rbc2 = 1.f / std::sqrt(bc2), decay = 1.f - lr * wd;
  const __m512 vgs = _mm512_set1_ps(gs), vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2),
               v1b1 = _mm512_set1_ps(1.f - b1), v1b2 = _mm512_set1_ps(1.f - b2), vstep = _mm512_set1_ps(step),
               vrbc2 = _mm512_set1_ps(rbc2), vdecay = _mm512_set1_ps(decay), veps = _mm512_set1_ps(eps);
  for (int64_t i = s; i < e; i += 16) {
    const __mmask16 k = e - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (e - i)) - 1);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, grad + i), vgs);
    __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_maskz_loadu_ps(k, m + i)), _mm512_mul_ps(v1b1, g));
    __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_maskz_loadu_ps(k, v + i)),
                              _mm512_mul_ps(_mm512_mul_ps(v1b2, g), g));
    __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), vrbc2), veps);
    __m512 p = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, param + i), vdecay),
                             _mm512_div_ps(_mm512_mul_ps(vstep, mi), den));
    _mm512_mask_storeu_ps(m + i, k, mi);
    _mm512_mask_storeu_ps(v + i, k, vi);
    _mm512_mask_storeu_ps(param + i, k, p);
    _mm512_mask_storeu_ps(grad + i, k, _mm512_setzero_ps());
  }
}

// log Σ_i e^{l_i} of one row of V logits: the max, then Σ e^{l_i - max} in double.
KILN_TARGET float logsumexp_avx512(const float* l, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(l + i));
  if (i < n) mx = _mm512_mask_max_ps(mx, (__mmask16)((1u << (n - i)) - 1), mx, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), l + i));
  const float m = _mm512_reduce_max_ps(mx);
  const __m512 vm = _mm512_set1_ps(m);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    __m512 e = _mm512_maskz_mov_ps(k, V::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, l + i), vm)));
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  return m + (float)std::log(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)));
}

// d (n) = e^{l - lse}
KILN_TARGET void softmax_from_lse_avx512(float* d, const float* l, int64_t n, float lse) {
  const __m512 vl = _mm512_set1_ps(lse);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(d + i, k, V::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, l + i), vl)));
  }
}

}  // namespace kiln

#endif  // KILN_X86
