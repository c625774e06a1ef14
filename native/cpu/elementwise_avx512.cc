// Elementwise ops on AVX512: elementwise_simd.h's bodies over vec_avx512.h's vector type.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include "cpu/vec_avx512.h"
#include "cpu/elementwise_simd.h"

namespace kiln {
void gelu_erf_avx512(float* out, const float* x, int64_t n) { avx512::gelu_erf(out, x, n); }
void silu_mul_avx512(float* out, const float* g, const float* u, int64_t n) { avx512::silu_mul(out, g, u, n); }
}  // namespace kiln

#endif  // KILN_X86
