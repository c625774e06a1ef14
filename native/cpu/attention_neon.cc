// Attention on ARM64 NEON (4 lanes): bidir_attention_simd.h's and paged_attention_simd.h's bodies
// over vec_neon.h's vector type.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include "cpu/vec_neon.h"
#include "cpu/bidir_attention_simd.h"
#include "cpu/paged_attention_simd.h"

namespace kiln {
void bidir_attention_neon(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                          int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  neon::bidir_attention(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
}
void attention_neon(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                    const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH, int64_t NKV, int64_t BS, int64_t MB,
                    int64_t HS, float scale, float* scratch, int ith, int nth) {
  neon::attention(out, q, kcache, vcache, pos, slot, blocks, N, NH, NKV, BS, MB, HS, scale, scratch, ith, nth);
}
}  // namespace kiln

#endif  // KILN_ARM64
