// Dot products of one block-quantized weight row with one quantized activation row, plain C++.
// Integer sums per block are exact; each block's sum is scaled and added in block order, the same
// order the AVX2 kernels use per lane group, so the two agree to float rounding.
#include <cstring>

#include "cpu/qweights.h"
#include "quant/blocks.h"

namespace kiln {

static inline float half(uint16_t h) { return f16_to_f32(h); }

// Q4_0 × Q8_0: Σ_blocks d_w·d_x · Σ (q4 − 8)·q8
float vec_dot_q4_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q4_0* wb = (const block_q4_0*)w;
  const block_q8_0* xb = (const block_q8_0*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK4_0; b++) {
    int sumi = 0;
    for (int j = 0; j < QK4_0 / 2; j++) {
      sumi += ((wb[b].qs[j] & 0x0F) - 8) * xb[b].qs[j];
      sumi += ((wb[b].qs[j] >> 4) - 8) * xb[b].qs[j + QK4_0 / 2];
    }
    acc += (half(wb[b].d) * half(xb[b].d)) * (float)sumi;
  }
  return acc;
}

// Q8_0 × Q8_0: Σ_blocks d_w·d_x · Σ q8·q8
float vec_dot_q8_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q8_0* wb = (const block_q8_0*)w;
  const block_q8_0* xb = (const block_q8_0*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK8_0; b++) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; j++) sumi += wb[b].qs[j] * xb[b].qs[j];
    acc += (half(wb[b].d) * half(xb[b].d)) * (float)sumi;
  }
  return acc;
}

// Bit 4 of element j (Q5_0, Q5_1): bit j of the block's little-endian qh.
static inline uint32_t load_qh(const uint8_t* p) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  return qh;
}

// Q5_0 × Q8_0: Σ_blocks d_w·d_x · Σ (q5 − 16)·q8
float vec_dot_q5_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q5_0* wb = (const block_q5_0*)w;
  const block_q8_0* xb = (const block_q8_0*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK5_0; b++) {
    const uint32_t qh = load_qh(wb[b].qh);
    int sumi = 0;
    for (int j = 0; j < QK5_0 / 2; j++) {
      int lo, hi;
      q5_levels(wb[b].qs, qh, j, &lo, &hi);
      sumi += (lo - 16) * xb[b].qs[j] + (hi - 16) * xb[b].qs[j + QK5_0 / 2];
    }
    acc += (half(wb[b].d) * half(xb[b].d)) * (float)sumi;
  }
  return acc;
}

// Q5_1 × Q8_0: Σ_blocks d_w·d_x · Σ q5·q8 + m_w·d_x · Σ q8 (ggml pairs Q5_1 with Q8_1, whose
// stored sum is rounded to f16; kiln's activations are Q8_0 and the sum is exact)
float vec_dot_q5_1_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q5_1* wb = (const block_q5_1*)w;
  const block_q8_0* xb = (const block_q8_0*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK5_1; b++) {
    const uint32_t qh = load_qh(wb[b].qh);
    int sumi = 0, sumx = 0;
    for (int j = 0; j < QK5_1 / 2; j++) {
      int lo, hi;
      q5_levels(wb[b].qs, qh, j, &lo, &hi);
      sumi += lo * xb[b].qs[j] + hi * xb[b].qs[j + QK5_1 / 2];
      sumx += xb[b].qs[j] + xb[b].qs[j + QK5_1 / 2];
    }
    const float dx = half(xb[b].d);
    acc += (half(wb[b].d) * dx) * (float)sumi + (half(wb[b].m) * dx) * (float)sumx;
  }
  return acc;
}

// Q5_K × Q8_K: as Q4_K with 5-bit quants (bit 4 from qh).
float vec_dot_q5_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q5_K* wb = (const block_q5_K*)w;
  const block_q8_K* xb = (const block_q8_K*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK_K; b++) {
    uint8_t sc[8], mn[8];
    q4_K_scales(wb[b].scales, sc, mn);
    int sumi = 0, summ = 0;
    for (int j = 0; j < 4; j++) {  // 64 elements: low nibbles sub-block 2j (qh bit 2j), high 2j+1
      const uint8_t* q = wb[b].qs + 32 * j;
      const int8_t* y = xb[b].qs + 64 * j;
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; l++) {
        lo += ((q[l] & 0xF) | (((wb[b].qh[l] >> (2 * j)) & 1) << 4)) * y[l];
        hi += ((q[l] >> 4) | (((wb[b].qh[l] >> (2 * j + 1)) & 1) << 4)) * y[l + 32];
      }
      sumi += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    for (int j = 0; j < 8; j++) summ += mn[j] * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    acc += xb[b].d * (half(wb[b].d) * (float)sumi) - xb[b].d * (half(wb[b].dmin) * (float)summ);
  }
  return acc;
}

// Q4_K × Q8_K: per super-block, d·Σ_j sc_j·Σ q4·q8 − dmin·Σ_j m_j·Σ q8 (the sums of q8 are bsums).
float vec_dot_q4_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q4_K* wb = (const block_q4_K*)w;
  const block_q8_K* xb = (const block_q8_K*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK_K; b++) {
    uint8_t sc[8], mn[8];
    q4_K_scales(wb[b].scales, sc, mn);
    int sumi = 0, summ = 0;
    for (int j = 0; j < 4; j++) {  // 64 elements: low nibbles are sub-block 2j, high nibbles 2j+1
      const uint8_t* q = wb[b].qs + 32 * j;
      const int8_t* y = xb[b].qs + 64 * j;
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; l++) {
        lo += (q[l] & 0xF) * y[l];
        hi += (q[l] >> 4) * y[l + 32];
      }
      sumi += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    for (int j = 0; j < 8; j++) summ += mn[j] * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    acc += xb[b].d * (half(wb[b].d) * (float)sumi) - xb[b].d * (half(wb[b].dmin) * (float)summ);
  }
  return acc;
}

// Q6_K × Q8_K: per super-block, d·Σ_j sc_j·Σ (q6 − 32)·q8 over 16 sub-blocks of 16.
float vec_dot_q6_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q6_K* wb = (const block_q6_K*)w;
  const block_q8_K* xb = (const block_q8_K*)x;
  float acc = 0.f;
  for (int64_t b = 0; b < k / QK_K; b++) {
    int8_t q[QK_K];
    for (int h = 0; h < 2; h++) {  // two halves of 128: ql 64 bytes, qh 32 bytes each
      const uint8_t* ql = wb[b].ql + 64 * h;
      const uint8_t* qh = wb[b].qh + 32 * h;
      int8_t* o = q + 128 * h;
      for (int l = 0; l < 32; l++) {
        o[l] = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        o[l + 32] = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        o[l + 64] = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        o[l + 96] = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      }
    }
    int sumi = 0;
    for (int j = 0; j < QK_K / 16; j++) {
      int s = 0;
      for (int l = 0; l < 16; l++) s += q[16 * j + l] * xb[b].qs[16 * j + l];
      sumi += wb[b].scales[j] * s;
    }
    acc += xb[b].d * (half(wb[b].d) * (float)sumi);
  }
  return acc;
}

}  // namespace kiln
