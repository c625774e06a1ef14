// KILN_PROFILE=1: where a step's time goes, by op kind. Thread 0 times each node from its start to
// the end of the barrier after it (so a node's imbalance between threads counts as its own), and
// steps of one row per matmul (decode) are kept apart from the others (prefill, training).
// Off (the default), the device's step loop is untouched: the switch is read once.
#pragma once
#include <cstdint>

#include "ops/ops.h"

namespace kiln {

struct OpProfile {
  uint64_t ns[kOpCount] = {};
  uint64_t nodes[kOpCount] = {};
  uint64_t steps = 0;
};

bool op_profile_enabled();
// Adds one step's per-op nanoseconds to the decode or the prefill table.
void op_profile_add(bool decode, const uint64_t* ns, const uint64_t* nodes);
// Both tables, then cleared.
void op_profile_take(OpProfile* decode, OpProfile* prefill);

}  // namespace kiln
