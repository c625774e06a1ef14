// The vector body of attention over the paged KV cache (decoders), written once over a vector type
// V (vec_avx2.h, vec_avx512.h) like bidir_attention_simd.h, and compiled by attention_avx2.cc and
// attention_avx512.cc. Tasks are (row, head); each row's numbers depend on its own query and its
// slot's keys and values only, in one fixed order:
//   score_j = hsum(Σ_chunks q_c·k_jc as one FMA chain per lane) · scale, in key order
//   e_j = exp(score_j − max), sum = the lane sums of e in key order, then V::hsum; p_j = e_j · (1/sum)
//   out_d = Σ_j p_j · v_jd as one FMA chain in key order
// so a row's result is the same alone or in a batch, on any thread count.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels.h"

namespace kiln {
namespace KILN_SIMD_NS {

// q·k over HS floats: lanes accumulate chunk by chunk (the tail masked), then V::hsum.
KILN_TARGET static inline float dot_row(const float* q, const float* k, int64_t HS) {
  constexpr int W = V::W;
  typename V::vf acc = V::zero();
  int64_t d = 0;
  for (; d + W <= HS; d += W) acc = V::fma(V::load(q + d), V::load(k + d), acc);
  if (d < HS) acc = V::fma(V::load_n(q + d, HS - d), V::load_n(k + d, HS - d), acc);
  return V::hsum(acc);
}

// One query row (HS) against positions 0..len-1 of a slot whose key/value rows for position j are
// at kv(j / BS) + (j % BS)·HS. scores: len floats, rounded up to whole vectors.
template <class BlockAt>
KILN_TARGET void attend_paged(float* o, const float* qh, int64_t len, int64_t BS, BlockAt block, int64_t HS, float scale,
                              float* scores, const float* kcache, const float* vcache) {
  constexpr int W = V::W;
  float m = -INFINITY;
  for (int64_t j0 = 0; j0 < len; j0 += BS) {
    const size_t base = block(j0 / BS);
    const int64_t n = len - j0 < BS ? len - j0 : BS;
    const float* kb = kcache + base;
    int64_t j = 0;
    if (HS % W == 0)  // four keys at a time: four independent chains, each in dot_row's order
      for (; j + 4 <= n; j += 4) {
        typename V::vf a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
        const float* k0 = kb + j * HS;
        for (int64_t d = 0; d < HS; d += W) {
          const typename V::vf qv = V::load(qh + d);
          a0 = V::fma(qv, V::load(k0 + d), a0);
          a1 = V::fma(qv, V::load(k0 + HS + d), a1);
          a2 = V::fma(qv, V::load(k0 + 2 * HS + d), a2);
          a3 = V::fma(qv, V::load(k0 + 3 * HS + d), a3);
        }
        const float s0 = V::hsum(a0) * scale, s1 = V::hsum(a1) * scale;
        const float s2 = V::hsum(a2) * scale, s3 = V::hsum(a3) * scale;
        scores[j0 + j] = s0;
        scores[j0 + j + 1] = s1;
        scores[j0 + j + 2] = s2;
        scores[j0 + j + 3] = s3;
        m = s0 > m ? s0 : m;
        m = s1 > m ? s1 : m;
        m = s2 > m ? s2 : m;
        m = s3 > m ? s3 : m;
      }
    for (; j < n; j++) {
      const float s = dot_row(qh, kb + j * HS, HS) * scale;
      scores[j0 + j] = s;
      m = s > m ? s : m;
    }
  }
  const typename V::vf vm = V::set1(m);
  typename V::vf sum = V::zero();
  int64_t j = 0;
  for (; j + W <= len; j += W) {
    const typename V::vf e = V::exp(V::sub(V::load(scores + j), vm));
    V::store(scores + j, e);
    sum = V::add(sum, e);
  }
  if (j < len) {
    const typename V::vf e = V::first_n(V::exp(V::sub(V::load_n(scores + j, len - j), vm)), len - j, 0.f);
    V::store_n(scores + j, e, len - j);
    sum = V::add(sum, e);
  }
  const float inv = 1.f / V::hsum(sum);
  constexpr int kVecs = 4;  // output vectors per pass over the values
  for (int64_t d0 = 0; d0 < HS; d0 += kVecs * W) {
    const int64_t nd = HS - d0 < kVecs * W ? HS - d0 : kVecs * W;
    const int nv = (int)((nd + W - 1) / W);
    typename V::vf acc[kVecs];
    for (int i = 0; i < kVecs; i++) acc[i] = V::zero();
    for (int64_t j0 = 0; j0 < len; j0 += BS) {
      const float* vb = vcache + block(j0 / BS) + d0;
      const int64_t n = len - j0 < BS ? len - j0 : BS;
      if (nd == kVecs * W) {  // whole vectors (HS 64, 128, ...): the same FMAs without the tests
        for (int64_t jj = 0; jj < n; jj++) {
          const typename V::vf p = V::set1(scores[j0 + jj] * inv);
          const float* vr = vb + jj * HS;
          for (int i = 0; i < kVecs; i++) acc[i] = V::fma(p, V::load(vr + i * W), acc[i]);
        }
        continue;
      }
      for (int64_t jj = 0; jj < n; jj++) {
        const typename V::vf p = V::set1(scores[j0 + jj] * inv);
        const float* vr = vb + jj * HS;
        for (int i = 0; i < kVecs; i++)
          if (i < nv)
            acc[i] = V::fma(p, (i + 1) * W <= nd ? V::load(vr + i * W) : V::load_n(vr + i * W, nd - i * W), acc[i]);
      }
    }
    for (int i = 0; i < nv; i++) {
      if ((i + 1) * W <= nd)
        V::store(o + d0 + i * W, acc[i]);
      else
        V::store_n(o + d0 + i * W, acc[i], nd - i * W);
    }
  }
}

KILN_TARGET void attention(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                           const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH, int64_t NKV, int64_t BS,
                           int64_t MB, int64_t HS, float scale, float* scratch, int ith, int nth) {
  int64_t s, e;
  split_range(N * NH, ith, nth, &s, &e);
  float* scores = scratch + (size_t)ith * (size_t)(MB * BS);
  const int64_t group = NH / NKV;
  for (int64_t t = s; t < e; t++) {
    const int64_t n = t / NH, h = t % NH, kvh = h / group;
    const int32_t* table = blocks + slot[n] * MB;
    auto block = [&](int64_t b) { return ((size_t)table[b] * NKV + kvh) * BS * HS; };
    attend_paged(out + (n * NH + h) * HS, q + (n * NH + h) * HS, (int64_t)pos[n] + 1, BS, block, HS, scale, scores,
                 kcache, vcache);
  }
}

}  // namespace KILN_SIMD_NS
}  // namespace kiln
