// Kernel signatures and the Backend table. Every op of ops/ops.h has one kernel type here,
// `<op>_kernel`; a backend (cpu, ref, later cuda) is a table with one field per op, generated from
// the op list and filled by KILN_BACKEND(be) with `<op>_<be>` for every op, bound by name.
// Every kernel is called by all nth threads of a step with its own ith and splits the work itself.
// Shapes: N token rows, C channels, K/M matmul in/out features, H heads, HS head size, P positions.
#pragma once
#include <cstdint>

#include "ops/ops.h"
#include "tensor.h"
#include "train_kernels.h"

namespace kiln {

// Memory a kernel works in. Kernels run in pool threads, where running out of memory could only
// abort the process, so they never allocate: the graph sizes each kernel's scratch from the
// backend's *_scratch entries and the device allocates it before the step, on the calling thread,
// where a failure is a JS error. `shared` is one buffer every thread of the step sees; `own` is
// this thread's alone. Both 64-byte aligned.
struct Scratch {
  uint8_t* shared = nullptr;
  uint8_t* own = nullptr;
};
struct ScratchSize {
  size_t shared = 0, own = 0;
};

// Bytes rounded up to whole cache lines, so buffers carved one after another stay aligned.
inline size_t cache_lines(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

// One type per op, named after it. Two ops may share a signature (add, silu_mul); they still
// cannot be swapped, since a table's fields are filled by name, never by position.

// out (N,C) = table[ids] ; table (V,C) of dtype dt
using embedding_kernel = void(float* out, const void* table, DType dt, const int32_t* ids, int64_t N, int64_t C,
                              int ith, int nth);
// out (N,M) = x (N,K) · wᵀ + bias ; w (M,K) of dtype dt, or (K,M) when w_kxm (GPT-2 Conv1D).
// gemm: the graph's steps are whole sequences of many rows (encoders), so a kernel may sum in the
// order of its many-row form rather than the one decode streams in; either order is the same for
// every N, which is what batch invariance needs (matmul_avx512_gemm.cc).
using matmul_kernel = void(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                           int64_t K, int64_t M, bool w_kxm, bool gemm, const Scratch& scratch, int ith, int nth);
// What matmul needs for steps of up to N rows.
using matmul_scratch_kernel = ScratchSize(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm, bool gemm);
// out (N,C) = x / rms(x) * w
using rmsnorm_kernel = void(float* out, const float* x, const float* w, int64_t N, int64_t C, float eps, int ith,
                            int nth);
// out (N,C) = (x - mean) / sqrt(var + eps) * w + b
using layernorm_kernel = void(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t C,
                              float eps, int ith, int nth);
// out (N,H*HS) = x rotated by pos·inv_freq. Pairing (i, i+HS/2) rotate-half (GPT-NeoX,
// transformers); interleaved pairs (2i, 2i+1) for llama.cpp's llama GGUF files, whose q/k rows
// are permuted for it.
using rope_kernel = void(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N,
                         int64_t H, int64_t HS, bool interleaved, int ith, int nth);
// The KV cache is paged: kcache/vcache (NB,NKV,BS,HS) hold NB blocks of BS positions, and the block
// table blocks (S,MB) lists each slot's blocks, so position p of slot s lives at row p % BS of block
// blocks[s*MB + p/BS]. Sequences share blocks (a cached prompt prefix) by listing the same ids.
// kcache/vcache[block of (slot[n], pos[n]), :, pos[n] % BS, :] = k/v (N,NKV*HS)[n]
using kv_store_kernel = void(float* kcache, float* vcache, const float* k, const float* v, const int32_t* pos,
                             const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NKV, int64_t BS,
                             int64_t MB, int64_t HS, int ith, int nth);
// out (N,NH*HS): row n attends to positions 0..pos[n] of its slot's blocks (causal, GQA)
// scratch: nth * MB*BS floats
using attention_kernel = void(float* out, const float* q, const float* kcache, const float* vcache,
                              const int32_t* pos, const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH,
                              int64_t NKV, int64_t BS, int64_t MB, int64_t HS, float scale, float* scratch, int ith,
                              int nth);
// out (N,NH*HS): encoder self-attention, bidirectional, over the step's own rows (no cache). Rows
// are ragged sequences laid end to end: a sequence takes the rows after its first while pos grows
// by one (graph.cc checks that each starts at pos 0; bidir_sequence_end), so padding is never
// computed and a row's result does not depend on the other sequences of the step. GQA by head
// grouping. scratch: nth * bidir_attention_scratch(N, HS) floats
// The row after the sequence that starts at row `start`: rows continue it while pos grows by one.
// Whatever the positions, the rows split into sequences and no kernel reads outside the step.
inline int64_t bidir_sequence_end(const int32_t* pos, int64_t start, int64_t N) {
  int64_t end = start + 1;
  while (end < N && pos[end] == pos[end - 1] + 1) end++;
  return end;
}
// Calls fn(start, end) for each sequence of the step, in row order.
template <typename F>
inline void for_each_sequence(const int32_t* pos, int64_t N, F&& fn) {
  for (int64_t start = 0; start < N;) {
    int64_t end = bidir_sequence_end(pos, start, N);
    fn(start, end);
    start = end;
  }
}
// Scratch floats per thread for steps of up to N rows of head size HS: a sequence's keys packed
// (HS x N, padded to whole vectors) and a few rows of scores.
constexpr int64_t kBidirScratchRows = 4, kBidirScratchPad = 16;
constexpr int64_t bidir_attention_scratch(int64_t N, int64_t HS) {
  return (HS + kBidirScratchRows) * (N + kBidirScratchPad);
}
using bidir_attention_kernel = void(float* out, const float* q, const float* k, const float* v, const int32_t* pos,
                                    int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch,
                                    int ith, int nth);
// out (n) = a (n) + b (n)
using add_kernel = void(float* out, const float* a, const float* b, int64_t n, int ith, int nth);
// out (n) = a (n) * b (n)
using mul_kernel = void(float* out, const float* a, const float* b, int64_t n, int ith, int nth);
// out (n) = silu(gate (n)) * up (n)
using silu_mul_kernel = void(float* out, const float* gate, const float* up, int64_t n, int ith, int nth);
// out (n) = gelu(x (n)), exact (erf) or the tanh approximation
using gelu_kernel = void(float* out, const float* x, int64_t n, bool tanh_approx, int ith, int nth);
// out (n) = tanh(x (n))
using tanh_kernel = void(float* out, const float* x, int64_t n, int ith, int nth);
// out (n) = max(x (n), 0)
using relu_kernel = void(float* out, const float* x, int64_t n, int ith, int nth);
// out (N,C) = softmax of each row of x (N,C)
using softmax_kernel = void(float* out, const float* x, int64_t N, int64_t C, int ith, int nth);
// out (R,C) = x (N,C)[rows] ; rows (R) index x's rows
using select_rows_kernel = void(float* out, const float* x, const int32_t* rows, int64_t R, int64_t C, int ith,
                                int nth);
// out (N,W) = x (N,C)[:, start:start+W]
using slice_cols_kernel = void(float* out, const float* x, int64_t N, int64_t C, int64_t start, int64_t W, int ith,
                               int nth);

// A backend: its name, one kernel per op (field `<op>`, of type `<op>_kernel*`) and the scratch
// sizing entry. Its constructor takes every entry, so a table cannot leave one out (as an
// aggregate, a missing trailing entry would have been a null pointer); build tables with
// KILN_BACKEND below, which also binds each entry by name.
struct Backend {
  const char* name;
#define KILN_X(id, op, nin, ...) op##_kernel* op;
  KILN_OP_LIST(KILN_X)
#undef KILN_X
  matmul_scratch_kernel* matmul_scratch;

#define KILN_X(id, op, nin, ...) op##_kernel* op##_,
  Backend(const char* name_, KILN_OP_LIST(KILN_X) matmul_scratch_kernel* matmul_scratch_)
#undef KILN_X
#define KILN_X(id, op, nin, ...) op(op##_),
      : name(name_), KILN_OP_LIST(KILN_X) matmul_scratch(matmul_scratch_) {
  }
#undef KILN_X
};

// The table of backend `be`: each op's field gets the function named `<op>_<be>` (embedding_cpu,
// select_rows_ref, ...) and matmul_scratch gets matmul_scratch_<be>. Where it expands, a backend
// without some op's kernel fails to compile ("'<op>_<be>' was not declared"), and a kernel of the
// wrong signature fails to convert. Backends declare their kernels by hand, never from the op
// list, so that a new op breaks the build until every backend has its kernel. A kernel declared
// but never defined is an undefined symbol: scripts/build-native.mjs fails the build on it.
#define KILN_BACKEND_ENTRY_(id, op, nin, be) op##_##be,
#define KILN_BACKEND(be) Backend(#be, KILN_OP_LIST(KILN_BACKEND_ENTRY_, be) matmul_scratch_##be)

const Backend& cpu_backend();
const Backend& ref_backend();

// The kernel of `op` in table `be` as an untyped pointer, for the load-time check that no table
// entry is null (addon.cc) and for listing the ops each backend implements.
inline const void* backend_kernel(const Backend& be, Op op) {
  switch (op) {
#define KILN_X(id, op_, nin, ...) \
  case Op::id:               \
    return (const void*)be.op_;
    KILN_OP_LIST(KILN_X)
#undef KILN_X
  }
  return nullptr;
}

// Splits [0, n) into nth nearly equal contiguous ranges.
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  int64_t per = n / nth, extra = n % nth;
  *begin = ith * per + (ith < extra ? ith : extra);
  *end = *begin + per + (ith < extra ? 1 : 0);
}

}  // namespace kiln
