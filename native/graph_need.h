// Small helpers the graph's shape checks share (graph.cc, graph_train.cc).
#pragma once
#include <string>

#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

inline void need(bool ok, size_t index, const Node& nd, const std::string& what) {
  if (!ok) throw GraphError(std::string("graph node ") + std::to_string(index) + " (" + op_info(nd.op).name + "): " + what);
}

// A tensor's row count (its first dimension; a scalar is one row).
inline int64_t lead(const Tensor& t) { return t.shape.empty() ? 1 : t.shape[0]; }

}  // namespace kiln
