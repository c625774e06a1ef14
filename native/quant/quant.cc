// Q8_0 / Q4_0 row kernels (ggml's reference quantizers, same float ops in the same order) and the
// type table; the K-quant kernels live one family per file (q4_k.cc, q6_k.cc, q8_k.cc). Built with -ffp-contract=off so no multiply-add is fused where ggml's is not.
#include "quant/quant_types.h"

#include <cmath>
#include <cstring>

#include "kernels.h"
#include "quant/k_quants.h"
#include "tensor.h"
#include "threadpool.h"

namespace kiln {

uint16_t f32_to_f16_rne(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t a = x & 0x7fffffff;
  if (a > 0x7f800000) return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));  // NaN stays NaN
  if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  // >= 65520 rounds to inf
  if (a < 0x38800000) {
    // Below 2^-14: a half subnormal in units of 2^-24; f32 subnormals are far below half a unit.
    uint32_t e = a >> 23;
    if (e == 0) return (uint16_t)sign;
    uint32_t m = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;  // >= 14
    if (shift > 24) return (uint16_t)sign;
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
  }
  uint32_t h = ((((a >> 23) - 112) << 10) | ((a & 0x7fffff) >> 13));
  uint32_t rem = a & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  // a carry moves into the exponent correctly
  return (uint16_t)(sign | h);
}

// ggml stores a float into an int8_t; that conversion is undefined for NaN / out-of-range values
// (reachable only when 1/d overflows for tiny blocks). x86 (cvttss2si) yields 0x80000000, whose
// low byte is 0: do that explicitly, so the result is defined and matches ggml on x86.
static inline int8_t f32_to_i8_like_x86(float v) {
  if (!(v > -2147483648.f && v < 2147483648.f)) return 0;
  return (int8_t)(uint8_t)(uint32_t)(int32_t)v;
}

static void store_f16(uint8_t* p, float d) {
  uint16_t h = f32_to_f16_rne(d);
  p[0] = (uint8_t)(h & 0xff);
  p[1] = (uint8_t)(h >> 8);
}

static float load_f16(const uint8_t* p) { return f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

// quantize_row_q8_0_ref: d = amax / 127, q = roundf(x * (1/d)).
static void quantize_row_q8_0(const float* x, uint8_t* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    float amax = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      const float av = std::fabs(v);
      amax = amax > av ? amax : av;  // ggml's MAX(amax, fabsf(v))
    }
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* b = y + i * 34;
    store_f16(b, d);
    for (int j = 0; j < qk; j++) {
      const float x0 = x[i * qk + j] * id;
      b[2 + j] = (uint8_t)f32_to_i8_like_x86(std::roundf(x0));
    }
  }
}

static void dequantize_row_q8_0(const uint8_t* x, float* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const uint8_t* b = x + i * 34;
    const float d = load_f16(b);
    for (int j = 0; j < qk; j++) y[i * qk + j] = (float)(int8_t)b[2 + j] * d;
  }
}

// quantize_row_q4_0_ref: d = (signed value of largest magnitude) / -8, q = min(15, trunc(x/d + 8.5)).
// The value of largest magnitude, sign kept (the first of equals), as Q4_0's and Q5_0's scales use it.
static float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; j++) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

static void quantize_row_q4_0(const float* x, uint8_t* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const float max = signed_absmax(x + i * qk, qk);
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* b = y + i * 18;
    store_f16(b, d);
    for (int j = 0; j < qk / 2; j++) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const int8_t t0 = f32_to_i8_like_x86(x0 + 8.5f);
      const int8_t t1 = f32_to_i8_like_x86(x1 + 8.5f);
      const uint8_t xi0 = (uint8_t)(15 < t0 ? 15 : t0);  // ggml's MIN(15, (int8_t)(x0 + 8.5f))
      const uint8_t xi1 = (uint8_t)(15 < t1 ? 15 : t1);
      b[2 + j] = (uint8_t)(xi0 | (xi1 << 4));
    }
  }
}

static void dequantize_row_q4_0(const uint8_t* x, float* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const uint8_t* b = x + i * 18;
    const float d = load_f16(b);
    for (int j = 0; j < qk / 2; j++) {
      const int x0 = (b[2 + j] & 0x0F) - 8;
      const int x1 = (b[2 + j] >> 4) - 8;
      y[i * qk + j] = (float)x0 * d;
      y[i * qk + j + qk / 2] = (float)x1 * d;
    }
  }
}

// Q5_0 and Q5_1 keep bit 4 of element j in bit j of a little-endian uint32 (blocks.h's q5_levels).
static uint32_t load_qh(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void store_qh(uint8_t* p, uint32_t qh) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(qh >> (8 * i));
}

static void quantize_row_q5_0(const float* x, uint8_t* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const float max = signed_absmax(x + i * qk, qk);
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* b = y + i * 22;
    store_f16(b, d);
    uint32_t qh = 0;
    for (int j = 0; j < qk / 2; j++) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const int8_t t0 = f32_to_i8_like_x86(x0 + 16.5f);
      const int8_t t1 = f32_to_i8_like_x86(x1 + 16.5f);
      const uint8_t xi0 = (uint8_t)(31 < t0 ? 31 : t0);  // ggml's MIN(31, (int8_t)(x0 + 16.5f))
      const uint8_t xi1 = (uint8_t)(31 < t1 ? 31 : t1);
      q5_store_levels(b + 6, &qh, j, xi0, xi1);
    }
    store_qh(b + 2, qh);
  }
}

static void dequantize_row_q5_0(const uint8_t* x, float* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const uint8_t* b = x + i * 22;
    const float d = load_f16(b);
    const uint32_t qh = load_qh(b + 2);
    for (int j = 0; j < qk / 2; j++) {
      int x0, x1;
      q5_levels(b + 6, qh, j, &x0, &x1);
      y[i * qk + j] = (float)(x0 - 16) * d;
      y[i * qk + j + qk / 2] = (float)(x1 - 16) * d;
    }
  }
}

static void quantize_row_q5_1(const float* x, uint8_t* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    float min = 3.402823466e+38f;  // FLT_MAX
    float max = -3.402823466e+38f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* b = y + i * 24;
    store_f16(b, d);
    store_f16(b + 2, min);
    uint32_t qh = 0;
    for (int j = 0; j < qk / 2; j++) {
      const float x0 = (x[i * qk + 0 + j] - min) * id;
      const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
      const uint8_t xi0 = (uint8_t)f32_to_i8_like_x86(x0 + 0.5f);  // ggml's (uint8_t)(x0 + 0.5f)
      const uint8_t xi1 = (uint8_t)f32_to_i8_like_x86(x1 + 0.5f);
      q5_store_levels(b + 8, &qh, j, xi0, xi1);
    }
    store_qh(b + 4, qh);
  }
}

static void dequantize_row_q5_1(const uint8_t* x, float* y, int64_t k) {
  const int qk = 32;
  for (int64_t i = 0; i < k / qk; i++) {
    const uint8_t* b = x + i * 24;
    const float d = load_f16(b);
    const float m = load_f16(b + 2);
    const uint32_t qh = load_qh(b + 4);
    for (int j = 0; j < qk / 2; j++) {
      int x0, x1;
      q5_levels(b + 8, qh, j, &x0, &x1);
      y[i * qk + j] = (float)x0 * d + m;
      y[i * qk + j + qk / 2] = (float)x1 * d + m;
    }
  }
}

static const QuantTypeInfo kQuantTypes[] = {
    {"q4_0", 2, 32, 18, quantize_row_q4_0, dequantize_row_q4_0},
    {"q8_0", 8, 32, 34, quantize_row_q8_0, dequantize_row_q8_0},
    {"q4_k", 12, QK_K, sizeof(block_q4_K), quantize_row_q4_K, dequantize_row_q4_K},
    {"q6_k", 14, QK_K, sizeof(block_q6_K), quantize_row_q6_K, dequantize_row_q6_K},
    {"q8_k", 15, QK_K, sizeof(block_q8_K), quantize_row_q8_K, dequantize_row_q8_K},
    {"q5_0", 6, 32, 22, quantize_row_q5_0, dequantize_row_q5_0},
    {"q5_1", 7, 32, 24, quantize_row_q5_1, dequantize_row_q5_1},
    {"q5_k", 13, QK_K, sizeof(block_q5_K), quantize_row_q5_K, dequantize_row_q5_K},
};
static_assert(sizeof(kQuantTypes) / sizeof(kQuantTypes[0]) == (size_t)QuantType::COUNT,
              "kQuantTypes needs one row per QuantType, in enum order");

const QuantTypeInfo& quant_type_info(QuantType t) { return kQuantTypes[(int)t]; }

bool quant_type_from_name(const char* name, QuantType* out) {
  for (int i = 0; i < (int)QuantType::COUNT; i++) {
    if (std::strcmp(kQuantTypes[i].name, name) == 0) {
      *out = (QuantType)i;
      return true;
    }
  }
  return false;
}

// Runs fn(r) for every row, rows split evenly over at most nth threads.
template <typename F>
static void for_each_row(int64_t rows, int nth, F&& fn) {
  if (nth < 1) nth = 1;
  if ((int64_t)nth > rows) nth = rows < 1 ? 1 : (int)rows;
  ThreadPool::global().run(nth, [&](int ith) {
    int64_t r0, r1;
    split_range(rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) fn(r);
  });
}

void quantize_rows(QuantType t, const float* src, uint8_t* dst, int64_t rows, int64_t cols, int nth) {
  const QuantTypeInfo& q = quant_type_info(t);
  const int64_t row_bytes = cols / q.block * q.block_bytes;
  for_each_row(rows, nth, [&](int64_t r) { q.quantize_row(src + r * cols, dst + r * row_bytes, cols); });
}

void dequantize_rows(QuantType t, const uint8_t* src, float* dst, int64_t rows, int64_t cols, int nth) {
  const QuantTypeInfo& q = quant_type_info(t);
  const int64_t row_bytes = cols / q.block * q.block_bytes;
  for_each_row(rows, nth, [&](int64_t r) { q.dequantize_row(src + r * row_bytes, dst + r * cols, cols); });
}

}  // namespace kiln
