// Elementwise ops on ARM64 NEON: elementwise_simd.h's bodies over vec_neon.h's vector type.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include "cpu/vec_neon.h"
#include "cpu/elementwise_simd.h"

namespace kiln {
void gelu_erf_neon(float* out, const float* x, int64_t n) { neon::gelu_erf(out, x, n); }
void silu_mul_neon(float* out, const float* g, const float* u, int64_t n) { neon::silu_mul(out, g, u, n); }
}  // namespace kiln

#endif  // KILN_ARM64
