// ggml block quantization types (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q8_K): one table row per type, ggml's
// type_traits style. Q8_K quantizes activations for the K-quant dot products; files hold the others.
// The row kernels reproduce ggml's reference quantizers (quantize_row_*_ref) bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kiln {

enum class QuantType : int { Q4_0, Q8_0, Q4_K, Q6_K, Q8_K, Q5_0, Q5_1, Q5_K, COUNT };

using QuantizeRowFn = void (*)(const float* x, uint8_t* y, int64_t k);  // k: a multiple of block
using DequantizeRowFn = void (*)(const uint8_t* x, float* y, int64_t k);

struct QuantTypeInfo {
  const char* name;      // "q8_0": what the bindings accept
  int ggml_id;           // ggml_type value written in GGUF
  int block;             // elements per block
  int block_bytes;       // bytes per block
  QuantizeRowFn quantize_row;
  DequantizeRowFn dequantize_row;
};

const QuantTypeInfo& quant_type_info(QuantType t);
// False when `name` is not a quant type.
bool quant_type_from_name(const char* name, QuantType* out);

// f32 -> IEEE half, round to nearest even (subnormals, overflow to inf, quiet NaN): what ggml's
// GGML_FP32_TO_FP16 computes.
uint16_t f32_to_f16_rne(float f);

// Quantizes `rows` rows of `cols` floats (cols % block == 0) on up to `nth` threads.
void quantize_rows(QuantType t, const float* src, uint8_t* dst, int64_t rows, int64_t cols, int nth);
void dequantize_rows(QuantType t, const uint8_t* src, float* dst, int64_t rows, int64_t cols, int nth);

}  // namespace kiln
