// Elementwise kernels: residual add, product, SwiGLU gate, GELU, tanh, ReLU, row softmax. Memory bound; split evenly across threads
// and written so the compiler vectorises the inner loops. GELU's erf form and SwiGLU's exp, which libm cannot vectorise,
// have vector kernels (elementwise_avx512.cc, elementwise_avx2.cc, elementwise_neon.cc) with polynomials; the loops here are their portable twins.
#include <cmath>

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
void gelu_erf_avx512(float* out, const float* x, int64_t n);  // elementwise_avx512.cc
void gelu_erf_avx2(float* out, const float* x, int64_t n);    // elementwise_avx2.cc
void silu_mul_avx512(float* out, const float* g, const float* u, int64_t n);  // elementwise_avx512.cc
void silu_mul_avx2(float* out, const float* g, const float* u, int64_t n);    // elementwise_avx2.cc
#endif
#if KILN_ARM64
void gelu_erf_neon(float* out, const float* x, int64_t n);                 // elementwise_neon.cc
void silu_mul_neon(float* out, const float* g, const float* u, int64_t n);  // elementwise_neon.cc
#endif

void add_cpu(float* out, const float* a, const float* b, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  for (int64_t i = s; i < e; i++) out[i] = a[i] + b[i];
}

void mul_cpu(float* out, const float* a, const float* b, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  for (int64_t i = s; i < e; i++) out[i] = a[i] * b[i];
}

void silu_mul_cpu(float* out, const float* gate, const float* up, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
#if KILN_X86
  if (cpu_features().avx512()) return silu_mul_avx512(out + s, gate + s, up + s, e - s);
  if (cpu_features().avx2_fma) return silu_mul_avx2(out + s, gate + s, up + s, e - s);
#endif
#if KILN_ARM64
  if (cpu_features().neon) return silu_mul_neon(out + s, gate + s, up + s, e - s);
#endif
  for (int64_t i = s; i < e; i++) {
    float g = gate[i];
    out[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void gelu_cpu(float* out, const float* x, int64_t n, bool tanh_approx, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  if (tanh_approx) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    for (int64_t i = s; i < e; i++) {
      float v = x[i];
      out[i] = 0.5f * v * (1.f + std::tanh(k * (v + 0.044715f * v * v * v)));
    }
#if KILN_X86
  } else if (cpu_features().avx512()) {
    gelu_erf_avx512(out + s, x + s, e - s);
  } else if (cpu_features().avx2_fma) {
    gelu_erf_avx2(out + s, x + s, e - s);
#endif
#if KILN_ARM64
  } else if (cpu_features().neon) {
    gelu_erf_neon(out + s, x + s, e - s);
#endif
  } else {
    for (int64_t i = s; i < e; i++) out[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.7071067811865476f));
  }
}

void tanh_cpu(float* out, const float* x, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  for (int64_t i = s; i < e; i++) out[i] = std::tanh(x[i]);
}

void relu_cpu(float* out, const float* x, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  for (int64_t i = s; i < e; i++) out[i] = x[i] > 0.f ? x[i] : 0.f;
}

void softmax_cpu(float* out, const float* x, int64_t N, int64_t C, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) {
    const float* xr = x + r * C;
    float* o = out + r * C;
    float m = -INFINITY;
    for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;
    double sum = 0;
    for (int64_t c = 0; c < C; c++) {
      o[c] = std::exp(xr[c] - m);
      sum += o[c];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t c = 0; c < C; c++) o[c] *= inv;
  }
}

}  // namespace kiln
