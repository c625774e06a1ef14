// Causal attention over the paged KV cache (decoders) and bidirectional attention over a step's own
// rows (encoders), GQA by head grouping. Rows are ragged: row n belongs to sequence slot[n] at
// position pos[n] and sees that slot's positions 0..pos[n], wherever its block table puts them. No padding is ever
// computed, and a row's result is the same whether it came alone or in a batch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "cpu/dot.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
bidir_attention_kernel bidir_attention_avx2;    // attention_avx2.cc
bidir_attention_kernel bidir_attention_avx512;  // attention_avx512.cc
attention_kernel attention_avx2;                // attention_avx2.cc
attention_kernel attention_avx512;              // attention_avx512.cc
#endif
#if KILN_ARM64
bidir_attention_kernel bidir_attention_neon;  // attention_neon.cc
attention_kernel attention_neon;              // attention_neon.cc
#endif

// Key and value rows of one segment of a row's context: `stride` floats apart.
struct KvRows {
  const float* k;
  const float* v;
  int64_t stride;
};

// One query row qh (HS) against its len keys and values, which come in segments of seg rows
// (at(b) gives segment b: the whole sequence for encoders, one KV block for the paged cache):
// o (HS) = softmax(q·kᵀ · scale) · v. scores: len floats of scratch.
template <class SegmentAt>
static void attend_row(float* o, const float* qh, int64_t len, int64_t seg, SegmentAt at, int64_t HS, float scale,
                       float* scores) {
  float m = -INFINITY;
  for (int64_t j0 = 0; j0 < len; j0 += seg) {
    const KvRows r = at(j0 / seg);
    for (int64_t j = j0; j < std::min(len, j0 + seg); j++) {
      float sc = dot_f32(qh, r.k + (j - j0) * r.stride, HS) * scale;
      scores[j] = sc;
      m = sc > m ? sc : m;
    }
  }
  float sum = 0.f;
  for (int64_t j = 0; j < len; j++) {
    scores[j] = std::exp(scores[j] - m);
    sum += scores[j];
  }
  float inv = 1.f / sum;
  for (int64_t d = 0; d < HS; d++) o[d] = 0.f;
  for (int64_t j0 = 0; j0 < len; j0 += seg) {
    const KvRows r = at(j0 / seg);
    for (int64_t j = j0; j < std::min(len, j0 + seg); j++) {
      float p = scores[j] * inv;
      const float* vr = r.v + (j - j0) * r.stride;
      for (int64_t d = 0; d < HS; d++) o[d] += p * vr[d];
    }
  }
}

void kv_store_cpu(float* kcache, float* vcache, const float* k, const float* v, const int32_t* pos,
                  const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NKV, int64_t BS, int64_t MB,
                  int64_t HS, int ith, int nth) {
  int64_t s, e;
  split_range(N * NKV, ith, nth, &s, &e);
  for (int64_t t = s; t < e; t++) {
    int64_t n = t / NKV, h = t % NKV;
    const size_t block = (size_t)blocks[slot[n] * MB + pos[n] / BS];
    size_t dst = ((block * NKV + h) * BS + pos[n] % BS) * HS;
    std::memcpy(kcache + dst, k + (n * NKV + h) * HS, HS * sizeof(float));
    std::memcpy(vcache + dst, v + (n * NKV + h) * HS, HS * sizeof(float));
  }
}

void attention_cpu(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                   const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH, int64_t NKV, int64_t BS,
                   int64_t MB, int64_t HS, float scale, float* scratch, int ith, int nth) {
  const CpuFeatures& cpu = cpu_features();
#if KILN_X86
  if (cpu.avx512())
    return attention_avx512(out, q, kcache, vcache, pos, slot, blocks, N, NH, NKV, BS, MB, HS, scale, scratch, ith, nth);
  if (cpu.avx2_fma)
    return attention_avx2(out, q, kcache, vcache, pos, slot, blocks, N, NH, NKV, BS, MB, HS, scale, scratch, ith, nth);
#endif
#if KILN_ARM64
  if (cpu.neon)
    return attention_neon(out, q, kcache, vcache, pos, slot, blocks, N, NH, NKV, BS, MB, HS, scale, scratch, ith, nth);
#endif
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* scores = scratch + (size_t)ith * (size_t)(MB * BS);
  int64_t group = NH / NKV;
  for (int64_t t = s; t < e; t++) {
    int64_t n = t / NH, h = t % NH, kvh = h / group;
    const int32_t* table = blocks + slot[n] * MB;
    auto block = [&](int64_t b) {
      const size_t base = ((size_t)table[b] * NKV + kvh) * BS * HS;
      return KvRows{kcache + base, vcache + base, HS};
    };
    attend_row(out + (n * NH + h) * HS, q + (n * NH + h) * HS, (int64_t)pos[n] + 1, BS, block, HS, scale, scores);
  }
}

// The portable twin of the vector kernels (attention_avx2.cc, attention_avx512.cc, attention_neon.cc).
void bidir_attention_cpu(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                         int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  const CpuFeatures& cpu = cpu_features();
#if KILN_X86
  if (cpu.avx512()) return bidir_attention_avx512(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
  if (cpu.avx2_fma) return bidir_attention_avx2(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
#endif
#if KILN_ARM64
  if (cpu.neon) return bidir_attention_neon(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
#endif
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
      const KvRows whole{kh0 + kvh * HS, vh0 + kvh * HS, kv_stride};
      attend_row(out + (n * NH + h) * HS, q + (n * NH + h) * HS, len, len, [&](int64_t) { return whole; }, HS, scale,
                 scores);
    }
  });
}

}  // namespace kiln
