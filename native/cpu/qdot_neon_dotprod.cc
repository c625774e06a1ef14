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
#define KILN_QDOT_SDOT 1

#include "cpu/qdot_neon.h"

namespace kiln {

QuantVecDot* quant_vec_dot_neon_dotprod(DType t) {
  return qdot_dotprod::vec_dot_of(t);
}

}  // namespace kiln

#endif  // KILN_ARM64
