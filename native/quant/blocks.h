// ggml's block layouts, byte for byte (FORMATS.md, "ggml block quantization"): what GGUF files hold
// and what the quantized matmul kernels read. Scales are IEEE halves stored as raw bits.
#pragma once
#include <cstdint>

namespace kiln {

constexpr int QK4_0 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_0 = 32;
constexpr int QK_K = 256;        // super-block of the K-quants
constexpr int K_SCALE_SIZE = 12;  // Q4_K: 8 six-bit scales + 8 six-bit mins, packed

#pragma pack(push, 1)
// x = d * (q - 8), q in 0..15; low nibbles hold elements 0..15, high nibbles 16..31.
struct block_q4_0 {
  uint16_t d;
  uint8_t qs[QK4_0 / 2];
};
// x = d * (q - 16), q in 0..31: low 4 bits in qs (as Q4_0's nibbles), bit 4 of element j in bit j
// of qh (little-endian uint32).
struct block_q5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK5_0 / 2];
};
// x = d * q + m, q in 0..31, packed as Q5_0.
struct block_q5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
// x = d * q, q in -127..127.
struct block_q8_0 {
  uint16_t d;
  int8_t qs[QK8_0];
};
// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], q in 0..15; sc/m six bits, packed in scales.
struct block_q4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qs[QK_K / 2];
};
// As Q4_K with 5-bit q (0..31): the low 4 bits in qs as Q4_K's nibbles; bit 4 of element 64i + l
// in bit 2i of qh[l], of element 64i + 32 + l in bit 2i + 1.
struct block_q5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
// 16 sub-blocks of 16: x = d * sc[j] * (q - 32), q six bits: low 4 in ql, high 2 in qh.
struct block_q6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
// Activations for K-quant dot products: x = d * q, with per-16 sums of q (bsums) for the mins.
struct block_q8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};
#pragma pack(pop)

// Q5_0 / Q5_1 levels (0..31) of elements j and j + 16 of a block: low 4 bits from qs[j]'s nibbles,
// bit 4 from bits j and j + 16 of qh (the block's qh bytes as a little-endian uint32).
inline void q5_levels(const uint8_t* qs, uint32_t qh, int j, int* lo, int* hi) {
  *lo = (qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
  *hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
}

// The inverse: levels xi0 (element j) and xi1 (element j + 16) into qs[j] and qh.
inline void q5_store_levels(uint8_t* qs, uint32_t* qh, int j, uint8_t xi0, uint8_t xi1) {
  qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
  *qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
  *qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
}

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 is 18 bytes");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 is 22 bytes");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 is 24 bytes");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 is 34 bytes");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K is 176 bytes");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K is 144 bytes");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K is 210 bytes");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K is 292 bytes");

}  // namespace kiln
