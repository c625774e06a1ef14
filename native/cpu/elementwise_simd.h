// Vector bodies of elementwise ops, written once over a vector type V (vec_avx2.h, vec_avx512.h)
// and compiled per instruction set by elementwise_avx2.cc and elementwise_avx512.cc. Their
// portable twins are in elementwise.cc.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace kiln {
namespace KILN_SIMD_NS {

// erf(x) within 1e-7 of the true value (about 2 ulp of 1): for |x| < 1, x·P(x²); for 1 ≤ |x| ≤ 4,
// 1 − Q(t) with t = (|x| − 2.5)/1.5 in [-1, 1]; past 4, ±1 (erfc(4) is below half an ulp of 1).
// P (degree 5) and Q (degree 12) are least-squares fits on Chebyshev nodes to erf(x)/x and erfc,
// evaluated by Horner with FMA; measured against double erf, the worst error is 9e-8.
KILN_VEC_INLINE typename V::vf erf(typename V::vf x) {
  using vf = typename V::vf;
  static constexpr float kP[] = {1.128379107e+00f, -3.761234879e-01f, 1.128036529e-01f,
                                 -2.671639621e-02f, 4.923284054e-03f, -5.654111737e-04f};
  static constexpr float kQ[] = {4.069206479e-04f, -3.266968997e-03f, 1.225590892e-02f, -2.819584683e-02f,
                                 4.360218719e-02f, -4.632206261e-02f, 3.216436878e-02f, -9.810808115e-03f,
                                 -7.483717520e-03f, 1.079767942e-02f, -3.426010255e-03f, -1.851575100e-03f,
                                 1.129985554e-03f};
  constexpr int nP = sizeof(kP) / sizeof(kP[0]), nQ = sizeof(kQ) / sizeof(kQ[0]);
  const vf a = V::min(V::abs(x), V::set1(4.f));
  const vf s = V::mul(a, a);
  vf p = V::set1(kP[nP - 1]);
  for (int i = nP - 2; i >= 0; i--) p = V::fma(p, s, V::set1(kP[i]));
  const vf t = V::fma(a, V::set1(6.666666865e-01f), V::set1(-1.666666627e+00f));
  vf q = V::set1(kQ[nQ - 1]);
  for (int i = nQ - 2; i >= 0; i--) q = V::fma(q, t, V::set1(kQ[i]));
  const vf e = V::select_lt(a, V::set1(1.f), V::mul(a, p), V::sub(V::set1(1.f), q));
  return V::copysign(e, x);
}

// 0.5·x·(1 + erf(x/√2)), GELU as BERT and most encoders define it.
KILN_VEC_INLINE typename V::vf gelu_erf(typename V::vf x) {
  const typename V::vf half_x = V::mul(V::set1(0.5f), x);
  return V::mul(half_x, V::add(V::set1(1.f), erf(V::mul(x, V::set1(0.7071067811865476f)))));
}

KILN_TARGET void gelu_erf(float* out, const float* x, int64_t n) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, gelu_erf(V::load(x + i)));
  if (i < n) V::store_n(out + i, gelu_erf(V::load_n(x + i, n - i)), n - i);
}

// silu(g)·u = g / (1 + e^−g) · u, SwiGLU's gate (V::exp: within 2 ulp; past e^88 it saturates,
// leaving g/(1 + 2e38) ≈ 0 where the true value is ≈ 0 too).
KILN_TARGET void silu_mul(float* out, const float* g, const float* u, int64_t n) {
  constexpr int W = V::W;
  using vf = typename V::vf;
  const vf one = V::set1(1.f), zero = V::zero();
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const vf gv = V::load(g + i);
    V::store(out + i, V::mul(V::div(gv, V::add(one, V::exp(V::sub(zero, gv)))), V::load(u + i)));
  }
  if (i < n) {
    const vf gv = V::load_n(g + i, n - i);
    V::store_n(out + i, V::mul(V::div(gv, V::add(one, V::exp(V::sub(zero, gv)))), V::load_n(u + i, n - i)), n - i);
  }
}

}  // namespace KILN_SIMD_NS
}  // namespace kiln
