// The vector body of bidir_attention, written once over a vector type V and compiled twice: for AVX2
// (attention_avx2.cc, 8 lanes) and AVX-512 (attention_avx512.cc, 16 lanes). The
// including file defines KILN_TARGET (a function attribute), a namespace, and V with:
//   W, vf, zero(), set1(f), load(p), load_n(p, n), store(p, v), store_n(p, v, n), fma(a, b, c),
//   mul(a, b), add(a, b), sub(a, b), max(a, b), exp(x), hmax(v), hsum(v), first_n(v, n, fill)
// where _n forms touch only lanes 0..n-1 (others read as 0, or set to fill).
//
// Work is split over (sequence, head, block of kQueryBlock queries). For each task the sequence's
// keys of the head are packed transposed (kt: HS rows of lenp keys, lenp = len rounded up to W),
// so a vector of W scores is one FMA chain over d; queries go kGroup at a time so that the
// chains are independent enough to fill the FMA pipes, and share the loads of kt and v.
//
// A row's result depends only on its own sequence, and each of its numbers is computed in one
// fixed order: score = (Σ_d q_d k_d as one FMA chain in d order) · scale; m = max; e = exp(s − m);
// sum = the lane sums of e over the key chunks in order, then the lanes reduced by V::hsum;
// out_d = Σ_j (e_j · (1/sum)) v_jd as one FMA chain in j order.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace kiln {
namespace KILN_SIMD_NS {

constexpr int kGroup = 4;             // queries computed together
constexpr int64_t kQueryBlock = 32;   // queries per task

// Scores of G queries (q rows qs[g], HS long) against the packed keys kt (HS x lenp): sc[g*lenp + j].
// Lanes past len are set to -inf.
template <int G>
KILN_TARGET void scores(float* sc, const float* const (&qs)[G], const float* kt, int64_t HS, int64_t len,
                        int64_t lenp, float scale) {
  constexpr int W = V::W;
  const typename V::vf vscale = V::set1(scale);
  int64_t c = 0;
  for (; c + 2 * W <= lenp; c += 2 * W) {  // two key chunks per pass: 2G independent chains
    typename V::vf a[G][2];
    for (int g = 0; g < G; g++) a[g][0] = a[g][1] = V::zero();
    for (int64_t d = 0; d < HS; d++) {
      typename V::vf k0 = V::load(kt + d * lenp + c), k1 = V::load(kt + d * lenp + c + W);
      for (int g = 0; g < G; g++) {
        typename V::vf qd = V::set1(qs[g][d]);
        a[g][0] = V::fma(qd, k0, a[g][0]);
        a[g][1] = V::fma(qd, k1, a[g][1]);
      }
    }
    for (int g = 0; g < G; g++) {
      V::store(sc + g * lenp + c, V::mul(a[g][0], vscale));
      V::store(sc + g * lenp + c + W, V::mul(a[g][1], vscale));
    }
  }
  for (; c < lenp; c += W) {
    typename V::vf a[G];
    for (int g = 0; g < G; g++) a[g] = V::zero();
    for (int64_t d = 0; d < HS; d++) {
      typename V::vf k0 = V::load(kt + d * lenp + c);
      for (int g = 0; g < G; g++) a[g] = V::fma(V::set1(qs[g][d]), k0, a[g]);
    }
    for (int g = 0; g < G; g++) V::store(sc + g * lenp + c, V::mul(a[g], vscale));
  }
  if (len < lenp)  // the padded keys of the last chunk take no part
    for (int g = 0; g < G; g++) {
      float* last = sc + g * lenp + (lenp - W);
      V::store(last, V::first_n(V::load(last), len - (lenp - W), -INFINITY));
    }
}

// Softmax of one row of scores in place (lenp floats, lanes past len -inf); returns 1/sum.
KILN_TARGET float softmax_row(float* s, int64_t len, int64_t lenp) {
  constexpr int W = V::W;
  typename V::vf m = V::load(s);
  for (int64_t c = W; c < lenp; c += W) m = V::max(m, V::load(s + c));
  const typename V::vf vm = V::set1(V::hmax(m));
  typename V::vf sum = V::zero();
  for (int64_t c = 0; c < lenp; c += W) {
    typename V::vf e = V::exp(V::sub(V::load(s + c), vm));
    // V::exp(-inf) is tiny, not 0: the padded keys must add nothing.
    if (c + W == lenp) e = V::first_n(e, len - c, 0.f);
    V::store(s + c, e);
    sum = V::add(sum, e);
  }
  return 1.f / V::hsum(sum);
}

constexpr int kValueVecs = 4;  // output vectors per pass of weighted_values: G x kValueVecs chains

// Columns d0 .. d0+nd-1 of weighted_values, NV vectors of them (the last one partial when TAIL).
// NV and TAIL are constants so that the accumulators stay in registers: with a vector count known
// only at run time, GCC kept them on the stack, a load and a store per FMA.
template <int G, int NV, bool TAIL>
KILN_TARGET void weighted_values_pass(float* const (&os)[G], const float* p, int64_t lenp, const float* v,
                                      int64_t vstride, int64_t len, int64_t d0, int64_t nd) {
  constexpr int W = V::W;
  typename V::vf acc[G][NV];
  for (int g = 0; g < G; g++)
    for (int i = 0; i < NV; i++) acc[g][i] = V::zero();
  for (int64_t j = 0; j < len; j++) {
    const float* vr = v + j * vstride + d0;
    typename V::vf vv[NV];
    for (int i = 0; i < NV; i++) vv[i] = TAIL && i == NV - 1 ? V::load_n(vr + i * W, nd - i * W) : V::load(vr + i * W);
    for (int g = 0; g < G; g++) {
      typename V::vf pj = V::set1(p[g * lenp + j]);
      for (int i = 0; i < NV; i++) acc[g][i] = V::fma(pj, vv[i], acc[g][i]);
    }
  }
  for (int g = 0; g < G; g++)
    for (int i = 0; i < NV; i++) {
      float* o = os[g] + d0 + i * W;
      if (TAIL && i == NV - 1)
        V::store_n(o, acc[g][i], nd - i * W);
      else
        V::store(o, acc[g][i]);
    }
}

// weighted_values_pass with NV = the vectors that nd columns take (≤ kValueVecs).
template <int G, bool TAIL>
KILN_TARGET void weighted_values_cols(float* const (&os)[G], const float* p, int64_t lenp, const float* v,
                                      int64_t vstride, int64_t len, int64_t d0, int64_t nd) {
  static_assert(kValueVecs == 4, "the cases below");
  switch ((nd + V::W - 1) / V::W) {
    case 1: return weighted_values_pass<G, 1, TAIL>(os, p, lenp, v, vstride, len, d0, nd);
    case 2: return weighted_values_pass<G, 2, TAIL>(os, p, lenp, v, vstride, len, d0, nd);
    case 3: return weighted_values_pass<G, 3, TAIL>(os, p, lenp, v, vstride, len, d0, nd);
    default: return weighted_values_pass<G, 4, TAIL>(os, p, lenp, v, vstride, len, d0, nd);
  }
}

// out rows os[g] (HS long) = Σ_j p[g][j] · v_j, the v rows at v + j*vstride, kValueVecs vectors
// of columns a pass.
template <int G>
KILN_TARGET void weighted_values(float* const (&os)[G], const float* p, int64_t lenp, const float* v,
                                 int64_t vstride, int64_t len, int64_t HS) {
  constexpr int64_t kPass = kValueVecs * V::W;
  for (int64_t d0 = 0; d0 < HS; d0 += kPass) {
    const int64_t nd = HS - d0 < kPass ? HS - d0 : kPass;
    if (nd % V::W == 0)
      weighted_values_cols<G, false>(os, p, lenp, v, vstride, len, d0, nd);
    else
      weighted_values_cols<G, true>(os, p, lenp, v, vstride, len, d0, nd);
  }
}

// G queries of one head against their sequence's packed keys and values.
template <int G>
KILN_TARGET void query_group(float* out, const float* q, int64_t n, int64_t h, int64_t NH, int64_t HS,
                             const float* kt, const float* vh, int64_t vstride, int64_t len, int64_t lenp,
                             float scale, float* sc) {
  const float* qs[G];
  float* os[G];
  for (int g = 0; g < G; g++) {
    qs[g] = q + ((n + g) * NH + h) * HS;
    os[g] = out + ((n + g) * NH + h) * HS;
  }
  scores<G>(sc, qs, kt, HS, len, lenp, scale);
  for (int g = 0; g < G; g++) {
    float* s = sc + g * lenp;
    const typename V::vf inv = V::set1(softmax_row(s, len, lenp));
    for (int64_t c = 0; c < lenp; c += V::W) V::store(s + c, V::mul(V::load(s + c), inv));
  }
  weighted_values<G>(os, sc, lenp, vh, vstride, len, HS);
}

// kt (HS x lenp) = the len key rows at k (stride kstride) transposed, zero past len.
KILN_TARGET void pack_keys(float* kt, const float* k, int64_t kstride, int64_t len, int64_t lenp, int64_t HS) {
  for (int64_t d = 0; d < HS; d++) {
    float* row = kt + d * lenp;
    for (int64_t j = 0; j < len; j++) row[j] = k[j * kstride + d];
    for (int64_t j = len; j < lenp; j++) row[j] = 0.f;
  }
}

KILN_TARGET void bidir_attention(float* out, const float* q, const float* k, const float* v, const int32_t* pos,
                                 int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch,
                                 int ith, int nth) {
  constexpr int W = V::W;
  int64_t tasks = 0;
  for_each_sequence(pos, N, [&](int64_t s, int64_t e) { tasks += NH * ((e - s + kQueryBlock - 1) / kQueryBlock); });
  int64_t t0, t1;
  split_range(tasks, ith, nth, &t0, &t1);
  if (t0 >= t1) return;
  const int64_t group = NH / NKV, kv_stride = NKV * HS;
  // This thread's share of the scratch (kernels.h): kt, HS x lenp, then the scores, kGroup x lenp.
  static_assert(kGroup <= kBidirScratchRows && W <= kBidirScratchPad, "scratch too small");
  float* kt = scratch + (size_t)ith * (size_t)bidir_attention_scratch(N, HS);
  float* sc = kt + HS * ((N + W - 1) / W * W);
  int64_t t = 0, packed_start = -1, packed_kvh = -1;
  for_each_sequence(pos, N, [&](int64_t s, int64_t e) {
    const int64_t len = e - s, lenp = (len + W - 1) / W * W, blocks = (len + kQueryBlock - 1) / kQueryBlock;
    if (t + NH * blocks <= t0 || t >= t1) {
      t += NH * blocks;
      return;
    }
    for (int64_t h = 0; h < NH; h++)
      for (int64_t b = 0; b < blocks; b++, t++) {
        if (t < t0 || t >= t1) continue;
        const int64_t kvh = h / group;
        if (packed_start != s || packed_kvh != kvh) {
          pack_keys(kt, k + s * kv_stride + kvh * HS, kv_stride, len, lenp, HS);
          packed_start = s;
          packed_kvh = kvh;
        }
        const float* vh = v + s * kv_stride + kvh * HS;
        int64_t n = s + b * kQueryBlock;
        const int64_t n_end = n + kQueryBlock < e ? n + kQueryBlock : e;
        for (; n + kGroup <= n_end; n += kGroup)
          query_group<kGroup>(out, q, n, h, NH, HS, kt, vh, kv_stride, len, lenp, scale, sc);
        for (; n < n_end; n++) query_group<1>(out, q, n, h, NH, HS, kt, vh, kv_stride, len, lenp, scale, sc);
      }
  });
}

}  // namespace KILN_SIMD_NS
}  // namespace kiln
