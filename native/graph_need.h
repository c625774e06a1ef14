// Small helpers the graph's shape checks share (graph.cc, graph_train.cc).
#pragma once
#include <string>

#include "cpu/qweights.h"
#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

inline void need(bool ok, size_t index, const Node& nd, const std::string& what) {
  if (!ok) throw GraphError(std::string("graph node ") + std::to_string(index) + " (" + op_info(nd.op).name + "): " + what);
}

// A tensor's row count (its first dimension; a scalar is one row).
inline int64_t lead(const Tensor& t) { return t.shape.empty() ? 1 : t.shape[0]; }

// The head layout of in-step attention (bidirectional or causal): q (N, NH*HS), k and v
// (N, NKV*HS), NH a multiple of NKV. Returns NKV (NH is the node's i0; HS follows from q).
inline int64_t checked_kv_heads(const Tensor& q, const Tensor& k, const Tensor& v, size_t index, const Node& nd) {
  int64_t NH = nd.i[0];
  need(NH > 0 && q.row_elems() % NH == 0, index, nd, "q width must be a multiple of the heads");
  int64_t HS = q.row_elems() / NH;
  need(HS > 0 && k.row_elems() % HS == 0 && v.row_elems() == k.row_elems(), index, nd, "k/v width must be NKV*HS");
  int64_t NKV = k.row_elems() / HS;
  need(NKV > 0 && NH % NKV == 0, index, nd, "heads must be a multiple of kv heads");
  return NKV;
}

inline bool is_float_weight(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Why a (rows, K) tensor is not a weight the matmul/embedding kernels can read (float, or a block
// type with kernels whose rows are whole blocks); empty when it is one.
inline std::string weight_problem(const Tensor& w) {
  if (w.shape.size() != 2) return "weight must be 2-D";
  if (is_float_weight(w.dtype)) return "";
  if (!is_block_quant(w.dtype)) return "weight must be a float or block-quantized type";
  if (!quant_weight_kernels(w.dtype)) return std::string("no kernels for ") + dtype_info(w.dtype).name + " weights in this build";
  if (w.shape[1] % dtype_info(w.dtype).block != 0)
    return std::string(dtype_info(w.dtype).name) + " rows must be whole blocks of " + std::to_string(dtype_info(w.dtype).block);
  return "";
}

}  // namespace kiln
