// NEON bodies of the quantized dot products (qdot_portable.cc's twins), written once and compiled
// twice: plain NEON (qdot_neon.cc, int8 products as widening multiplies) and with ARMv8.2's sdot
// (qdot_neon_dotprod.cc, and the i8mm tiles' leftovers). The including file defines
// KILN_QDOT_TARGET (a function attribute), KILN_QDOT_NS (a namespace) and KILN_QDOT_SDOT (1: its
// functions may use sdot), which picks dot16 below.
// Every block's integer sum is exact, and the sums are scaled and added in the portable kernels'
// float order with the same expressions, so each function returns the portable one's bits.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "cpu/qweights.h"
#include "quant/blocks.h"

namespace kiln {
namespace KILN_QDOT_NS {

// acc + Σ a_i·b_i over 16 int8 pairs, exact, into the 4 lanes.
#if KILN_QDOT_SDOT && defined(__clang__)
// clang before 16 declares the sdot intrinsic only in files built for it as a whole
// (__ARM_FEATURE_DOTPROD); inline assembly follows the function's own target instead.
KILN_QDOT_TARGET static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
#elif KILN_QDOT_SDOT
KILN_QDOT_TARGET static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
#else
// Widening multiplies, added pairwise into 32-bit lanes: each 16-bit product fits, -128·-128 included.
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  return vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
}
#endif

KILN_QDOT_TARGET static inline int32_t dot16_sum(int8x16_t a, int8x16_t b) {
  return vaddvq_s32(dot16(vdupq_n_s32(0), a, b));
}
KILN_QDOT_TARGET static inline int32_t dot32_sum(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
  return vaddvq_s32(dot16(dot16(vdupq_n_s32(0), a0, b0), a1, b1));
}
static inline int8x16_t low_nibbles(uint8x16_t q) { return vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))); }
static inline int8x16_t high_nibbles(uint8x16_t q) { return vreinterpretq_s8_u8(vshrq_n_u8(q, 4)); }
// 0x10 in byte i where bit i of the 16 bits (b0 | b1 << 8) is set: bit 4 of Q5 levels.
static inline uint8x16_t q5_high_bits(uint8_t b0, uint8_t b1) {
  static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bytes = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
  return vandq_u8(vtstq_u8(bytes, vld1q_u8(kBit)), vdupq_n_u8(0x10));
}

// Q5_0 / Q5_1 levels (0..31) of elements 0..15 (lo) and 16..31 (hi) of a block.
static inline void q5_levels16(const uint8_t* qs, const uint8_t* qh, int8x16_t* lo, int8x16_t* hi) {
  const uint8x16_t q = vld1q_u8(qs);
  *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), q5_high_bits(qh[0], qh[1])));
  *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), q5_high_bits(qh[2], qh[3])));
}

// Block b (32 elements) of a Q4_0, Q8_0, Q5_0 or Q5_1 weight row as two int8 vectors (its levels
// less the type's offset: 8 for Q4_0, 16 for Q5_0), its scale d and (Q5_1) its min m.
struct Block32 {
  int8x16_t lo, hi;
  float d, m;
};
KILN_QDOT_TARGET inline Block32 block32(DType t, const uint8_t* row, int64_t b) {
  Block32 r{};
  if (t == DType::Q8_0) {
    const block_q8_0& q = ((const block_q8_0*)row)[b];
    r.lo = vld1q_s8(q.qs), r.hi = vld1q_s8(q.qs + 16), r.d = f16_to_f32(q.d);
  } else if (t == DType::Q4_0) {
    const block_q4_0& q = ((const block_q4_0*)row)[b];
    const uint8x16_t v = vld1q_u8(q.qs);
    r.lo = vsubq_s8(low_nibbles(v), vdupq_n_s8(8)), r.hi = vsubq_s8(high_nibbles(v), vdupq_n_s8(8));
    r.d = f16_to_f32(q.d);
  } else if (t == DType::Q5_0) {
    const block_q5_0& q = ((const block_q5_0*)row)[b];
    q5_levels16(q.qs, q.qh, &r.lo, &r.hi);
    r.lo = vsubq_s8(r.lo, vdupq_n_s8(16)), r.hi = vsubq_s8(r.hi, vdupq_n_s8(16)), r.d = f16_to_f32(q.d);
  } else {  // Q5_1
    const block_q5_1& q = ((const block_q5_1*)row)[b];
    q5_levels16(q.qs, q.qh, &r.lo, &r.hi);
    r.d = f16_to_f32(q.d), r.m = f16_to_f32(q.m);
  }
  return r;
}

// Q4_0 / Q8_0 / Q5_0 × Q8_0: Σ_blocks d_w·d_x · Σ q·q8; Q5_1 adds m_w·d_x · Σ q8 per block (ggml
// pairs it with Q8_1; kiln's activations are Q8_0, the sum exact).
template <DType T>
KILN_QDOT_TARGET float vec_dot_32(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q8_0* xb = (const block_q8_0*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK8_0; b++) {
    const Block32 wb = block32(T, w, b);
    const int8x16_t x0 = vld1q_s8(xb[b].qs), x1 = vld1q_s8(xb[b].qs + 16);
    const int sumi = dot32_sum(wb.lo, wb.hi, x0, x1);
    const float dx = f16_to_f32(xb[b].d);
    if constexpr (T == DType::Q5_1) {
      const int sumx = vaddlvq_s8(x0) + vaddlvq_s8(x1);
      acc += (wb.d * dx) * (float)sumi + (wb.m * dx) * (float)sumx;
    } else {
      acc += (wb.d * dx) * (float)sumi;
    }
  }
  return acc;
}

// Σ_j mn[j]·(bsums of sub-block j), as the portable K-quant kernels sum it.
static inline int k_quant_min_sum(const uint8_t mn[8], const int16_t* bsums) {
  int summ = 0;
  for (int j = 0; j < 8; j++) summ += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
  return summ;
}

// Q4_K / Q5_K levels (0..15 / 0..31) of the j-th 64 elements of super-block b of a weight row:
// v[0..1] sub-block 2j (low nibbles), v[2..3] sub-block 2j+1 (high nibbles). Q5_K's bit 4 of
// element 64j + l is bit 2j of qh[l], of 64j + 32 + l bit 2j + 1.
KILN_QDOT_TARGET inline void k4_levels(DType t, const uint8_t* row, int64_t b, int j, int8x16_t v[4]) {
  const uint8_t* qs = t == DType::Q4_K ? ((const block_q4_K*)row)[b].qs : ((const block_q5_K*)row)[b].qs;
  const uint8x16_t q0 = vld1q_u8(qs + 32 * j), q1 = vld1q_u8(qs + 32 * j + 16);
  v[0] = low_nibbles(q0), v[1] = low_nibbles(q1), v[2] = high_nibbles(q0), v[3] = high_nibbles(q1);
  if (t == DType::Q5_K) {
    const uint8_t* qh = ((const block_q5_K*)row)[b].qh;
    const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16), bit4 = vdupq_n_u8(0x10);
    const uint8x16_t mlo = vdupq_n_u8((uint8_t)(1u << (2 * j))), mhi = vdupq_n_u8((uint8_t)(2u << (2 * j)));
    v[0] = vorrq_s8(v[0], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h0, mlo), bit4)));
    v[1] = vorrq_s8(v[1], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h1, mlo), bit4)));
    v[2] = vorrq_s8(v[2], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h0, mhi), bit4)));
    v[3] = vorrq_s8(v[3], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h1, mhi), bit4)));
  }
}

// The K-quants' super-block header (d, dmin, 12 bytes of scales): the same bytes in Q4_K and Q5_K.
inline const block_q4_K& k4_header(DType t, const uint8_t* row, int64_t b) {
  return *(const block_q4_K*)(row + (size_t)b * dtype_bytes(t, QK_K));
}

// Q4_K / Q5_K × Q8_K: per super-block, d·Σ_j sc_j·Σ q·q8 − dmin·Σ_j m_j·Σ q8 (the sums of q8 are bsums).
template <DType T>
KILN_QDOT_TARGET float vec_dot_k4(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q8_K* xb = (const block_q8_K*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK_K; b++) {
    const block_q4_K& hw = k4_header(T, w, b);
    uint8_t sc[8], mn[8];
    q4_K_scales(hw.scales, sc, mn);
    int sumi = 0;
    for (int j = 0; j < 4; j++) {
      int8x16_t v[4];
      k4_levels(T, w, b, j, v);
      const int8_t* y = xb[b].qs + 64 * j;
      const int lo = dot32_sum(v[0], v[1], vld1q_s8(y), vld1q_s8(y + 16));
      const int hi = dot32_sum(v[2], v[3], vld1q_s8(y + 32), vld1q_s8(y + 48));
      sumi += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    const int summ = k_quant_min_sum(mn, xb[b].bsums);
    acc += xb[b].d * (f16_to_f32(hw.d) * (float)sumi) - xb[b].d * (f16_to_f32(hw.dmin) * (float)summ);
  }
  return acc;
}

// Q6_K × Q8_K: per super-block, d·Σ_j sc_j·Σ (q6 − 32)·q8 over 16 sub-blocks of 16.
KILN_QDOT_TARGET float vec_dot_q6_K_q8_K(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q6_K* wb = (const block_q6_K*)w;
  const block_q8_K* xb = (const block_q8_K*)x;
  const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
  const int8x16_t s32 = vdupq_n_s8(32);
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK_K; b++) {
    int sumi = 0;
    for (int h = 0; h < 2; h++) {  // two halves of 128: ql 64 bytes, qh 32 bytes each
      const uint8_t* ql = wb[b].ql + 64 * h;
      const uint8_t* qh = wb[b].qh + 32 * h;
      const int8_t* y = xb[b].qs + 128 * h;
      const int8_t* sc = wb[b].scales + 8 * h;
      for (int i = 0; i < 2; i++) {  // elements 16i..16i+15 of each quarter of the half
        const uint8x16_t a = vld1q_u8(ql + 16 * i), c = vld1q_u8(ql + 32 + 16 * i), hb = vld1q_u8(qh + 16 * i);
        // Quarter r holds elements 32r + l: r 0 from a's low nibbles and qh bits 0-1, 1 from c's low
        // nibbles and bits 2-3, 2 from a's high nibbles and bits 4-5, 3 from c's high and bits 6-7.
        const uint8x16_t u[4] = {
            vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m2), 4)),
            vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4)),
            vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m2), 4)),
            vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
        };
        for (int r = 0; r < 4; r++) {
          const int j = 2 * r + i;  // sub-block of 16 within the half
          const int s = dot16_sum(vsubq_s8(vreinterpretq_s8_u8(u[r]), s32), vld1q_s8(y + 16 * j));
          sumi += sc[j] * s;
        }
      }
    }
    acc += xb[b].d * (f16_to_f32(wb[b].d) * (float)sumi);
  }
  return acc;
}

// This build's dot product of block type t; null for a type without one.
inline QuantVecDot* vec_dot_of(DType t) {
  switch (t) {
    case DType::Q4_0:
      return vec_dot_32<DType::Q4_0>;
    case DType::Q8_0:
      return vec_dot_32<DType::Q8_0>;
    case DType::Q5_0:
      return vec_dot_32<DType::Q5_0>;
    case DType::Q5_1:
      return vec_dot_32<DType::Q5_1>;
    case DType::Q4_K:
      return vec_dot_k4<DType::Q4_K>;
    case DType::Q5_K:
      return vec_dot_k4<DType::Q5_K>;
    case DType::Q6_K:
      return vec_dot_q6_K_q8_K;
    default:
      return nullptr;
  }
}

}  // namespace KILN_QDOT_NS
}  // namespace kiln
