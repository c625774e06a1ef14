// Q4_K and Q5_K (quantize_row_q{4,5}_K_ref): 8 sub-blocks of 32 values, each with a scale and a
// min found by make_qkx2_quants (x ≈ scale·q - min, q in 0..15 or 0..31, weighted least squares
// over trial scales), then the 8 scales and 8 mins quantized to 6 bits against two f16
// super-scales (d, dmin). The two differ only in the levels and the trials, and in how q is packed.
#include <cmath>

#include "quant/k_quants.h"

namespace kiln {

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// ggml's make_qkx2_quants with use_mad = false (squared error). Returns the scale; *the_min gets
// the (non-negative) offset subtracted after scaling, L the levels 0..nmax.
static float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                              float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; i++) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    const int l = kq_nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)clamp_int(l, 0, nmax);
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; is++) {
    // min is the best trial's so far (ggml updates it in place), so later trials start from it.
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; i++) {
      const int l = clamp_int(kq_nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = (uint8_t)l;
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; i++) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = diff * diff;
        cur_error += weights[i] * diff;
      }
      // Strictly smaller only: ties keep the earlier trial, as in ggml.
      if (cur_error < best_error) {
        for (int i = 0; i < n; i++) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// One super-block's scales, mins and levels (0..nmax) as Q4_K (nmax 15: trials from -1 in 21 steps)
// and Q5_K (nmax 31: from -0.5 in 16 steps) compute them; the caller packs L.
static void scales_mins_k4(const float* x, int nmax, float rmin, int nstep, uint8_t* packed, uint16_t* d_out,
                           uint16_t* dmin_out, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  float max_scale = 0;  // scales are non-negative once the min is taken out
  float max_min = 0;
  for (int j = 0; j < QK_K / 32; j++) {
    // Weights: the sub-block's RMS plus |x|, so large values are fitted more closely.
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; l++) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < K_SCALE_SIZE; j++) packed[j] = 0;
  for (int j = 0; j < QK_K / 32; j++) {
    // ggml stores nearest_int into a uint8_t before clamping: keep that truncation.
    uint8_t ls = (uint8_t)kq_nearest_int(inv_scale * scales[j]);
    uint8_t lm = (uint8_t)kq_nearest_int(inv_min * mins[j]);
    ls = ls < 63 ? ls : 63;
    lm = lm < 63 ? lm : 63;
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
      packed[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
  }
  *d_out = f32_to_f16_rne(max_scale / 63.f);
  *dmin_out = f32_to_f16_rne(max_min / 63.f);
  // Re-quantize against the stored (rounded) scales and mins; a sub-block whose scale rounded
  // to 0 keeps make_qkx2_quants' levels, as in ggml.
  for (int j = 0; j < QK_K / 32; j++) {
    uint8_t sc, m;
    kq_scale_min_k4(j, packed, &sc, &m);
    const float d = kq_half(*d_out) * (float)sc;
    if (d == 0) continue;
    const float dm = kq_half(*dmin_out) * (float)m;
    for (int ii = 0; ii < 32; ii++) {
      const int l = kq_nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = (uint8_t)clamp_int(l, 0, nmax);
    }
  }
}

void quantize_row_q4_K(const float* x, uint8_t* y, int64_t k) {
  block_q4_K* out = reinterpret_cast<block_q4_K*>(y);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q4_K& b = out[i];
    scales_mins_k4(x, 15, -1.f, 20, b.scales, &b.d, &b.dmin, L);
    // Per 64 values: byte l holds value l in its low nibble and value l + 32 in its high nibble.
    uint8_t* q = b.qs;
    for (int j = 0; j < QK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
  }
}

void quantize_row_q5_K(const float* x, uint8_t* y, int64_t k) {
  block_q5_K* out = reinterpret_cast<block_q5_K*>(y);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q5_K& b = out[i];
    scales_mins_k4(x, 31, -0.5f, 15, b.scales, &b.d, &b.dmin, L);
    // Low 4 bits as Q4_K's nibbles; bit 4 of values j + l and j + 32 + l in qh[l], two bits per 64.
    for (int l = 0; l < QK_K / 8; l++) b.qh[l] = 0;
    uint8_t* q = b.qs;
    uint8_t m1 = 1, m2 = 2;
    for (int j = 0; j < QK_K; j += 64, q += 32, m1 <<= 2, m2 <<= 2) {
      for (int l = 0; l < 32; l++) {
        int l1 = L[j + l], l2 = L[j + l + 32];
        if (l1 > 15) l1 -= 16, b.qh[l] |= m1;
        if (l2 > 15) l2 -= 16, b.qh[l] |= m2;
        q[l] = (uint8_t)(l1 | (l2 << 4));
      }
    }
  }
}

// One super-block of Q4_K or Q5_K (qh null for Q4_K): y = (d·sc)·q − (dmin·m), two roundings, no
// fused multiply-add, as ggml's dequantize_row_q{4,5}_K; Q5_K's bit 4 of element 64i + l is bit 2i
// of qh[l], of 64i + 32 + l bit 2i + 1.
static void dequantize_k4(uint16_t d16, uint16_t dmin16, const uint8_t* scales, const uint8_t* q, const uint8_t* qh,
                          float* y) {
  const float d = kq_half(d16);
  const float min = kq_half(dmin16);
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < QK_K; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    kq_scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * (float)sc;
    const float m1 = min * (float)m;
    kq_scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * (float)sc;
    const float m2 = min * (float)m;
    for (int l = 0; l < 32; l++) *y++ = d1 * (float)((q[l] & 0xF) + (qh && (qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; l++) *y++ = d2 * (float)((q[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - m2;
  }
}

void dequantize_row_q4_K(const uint8_t* x, float* y, int64_t k) {
  const block_q4_K* in = reinterpret_cast<const block_q4_K*>(x);
  for (int64_t i = 0; i < k / QK_K; i++, y += QK_K)
    dequantize_k4(in[i].d, in[i].dmin, in[i].scales, in[i].qs, nullptr, y);
}

void dequantize_row_q5_K(const uint8_t* x, float* y, int64_t k) {
  const block_q5_K* in = reinterpret_cast<const block_q5_K*>(x);
  for (int64_t i = 0; i < k / QK_K; i++, y += QK_K)
    dequantize_k4(in[i].d, in[i].dmin, in[i].scales, in[i].qs, in[i].qh, y);
}

}  // namespace kiln
