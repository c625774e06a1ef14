// Causal self-attention over a training step's own rows, and its backward (FlashAttention's
// recompute: the backward rebuilds each row's probabilities from q and k instead of storing the
// (T, T) matrix per head). Rows are whole sequences laid end to end, each from position 0.
// On AVX-512 CPUs the blocked kernels of train_attention_avx512.cc run instead of these loops.
#include <cmath>

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
bool causal_attention_avx512_fits(const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS);
void causal_attention_avx512(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                             int64_t NH, int64_t NKV, int64_t HS, float scale, int ith, int nth);
void causal_attention_backward_avx512(float* out, const float* dy, const float* q, const float* k, const float* v,
                                      const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale,
                                      float* scratch, int ith, int nth);

// Decided alike by every thread of the step (the answer depends on the shapes and positions only).
static bool use_avx512(const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS) {
  return cpu_features().avx512() && causal_attention_avx512_fits(pos, N, NH, NKV, HS);
}
#endif

// The first row of row n's sequence: positions count the rows since it (graph.cc checks that each
// sequence starts at 0 and grows by one; the clamp keeps a bad position inside the step).
static inline int64_t sequence_start(const int32_t* pos, int64_t n) {
  int64_t p = pos[n];
  return p < 0 || p > n ? n : n - p;
}

// p (n+1-start) = softmax over j in [start, n] of scale · q_row · k_j, for query head h's row.
static void row_probabilities(float* p, const float* qrow, const float* k, int64_t start, int64_t n, int64_t kw,
                              int64_t kvh, int64_t HS, float scale) {
  float mx = -INFINITY;
  for (int64_t j = start; j <= n; j++) {
    const float* kj = k + j * kw + kvh * HS;
    float s = 0.f;
    for (int64_t d = 0; d < HS; d++) s += qrow[d] * kj[d];
    s *= scale;
    p[j - start] = s;
    mx = s > mx ? s : mx;
  }
  float sum = 0.f;
  for (int64_t j = 0; j <= n - start; j++) {
    p[j] = std::exp(p[j] - mx);
    sum += p[j];
  }
  float inv = 1.f / sum;
  for (int64_t j = 0; j <= n - start; j++) p[j] *= inv;
}

void causal_attention_cpu(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                          int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
#if KILN_X86
  if (use_avx512(pos, N, NH, NKV, HS)) return causal_attention_avx512(out, q, k, v, pos, N, NH, NKV, HS, scale, ith, nth);
#endif
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* p = scratch + (int64_t)ith * N;
  const int64_t qw = NH * HS, kw = NKV * HS, group = NH / NKV;
  for (int64_t u = s; u < e; u++) {
    int64_t n = u / NH, h = u % NH, kvh = h / group;
    int64_t start = sequence_start(pos, n);
    row_probabilities(p, q + n * qw + h * HS, k, start, n, kw, kvh, HS, scale);
    float* o = out + n * qw + h * HS;
    for (int64_t d = 0; d < HS; d++) o[d] = 0.f;
    for (int64_t j = start; j <= n; j++) {
      const float* vj = v + j * kw + kvh * HS;
      float pj = p[j - start];
      for (int64_t d = 0; d < HS; d++) o[d] += pj * vj[d];
    }
  }
}

// Work items are (sequence, kv head) pairs: a pair owns the dq rows of its query heads and the dk,
// dv rows of its kv head in its sequence, so threads never write the same element.
void causal_attention_backward_cpu(float* out, const float* dy, const float* q, const float* k, const float* v,
                                   const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale,
                                   float* scratch, int ith, int nth) {
#if KILN_X86
  if (use_avx512(pos, N, NH, NKV, HS))
    return causal_attention_backward_avx512(out, dy, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
#endif
  const int64_t qw = NH * HS, kw = NKV * HS, W = qw + 2 * kw, group = NH / NKV;
  float* p = scratch + (int64_t)ith * 2 * N;
  float* dp = p + N;
  int64_t item = 0;
  for_each_sequence(pos, N, [&](int64_t start, int64_t end) {
    for (int64_t kvh = 0; kvh < NKV; kvh++, item++) {
      if (item % nth != ith) continue;
      for (int64_t n = start; n < end; n++) {
        float* row = out + n * W;
        for (int64_t d = 0; d < HS; d++) row[qw + kvh * HS + d] = row[qw + kw + kvh * HS + d] = 0.f;
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
        for (int64_t n = start; n < end; n++) {
          const float* qn = q + n * qw + h * HS;
          const float* dyn = dy + n * qw + h * HS;
          row_probabilities(p, qn, k, start, n, kw, kvh, HS, scale);
          // dp_j = dy·v_j; D = Σ p_j dp_j (= dy·o); ds_j = p_j (dp_j - D)
          float D = 0.f;
          for (int64_t j = start; j <= n; j++) {
            const float* vj = v + j * kw + kvh * HS;
            float acc = 0.f;
            for (int64_t d = 0; d < HS; d++) acc += dyn[d] * vj[d];
            dp[j - start] = acc;
            D += p[j - start] * acc;
          }
          float* dq = out + n * W + h * HS;
          for (int64_t d = 0; d < HS; d++) dq[d] = 0.f;
          for (int64_t j = start; j <= n; j++) {
            float pj = p[j - start], ds = pj * (dp[j - start] - D) * scale;
            const float* kj = k + j * kw + kvh * HS;
            float* dk = out + j * W + qw + kvh * HS;
            float* dv = out + j * W + qw + kw + kvh * HS;
            for (int64_t d = 0; d < HS; d++) {
              dq[d] += ds * kj[d];
              dk[d] += ds * qn[d];
              dv[d] += pj * dyn[d];
            }
          }
        }
    }
  });
}

}  // namespace kiln
