// The op table: every op is declared here once. Backends (cpu, ref, later cuda) provide one kernel
// per entry, and a static_assert keeps each backend's table the same length as this list.
#pragma once
#include <cstdint>
#include <string>

namespace kiln {

// X(ID, "name", n_inputs)  -- inputs, params and the output shape are documented per op below.
#define KILN_OP_LIST(X)      \
  X(EMBEDDING, "embedding", 2)   /* in: table (V,C) any float, ids (N) i32 -> (N,C) */                    \
  X(MATMUL, "matmul", 3)         /* in: x (N,K), w (M,K) [i0=1: (K,M)], bias (M) or -1 -> (N,M); x·wᵀ+b */ \
  X(RMSNORM, "rmsnorm", 2)       /* in: x (N,C), w (C); f0 eps -> (N,C) */                                \
  X(LAYERNORM, "layernorm", 3)   /* in: x (N,C), w (C), b (C); f0 eps -> (N,C) */                         \
  X(ROPE, "rope", 3)             /* in: x (N,H*HS), pos (N), inv_freq (HS/2); i0 H, i1 HS, i2 pairing -> (N,H*HS) */  \
  X(KV_STORE, "kv_store", 6)     /* in: k, v (N,NKV*HS), pos, slot, kcache, vcache; out: kcache (in place) */\
  X(ATTENTION, "attention", 5)   /* in: q (N,NH*HS), pos, slot, kcache, vcache; i0 NH, f0 scale */        \
  X(ADD, "add", 2)               /* in: a, b same shape -> a+b */                                         \
  X(SILU_MUL, "silu_mul", 2)     /* in: gate, up (N,F) -> silu(gate)*up */                                \
  X(GELU, "gelu", 1)             /* in: x; i0 0 exact erf, 1 tanh approximation */                        \
  X(SOFTMAX, "softmax", 1)       /* in: x (N,C) -> softmax over C */                                      \
  X(SELECT_ROWS, "select_rows", 2) /* in: x (N,C), rows (R) i32 -> (R,C) */                               \
  X(SLICE_COLS, "slice_cols", 1) /* in: x (N,C); i0 start, i1 width -> (N,width) */

enum class Op : int {
#define X(id, name, nin) id,
  KILN_OP_LIST(X)
#undef X
      COUNT
};

struct OpInfo {
  const char* name;
  int n_inputs;
};

const OpInfo& op_info(Op op);
bool op_from_name(const std::string& name, Op* out);

constexpr int kMaxInputs = 6;
constexpr int kMaxParams = 4;

struct Node {
  Op op;
  int inputs[kMaxInputs];  // tensor indices, -1 = absent
  int output;
  float f[kMaxParams];
  int64_t i[kMaxParams];
};

}  // namespace kiln
