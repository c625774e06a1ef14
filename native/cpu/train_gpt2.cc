// Backward kernels of GPT-2's forward ops: LayerNorm (dx, and dw summed over rows), GELU (both
// forms) and slice_cols (its fused q/k/v projection). Plain loops the compiler vectorises; rows or
// columns split over threads so that every sum runs in one fixed order (thread-count invariant).
#include <cmath>

#include "kernels.h"

namespace kiln {

// mean and 1/sqrt(var + eps) of one row, as layernorm_cpu computes them.
static void row_stats(const float* x, int64_t C, float eps, float* mean, float* rstd) {
  float m = 0.f;
  for (int64_t c = 0; c < C; c++) m += x[c];
  m /= (float)C;
  float var = 0.f;
  for (int64_t c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
  var /= (float)C;
  *mean = m;
  *rstd = 1.f / std::sqrt(var + eps);
}

// dx = rstd · (g - mean(g) - x̂ · mean(g · x̂)), g = dy · w, x̂ = (x - mean) · rstd
void layernorm_backward_cpu(float* dx, const float* dy, const float* x, const float* w, int64_t N, int64_t C,
                            float eps, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    const float *xr = x + n * C, *dr = dy + n * C;
    float mean, rstd;
    row_stats(xr, C, eps, &mean, &rstd);
    float sg = 0.f, sgx = 0.f;
    for (int64_t c = 0; c < C; c++) {
      float g = dr[c] * w[c];
      sg += g;
      sgx += g * (xr[c] - mean) * rstd;
    }
    sg /= (float)C;
    sgx /= (float)C;
    for (int64_t c = 0; c < C; c++) dx[n * C + c] = rstd * (dr[c] * w[c] - sg - (xr[c] - mean) * rstd * sgx);
  }
}

void layernorm_backward_weight_cpu(float* dw, const float* dy, const float* x, int64_t N, int64_t C, float eps,
                                   int ith, int nth) {
  int64_t s, e;
  split_range(C, ith, nth, &s, &e);
  if (s >= e) return;
  for (int64_t n = 0; n < N; n++) {
    float mean, rstd;
    row_stats(x + n * C, C, eps, &mean, &rstd);
    for (int64_t c = s; c < e; c++) dw[c] += dy[n * C + c] * (x[n * C + c] - mean) * rstd;
  }
}

void gelu_backward_cpu(float* dx, const float* dy, const float* x, int64_t n, bool tanh_approx, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
  if (tanh_approx) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    for (int64_t i = s; i < e; i++) {
      float v = x[i], t = std::tanh(k * (v + 0.044715f * v * v * v));
      dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * k * (1.f + 3.f * 0.044715f * v * v));
    }
  } else {
    for (int64_t i = s; i < e; i++) {
      float v = x[i];
      float cdf = 0.5f * (1.f + std::erf(v * 0.7071067811865476f));
      float pdf = 0.3989422804014327f * std::exp(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
  }
}

void slice_cols_backward_cpu(float* dx, const float* dy, int64_t N, int64_t C, int64_t start, int64_t W, int ith,
                             int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++)
    for (int64_t c = 0; c < C; c++) dx[n * C + c] = c >= start && c < start + W ? dy[n * W + c - start] : 0.f;
}

}  // namespace kiln
