// Q4_K (quantize_row_q4_K_ref): 8 sub-blocks of 32 values, each with a scale and a min found by
// make_qkx2_quants (x ≈ scale·q - min, q in 0..15, weighted least squares over 21 trial scales),
// then the 8 scales and 8 mins quantized to 6 bits against two f16 super-scales (d, dmin).
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

// ggml's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes. Bytes 0..3
// hold scales 0..3 (low 6 bits), 4..7 mins 0..3; bytes 8..11 the low nibbles of scale/min 4..7,
// whose top 2 bits ride in the spare top bits of bytes 0..7.
static inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void quantize_row_q4_K(const float* x, uint8_t* y, int64_t k) {
  block_q4_K* out = reinterpret_cast<block_q4_K*>(y);
  uint8_t L[QK_K];
  uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q4_K& b = out[i];
    float max_scale = 0;  // scales are non-negative once the min is taken out
    float max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
      // Weights: the sub-block's RMS plus |x|, so large values are fitted more closely.
      float sum_x2 = 0;
      for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; l++) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
      // ggml stores nearest_int into a uint8_t before clamping: keep that truncation.
      uint8_t ls = (uint8_t)kq_nearest_int(inv_scale * scales[j]);
      uint8_t lm = (uint8_t)kq_nearest_int(inv_min * mins[j]);
      ls = ls < 63 ? ls : 63;
      lm = lm < 63 ? lm : 63;
      if (j < 4) {
        b.scales[j] = ls;
        b.scales[j + 4] = lm;
      } else {
        b.scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        b.scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
        b.scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
      }
    }
    b.d = f32_to_f16_rne(max_scale / 63.f);
    b.dmin = f32_to_f16_rne(max_min / 63.f);
    // Re-quantize against the stored (rounded) scales and mins; a sub-block whose scale rounded
    // to 0 keeps make_qkx2_quants' levels, as in ggml.
    for (int j = 0; j < QK_K / 32; j++) {
      uint8_t sc, m;
      get_scale_min_k4(j, b.scales, &sc, &m);
      const float d = kq_half(b.d) * (float)sc;
      if (d == 0) continue;
      const float dm = kq_half(b.dmin) * (float)m;
      for (int ii = 0; ii < 32; ii++) {
        const int l = kq_nearest_int((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = (uint8_t)clamp_int(l, 0, 15);
      }
    }
    // Per 64 values: byte l holds value l in its low nibble and value l + 32 in its high nibble.
    uint8_t* q = b.qs;
    for (int j = 0; j < QK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
  }
}

void dequantize_row_q4_K(const uint8_t* x, float* y, int64_t k) {
  const block_q4_K* in = reinterpret_cast<const block_q4_K*>(x);
  for (int64_t i = 0; i < k / QK_K; i++) {
    const uint8_t* q = in[i].qs;
    const float d = kq_half(in[i].d);
    const float min = kq_half(in[i].dmin);
    int is = 0;
    for (int j = 0; j < QK_K; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, in[i].scales, &sc, &m);
      const float d1 = d * (float)sc;
      const float m1 = min * (float)m;
      get_scale_min_k4(is + 1, in[i].scales, &sc, &m);
      const float d2 = d * (float)sc;
      const float m2 = min * (float)m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
  }
}

}  // namespace kiln
