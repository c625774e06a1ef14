// Causal attention over the KV cache (decoders) and bidirectional attention over a step's own rows
// (encoders), GQA by head grouping. Rows are ragged: row n belongs to
// sequence slot[n] at position pos[n] and sees that slot's positions 0..pos[n]. No padding is ever
// computed, and a row's result is the same whether it came alone or in a batch.
#include <cmath>

#include "cpu/dot.h"
#include "kernels.h"

namespace kiln {

void kv_store_cpu(float* kcache, float* vcache, const float* k, const float* v, const int32_t* pos,
                  const int32_t* slot, int64_t N, int64_t NKV, int64_t P, int64_t HS, int ith, int nth) {
  int64_t s, e;
  split_range(N * NKV, ith, nth, &s, &e);
  for (int64_t t = s; t < e; t++) {
    int64_t n = t / NKV, h = t % NKV;
    size_t dst = (((size_t)slot[n] * NKV + h) * P + pos[n]) * HS;
    std::memcpy(kcache + dst, k + (n * NKV + h) * HS, HS * sizeof(float));
    std::memcpy(vcache + dst, v + (n * NKV + h) * HS, HS * sizeof(float));
  }
}

void attention_cpu(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                   const int32_t* slot, int64_t N, int64_t NH, int64_t NKV, int64_t P, int64_t HS, float scale,
                   float* scratch, int ith, int nth) {
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* scores = scratch + (size_t)ith * P;
  int64_t group = NH / NKV;
  for (int64_t t = s; t < e; t++) {
    int64_t n = t / NH, h = t % NH, kvh = h / group;
    const float* qh = q + (n * NH + h) * HS;
    size_t base = ((size_t)slot[n] * NKV + kvh) * P * HS;
    const float* kc = kcache + base;
    const float* vc = vcache + base;
    int64_t len = (int64_t)pos[n] + 1;
    float m = -INFINITY;
    for (int64_t j = 0; j < len; j++) {
      float sc = dot_f32(qh, kc + j * HS, HS) * scale;
      scores[j] = sc;
      m = sc > m ? sc : m;
    }
    float sum = 0.f;
    for (int64_t j = 0; j < len; j++) {
      scores[j] = std::exp(scores[j] - m);
      sum += scores[j];
    }
    float inv = 1.f / sum;
    float* o = out + (n * NH + h) * HS;
    for (int64_t d = 0; d < HS; d++) o[d] = 0.f;
    for (int64_t j = 0; j < len; j++) {
      float p = scores[j] * inv;
      const float* vr = vc + j * HS;
      for (int64_t d = 0; d < HS; d++) o[d] += p * vr[d];
    }
  }
}

// The rows [start, end) of row n's sequence: it began at the row where pos was 0 and runs while pos
// keeps growing by one. Scanning costs len integer compares against len·HS multiply-adds.
// A position that cannot be one (negative, or before row 0) starts a sequence: the kernel never
// reads outside the step's rows whatever it is given.
static inline void sequence_of(const int32_t* pos, int64_t n, int64_t N, int64_t* start, int64_t* end) {
  *start = pos[n] >= 0 && pos[n] <= n ? n - pos[n] : n;
  int64_t e = n + 1;
  while (e < N && pos[e] != 0 && pos[e] <= e) e++;
  *end = e;
}

void bidir_attention_cpu(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                         int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* scores = scratch + (size_t)ith * N;
  int64_t group = NH / NKV, kv_stride = NKV * HS;
  int64_t start = 0, end = 0, seq_row = -1;
  for (int64_t t = s; t < e; t++) {
    int64_t n = t / NH, h = t % NH, kvh = h / group;
    if (n != seq_row) {
      sequence_of(pos, n, N, &start, &end);
      seq_row = n;
    }
    const float* qh = q + (n * NH + h) * HS;
    const float* kh = k + start * kv_stride + kvh * HS;
    const float* vh = v + start * kv_stride + kvh * HS;
    int64_t len = end - start;
    float m = -INFINITY;
    for (int64_t j = 0; j < len; j++) {
      float sc = dot_f32(qh, kh + j * kv_stride, HS) * scale;
      scores[j] = sc;
      m = sc > m ? sc : m;
    }
    float sum = 0.f;
    for (int64_t j = 0; j < len; j++) {
      scores[j] = std::exp(scores[j] - m);
      sum += scores[j];
    }
    float inv = 1.f / sum;
    float* o = out + (n * NH + h) * HS;
    for (int64_t d = 0; d < HS; d++) o[d] = 0.f;
    for (int64_t j = 0; j < len; j++) {
      float p = scores[j] * inv;
      const float* vr = vh + j * kv_stride;
      for (int64_t d = 0; d < HS; d++) o[d] += p * vr[d];
    }
  }
}

}  // namespace kiln
