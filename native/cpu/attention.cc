// Causal attention over the KV cache (decoders) and bidirectional attention over a step's own rows
// (encoders), GQA by head grouping. Rows are ragged: row n belongs to
// sequence slot[n] at position pos[n] and sees that slot's positions 0..pos[n]. No padding is ever
// computed, and a row's result is the same whether it came alone or in a batch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/dot.h"
#include "kernels.h"

namespace kiln {

bidir_attention_kernel bidir_attention_avx2;    // bidir_attention_avx2.cc
bidir_attention_kernel bidir_attention_avx512;  // bidir_attention_avx512.cc

// One query row qh (HS) against len key and value rows (stride floats apart): o (HS) = softmax(q·kᵀ
// · scale) · v. scores: len floats of scratch.
static void attend_row(float* o, const float* qh, const float* k, const float* v, int64_t stride, int64_t len,
                       int64_t HS, float scale, float* scores) {
  float m = -INFINITY;
  for (int64_t j = 0; j < len; j++) {
    float sc = dot_f32(qh, k + j * stride, HS) * scale;
    scores[j] = sc;
    m = sc > m ? sc : m;
  }
  float sum = 0.f;
  for (int64_t j = 0; j < len; j++) {
    scores[j] = std::exp(scores[j] - m);
    sum += scores[j];
  }
  float inv = 1.f / sum;
  for (int64_t d = 0; d < HS; d++) o[d] = 0.f;
  for (int64_t j = 0; j < len; j++) {
    float p = scores[j] * inv;
    const float* vr = v + j * stride;
    for (int64_t d = 0; d < HS; d++) o[d] += p * vr[d];
  }
}

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
    attend_row(out + (n * NH + h) * HS, qh, kc, vc, HS, len, HS, scale, scores);
  }
}

// The portable twin of the vector kernels (bidir_attention_avx2.cc, bidir_attention_avx512.cc).
void bidir_attention_cpu(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                         int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  const CpuFeatures& cpu = cpu_features();
  if (cpu.avx512()) return bidir_attention_avx512(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
  if (cpu.avx2_fma) return bidir_attention_avx2(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* scores = scratch + (size_t)ith * (size_t)bidir_attention_scratch(N, HS);
  int64_t group = NH / NKV, kv_stride = NKV * HS;
  for_each_sequence(pos, N, [&](int64_t start, int64_t end) {
    if (end * NH <= s || start * NH >= e) return;
    const float* kh0 = k + start * kv_stride;
    const float* vh0 = v + start * kv_stride;
    int64_t len = end - start;
    for (int64_t t = std::max(s, start * NH); t < std::min(e, end * NH); t++) {
      int64_t n = t / NH, h = t % NH, kvh = h / group;
      const float* qh = q + (n * NH + h) * HS;
      const float* kh = kh0 + kvh * HS;
      const float* vh = vh0 + kvh * HS;
      attend_row(out + (n * NH + h) * HS, qh, kh, vh, kv_stride, len, HS, scale, scores);
    }
  });
}

}  // namespace kiln
