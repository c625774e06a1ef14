// AVX-512 causal attention for training steps and its backward (train_attention.cc picks them), in
// FlashAttention's blocks: keys go 16 at a time (one vector of scores per query row), packed
// transposed (HS x 16) so that a row's 16 scores are one FMA chain over d; query rows go kGroup at
// a time, sharing the loads. The forward keeps a running max and sum per row (online softmax); the
// backward first rebuilds each row's log-sum-exp and D = Σ_j p_j dp_j the same way, then walks the
// key blocks again for dq, dk and dv. Buffers are on the stack (kernels never allocate) or in the
// backward's scratch (2N floats per thread: lse and D of a sequence's rows).
//
// A row's numbers depend only on its own sequence and are computed in one fixed order, whatever
// the thread count: key blocks in order from the sequence's start, rows in order within a block;
// dk, dv sum over query heads in order, then rows in order; dq over key blocks in order.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <cmath>

#include "cpu/vec_avx512.h"
#include "kernels.h"

namespace kiln {
namespace {

using avx512::V;
using vf = __m512;

constexpr int64_t kKeys = 16;      // keys per block: one vector of scores
constexpr int kGroup = 4;          // query rows computed together
constexpr int64_t kRowBlock = 64;  // query rows per forward task / backward chunk
constexpr int kVecs = 4;           // head-size vectors per pass of the row/key updates

KILN_VEC_INLINE __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// kt (HS x kKeys): the nk rows at src (stride ld) transposed, lanes past nk zero. A gather per d
// (ld·16 fits the gather's 32-bit offsets: causal_attention_avx512_fits).
KILN_TARGET void pack_block(float* kt, const float* src, int64_t ld, int64_t nk, int64_t HS) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32((int)ld));
  const __mmask16 k = first_lanes(nk);
  for (int64_t d = 0; d < HS; d++)
    _mm512_store_ps(kt + d * kKeys, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, idx, src + d, 4));
}

// s[r] = Σ_d x_r[d] · kt[d] for R rows x_r (HS long): two chains per row (even and odd d), added.
template <int R>
KILN_VEC_INLINE void dots(vf (&s)[R], const float* const (&x)[R], const float* kt, int64_t HS) {
  vf a[R], b[R];
  for (int r = 0; r < R; r++) a[r] = b[r] = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 2 <= HS; d += 2) {
    vf k0 = _mm512_load_ps(kt + d * kKeys), k1 = _mm512_load_ps(kt + (d + 1) * kKeys);
    for (int r = 0; r < R; r++) {
      a[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r][d]), k0, a[r]);
      b[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r][d + 1]), k1, b[r]);
    }
  }
  if (d < HS) {
    vf k0 = _mm512_load_ps(kt + d * kKeys);
    for (int r = 0; r < R; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r][d]), k0, a[r]);
  }
  for (int r = 0; r < R; r++) s[r] = _mm512_add_ps(a[r], b[r]);
}

// Head-size chunks of kVecs vectors: the masks of chunk d0 (HS long rows).
KILN_VEC_INLINE void chunk_masks(__mmask16 (&mk)[kVecs], int64_t d0, int64_t HS) {
  for (int v = 0; v < kVecs; v++) mk[v] = first_lanes(HS - d0 - 16 * v);
}

// Rows: y_r (HS) += Σ_{j<nk} c[r][j] · src_j, src_j = src + j*ld, as one FMA chain per element in j
// order starting from y_r.
template <int R, int NV>
KILN_TARGET void rows_update_nv(float* const (&y)[R], const float (*c)[kKeys], const float* src, int64_t ld,
                                int64_t nk, int64_t d0, const __mmask16 (&mk)[kVecs]) {
  vf acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_maskz_loadu_ps(mk[v], y[r] + d0 + 16 * v);
  for (int64_t j = 0; j < nk; j++) {
    vf sv[NV];
    for (int v = 0; v < NV; v++) sv[v] = _mm512_maskz_loadu_ps(mk[v], src + j * ld + d0 + 16 * v);
    for (int r = 0; r < R; r++) {
      vf cj = _mm512_set1_ps(c[r][j]);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(cj, sv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(y[r] + d0 + 16 * v, mk[v], acc[r][v]);
}

template <int R>
KILN_TARGET void rows_update(float* const (&y)[R], const float (*c)[kKeys], const float* src, int64_t ld, int64_t nk,
                             int64_t HS) {
  for (int64_t d0 = 0; d0 < HS; d0 += kVecs * 16) {
    __mmask16 mk[kVecs];
    chunk_masks(mk, d0, HS);
    const int64_t nv = (HS - d0 + 15) / 16;
    if (nv >= 4) rows_update_nv<R, 4>(y, c, src, ld, nk, d0, mk);
    else if (nv == 3) rows_update_nv<R, 3>(y, c, src, ld, nk, d0, mk);
    else if (nv == 2) rows_update_nv<R, 2>(y, c, src, ld, nk, d0, mk);
    else rows_update_nv<R, 1>(y, c, src, ld, nk, d0, mk);
  }
}

// Keys: dst_j (HS) += Σ_r c[r][j] · x_r for j < nk, dst_j = dst + j*ld, as one FMA chain per
// element in r order starting from dst_j.
template <int R, int NV>
KILN_TARGET void keys_update_nv(float* dst, int64_t ld, const float (*c)[kKeys], const float* const (&x)[R], int64_t nk,
                                int64_t d0, const __mmask16 (&mk)[kVecs]) {
  vf xv[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) xv[r][v] = _mm512_maskz_loadu_ps(mk[v], x[r] + d0 + 16 * v);
  for (int64_t j = 0; j < nk; j++) {
    float* dj = dst + j * ld + d0;
    vf acc[NV];
    for (int v = 0; v < NV; v++) acc[v] = _mm512_maskz_loadu_ps(mk[v], dj + 16 * v);
    for (int r = 0; r < R; r++) {
      vf cj = _mm512_set1_ps(c[r][j]);
      for (int v = 0; v < NV; v++) acc[v] = _mm512_fmadd_ps(cj, xv[r][v], acc[v]);
    }
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(dj + 16 * v, mk[v], acc[v]);
  }
}

template <int R>
KILN_TARGET void keys_update(float* dst, int64_t ld, const float (*c)[kKeys], const float* const (&x)[R], int64_t nk,
                             int64_t HS) {
  for (int64_t d0 = 0; d0 < HS; d0 += kVecs * 16) {
    __mmask16 mk[kVecs];
    chunk_masks(mk, d0, HS);
    const int64_t nv = (HS - d0 + 15) / 16;
    if (nv >= 4) keys_update_nv<R, 4>(dst, ld, c, x, nk, d0, mk);
    else if (nv == 3) keys_update_nv<R, 3>(dst, ld, c, x, nk, d0, mk);
    else if (nv == 2) keys_update_nv<R, 2>(dst, ld, c, x, nk, d0, mk);
    else keys_update_nv<R, 1>(dst, ld, c, x, nk, d0, mk);
  }
}

// The lanes of key block j0 (nk keys) that row i sees: keys j0 + jj ≤ i.
KILN_VEC_INLINE __mmask16 causal_lanes(int64_t i, int64_t j0, int64_t nk) {
  int64_t n = i - j0 + 1;
  return first_lanes(n < nk ? n : nk);
}

// Per-row state of the online softmax: running max m, sum l, and (backward) Σ e·dp.
struct RowState {
  float m[kRowBlock], l[kRowBlock], d[kRowBlock];
};

// The forward's R rows i.. (a group of the task's rows, state index ri) against key block j0.
template <int R>
KILN_TARGET void forward_group(float* o, int64_t HSp, RowState& st, int64_t ri, int64_t i, const float* q, int64_t qw,
                               int64_t hoff, const float* kt, const float* vb, int64_t kw, int64_t j0, int64_t nk,
                               int64_t HS, float scale) {
  const float* qs[R];
  float* os[R];
  for (int r = 0; r < R; r++) {
    qs[r] = q + (i + r) * qw + hoff;
    os[r] = o + (ri + r) * HSp;
  }
  vf sc[R];
  dots<R>(sc, qs, kt, HS);
  alignas(64) float p[R][kKeys];
  for (int r = 0; r < R; r++) {
    const __mmask16 lanes = causal_lanes(i + r, j0, nk);
    vf s = _mm512_mask_blend_ps(lanes, _mm512_set1_ps(-INFINITY), _mm512_mul_ps(sc[r], _mm512_set1_ps(scale)));
    float& m = st.m[ri + r];
    const float mn = std::fmax(m, _mm512_reduce_max_ps(s));
    const float alpha = std::exp(m - mn);  // 0 on the first block (m = -inf)
    vf e = _mm512_maskz_mov_ps(lanes, V::exp(_mm512_sub_ps(s, _mm512_set1_ps(mn))));
    st.l[ri + r] = st.l[ri + r] * alpha + V::hsum(e);
    m = mn;
    _mm512_store_ps(p[r], e);
    if (alpha != 1.f) {
      const vf va = _mm512_set1_ps(alpha);
      for (int64_t d = 0; d < HSp; d += 16) _mm512_store_ps(os[r] + d, _mm512_mul_ps(_mm512_load_ps(os[r] + d), va));
    }
  }
  rows_update<R>(os, p, vb, kw, nk, HS);
}

}  // namespace

// Whether the fast kernels take this step: head sizes the stack buffers hold, rows of k and v
// narrow enough for pack_block's gathers, and sequences that start at position 0 (graph.cc checks it for graphs; a bare op may have other positions).
bool causal_attention_avx512_fits(const int32_t* pos, int64_t N, int64_t NH, int64_t NKV, int64_t HS) {
  if (HS > 256 || HS <= 0 || NKV * HS * kKeys >= ((int64_t)1 << 31) / 4) return false;
  bool ok = true;
  for_each_sequence(pos, N, [&](int64_t s, int64_t) { ok = ok && pos[s] == 0; });
  return ok;
}

KILN_TARGET void causal_attention_avx512(float* out, const float* q, const float* k, const float* v, const int32_t* pos,
                                         int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale, int ith,
                                         int nth) {
  const int64_t qw = NH * HS, kw = NKV * HS, group = NH / NKV, HSp = (HS + 15) / 16 * 16;
  int64_t tasks = 0;
  for_each_sequence(pos, N, [&](int64_t s, int64_t e) { tasks += NH * ((e - s + kRowBlock - 1) / kRowBlock); });
  int64_t t0, t1;
  split_range(tasks, ith, nth, &t0, &t1);
  if (t0 >= t1) return;
  alignas(64) float o[kRowBlock * 256];
  alignas(64) float kt[256 * kKeys];
  RowState st;
  int64_t t = 0;
  // The sequences as for_each_sequence finds them (a lambda would not get this function's target).
  for (int64_t s = 0, e; s < N; s = e) {
    e = bidir_sequence_end(pos, s, N);
    const int64_t blocks = (e - s + kRowBlock - 1) / kRowBlock;
    if (t + NH * blocks <= t0 || t >= t1) {
      t += NH * blocks;
      continue;
    }
    for (int64_t h = 0; h < NH; h++)
      for (int64_t b = 0; b < blocks; b++, t++) {
        if (t < t0 || t >= t1) continue;
        const int64_t kvh = h / group, i0 = s + b * kRowBlock, i1 = i0 + kRowBlock < e ? i0 + kRowBlock : e;
        for (int64_t r = 0; r < i1 - i0; r++) {
          st.m[r] = -INFINITY;
          st.l[r] = 0.f;
          for (int64_t d = 0; d < HSp; d += 16) _mm512_store_ps(o + r * HSp + d, _mm512_setzero_ps());
        }
        for (int64_t j0 = s; j0 < i1; j0 += kKeys) {
          const int64_t nk = i1 - j0 < kKeys ? i1 - j0 : kKeys;
          const float* kb = k + j0 * kw + kvh * HS;
          const float* vb = v + j0 * kw + kvh * HS;
          pack_block(kt, kb, kw, nk, HS);
          int64_t i = j0 > i0 ? j0 : i0;
          for (; i + kGroup <= i1; i += kGroup)
            forward_group<kGroup>(o, HSp, st, i - i0, i, q, qw, h * HS, kt, vb, kw, j0, nk, HS, scale);
          for (; i < i1; i++) forward_group<1>(o, HSp, st, i - i0, i, q, qw, h * HS, kt, vb, kw, j0, nk, HS, scale);
        }
        for (int64_t r = 0; r < i1 - i0; r++) {
          const vf inv = _mm512_set1_ps(1.f / st.l[r]);
          float* dst = out + (i0 + r) * qw + h * HS;
          for (int64_t d = 0; d < HS; d += 16)
            _mm512_mask_storeu_ps(dst + d, first_lanes(HS - d), _mm512_mul_ps(_mm512_load_ps(o + r * HSp + d), inv));
        }
      }
  }
}

namespace {

// Pass 1 of the backward for R rows i.. (state index ri) against key block j0: running max, sum
// and Σ e·dp of each row.
template <int R>
KILN_TARGET void stats_group(RowState& st, int64_t ri, int64_t i, const float* q, const float* dy, int64_t qw,
                             int64_t hoff, const float* kt, const float* vt, int64_t j0, int64_t nk, int64_t HS,
                             float scale) {
  const float *qs[R], *ds[R];
  for (int r = 0; r < R; r++) {
    qs[r] = q + (i + r) * qw + hoff;
    ds[r] = dy + (i + r) * qw + hoff;
  }
  vf sc[R], dp[R];
  dots<R>(sc, qs, kt, HS);
  dots<R>(dp, ds, vt, HS);
  for (int r = 0; r < R; r++) {
    const __mmask16 lanes = causal_lanes(i + r, j0, nk);
    vf s = _mm512_mask_blend_ps(lanes, _mm512_set1_ps(-INFINITY), _mm512_mul_ps(sc[r], _mm512_set1_ps(scale)));
    float& m = st.m[ri + r];
    const float mn = std::fmax(m, _mm512_reduce_max_ps(s));
    const float alpha = std::exp(m - mn);
    vf e = _mm512_maskz_mov_ps(lanes, V::exp(_mm512_sub_ps(s, _mm512_set1_ps(mn))));
    st.l[ri + r] = st.l[ri + r] * alpha + V::hsum(e);
    st.d[ri + r] = st.d[ri + r] * alpha + V::hsum(_mm512_mul_ps(e, dp[r]));
    m = mn;
  }
}

// Pass 2 for R rows i.. against key block j0: p, ds, then dv_j, dk_j and dq_i.
template <int R>
KILN_TARGET void grad_group(float* out, int64_t W, int64_t i, const float* q, const float* dy, int64_t qw, int64_t hoff,
                            const float* kt, const float* vt, const float* kb, int64_t kw, float* dkb, float* dvb,
                            int64_t j0, int64_t nk, int64_t HS, float scale, const float* lse, const float* D) {
  const float *qs[R], *ds[R];
  float* dq[R];
  for (int r = 0; r < R; r++) {
    qs[r] = q + (i + r) * qw + hoff;
    ds[r] = dy + (i + r) * qw + hoff;
    dq[r] = out + (i + r) * W + hoff;
  }
  vf sc[R], dp[R];
  dots<R>(sc, qs, kt, HS);
  dots<R>(dp, ds, vt, HS);
  alignas(64) float p[R][kKeys], g[R][kKeys];
  const vf vscale = _mm512_set1_ps(scale);
  for (int r = 0; r < R; r++) {
    const __mmask16 lanes = causal_lanes(i + r, j0, nk);
    vf e = V::exp(_mm512_sub_ps(_mm512_mul_ps(sc[r], vscale), _mm512_set1_ps(lse[r])));
    e = _mm512_maskz_mov_ps(lanes, e);
    _mm512_store_ps(p[r], e);
    _mm512_store_ps(g[r], _mm512_mul_ps(_mm512_mul_ps(e, _mm512_sub_ps(dp[r], _mm512_set1_ps(D[r]))), vscale));
  }
  keys_update<R>(dvb, W, p, ds, nk, HS);
  keys_update<R>(dkb, W, g, qs, nk, HS);
  rows_update<R>(dq, g, kb, kw, nk, HS);
}

}  // namespace

KILN_TARGET void causal_attention_backward_avx512(float* out, const float* dy, const float* q, const float* k,
                                                  const float* v, const int32_t* pos, int64_t N, int64_t NH,
                                                  int64_t NKV, int64_t HS, float scale, float* scratch, int ith,
                                                  int nth) {
  const int64_t qw = NH * HS, kw = NKV * HS, W = qw + 2 * kw, group = NH / NKV;
  float* lse = scratch + (int64_t)ith * 2 * N;  // a sequence's rows: lse, then D
  alignas(64) float kt[256 * kKeys];
  alignas(64) float vt[256 * kKeys];
  RowState st;
  int64_t item = 0;
  for (int64_t s = 0, e; s < N; s = e) {
    e = bidir_sequence_end(pos, s, N);
    const int64_t T = e - s;
    float* Dv = lse + T;
    for (int64_t kvh = 0; kvh < NKV; kvh++, item++) {
      if (item % nth != ith) continue;
      for (int64_t n = s; n < e; n++) {
        float* row = out + n * W;
        for (int64_t d = 0; d < HS; d++) row[qw + kvh * HS + d] = row[qw + kw + kvh * HS + d] = 0.f;
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
        const int64_t hoff = h * HS;
        for (int64_t n = s; n < e; n++)
          for (int64_t d = 0; d < HS; d++) out[n * W + hoff + d] = 0.f;
        for (int64_t i0 = s; i0 < e; i0 += kRowBlock) {
          const int64_t i1 = i0 + kRowBlock < e ? i0 + kRowBlock : e;
          // Pass 1: each row's log-sum-exp and D = Σ_j p_j dp_j.
          for (int64_t r = 0; r < i1 - i0; r++) {
            st.m[r] = -INFINITY;
            st.l[r] = st.d[r] = 0.f;
          }
          for (int64_t j0 = s; j0 < i1; j0 += kKeys) {
            const int64_t nk = i1 - j0 < kKeys ? i1 - j0 : kKeys;
            pack_block(kt, k + j0 * kw + kvh * HS, kw, nk, HS);
            pack_block(vt, v + j0 * kw + kvh * HS, kw, nk, HS);
            int64_t i = j0 > i0 ? j0 : i0;
            for (; i + kGroup <= i1; i += kGroup)
              stats_group<kGroup>(st, i - i0, i, q, dy, qw, hoff, kt, vt, j0, nk, HS, scale);
            for (; i < i1; i++) stats_group<1>(st, i - i0, i, q, dy, qw, hoff, kt, vt, j0, nk, HS, scale);
          }
          for (int64_t r = 0; r < i1 - i0; r++) {
            lse[i0 - s + r] = st.m[r] + std::log(st.l[r]);
            Dv[i0 - s + r] = st.d[r] / st.l[r];
          }
          // Pass 2: the gradients, key block by key block.
          for (int64_t j0 = s; j0 < i1; j0 += kKeys) {
            const int64_t nk = i1 - j0 < kKeys ? i1 - j0 : kKeys;
            const float* kb = k + j0 * kw + kvh * HS;
            pack_block(kt, kb, kw, nk, HS);
            pack_block(vt, v + j0 * kw + kvh * HS, kw, nk, HS);
            float* dkb = out + j0 * W + qw + kvh * HS;
            float* dvb = dkb + kw;
            int64_t i = j0 > i0 ? j0 : i0;
            for (; i + kGroup <= i1; i += kGroup)
              grad_group<kGroup>(out, W, i, q, dy, qw, hoff, kt, vt, kb, kw, dkb, dvb, j0, nk, HS, scale,
                                 lse + (i - s), Dv + (i - s));
            for (; i < i1; i++)
              grad_group<1>(out, W, i, q, dy, qw, hoff, kt, vt, kb, kw, dkb, dvb, j0, nk, HS, scale, lse + (i - s),
                            Dv + (i - s));
          }
        }
      }
    }
  }
}

}  // namespace kiln

#endif  // KILN_X86
