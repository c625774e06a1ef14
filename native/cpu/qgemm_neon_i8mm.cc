// Matmul against block-quantized weights for steps of several rows on ARM64 with FEAT_I8MM: smmla
// multiplies 2 weight rows by 2 activation rows, 8 int8 pairs each, into a 2×2 tile of exact int32
// sums, so one instruction does the work of four sdot lanes' worth while each block's bytes are
// loaded once for two rows. Each block's (or sub-block's) integer sums are exactly the portable
// vec_dot's, and they are scaled and added with the portable kernel's expressions in block order,
// so every output has the portable bits: a row's result is the same in any batch and on any tier.
// Rows and columns left over from the pairs take the dotprod vec_dots (the same bits again).
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include <arm_neon.h>

#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

#if defined(__clang__)
#define KILN_QDOT_TARGET __attribute__((target("i8mm,dotprod")))
#else
#define KILN_QDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#endif
#define KILN_QDOT_NS qdot_i8mm
#define KILN_QDOT_SDOT 1

#include "cpu/qdot_neon.h"

namespace kiln {
namespace qdot_i8mm {
#if defined(__clang__)
// As dot16 in qdot_neon.h: clang before 16 declares smmla only for files built for it as a whole.
KILN_QDOT_TARGET static inline int32x4_t mmla(int32x4_t acc, int8x16_t a, int8x16_t b) {
  __asm__("smmla %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
#else
KILN_QDOT_TARGET static inline int32x4_t mmla(int32x4_t acc, int8x16_t a, int8x16_t b) { return vmmlaq_s32(acc, a, b); }
#endif
}  // namespace qdot_i8mm

QuantVecDot* quant_vec_dot_neon(DType t, bool dotprod);  // qdot_neon.cc

namespace qdot_i8mm {
namespace {

// The 2×2 sums over 16 elements: weights w0, w1 (rows) by activations x0, x1, as lanes
// [w0·x0, w0·x1, w1·x0, w1·x1]. smmla takes 2×8 operands: the 16 elements go in two halves.
KILN_QDOT_TARGET inline int32x4_t mmla16(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  const int8x16_t wl = vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(w0), vreinterpretq_s64_s8(w1)));
  const int8x16_t wh = vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(w0), vreinterpretq_s64_s8(w1)));
  const int8x16_t xl = vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(x0), vreinterpretq_s64_s8(x1)));
  const int8x16_t xh = vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(x0), vreinterpretq_s64_s8(x1)));
  return mmla(mmla(acc, wl, xl), wh, xh);
}

// out[r][c] for weight rows w[0..1] and activation rows x[0..1] (Q8_0): the portable
// vec_dot_*_q8_0's sums, block by block.
KILN_QDOT_TARGET void tile32(DType t, const uint8_t* const w[2], const uint8_t* const x[2], int64_t K, float out[2][2]) {
  float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  for (int64_t b = 0; b < K / QK8_0; b++) {
    const Block32 w0 = block32(t, w[0], b), w1 = block32(t, w[1], b);
    const block_q8_0& x0 = ((const block_q8_0*)x[0])[b];
    const block_q8_0& x1 = ((const block_q8_0*)x[1])[b];
    const int8x16_t x0l = vld1q_s8(x0.qs), x0h = vld1q_s8(x0.qs + 16);
    const int8x16_t x1l = vld1q_s8(x1.qs), x1h = vld1q_s8(x1.qs + 16);
    int32_t s[4];
    vst1q_s32(s, mmla16(mmla16(vdupq_n_s32(0), w0.lo, w1.lo, x0l, x1l), w0.hi, w1.hi, x0h, x1h));
    const Block32* wr[2] = {&w0, &w1};
    const float dx[2] = {f16_to_f32(x0.d), f16_to_f32(x1.d)};
    for (int r = 0; r < 2; r++)
      for (int c = 0; c < 2; c++) {
        const int sumi = s[2 * r + c];
        if (t == DType::Q5_1) {
          const int sumx = c == 0 ? vaddlvq_s8(x0l) + vaddlvq_s8(x0h) : vaddlvq_s8(x1l) + vaddlvq_s8(x1h);
          acc[r][c] += (wr[r]->d * dx[c]) * (float)sumi + (wr[r]->m * dx[c]) * (float)sumx;
        } else {
          acc[r][c] += (wr[r]->d * dx[c]) * (float)sumi;
        }
      }
  }
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 2; c++) out[r][c] = acc[r][c];
}

// Q4_K / Q5_K against Q8_K rows: vec_dot_q4_K_q8_K_portable's sums for a 2×2 tile.
KILN_QDOT_TARGET void tile_q4_K(DType t, const uint8_t* const w[2], const uint8_t* const x[2], int64_t K, float out[2][2]) {
  float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  for (int64_t b = 0; b < K / QK_K; b++) {
    const block_q4_K* hw[2] = {&k4_header(t, w[0], b), &k4_header(t, w[1], b)};
    const block_q8_K* xb[2] = {(const block_q8_K*)x[0] + b, (const block_q8_K*)x[1] + b};
    uint8_t sc[2][8], mn[2][8];
    for (int r = 0; r < 2; r++) q4_K_scales(hw[r]->scales, sc[r], mn[r]);
    int sumi[2][2] = {{0, 0}, {0, 0}};
    for (int j = 0; j < 4; j++) {
      int8x16_t v0[4], v1[4];
      k4_levels(t, w[0], b, j, v0);
      k4_levels(t, w[1], b, j, v1);
      const int8_t* y0 = xb[0]->qs + 64 * j;
      const int8_t* y1 = xb[1]->qs + 64 * j;
      int32_t lo[4], hi[4];
      vst1q_s32(lo, mmla16(mmla16(vdupq_n_s32(0), v0[0], v1[0], vld1q_s8(y0), vld1q_s8(y1)), v0[1], v1[1],
                           vld1q_s8(y0 + 16), vld1q_s8(y1 + 16)));
      vst1q_s32(hi, mmla16(mmla16(vdupq_n_s32(0), v0[2], v1[2], vld1q_s8(y0 + 32), vld1q_s8(y1 + 32)), v0[3], v1[3],
                           vld1q_s8(y0 + 48), vld1q_s8(y1 + 48)));
      for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) sumi[r][c] += sc[r][2 * j] * lo[2 * r + c] + sc[r][2 * j + 1] * hi[2 * r + c];
    }
    for (int r = 0; r < 2; r++)
      for (int c = 0; c < 2; c++) {
        const int summ = k_quant_min_sum(mn[r], xb[c]->bsums);
        acc[r][c] += xb[c]->d * (f16_to_f32(hw[r]->d) * (float)sumi[r][c]) -
                     xb[c]->d * (f16_to_f32(hw[r]->dmin) * (float)summ);
      }
  }
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 2; c++) out[r][c] = acc[r][c];
}

// Q6_K's levels less 32 of the 16-element sub-blocks 8h + 2r + i (r = 0..3) of half h, i = 0..1:
// as in qdot_neon.h's vec_dot_q6_K_q8_K.
KILN_QDOT_TARGET inline void q6_levels(const block_q6_K& q, int h, int i, int8x16_t u[4]) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
  const uint8_t* ql = q.ql + 64 * h;
  const uint8x16_t a = vld1q_u8(ql + 16 * i), c = vld1q_u8(ql + 32 + 16 * i), hb = vld1q_u8(q.qh + 32 * h + 16 * i);
  const uint8x16_t v[4] = {
      vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m2), 4)),
      vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4)),
      vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m2), 4)),
      vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
  };
  for (int r = 0; r < 4; r++) u[r] = vsubq_s8(vreinterpretq_s8_u8(v[r]), vdupq_n_s8(32));
}

// Q6_K against Q8_K rows: vec_dot_q6_K_q8_K_portable's sums for a 2×2 tile.
KILN_QDOT_TARGET void tile_q6_K(const uint8_t* const w[2], const uint8_t* const x[2], int64_t K, float out[2][2]) {
  float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  for (int64_t b = 0; b < K / QK_K; b++) {
    const block_q6_K* wb[2] = {(const block_q6_K*)w[0] + b, (const block_q6_K*)w[1] + b};
    const block_q8_K* xb[2] = {(const block_q8_K*)x[0] + b, (const block_q8_K*)x[1] + b};
    int sumi[2][2] = {{0, 0}, {0, 0}};
    for (int h = 0; h < 2; h++)
      for (int i = 0; i < 2; i++) {
        int8x16_t u0[4], u1[4];
        q6_levels(*wb[0], h, i, u0);
        q6_levels(*wb[1], h, i, u1);
        for (int r = 0; r < 4; r++) {
          const int j = 8 * h + 2 * r + i;  // sub-block of 16
          const int8x16_t y0 = vld1q_s8(xb[0]->qs + 16 * j), y1 = vld1q_s8(xb[1]->qs + 16 * j);
          // 16 elements: one mmla16 without its second half is two smmla over 8 + 8.
          int32_t s[4];
          vst1q_s32(s, mmla16(vdupq_n_s32(0), u0[r], u1[r], y0, y1));
          for (int rr = 0; rr < 2; rr++)
            for (int c = 0; c < 2; c++) sumi[rr][c] += wb[rr]->scales[j] * s[2 * rr + c];
        }
      }
    for (int r = 0; r < 2; r++)
      for (int c = 0; c < 2; c++) acc[r][c] += xb[c]->d * (f16_to_f32(wb[r]->d) * (float)sumi[r][c]);
  }
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 2; c++) out[r][c] = acc[r][c];
}

}  // namespace
}  // namespace qdot_i8mm

// out (N, M) columns [m0, m1) for quantized activation rows xq (N rows of x_row bytes). False for a
// type without tiles here (the caller keeps its vec_dot loop).
bool qgemm_neon_i8mm(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const bool k_quant = dt == DType::Q4_K || dt == DType::Q5_K;
  if (!(dt == DType::Q4_0 || dt == DType::Q8_0 || dt == DType::Q5_0 || dt == DType::Q5_1 || k_quant ||
        dt == DType::Q6_K))
    return false;
  QuantVecDot* one = quant_vec_dot_neon(dt, true);
  const size_t w_row = dtype_bytes(dt, K);
  const uint8_t* wb = (const uint8_t*)w;
  const int64_t n_pairs = N & ~(int64_t)1;
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) {
    const uint8_t* const wr[2] = {wb + w_row * (size_t)m, wb + w_row * (size_t)(m + 1)};
    for (int64_t n = 0; n < n_pairs; n += 2) {
      const uint8_t* const xr[2] = {xq + x_row * (size_t)n, xq + x_row * (size_t)(n + 1)};
      float t[2][2];
      if (k_quant) qdot_i8mm::tile_q4_K(dt, wr, xr, K, t);
      else if (dt == DType::Q6_K) qdot_i8mm::tile_q6_K(wr, xr, K, t);
      else qdot_i8mm::tile32(dt, wr, xr, K, t);
      for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) out[(n + c) * M + m + r] = t[r][c] + (bias ? bias[m + r] : 0.f);
    }
    for (int64_t n = n_pairs; n < N; n++)
      for (int r = 0; r < 2; r++)
        out[n * M + m + r] = one(wr[r], xq + x_row * (size_t)n, K) + (bias ? bias[m + r] : 0.f);
  }
  for (; m < m1; m++)
    for (int64_t n = 0; n < N; n++)
      out[n * M + m] = one(wb + w_row * (size_t)m, xq + x_row * (size_t)n, K) + (bias ? bias[m] : 0.f);
  return true;
}

}  // namespace kiln

#endif  // KILN_ARM64
