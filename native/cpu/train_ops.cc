// The backward kernels of the elementwise, norm and embedding ops (rope's: rope.cc), the causal-LM loss and
// AdamW. Memory bound; each splits its work so that no two threads write the same element
// (gradients that sum over rows split the columns instead). AdamW and the loss's exponentials
// have AVX-512 bodies (train_ops_avx512.cc) for CPUs that have it.
#include <algorithm>
#include <cmath>

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
void adamw_avx512(float* param, float* grad, float* m, float* v, const float* hyper, int64_t s, int64_t e);
float logsumexp_avx512(const float* l, int64_t n);
void softmax_from_lse_avx512(float* d, const float* l, int64_t n, float lse);
#endif

void scale_cpu(float* out, const float* x, int64_t n, float s, int ith, int nth) {
  int64_t b, e;
  split_range(n, ith, nth, &b, &e);
  for (int64_t i = b; i < e; i++) out[i] = s * x[i];
}

void dropout_cpu(float* out, const float* x, const float* seed, int64_t N, int64_t C, float p, int64_t salt, int ith,
                 int nth) {
  int64_t s, e;
  split_range(N * C, ith, nth, &s, &e);
  const uint32_t sd = dropout_seed(seed);
  const float keep = 1.f / (1.f - p);
  if (seed[2] == 0.f) {
    for (int64_t i = s; i < e; i++) out[i] = x[i];
    return;
  }
  for (int64_t i = s; i < e; i++) out[i] = dropout_uniform(sd, salt, i) >= p ? x[i] * keep : 0.f;
}

void silu_mul_backward_cpu(float* out, const float* dy, const float* gate, const float* up, int64_t N, int64_t F,
                           int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++)
    for (int64_t f = 0; f < F; f++) {
      float g = gate[n * F + f], sig = 1.f / (1.f + std::exp(-g)), d = dy[n * F + f];
      out[n * 2 * F + f] = d * up[n * F + f] * sig * (1.f + g * (1.f - sig));
      out[n * 2 * F + F + f] = d * g * sig;
    }
}

static inline float inv_rms(const float* x, int64_t C, float eps) {
  float ss = 0.f;
  for (int64_t c = 0; c < C; c++) ss += x[c] * x[c];
  return 1.f / std::sqrt(ss / (float)C + eps);
}

// y = w·x·r, r = (mean(x²) + eps)^-½: dx = r·(w·dy) - x·r³/C · Σ_c w·dy·x
void rmsnorm_backward_cpu(float* dx, const float* dy, const float* x, const float* w, int64_t N, int64_t C, float eps,
                          int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    const float *xr = x + n * C, *dr = dy + n * C;
    float r = inv_rms(xr, C, eps), dot = 0.f;
    for (int64_t c = 0; c < C; c++) dot += w[c] * dr[c] * xr[c];
    float k = r * r * r / (float)C * dot;
    for (int64_t c = 0; c < C; c++) dx[n * C + c] = r * w[c] * dr[c] - k * xr[c];
  }
}

void rmsnorm_backward_weight_cpu(float* dw, const float* dy, const float* x, int64_t N, int64_t C, float eps, int ith,
                                 int nth) {
  int64_t s, e;
  split_range(C, ith, nth, &s, &e);
  if (s >= e) return;
  for (int64_t n = 0; n < N; n++) {
    float r = inv_rms(x + n * C, C, eps);
    for (int64_t c = s; c < e; c++) dw[c] += dy[n * C + c] * x[n * C + c] * r;
  }
}

void embedding_backward_cpu(float* dtable, const float* dy, const int32_t* ids, int64_t N, int64_t C, int ith,
                            int nth) {
  int64_t s, e;
  split_range(C, ith, nth, &s, &e);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = s; c < e; c++) dtable[(int64_t)ids[n] * C + c] += dy[n * C + c];
}

void bias_backward_cpu(float* db, const float* dy, int64_t N, int64_t M, int ith, int nth) {
  int64_t s, e;
  split_range(M, ith, nth, &s, &e);
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = s; m < e; m++) db[m] += dy[n * M + m];
}

static inline float row_logsumexp(const float* l, int64_t V) {
#if KILN_X86
  if (cpu_features().avx512()) return logsumexp_avx512(l, V);
#endif
  float mx = -INFINITY;
  for (int64_t i = 0; i < V; i++) mx = l[i] > mx ? l[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < V; i++) sum += std::exp(l[i] - mx);
  return mx + (float)std::log(sum);
}

void cross_entropy_cpu(float* loss, const float* logits, const int32_t* targets, int64_t N, int64_t V, int ith,
                       int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    int32_t t = targets[n];
    loss[n] = t < 0 ? 0.f : row_logsumexp(logits + n * V, V) - logits[n * V + t];
  }
}

// One row's dlogits: e^{l - lse} - onehot(t) over W columns (t outside them: no onehot).
static void ce_grad_row(float* d, const float* l, int64_t W, float lse, int64_t t) {
#if KILN_X86
  if (cpu_features().avx512())
    softmax_from_lse_avx512(d, l, W, lse);
  else
#endif
    for (int64_t i = 0; i < W; i++) d[i] = std::exp(l[i] - lse);
  if (t >= 0 && t < W) d[t] -= 1.f;
}

void cross_entropy_backward_cpu(float* dlogits, const float* logits, const int32_t* targets, int64_t N, int64_t V,
                                int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    float* d = dlogits + n * V;
    if (targets[n] < 0)
      std::fill(d, d + V, 0.f);
    else
      ce_grad_row(d, logits + n * V, V, row_logsumexp(logits + n * V, V), targets[n]);
  }
}

// One chunk merged into the running stats: the chunk's own log-sum-exp c stands for it as a single
// term (m = c, s = 1), so the merge is the two-term one of an online softmax.
void cross_entropy_stats_cpu(float* stats, const float* logits, const int32_t* targets, const float* prev, int64_t N,
                             int64_t W, int64_t v0, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    float* o = stats + n * 3;
    int32_t t = targets[n];
    if (t < 0) {
      o[0] = o[1] = o[2] = 0.f;
      continue;
    }
    const float* l = logits + n * W;
    float c = row_logsumexp(l, W);
    float tl = t >= v0 && t - v0 < W ? l[t - v0] : 0.f;
    if (!prev) {
      o[0] = c, o[1] = 1.f, o[2] = tl;
      continue;
    }
    const float* p = prev + n * 3;
    float m = p[0] > c ? p[0] : c;
    o[1] = p[1] * std::exp(p[0] - m) + std::exp(c - m);
    o[0] = m;
    o[2] = p[2] + tl;
  }
}

void cross_entropy_loss_cpu(float* loss, const float* stats, const int32_t* targets, int64_t N, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++)
    loss[n] = targets[n] < 0 ? 0.f : stats[n * 3] + std::log(stats[n * 3 + 1]) - stats[n * 3 + 2];
}

void cross_entropy_chunk_backward_cpu(float* dlogits, const float* logits, const int32_t* targets, const float* stats,
                                      int64_t N, int64_t W, int64_t v0, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t n = s; n < e; n++) {
    float* d = dlogits + n * W;
    if (targets[n] < 0)
      std::fill(d, d + W, 0.f);
    else
      ce_grad_row(d, logits + n * W, W, stats[n * 3] + std::log(stats[n * 3 + 1]), targets[n] - v0);
  }
}

void adamw_cpu(float* param, float* grad, float* m, float* v, const float* hyper, int64_t n, int ith, int nth) {
  int64_t s, e;
  split_range(n, ith, nth, &s, &e);
#if KILN_X86
  if (cpu_features().avx512()) return adamw_avx512(param, grad, m, v, hyper, s, e);
#endif
  const float lr = hyper[0], b1 = hyper[1], b2 = hyper[2], eps = hyper[3], wd = hyper[4], bc1 = hyper[5],
              bc2 = hyper[6], gs = hyper[7];
  const float step = lr / bc1, rbc2 = 1.f / std::sqrt(bc2), decay = 1.f - lr * wd;
  for (int64_t i = s; i < e; i++) {
    float g = grad[i] * gs;
    m[i] = b1 * m[i] + (1.f - b1) * g;
    v[i] = b2 * v[i] + (1.f - b2) * g * g;
    param[i] = param[i] * decay - step * m[i] / (std::sqrt(v[i]) * rbc2 + eps);
    grad[i] = 0.f;
  }
}

}  // namespace kiln
