// Q8_K: the activation side of the K-quant dot products (quantize_row_q8_K_ref). One f32 scale per
// 256 values, q = round(x · -127/max) clamped to 127, and per-16 sums of q (bsums) so a dot
// product with Q4_K/Q6_K can apply the sub-block mins without touching each q again.
#include <cmath>

#include "quant/k_quants.h"

namespace kiln {

void quantize_row_q8_K(const float* x, uint8_t* y, int64_t k) {
  block_q8_K* out = reinterpret_cast<block_q8_K*>(y);
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q8_K& b = out[i];
    // The signed value of largest magnitude (the first one on ties), as ggml picks it.
    float max = 0;
    float amax = 0;
    for (int j = 0; j < QK_K; j++) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      // ggml leaves bsums as they were; zeros are what they sum to, and keep the bytes defined.
      b.d = 0;
      std::memset(b.qs, 0, sizeof(b.qs));
      std::memset(b.bsums, 0, sizeof(b.bsums));
      continue;
    }
    // -127 (not -128) keeps q symmetric in [-127, 127], which ggml's SIMD dot products rely on.
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++) {
      const int v = kq_nearest_int(iscale * x[j]);
      b.qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < QK_K / 16; j++) {
      int sum = 0;
      for (int l = 0; l < 16; l++) sum += b.qs[j * 16 + l];
      b.bsums[j] = (int16_t)sum;
    }
    b.d = 1 / iscale;
  }
}

void dequantize_row_q8_K(const uint8_t* x, float* y, int64_t k) {
  const block_q8_K* in = reinterpret_cast<const block_q8_K*>(x);
  for (int64_t i = 0; i < k / QK_K; i++) {
    for (int j = 0; j < QK_K; j++) *y++ = in[i].d * (float)in[i].qs[j];
  }
}

}  // namespace kiln
