// The ONNX export's weight quantizers (src/core/export/onnx/quantize-weights.ts is their reference
// twin, bit for bit): int4 blocks of 32 along K for DequantizeLinear, int4 columns for
// MatMulNBits, int8 columns for MatMulInteger. Plain loops, no N-API (addon_int4.cc checks the
// arguments: every index these read or write is in bounds once it has).
#pragma once

#include <cstdint>

namespace kiln {

/** A (K, M) float32 matrix: element (k, m) at data[k · k_stride + m · m_stride]. */
struct StridedF32 {
  const float* data;
  int64_t K, M, k_stride, m_stride;
};

constexpr int64_t kInt4Block = 32;

// packed (⌈K · M / 2⌉) bytes: q (K, M) row-major, two a byte, element i in the low nibble when i
// is even (q in [−7, 7], two's complement); scale (⌈K / 32⌉, M): max |w| / 7 over each block of a
// column, 1 where that is 0.
void quantize_int4_blocks(const StridedF32& w, uint8_t* packed, float* scale);

// packed (M, ⌈K / 32⌉, 16) bytes: per column, its blocks along K, u = q + 8 two a byte (low nibble
// first), rows past K 8; scale (M · ⌈K / 32⌉), column-major by block.
void quantize_int4_columns(const StridedF32& w, uint8_t* packed, float* scale);

// q (K, M) int8 (is_signed: symmetric, zero 0) or uint8 (with a zero point), scale and zero (M).
void quantize_int8_columns(const StridedF32& w, bool is_signed, uint8_t* q, float* scale, uint8_t* zero);

}  // namespace kiln
