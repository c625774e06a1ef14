// The quantized dot products on plain ARM64 NEON (qdot_neon.h's bodies; int8 products as vmull_s8
// widened pairwise into 32-bit lanes: each 16-bit product fits, -128·-128 included), and the table
// that picks them, or their sdot builds (qdot_neon_dotprod.cc), for qmatmul.cc.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include <arm_neon.h>

#include "cpu/qweights.h"

#define KILN_QDOT_TARGET
#define KILN_QDOT_NS qdot_neon
#define KILN_QDOT_SDOT 0

#include "cpu/qdot_neon.h"

namespace kiln {

// qdot_neon_dotprod.cc
QuantVecDot* quant_vec_dot_neon_dotprod(DType t);

QuantVecDot* quant_vec_dot_neon(DType t, bool dotprod) {
  if (dotprod) return quant_vec_dot_neon_dotprod(t);
  return qdot_neon::vec_dot_of(t);
}

}  // namespace kiln

#endif  // KILN_ARM64
