// One node on one thread: a switch over the op (no default, so -Werror=switch makes a missing op a
// build error) calling the kernel through the backend table. Shapes were checked when the graph was
// built (graph.cc), so nothing is validated here.
#include "exec.h"

namespace kiln {

void exec_node(const Backend& be, const Node& nd, const std::vector<Tensor>& tensors, const Scratch& scratch,
               float* attention, int ith, int nth) {
  auto T = [&](int k) -> const Tensor& { return tensors[nd.inputs[k]]; };
  const Tensor& out = tensors[nd.output];
  switch (nd.op) {
    case Op::EMBEDDING:
      be.embedding(out.f32(), T(0).data, T(0).dtype, T(1).i32(), out.cur_rows, out.row_elems(), ith, nth);
      break;
    case Op::MATMUL: {
      bool kxm = nd.i[0] != 0;
      const Tensor& w = T(1);
      int64_t K = kxm ? w.shape[0] : w.shape[1], M = kxm ? w.shape[1] : w.shape[0];
      const float* bias = nd.inputs[2] >= 0 ? T(2).f32() : nullptr;
      be.matmul(out.f32(), T(0).f32(), w.data, w.dtype, bias, out.cur_rows, K, M, kxm, nd.i[1] != 0, scratch, ith, nth);
      break;
    }
    case Op::RMSNORM:
      be.rmsnorm(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows, out.row_elems(), nd.f[0], ith, nth);
      break;
    case Op::LAYERNORM:
      be.layernorm(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), out.cur_rows, out.row_elems(), nd.f[0], ith, nth);
      break;
    case Op::ROPE:
      be.rope(out.f32(), T(0).f32(), T(1).i32(), T(2).f32(), out.cur_rows, nd.i[0], nd.i[1], nd.i[2] != 0, ith, nth);
      break;
    case Op::KV_STORE: {
      const Tensor& kc = T(4);
      be.kv_store(kc.f32(), T(5).f32(), T(0).f32(), T(1).f32(), T(2).i32(), T(3).i32(), T(6).i32(), T(0).cur_rows,
                  kc.shape[1], kc.shape[2], T(6).shape[1], kc.shape[3], ith, nth);
      break;
    }
    case Op::ATTENTION: {
      const Tensor& kc = T(3);
      be.attention(out.f32(), T(0).f32(), kc.f32(), T(4).f32(), T(1).i32(), T(2).i32(), T(5).i32(), out.cur_rows,
                   nd.i[0], kc.shape[1], kc.shape[2], T(5).shape[1], kc.shape[3], nd.f[0], attention, ith, nth);
      break;
    }
    case Op::BIDIR_ATTENTION: {
      int64_t NH = nd.i[0], HS = T(0).row_elems() / NH;
      be.bidir_attention(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), T(3).i32(), out.cur_rows, NH,
                         T(1).row_elems() / HS, HS, nd.f[0], attention, ith, nth);
      break;
    }
    case Op::ADD:
      be.add(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows * out.row_elems(), ith, nth);
      break;
    case Op::MUL:
      be.mul(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows * out.row_elems(), ith, nth);
      break;
    case Op::SILU_MUL:
      be.silu_mul(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows * out.row_elems(), ith, nth);
      break;
    case Op::GELU:
      be.gelu(out.f32(), T(0).f32(), out.cur_rows * out.row_elems(), nd.i[0] != 0, ith, nth);
      break;
    case Op::TANH:
      be.tanh(out.f32(), T(0).f32(), out.cur_rows * out.row_elems(), ith, nth);
      break;
    case Op::RELU:
      be.relu(out.f32(), T(0).f32(), out.cur_rows * out.row_elems(), ith, nth);
      break;
    case Op::SOFTMAX:
      be.softmax(out.f32(), T(0).f32(), out.cur_rows, out.row_elems(), ith, nth);
      break;
    case Op::SELECT_ROWS:
      be.select_rows(out.f32(), T(0).f32(), T(1).i32(), out.cur_rows, out.row_elems(), ith, nth);
      break;
    case Op::SLICE_COLS:
      be.slice_cols(out.f32(), T(0).f32(), out.cur_rows, T(0).row_elems(), nd.i[0], nd.i[1], ith, nth);
      break;
    case Op::CAUSAL_ATTENTION: {
      int64_t NH = nd.i[0], HS = T(0).row_elems() / NH;
      be.causal_attention(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), T(3).i32(), out.cur_rows, NH,
                          T(1).row_elems() / HS, HS, nd.f[0], attention, ith, nth);
      break;
    }
    case Op::CAUSAL_ATTENTION_BACKWARD: {
      int64_t NH = nd.i[0], HS = T(1).row_elems() / NH;
      be.causal_attention_backward(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), T(3).f32(), T(4).i32(), out.cur_rows,
                                   NH, T(2).row_elems() / HS, HS, nd.f[0], attention, ith, nth);
      break;
    }
    case Op::SCALE:
      be.scale(out.f32(), T(0).f32(), out.cur_rows * out.row_elems(), nd.f[0], ith, nth);
      break;
    case Op::DROPOUT:
      be.dropout(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows, out.row_elems(), nd.f[0], nd.i[0], ith, nth);
      break;
    case Op::MATMUL_BACKWARD_WEIGHT: {
      const Tensor &dy = T(0), &x = T(1);
      be.matmul_backward_weight(out.f32(), dy.f32(), x.f32(), dy.cur_rows, x.row_elems(), dy.row_elems(), nd.i[0] != 0,
                                ith, nth);
      break;
    }
    case Op::MATMUL_BACKWARD_INPUT: {
      const Tensor& w = T(1);
      be.matmul_backward_input(out.f32(), T(0).f32(), w.data, w.dtype, out.cur_rows, w.shape[1], w.shape[0], attention,
                               ith, nth);
      break;
    }
    case Op::BIAS_BACKWARD:
      be.bias_backward(out.f32(), T(0).f32(), T(0).cur_rows, T(0).row_elems(), ith, nth);
      break;
    case Op::RMSNORM_BACKWARD:
      be.rmsnorm_backward(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), out.cur_rows, out.row_elems(), nd.f[0], ith, nth);
      break;
    case Op::RMSNORM_BACKWARD_WEIGHT:
      be.rmsnorm_backward_weight(out.f32(), T(0).f32(), T(1).f32(), T(0).cur_rows, T(0).row_elems(), nd.f[0], ith, nth);
      break;
    case Op::LAYERNORM_BACKWARD:
      be.layernorm_backward(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), out.cur_rows, out.row_elems(), nd.f[0], ith,
                            nth);
      break;
    case Op::LAYERNORM_BACKWARD_WEIGHT:
      be.layernorm_backward_weight(out.f32(), T(0).f32(), T(1).f32(), T(0).cur_rows, T(0).row_elems(), nd.f[0], ith,
                                   nth);
      break;
    case Op::GELU_BACKWARD:
      be.gelu_backward(out.f32(), T(0).f32(), T(1).f32(), out.cur_rows * out.row_elems(), nd.i[0] != 0, ith, nth);
      break;
    case Op::SLICE_COLS_BACKWARD:
      be.slice_cols_backward(out.f32(), T(0).f32(), out.cur_rows, out.row_elems(), nd.i[0], T(0).row_elems(), ith, nth);
      break;
    case Op::ROPE_BACKWARD:
      be.rope_backward(out.f32(), T(0).f32(), T(1).i32(), T(2).f32(), out.cur_rows, nd.i[0], nd.i[1], nd.i[2] != 0, ith,
                       nth);
      break;
    case Op::SILU_MUL_BACKWARD:
      be.silu_mul_backward(out.f32(), T(0).f32(), T(1).f32(), T(2).f32(), out.cur_rows, T(1).row_elems(), ith, nth);
      break;
    case Op::EMBEDDING_BACKWARD:
      be.embedding_backward(out.f32(), T(0).f32(), T(1).i32(), T(0).cur_rows, T(0).row_elems(), ith, nth);
      break;
    case Op::CROSS_ENTROPY:
      be.cross_entropy(out.f32(), T(0).f32(), T(1).i32(), out.cur_rows, T(0).row_elems(), ith, nth);
      break;
    case Op::CROSS_ENTROPY_BACKWARD:
      be.cross_entropy_backward(out.f32(), T(0).f32(), T(1).i32(), out.cur_rows, T(0).row_elems(), ith, nth);
      break;
    case Op::CROSS_ENTROPY_STATS:
      be.cross_entropy_stats(out.f32(), T(0).f32(), T(1).i32(), nd.inputs[2] >= 0 ? T(2).f32() : nullptr, out.cur_rows,
                             T(0).row_elems(), nd.i[0], ith, nth);
      break;
    case Op::CROSS_ENTROPY_LOSS:
      be.cross_entropy_loss(out.f32(), T(0).f32(), T(1).i32(), out.cur_rows, ith, nth);
      break;
    case Op::CROSS_ENTROPY_CHUNK_BACKWARD:
      be.cross_entropy_chunk_backward(out.f32(), T(0).f32(), T(1).i32(), T(2).f32(), out.cur_rows, T(0).row_elems(),
                                      nd.i[0], ith, nth);
      break;
    case Op::ADAMW:
      be.adamw(out.f32(), (float*)T(1).data, (float*)T(2).data, (float*)T(3).data, T(4).f32(), out.elems(), ith, nth);
      break;
  }
}

}  // namespace kiln
