// The op list: every op is declared here once, by an identifier that names it everywhere else.
// kernels.h gives each op a kernel type (`<op>_kernel`) and generates the Backend table's fields
// from this list; KILN_BACKEND(be) fills a table with `<op>_<be>` for every op, by name, so a
// backend without a kernel for some op does not compile.
#pragma once
#include <cstdint>
#include <string>

namespace kiln {

// X(ID, op, n_inputs, ...): ID is the Op enumerator, `op` the name JS uses and the stem of every
// kernel (`<op>_cpu`, `<op>_ref`); whatever follows X in KILN_OP_LIST(X, ...) is passed on to each
// X (kernels.h passes the backend's name). Inputs, params and output shape are documented per op.
#define KILN_OP_LIST(X, ...)                                                                                                      \
  X(EMBEDDING, embedding, 2, __VA_ARGS__)     /* in: table (V,C) any float, ids (N) i32 -> (N,C) */                               \
  X(MATMUL, matmul, 3, __VA_ARGS__)           /* in: x (N,K), w (M,K) [i0=1: (K,M)], bias (M) or -1 -> (N,M); x·wᵀ+b */           \
  X(RMSNORM, rmsnorm, 2, __VA_ARGS__)         /* in: x (N,C), w (C); f0 eps -> (N,C) */                                           \
  X(LAYERNORM, layernorm, 3, __VA_ARGS__)     /* in: x (N,C), w (C), b (C); f0 eps -> (N,C) */                                    \
  X(ROPE, rope, 3, __VA_ARGS__)               /* in: x (N,H*HS), pos (N), inv_freq (HS/2); i0 H, i1 HS, i2 pairing -> (N,H*HS) */ \
  X(KV_STORE, kv_store, 7, __VA_ARGS__)       /* in: k, v (N,NKV*HS), pos, slot, kcache, vcache, blocks; out: kcache (in place) */ \
  X(ATTENTION, attention, 6, __VA_ARGS__)     /* in: q (N,NH*HS), pos, slot, kcache, vcache, blocks; i0 NH, f0 scale */          \
  X(BIDIR_ATTENTION, bidir_attention, 4, __VA_ARGS__) /* in: q (N,NH*HS), k, v (N,NKV*HS), pos; i0 NH, f0 scale */            \
  X(ADD, add, 2, __VA_ARGS__)                 /* in: a, b same shape -> a+b */                                                    \
  X(MUL, mul, 2, __VA_ARGS__)                 /* in: a, b same shape -> a*b (per-row LoRA adapter masks) */                       \
  X(SILU_MUL, silu_mul, 2, __VA_ARGS__)       /* in: gate, up (N,F) -> silu(gate)*up */                                           \
  X(GELU, gelu, 1, __VA_ARGS__)               /* in: x; i0 0 exact erf, 1 tanh approximation */                                   \
  X(TANH, tanh, 1, __VA_ARGS__)               /* in: x -> tanh(x) (BERT's pooler) */                                              \
  X(RELU, relu, 1, __VA_ARGS__)               /* in: x -> max(x, 0) (DistilBERT's classifier) */                                  \
  X(SOFTMAX, softmax, 1, __VA_ARGS__)         /* in: x (N,C) -> softmax over C */                                                 \
  X(SELECT_ROWS, select_rows, 2, __VA_ARGS__) /* in: x (N,C), rows (R) i32 -> (R,C) */                                            \
  X(SLICE_COLS, slice_cols, 1, __VA_ARGS__)   /* in: x (N,C); i0 start, i1 width -> (N,width) */                 \
  /* Training (train.h): in-step causal attention, the backward of each op, the loss, the optimizer. */               \
  /* Outputs marked += are fixed gradient tensors the op accumulates into (zeroed by adamw). */                      \
  X(CAUSAL_ATTENTION, causal_attention, 4, __VA_ARGS__) /* in: q (N,NH*HS), k, v (N,NKV*HS), pos; i0 NH, f0 scale */  \
  X(CAUSAL_ATTENTION_BACKWARD, causal_attention_backward, 5, __VA_ARGS__) /* in: dy, q, k, v, pos -> [dq|dk|dv] */  \
  X(SCALE, scale, 1, __VA_ARGS__)             /* in: x; f0 s -> s·x (LoRA's alpha / r) */                           \
  X(DROPOUT, dropout, 2, __VA_ARGS__)         /* in: x (N,C), seed (3) f32; f0 p, i0 salt -> x·mask/(1-p) */        \
  X(MATMUL_BACKWARD_WEIGHT, matmul_backward_weight, 2, __VA_ARGS__) /* in: dy (N,M), x (N,K); i0 (K,M) -> dW += */ \
  X(MATMUL_BACKWARD_INPUT, matmul_backward_input, 2, __VA_ARGS__) /* in: dy (N,M), w (M,K) any dtype -> dx = dy·w (QLoRA) */ \
  X(BIAS_BACKWARD, bias_backward, 1, __VA_ARGS__) /* in: dy (N,M) -> db (M) += Σ rows */                            \
  X(RMSNORM_BACKWARD, rmsnorm_backward, 3, __VA_ARGS__) /* in: dy, x (N,C), w (C); f0 eps -> dx (N,C) */            \
  X(RMSNORM_BACKWARD_WEIGHT, rmsnorm_backward_weight, 2, __VA_ARGS__) /* in: dy, x (N,C); f0 eps -> dw (C) += */    \
  X(ROPE_BACKWARD, rope_backward, 3, __VA_ARGS__) /* in: dy (N,H*HS), pos, inv_freq; as rope -> dx */               \
  X(SILU_MUL_BACKWARD, silu_mul_backward, 3, __VA_ARGS__) /* in: dy, gate, up (N,F) -> (N,2F) [dgate|dup] */        \
  X(EMBEDDING_BACKWARD, embedding_backward, 2, __VA_ARGS__) /* in: dy (N,C), ids (N) -> dtable (V,C) += */          \
  X(CROSS_ENTROPY, cross_entropy, 2, __VA_ARGS__) /* in: logits (N,V), targets (N) i32, -100 ignored -> (N,1) */    \
  X(CROSS_ENTROPY_BACKWARD, cross_entropy_backward, 2, __VA_ARGS__) /* as cross_entropy -> dlogits (N,V) */         \
  X(ADAMW, adamw, 5, __VA_ARGS__) /* in: param, grad, m, v, hyper (8); out: param (in place); zeroes grad */ \
  X(LAYERNORM_BACKWARD, layernorm_backward, 3, __VA_ARGS__) /* in: dy, x (N,C), w (C); f0 eps -> dx (N,C) */ \
  X(LAYERNORM_BACKWARD_WEIGHT, layernorm_backward_weight, 2, __VA_ARGS__) /* in: dy, x (N,C); f0 eps -> dw (C) += */ \
  X(GELU_BACKWARD, gelu_backward, 2, __VA_ARGS__) /* in: dy, x; i0 as gelu -> dx */ \
  X(SLICE_COLS_BACKWARD, slice_cols_backward, 1, __VA_ARGS__) /* in: dy (N,W); i0 start -> dx (N,C), 0 off the slice */ \
  /* The chunked loss: logits a vocabulary chunk at a time, never (N,V) at once. */ \
  X(CROSS_ENTROPY_STATS, cross_entropy_stats, 3, __VA_ARGS__) /* in: logits (N,W) of columns i0.., targets, prev (N,3) or -1; i1 V -> (N,3) */ \
  X(CROSS_ENTROPY_LOSS, cross_entropy_loss, 2, __VA_ARGS__) /* in: stats (N,3), targets -> (N,1) */ \
  X(CROSS_ENTROPY_CHUNK_BACKWARD, cross_entropy_chunk_backward, 3, __VA_ARGS__) /* in: logits (N,W), targets, stats; i0 -> dlogits (N,W) */

// No COUNT enumerator: a switch over Op then names exactly the ops, and -Werror=switch (binding.gyp)
// makes a missing case a build error.
enum class Op : int {
#define KILN_X(id, op, nin, ...) id,
  KILN_OP_LIST(KILN_X)
#undef KILN_X
};

#define KILN_X(id, op, nin, ...) +1
constexpr int kOpCount = 0 KILN_OP_LIST(KILN_X);
#undef KILN_X

struct OpInfo {
  const char* name;
  int n_inputs;
};

const OpInfo& op_info(Op op);
bool op_from_name(const std::string& name, Op* out);

constexpr int kMaxInputs = 7;
constexpr int kMaxParams = 4;

struct Node {
  Op op;
  int inputs[kMaxInputs];  // tensor indices, -1 = absent
  int output;
  float f[kMaxParams];
  int64_t i[kMaxParams];
};

}  // namespace kiln
