// Elementwise ops on AVX2+FMA: elementwise_simd.h's bodies over vec_avx2.h's vector type.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include "cpu/vec_avx2.h"
#include "cpu/elementwise_simd.h"

namespace kiln {
void gelu_erf_avx2(float* out, const float* x, int64_t n) { avx2::gelu_erf(out, x, n); }
void silu_mul_avx2(float* out, const float* g, const float* u, int64_t n) { avx2::silu_mul(out, g, u, n); }
}  // namespace kiln

#endif  // KILN_X86
