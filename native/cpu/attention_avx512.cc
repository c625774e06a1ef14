// Attention on AVX-512 (16 lanes): bidir_attention_simd.h's and paged_attention_simd.h's bodies
// over the vector type below.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include "cpu/vec_avx512.h"
#include "cpu/bidir_attention_simd.h"
#include "cpu/paged_attention_simd.h"

namespace kiln {
void bidir_attention_avx512(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                            int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  avx512::bidir_attention(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
}
void attention_avx512(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                    const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH, int64_t NKV, int64_t BS, int64_t MB,
                    int64_t HS, float scale, float* scratch, int ith, int nth) {
  avx512::attention(out, q, kcache, vcache, pos, slot, blocks, N, NH, NKV, BS, MB, HS, scale, scratch, ith, nth);
}
}  // namespace kiln

#endif  // KILN_X86
