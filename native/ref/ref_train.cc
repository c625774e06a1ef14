// Reference twins of the training kernels (train_kernels.h): the plainest loops, thread 0 only,
// sums in double. The fast kernels are tested against these, and these against finite differences
// of the forward ops (test/native/train-ops.test.ts).
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/qweights.h"
#include "kernels.h"

namespace kiln {

// Row n's probabilities over rows [start, n] of its sequence for query head h.
static std::vector<double> ref_probabilities(const float* q, const float* k, const int32_t* pos, int64_t n, int64_t h,
                                             int64_t NH, int64_t NKV, int64_t HS, float scale, int64_t* start) {
  int64_t p = pos[n];
  *start = p < 0 || p > n ? n : n - p;
  int64_t kvh = h / (NH / NKV);
  std::vector<double> pr;
  double mx = -INFINITY;
  for (int64_t j = *start; j <= n; j++) {
    double s = 0;
    for (int64_t d = 0; d < HS; d++) s += (double)q[n * NH * HS + h * HS + d] * k[j * NKV * HS + kvh * HS + d];
    pr.push_back(s * scale);
    mx = std::max(mx, pr.back());
  }
  double sum = 0;
  for (double& x : pr) sum += x = std::exp(x - mx);
  for (double& x : pr) x /= sum;
  return pr;
}

void causal_attention_ref(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                          int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < NH; h++) {
      int64_t start;
      std::vector<double> p = ref_probabilities(q, k, pos, n, h, NH, NKV, HS, scale, &start);
      int64_t kvh = h / (NH / NKV);
      for (int64_t d = 0; d < HS; d++) {
        double acc = 0;
        for (int64_t j = start; j <= n; j++) acc += p[j - start] * v[j * NKV * HS + kvh * HS + d];
        out[n * NH * HS + h * HS + d] = (float)acc;
      }
    }
}

void causal_attention_backward_ref(float* out, const float* dy, const float* q, const float* k, const float* v,
                                   const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale,
                                   float* scratch, int ith, int nth) {
  if (ith != 0) return;
  const int64_t qw = NH * HS, kw = NKV * HS, W = qw + 2 * kw;
  std::vector<double> g((size_t)(N * W), 0.0);
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < NH; h++) {
      int64_t start, kvh = h / (NH / NKV);
      std::vector<double> p = ref_probabilities(q, k, pos, n, h, NH, NKV, HS, scale, &start);
      std::vector<double> dp(p.size());
      double D = 0;
      for (int64_t j = start; j <= n; j++) {
        double acc = 0;
        for (int64_t d = 0; d < HS; d++) acc += (double)dy[n * qw + h * HS + d] * v[j * kw + kvh * HS + d];
        dp[j - start] = acc;
        D += p[j - start] * acc;
      }
      for (int64_t j = start; j <= n; j++) {
        double ds = p[j - start] * (dp[j - start] - D) * scale;
        for (int64_t d = 0; d < HS; d++) {
          g[n * W + h * HS + d] += ds * k[j * kw + kvh * HS + d];
          g[j * W + qw + kvh * HS + d] += ds * q[n * qw + h * HS + d];
          g[j * W + qw + kw + kvh * HS + d] += p[j - start] * dy[n * qw + h * HS + d];
        }
      }
    }
  for (size_t i = 0; i < g.size(); i++) out[i] = (float)g[i];
}

void scale_ref(float* out, const float* x, int64_t n, float s, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = s * x[i];
}

void dropout_ref(float* out, const float* x, const float* seed, int64_t N, int64_t C, float p, int64_t salt, int ith,
                 int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      int64_t i = n * C + c;
      out[i] = seed[2] == 0.f ? x[i] : dropout_uniform(dropout_seed(seed), salt, i) < p ? 0.f : (float)((double)x[i] / (1.0 - p));
    }
}

void matmul_backward_weight_ref(float* dw, const float* dy, const float* x, int64_t N, int64_t K, int64_t M,
                                bool w_kxm, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t m = 0; m < M; m++)
    for (int64_t kk = 0; kk < K; kk++) {
      double acc = 0;
      for (int64_t n = 0; n < N; n++) acc += (double)dy[n * M + m] * x[n * K + kk];
      dw[w_kxm ? kk * M + m : m * K + kk] += (float)acc;
    }
}

void bias_backward_ref(float* db, const float* dy, int64_t N, int64_t M, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t m = 0; m < M; m++) {
    double acc = 0;
    for (int64_t n = 0; n < N; n++) acc += dy[n * M + m];
    db[m] += (float)acc;
  }
}

static double ref_inv_rms(const float* x, int64_t C, float eps) {
  double ss = 0;
  for (int64_t c = 0; c < C; c++) ss += (double)x[c] * x[c];
  return 1.0 / std::sqrt(ss / C + eps);
}

void rmsnorm_backward_ref(float* dx, const float* dy, const float* x, const float* w, int64_t N, int64_t C, float eps,
                          int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    const float *xr = x + n * C, *dr = dy + n * C;
    double r = ref_inv_rms(xr, C, eps), dot = 0;
    for (int64_t c = 0; c < C; c++) dot += (double)w[c] * dr[c] * xr[c];
    for (int64_t c = 0; c < C; c++) dx[n * C + c] = (float)(r * w[c] * dr[c] - r * r * r / C * dot * xr[c]);
  }
}

void rmsnorm_backward_weight_ref(float* dw, const float* dy, const float* x, int64_t N, int64_t C, float eps, int ith,
                                 int nth) {
  if (ith != 0) return;
  for (int64_t c = 0; c < C; c++) {
    double acc = 0;
    for (int64_t n = 0; n < N; n++) acc += (double)dy[n * C + c] * x[n * C + c] * ref_inv_rms(x + n * C, C, eps);
    dw[c] += (float)acc;
  }
}

void rope_backward_ref(float* dx, const float* dy, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                       int64_t HS, bool interleaved, int ith, int nth) {
  if (ith != 0) return;
  const int64_t half = HS / 2;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < half; i++) {
        int64_t a = n * H * HS + h * HS + (interleaved ? 2 * i : i), b = a + (interleaved ? 1 : half);
        double ang = (double)pos[n] * inv_freq[i], c = std::cos(ang), s = std::sin(ang);
        dx[a] = (float)(dy[a] * c + dy[b] * s);
        dx[b] = (float)(dy[b] * c - dy[a] * s);
      }
}

void silu_mul_backward_ref(float* out, const float* dy, const float* gate, const float* up, int64_t N, int64_t F,
                           int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t f = 0; f < F; f++) {
      double g = gate[n * F + f], sig = 1.0 / (1.0 + std::exp(-g));
      out[n * 2 * F + f] = (float)(dy[n * F + f] * up[n * F + f] * (sig + g * sig * (1.0 - sig)));
      out[n * 2 * F + F + f] = (float)(dy[n * F + f] * g * sig);
    }
}

void embedding_backward_ref(float* dtable, const float* dy, const int32_t* ids, int64_t N, int64_t C, int ith,
                            int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) dtable[(int64_t)ids[n] * C + c] += dy[n * C + c];
}

static double ref_logsumexp(const float* l, int64_t V) {
  double mx = -INFINITY, sum = 0;
  for (int64_t i = 0; i < V; i++) mx = std::max(mx, (double)l[i]);
  for (int64_t i = 0; i < V; i++) sum += std::exp(l[i] - mx);
  return mx + std::log(sum);
}

void cross_entropy_ref(float* loss, const float* logits, const int32_t* targets, int64_t N, int64_t V, int ith,
                       int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    loss[n] = targets[n] < 0 ? 0.f : (float)(ref_logsumexp(logits + n * V, V) - logits[n * V + targets[n]]);
}

void cross_entropy_backward_ref(float* dlogits, const float* logits, const int32_t* targets, int64_t N, int64_t V,
                                int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    double lse = ref_logsumexp(logits + n * V, V);
    for (int64_t i = 0; i < V; i++)
      dlogits[n * V + i] = targets[n] < 0 ? 0.f : (float)(std::exp(logits[n * V + i] - lse) - (i == targets[n] ? 1 : 0));
  }
}

// The chunk's max and Σ exp in double, merged into prev's.
void cross_entropy_stats_ref(float* stats, const float* logits, const int32_t* targets, const float* prev, int64_t N,
                             int64_t W, int64_t v0, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    const float* l = logits + n * W;
    float* o = stats + n * 3;
    if (targets[n] < 0) {
      o[0] = o[1] = o[2] = 0.f;
      continue;
    }
    double mc = -INFINITY, sc = 0;
    for (int64_t i = 0; i < W; i++) mc = std::max(mc, (double)l[i]);
    for (int64_t i = 0; i < W; i++) sc += std::exp(l[i] - mc);
    int64_t t = targets[n] - v0;
    double tl = t >= 0 && t < W ? l[t] : 0;
    double pm = prev ? prev[n * 3] : -INFINITY, ps = prev ? prev[n * 3 + 1] : 0, pt = prev ? prev[n * 3 + 2] : 0;
    double m = std::max(pm, mc);
    o[0] = (float)m;
    o[1] = (float)(ps * std::exp(pm - m) + sc * std::exp(mc - m));
    o[2] = (float)(pt + tl);
  }
}

void cross_entropy_loss_ref(float* loss, const float* stats, const int32_t* targets, int64_t N, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    loss[n] = targets[n] < 0 ? 0.f : (float)(stats[n * 3] + std::log((double)stats[n * 3 + 1]) - stats[n * 3 + 2]);
}

void cross_entropy_chunk_backward_ref(float* dlogits, const float* logits, const int32_t* targets, const float* stats,
                                      int64_t N, int64_t W, int64_t v0, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    double lse = stats[n * 3] + std::log((double)stats[n * 3 + 1]);
    for (int64_t i = 0; i < W; i++)
      dlogits[n * W + i] =
          targets[n] < 0 ? 0.f : (float)(std::exp(logits[n * W + i] - lse) - (i + v0 == targets[n] ? 1 : 0));
  }
}

void adamw_ref(float* param, float* grad, float* m, float* v, const float* hyper, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  double lr = hyper[0], b1 = hyper[1], b2 = hyper[2], eps = hyper[3], wd = hyper[4], bc1 = hyper[5], bc2 = hyper[6],
         gs = hyper[7];
  for (int64_t i = 0; i < n; i++) {
    double g = (double)grad[i] * gs;
    double mi = b1 * m[i] + (1 - b1) * g, vi = b2 * v[i] + (1 - b2) * g * g;
    double p = param[i] * (1 - lr * wd);
    param[i] = (float)(p - lr / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + eps));
    m[i] = (float)mi;
    v[i] = (float)vi;
    grad[i] = 0.f;
  }
}

// dx = dy · w, w dequantized one row at a time (weight_row_to_f32, the forward's own reader).
void matmul_backward_input_ref(float* dx, const float* dy, const void* w, DType dt, int64_t N, int64_t K, int64_t M,
                               float* scratch, int ith, int nth) {
  if (ith != 0) return;
  std::vector<float> row((size_t)K);
  std::vector<double> acc((size_t)K);
  for (int64_t n = 0; n < N; n++) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t m = 0; m < M; m++) {
      weight_row_to_f32(w, dt, m, K, row.data());
      for (int64_t k = 0; k < K; k++) acc[k] += (double)dy[n * M + m] * row[k];
    }
    for (int64_t k = 0; k < K; k++) dx[n * K + k] = (float)acc[k];
  }
}

// LayerNorm's backward in double: dx from the definition's chain rule, term by term.
void layernorm_backward_ref(float* dx, const float* dy, const float* x, const float* w, int64_t N, int64_t C,
                            float eps, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    const float *xr = x + n * C, *dr = dy + n * C;
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; c++) mean += xr[c];
    mean /= C;
    for (int64_t c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
    var /= C;
    double rstd = 1 / std::sqrt(var + eps), sg = 0, sgx = 0;
    for (int64_t c = 0; c < C; c++) {
      sg += (double)dr[c] * w[c];
      sgx += (double)dr[c] * w[c] * (xr[c] - mean) * rstd;
    }
    for (int64_t c = 0; c < C; c++)
      dx[n * C + c] = (float)(rstd * ((double)dr[c] * w[c] - sg / C - (xr[c] - mean) * rstd * sgx / C));
  }
}

void layernorm_backward_weight_ref(float* dw, const float* dy, const float* x, int64_t N, int64_t C, float eps,
                                   int ith, int nth) {
  if (ith != 0) return;
  for (int64_t c = 0; c < C; c++) {
    double acc = 0;
    for (int64_t n = 0; n < N; n++) {
      const float* xr = x + n * C;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < C; j++) mean += xr[j];
      mean /= C;
      for (int64_t j = 0; j < C; j++) var += (xr[j] - mean) * (xr[j] - mean);
      var /= C;
      acc += (double)dy[n * C + c] * (xr[c] - mean) / std::sqrt(var + eps);
    }
    dw[c] += (float)acc;
  }
}

void gelu_backward_ref(float* dx, const float* dy, const float* x, int64_t n, bool tanh_approx, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) {
    double v = x[i], d;
    if (tanh_approx) {
      double k = std::sqrt(2 / M_PI), t = std::tanh(k * (v + 0.044715 * v * v * v));
      d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
    } else {
      d = 0.5 * (1 + std::erf(v / std::sqrt(2.0))) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    }
    dx[i] = (float)(dy[i] * d);
  }
}

void slice_cols_backward_ref(float* dx, const float* dy, int64_t N, int64_t C, int64_t start, int64_t W, int ith,
                             int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) dx[n * C + c] = c >= start && c < start + W ? dy[n * W + c - start] : 0.f;
}

}  // namespace kiln
