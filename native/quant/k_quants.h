// Row kernels of ggml's K-quants (super-blocks of QK_K = 256) and the helpers they share: the
// quantizers reproduce ggml's quantize_row_{q4_K,q5_K,q6_K,q8_K}_ref bit for bit, so every float op
// below is written in ggml's order (the build has -ffp-contract=off: no fused multiply-adds).
#pragma once
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/quant_types.h"
#include "tensor.h"

namespace kiln {

// ggml's nearest_int: adding 1.5·2^23 leaves round-to-nearest-even(fval) in the low mantissa bits.
// Exact for |fval| <= 2^22 - 1; outside that ggml returns these same (meaningless) bits, and so do
// we, so even a degenerate block (a sub-block scale far below its values) packs identically.
inline int kq_nearest_int(float fval) {
  const float val = fval + 12582912.f;
  int32_t i;
  std::memcpy(&i, &val, sizeof(i));
  return (i & 0x007fffff) - 0x00400000;
}

// ggml's GROUP_MAX_EPS: a group whose largest |x| is below this quantizes to zeros.
constexpr float kGroupMaxEps = 1e-15f;

inline float kq_half(uint16_t h) { return f16_to_f32(h); }

// ggml's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes (Q4_K, Q5_K).
// Bytes 0..3 hold scales 0..3 (low 6 bits), 4..7 mins 0..3; bytes 8..11 the low nibbles of
// scale/min 4..7, whose top 2 bits ride in the spare top bits of bytes 0..7.
inline void kq_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void quantize_row_q4_K(const float* x, uint8_t* y, int64_t k);
void dequantize_row_q4_K(const uint8_t* x, float* y, int64_t k);
void quantize_row_q5_K(const float* x, uint8_t* y, int64_t k);
void dequantize_row_q5_K(const uint8_t* x, float* y, int64_t k);
void quantize_row_q6_K(const float* x, uint8_t* y, int64_t k);
void dequantize_row_q6_K(const uint8_t* x, float* y, int64_t k);
void quantize_row_q8_K(const float* x, uint8_t* y, int64_t k);
void dequantize_row_q8_K(const uint8_t* x, float* y, int64_t k);

}  // namespace kiln
