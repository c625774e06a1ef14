// The quantized dot products with ARMv8.2's sdot (FEAT_DotProd): qdot_neon.h's bodies compiled for
// it, picked by qdot_neon.cc when the CPU has it. Only this file's functions use the extension.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include <arm_neon.h>

#include "cpu/qweights.h"

#if defined(__clang__)
#define KILN_QDOT_TARGET __attribute__((target("dotprod")))
#else
#define KILN_QDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define KILN_QDOT_NS qdot_dotprod

namespace kiln {
namespace qdot_dotprod {
#if defined(__clang__)
// clang before 16 declares the sdot intrinsic only in files built for it as a whole
// (__ARM_FEATURE_DOTPROD); inline assembly follows the function's own target instead.
KILN_QDOT_TARGET static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
#else
KILN_QDOT_TARGET static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
#endif
}  // namespace qdot_dotprod
}  // namespace kiln

#include "cpu/qdot_neon.h"

namespace kiln {

QuantVecDot* quant_vec_dot_neon_dotprod(DType t) {
  switch (t) {
    case DType::Q4_0:
      return qdot_dotprod::vec_dot_q4_0_q8_0;
    case DType::Q8_0:
      return qdot_dotprod::vec_dot_q8_0_q8_0;
    case DType::Q5_0:
      return qdot_dotprod::vec_dot_q5_0_q8_0;
    case DType::Q5_1:
      return qdot_dotprod::vec_dot_q5_1_q8_0;
    case DType::Q4_K:
      return qdot_dotprod::vec_dot_q4_K_q8_K;
    case DType::Q5_K:
      return qdot_dotprod::vec_dot_q5_K_q8_K;
    case DType::Q6_K:
      return qdot_dotprod::vec_dot_q6_K_q8_K;
    default:
      return nullptr;
  }
}

}  // namespace kiln

#endif  // KILN_ARM64
