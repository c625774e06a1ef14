// bidir_attention on AVX2+FMA (8 lanes): bidir_attention_simd.h's body over the vector type below.
#include "cpu/vec_avx2.h"
#include "cpu/bidir_attention_simd.h"

namespace kiln {
void bidir_attention_avx2(float* out, const float* q, const float* k, const float* v, const int32_t* pos, int64_t N,
                          int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith, int nth) {
  avx2::bidir_attention(out, q, k, v, pos, N, NH, NKV, HS, scale, scratch, ith, nth);
}
}  // namespace kiln
