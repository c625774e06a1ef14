// Block-quantized weights (Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) as the matmul and embedding kernels see them: the
// activation format each is multiplied with (ggml's vec_dot_type), the dot product of one weight row
// with one quantized activation row, and dequantization for lookups and the reference twin.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "quant/quant_types.h"
#include "tensor.h"

namespace kiln {

// Σ_k w[k]·x[k] over one weight row and one quantized activation row of k elements.
using QuantVecDot = float(const uint8_t* w, const uint8_t* x, int64_t k);

struct QuantWeightKernels {
  QuantType act;             // Q8_0 for the 32-blocks, Q8_K (256-blocks with sums) for the K-quants
  int64_t act_block;         // elements per activation block
  size_t act_block_bytes;    // bytes per activation block
  // Activation row (k floats) -> blocks; k a multiple of act_block.
  void (*quantize_act)(const float* x, uint8_t* y, int64_t k);
  QuantVecDot* vec_dot;
  // Weight row -> k floats.
  void (*dequantize)(const uint8_t* w, float* y, int64_t k);
};

// Q4_K's eight (scale, min) pairs, six bits each, packed in 12 bytes (ggml's get_scale_min_k4).
inline void q4_K_scales(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; j++) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The same 8 scales and 8 mins as 16 bytes (scales in bytes 0..7, mins in 8..15), unpacked with
// 32-bit word operations: what the vector kernels load as one 128-bit vector. (q4_K_scales stays
// the byte-by-byte form the portable twin reads, so the bit-for-bit tests between the two compare
// independent unpackings.)
inline void q4_K_scales_mins_words(const uint8_t* packed, uint32_t u[4]) {
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  std::memcpy(u, packed, 12);
  u[3] = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kLow2) << 4);  // mins 4..7
  const uint32_t mins03 = u[1] & kLow6;
  u[1] = (u[2] & kLow4) | (((u[0] >> 6) & kLow2) << 4);  // scales 4..7
  u[2] = mins03;
  u[0] &= kLow6;  // scales 0..3
}

// Null when `t` is not a block type, or when its kernels are not available in this build.
const QuantWeightKernels* quant_weight_kernels(DType t);

// One weight row of any dtype (float or block) as k floats.
void weight_row_to_f32(const void* w, DType t, int64_t row, int64_t k, float* out);

// Portable dot products (the reference for the AVX2 ones), activation blocks as above.
float vec_dot_q4_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q8_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q4_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q6_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q5_0_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q5_1_q8_0_portable(const uint8_t* w, const uint8_t* x, int64_t k);
float vec_dot_q5_K_q8_K_portable(const uint8_t* w, const uint8_t* x, int64_t k);

// Quantized matmul: out (N,M) = x (N,K) · wᵀ + bias for block weights w (M,K). Called by all nth
// threads; activations are quantized once per step (split over threads when N > 1).
void matmul_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                  int64_t M, const Scratch& scratch, int ith, int nth);
ScratchSize matmul_quant_scratch(DType dt, int64_t N, int64_t K);

}  // namespace kiln
