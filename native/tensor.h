// Tensors as the graph sees them: a dtype, a shape whose first dimension may follow the step's
// row count, and a pointer on the graph's device: placed weights, or activations and KV cache the
// device allocated.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kiln {

// One table per type (ggml style): name, elements per block and bytes per block declared once.
// Float types are blocks of one element; the ggml block types (native/quant/blocks.h) are weights
// only, read by the matmul and embedding kernels straight from the mapped file.
#define KILN_DTYPE_LIST(X)   \
  X(F32, "f32", 1, 4)        \
  X(F16, "f16", 1, 2)        \
  X(BF16, "bf16", 1, 2)      \
  X(I32, "i32", 1, 4)        \
  X(Q4_0, "q4_0", 32, 18)    \
  X(Q8_0, "q8_0", 32, 34)    \
  X(Q4_K, "q4_k", 256, 144)  \
  X(Q6_K, "q6_k", 256, 210)  \
  X(Q5_0, "q5_0", 32, 22)    \
  X(Q5_1, "q5_1", 32, 24)    \
  X(Q5_K, "q5_k", 256, 176)

enum class DType : int {
#define X(id, name, block, bytes) id,
  KILN_DTYPE_LIST(X)
#undef X
      COUNT
};

struct DTypeInfo {
  const char* name;
  int64_t block;       // elements per block (1 for float types)
  size_t block_bytes;  // bytes per block
};

inline const DTypeInfo& dtype_info(DType t) {
  static const DTypeInfo table[] = {
#define X(id, name, block, bytes) {name, block, bytes},
      KILN_DTYPE_LIST(X)
#undef X
  };
  static_assert(sizeof(table) / sizeof(table[0]) == (size_t)DType::COUNT, "dtype table out of step");
  return table[(int)t];
}

bool dtype_from_name(const std::string& name, DType* out);

inline bool is_block_quant(DType t) { return dtype_info(t).block > 1; }

// Bytes of `n` elements (n a multiple of the block size).
inline size_t dtype_bytes(DType t, int64_t n) {
  const DTypeInfo& d = dtype_info(t);
  return (size_t)(n / d.block) * d.block_bytes;
}

// How a tensor's first dimension is sized at run time.
enum class RowKind : int {
  Fixed = 0,   // shape is what it says (weights, KV cache, constants)
  Tokens = 1,  // dim 0 = number of token rows in this step (N)
  Out = 2,     // dim 0 = number of rows whose logits are wanted (R)
};

// External: bytes that came with the spec (mapped weights); Owned: memory the graph allocates;
// View: rows [view_row, view_row + shape[0]) of another fixed tensor (the chunked loss reads the
// head weight and writes its gradient a vocabulary chunk at a time), no memory of its own.
enum class Storage : int { External = 0, Owned = 1, View = 2 };

struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  RowKind rows = RowKind::Fixed;
  std::vector<int64_t> shape;  // for row-sized tensors, shape[0] is the maximum row count
  Storage storage = Storage::Owned;
  void* data = nullptr;        // External: host bytes until the device places them
  int64_t cur_rows = 0;        // shape[0] in the current step
  int view_of = -1;            // View: the tensor it is rows of
  int64_t view_row = 0;        // View: its first row there

  int64_t row_elems() const {
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); i++) n *= shape[i];
    return n;
  }
  int64_t elems() const { return (shape.empty() ? 1 : shape[0]) * row_elems(); }
  size_t nbytes() const { return dtype_bytes(dtype, elems()); }
  float* f32() const { return (float*)data; }
  int32_t* i32() const { return (int32_t*)data; }
};

// bf16 -> f32 is exact: the high 16 bits of an f32.
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half -> f32, exact for every input (subnormals, inf, nan).
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while ((man & 0x400) == 0);
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    u = sign | 0x7f800000 | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Reads element i of a weight row of any float dtype as f32.
inline float load_as_f32(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return ((const float*)p)[i];
    case DType::F16:
      return f16_to_f32(((const uint16_t*)p)[i]);
    case DType::BF16:
      return bf16_to_f32(((const uint16_t*)p)[i]);
    default:
      return 0.f;
  }
}

}  // namespace kiln
