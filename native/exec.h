// One node on one thread: a node's tensors and params unpacked into its kernel's arguments.
#pragma once
#include <vector>

#include "kernels.h"
#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

// Calls `be`'s kernel for nd as thread ith of nth. `attention` is this step's attention scratch
// (nth × P floats); `scratch` this thread's view of the kernel scratch.
void exec_node(const Backend& be, const Node& nd, const std::vector<Tensor>& tensors, const Scratch& scratch,
               float* attention, int ith, int nth);

}  // namespace kiln
