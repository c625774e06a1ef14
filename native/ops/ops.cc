// Op names and input counts, from the op list.
#include "ops/ops.h"

namespace kiln {

static const OpInfo kOpInfo[] = {
#define KILN_X(id, op, nin, ...) {#op, nin},
    KILN_OP_LIST(KILN_X)
#undef KILN_X
};

const OpInfo& op_info(Op op) { return kOpInfo[(int)op]; }

bool op_from_name(const std::string& name, Op* out) {
  for (int i = 0; i < kOpCount; i++)
    if (name == kOpInfo[i].name) {
      *out = (Op)i;
      return true;
    }
  return false;
}

}  // namespace kiln
