// Causal attention over the KV cache, GQA by head grouping. Rows are ragged: row n belongs to
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

}  // namespace kiln
