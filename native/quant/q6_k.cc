// Q6_K (quantize_row_q6_K_ref): 16 sub-blocks of 16 values, each with its own signed scale found
// by make_qx_quants (weights x², a search over 18 nearby scales), the 16 scales quantized to int8
// against one f16 super-scale; values are 6-bit, q - 32 in [-32, 31].
#include <cmath>

#include "quant/k_quants.h"

namespace kiln {

// ggml's make_qx_quants with rmse_type 1 and no importance weights (w = x²): the scale minimising
// the weighted squared error among -nmax/max and 18 perturbations of it. L gets q + nmax.
static float make_qx_quants_rmse1(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; i++) {
    int l = kq_nearest_int(iscale * x[i]);
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[i] = (int8_t)(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = 0;
    suml2 = 0;
    for (int i = 0; i < n; i++) {
      int l = kq_nearest_int(iscale * x[i]);
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    // Strictly better only: on a tie the earlier candidate stays, as in ggml.
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; i++) {
        int l = kq_nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)(l + nmax);
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void quantize_row_q6_K(const float* x, uint8_t* y, int64_t k) {
  block_q6_K* out = reinterpret_cast<block_q6_K*>(y);
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q6_K& b = out[i];
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ib++) {
      const float scale = make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&b, 0, sizeof(b));  // d = +0 as well
      continue;
    }
    const float iscale = -128.f / max_scale;
    b.d = f32_to_f16_rne(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ib++) {
      const int s = kq_nearest_int(iscale * scales[ib]);
      b.scales[ib] = (int8_t)(s < 127 ? s : 127);
    }
    // Re-quantize each sub-block against its stored (rounded) scale; a sub-block whose scale
    // rounded to 0 keeps make_qx_quants' levels, as in ggml.
    const float d_super = kq_half(b.d);
    for (int j = 0; j < QK_K / 16; j++) {
      const float d = d_super * (float)b.scales[j];
      if (d == 0) continue;
      for (int ii = 0; ii < 16; ii++) {
        int l = kq_nearest_int(x[16 * j + ii] / d);
        l = l < -32 ? -32 : l > 31 ? 31 : l;
        L[16 * j + ii] = (int8_t)(l + 32);
      }
    }
    // Per 128 values: ql holds the low nibbles of (l, l+64) and (l+32, l+96); qh their top 2 bits.
    uint8_t* ql = b.ql;
    uint8_t* qh = b.qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; l++) {
        const uint8_t q1 = L[j + l + 0] & 0xF;
        const uint8_t q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF;
        const uint8_t q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
        ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
        qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                          ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_row_q6_K(const uint8_t* x, float* y, int64_t k) {
  const block_q6_K* in = reinterpret_cast<const block_q6_K*>(x);
  for (int64_t i = 0; i < k / QK_K; i++) {
    const float d = kq_half(in[i].d);
    const uint8_t* ql = in[i].ql;
    const uint8_t* qh = in[i].qh;
    const int8_t* sc = in[i].scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * (float)sc[is + 0] * (float)q1;
        y[l + 32] = d * (float)sc[is + 2] * (float)q2;
        y[l + 64] = d * (float)sc[is + 4] * (float)q3;
        y[l + 96] = d * (float)sc[is + 6] * (float)q4;
      }
    }
  }
}

}  // namespace kiln
