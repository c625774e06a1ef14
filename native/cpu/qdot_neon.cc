// The quantized dot products on plain ARM64 NEON (qdot_neon.h's bodies; int8 products as vmull_s8
// widened pairwise into 32-bit lanes: each 16-bit product fits, -128·-128 included), and the table
// that picks them, or their sdot builds (qdot_neon_dotprod.cc), for qmatmul.cc.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include <arm_neon.h>

#include "cpu/qweights.h"

#define KILN_QDOT_TARGET
#define KILN_QDOT_NS qdot_neon

namespace kiln {
namespace qdot_neon {
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  return vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
}
}  // namespace qdot_neon
}  // namespace kiln

#include "cpu/qdot_neon.h"

namespace kiln {

// qdot_neon_dotprod.cc
QuantVecDot* quant_vec_dot_neon_dotprod(DType t);

QuantVecDot* quant_vec_dot_neon(DType t, bool dotprod) {
  if (dotprod) return quant_vec_dot_neon_dotprod(t);
  switch (t) {
    case DType::Q4_0:
      return qdot_neon::vec_dot_q4_0_q8_0;
    case DType::Q8_0:
      return qdot_neon::vec_dot_q8_0_q8_0;
    case DType::Q5_0:
      return qdot_neon::vec_dot_q5_0_q8_0;
    case DType::Q5_1:
      return qdot_neon::vec_dot_q5_1_q8_0;
    case DType::Q4_K:
      return qdot_neon::vec_dot_q4_K_q8_K;
    case DType::Q5_K:
      return qdot_neon::vec_dot_q5_K_q8_K;
    case DType::Q6_K:
      return qdot_neon::vec_dot_q6_K_q8_K;
    default:
      return nullptr;
  }
}

}  // namespace kiln

#endif  // KILN_ARM64
