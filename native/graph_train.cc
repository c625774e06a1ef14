// Shape checks of the training ops (ops/ops.h, after slice_cols), the optimizer's update nodes and
// the step's targets. Gradients of parameters are fixed tensors the backward ops accumulate into;
// activations' gradients are row-sized like the activations, and the buffer planner shares them.
#include <algorithm>

#include "graph.h"
#include "graph_need.h"

namespace kiln {

void Graph::check_train_node(size_t index, const Node& nd) {
  auto in = [&](int k) -> Tensor& {
    int id = nd.inputs[k];
    need(id >= 0 && id < (int)tensors.size(), index, nd, "input " + std::to_string(k) + " missing");
    return tensors[id];
  };
  Tensor& out = tensors[nd.output];
  auto cols = [](const Tensor& t) { return t.row_elems(); };
  auto f32 = [&](const Tensor& t, const char* what) { need(t.dtype == DType::F32, index, nd, std::string(what) + " must be f32"); };
  auto same_rows = [&](const Tensor& a, const Tensor& b) {
    need(a.rows == b.rows && (a.rows != RowKind::Fixed || lead(a) == lead(b)), index, nd, "row counts differ");
  };
  // A parameter's gradient: a fixed tensor (never a row-sized activation) the node adds into.
  auto fixed_grad = [&](int64_t elems) {
    need(out.rows == RowKind::Fixed && owned_memory(out) && out.elems() == elems, index, nd,
         "gradient must be a fixed f32 tensor of " + std::to_string(elems) + " elements");
  };
  const bool in_graph = io.tokens >= 0;
  switch (nd.op) {
    case Op::CAUSAL_ATTENTION:
    case Op::CAUSAL_ATTENTION_BACKWARD: {
      const bool bwd = nd.op == Op::CAUSAL_ATTENTION_BACKWARD;
      const int o = bwd ? 1 : 0;  // the backward's inputs follow dy
      Tensor &q = in(o), &k = in(o + 1), &v = in(o + 2), &pos = in(o + 3);
      checked_kv_heads(q, k, v, index, nd);
      f32(q, "q");
      f32(k, "k");
      f32(v, "v");
      need(pos.dtype == DType::I32 && (!in_graph || nd.inputs[o + 3] == io.positions), index, nd, "pos must be the step's positions");
      need(pos.elems() >= lead(q), index, nd, "pos has fewer entries than q has rows");
      need(!in_graph || q.rows == RowKind::Tokens, index, nd, "q must have one row per token");
      same_rows(q, k);
      same_rows(q, v);
      same_rows(q, out);
      if (bwd) {
        f32(in(0), "dy");
        need(cols(in(0)) == cols(q), index, nd, "dy width != q width");
        same_rows(in(0), q);
      }
      // Divided: NH*HS + 2*NKV*HS of huge widths would overflow.
      need(cols(out) == (bwd ? cols(q) + 2 * cols(k) : cols(q)), index, nd, bwd ? "output width != q + 2 k widths" : "output width != q width");
      bidir_rows_ = std::max<int64_t>(bidir_rows_, lead(q));
      bidir_scratch_ = std::max<int64_t>(bidir_scratch_, 2 * lead(q));
      causal_ = true;
      break;
    }
    case Op::SCALE:
      f32(in(0), "x");
      need(cols(out) == cols(in(0)), index, nd, "output width != input width");
      same_rows(in(0), out);
      break;
    case Op::DROPOUT: {
      f32(in(0), "x");
      Tensor& seed = in(1);
      need(seed.dtype == DType::F32 && seed.elems() == kDropoutSeed && seed.rows == RowKind::Fixed, index, nd,
           "seed must be 3 fixed f32");
      need(nd.f[0] >= 0.f && nd.f[0] < 1.f, index, nd, "p must be in [0, 1)");
      need(cols(out) == cols(in(0)), index, nd, "output width != input width");
      same_rows(in(0), out);
      break;
    }
    case Op::MATMUL_BACKWARD_WEIGHT: {
      Tensor &dy = in(0), &x = in(1);
      f32(dy, "dy");
      f32(x, "x");
      same_rows(dy, x);
      need(out.shape.size() == 2, index, nd, "gradient must be 2-D");
      bool kxm = nd.i[0] != 0;
      need(out.shape[kxm ? 1 : 0] == cols(dy) && out.shape[kxm ? 0 : 1] == cols(x), index, nd, "gradient shape != weight shape");
      fixed_grad(out.elems());
      break;
    }
    case Op::MATMUL_BACKWARD_INPUT: {
      Tensor &dy = in(0), &w = in(1);
      f32(dy, "dy");
      std::string why = weight_problem(w);
      need(why.empty(), index, nd, "w: " + why);
      need(cols(dy) == w.shape[0] && cols(out) == w.shape[1], index, nd, "dy (N,M), w (M,K) and dx (N,K) do not fit");
      same_rows(dy, out);
      bidir_scratch_ = std::max<int64_t>(bidir_scratch_, kMatmulBackwardInputScratch);
      break;
    }
    case Op::BIAS_BACKWARD:
      f32(in(0), "dy");
      fixed_grad(cols(in(0)));
      break;
    case Op::RMSNORM_BACKWARD:
    case Op::RMSNORM_BACKWARD_WEIGHT:
    case Op::LAYERNORM_BACKWARD:
    case Op::LAYERNORM_BACKWARD_WEIGHT: {
      Tensor &dy = in(0), &x = in(1);
      f32(dy, "dy");
      f32(x, "x");
      same_rows(dy, x);
      need(cols(dy) == cols(x), index, nd, "dy width != x width");
      if (nd.op == Op::RMSNORM_BACKWARD_WEIGHT || nd.op == Op::LAYERNORM_BACKWARD_WEIGHT) {
        fixed_grad(cols(x));
        break;
      }
      f32(in(2), "weight");
      need(in(2).elems() == cols(x) && cols(out) == cols(x), index, nd, "norm weight length != C");
      same_rows(x, out);
      break;
    }
    case Op::ROPE_BACKWARD: {
      Tensor &dy = in(0), &pos = in(1), &freq = in(2);
      int64_t H = nd.i[0], HS = nd.i[1];
      f32(dy, "dy");
      need(H > 0 && HS > 0 && HS % 2 == 0 && HS <= 1024, index, nd, "head size must be even and ≤ 1024");
      need(H <= cols(dy) && cols(dy) == H * HS && cols(out) == H * HS, index, nd, "dy width != H*HS");
      need(nd.i[2] == 0 || nd.i[2] == 1, index, nd, "pairing must be 0 (rotate-half) or 1 (interleaved)");
      need(pos.dtype == DType::I32 && freq.dtype == DType::F32 && freq.elems() == HS / 2, index, nd, "inv_freq must be HS/2 f32");
      need(pos.elems() >= (in_graph && dy.rows == RowKind::Tokens ? max_rows() : lead(dy)), index, nd, "pos has fewer entries than dy has rows");
      same_rows(dy, out);
      break;
    }
    case Op::GELU_BACKWARD: {
      Tensor &dy = in(0), &x = in(1);
      f32(dy, "dy");
      f32(x, "x");
      need(nd.i[0] == 0 || nd.i[0] == 1, index, nd, "i0 must be 0 (erf) or 1 (tanh)");
      need(cols(x) == cols(dy) && cols(out) == cols(dy), index, nd, "widths differ");
      same_rows(dy, x);
      same_rows(dy, out);
      break;
    }
    case Op::SLICE_COLS_BACKWARD: {
      Tensor& dy = in(0);
      f32(dy, "dy");
      // as slice_cols: W <= C - start rather than start + W <= C (overflow)
      need(nd.i[0] >= 0 && nd.i[0] <= cols(out) && cols(dy) <= cols(out) - nd.i[0], index, nd, "slice out of range");
      same_rows(dy, out);
      break;
    }
    case Op::SILU_MUL_BACKWARD: {
      Tensor &dy = in(0), &g = in(1), &u = in(2);
      f32(dy, "dy");
      f32(g, "gate");
      f32(u, "up");
      need(cols(g) == cols(dy) && cols(u) == cols(dy) && cols(out) == 2 * cols(dy), index, nd, "widths differ");
      same_rows(dy, g);
      same_rows(dy, u);
      same_rows(dy, out);
      break;
    }
    case Op::EMBEDDING_BACKWARD: {
      Tensor &dy = in(0), &ids = in(1);
      f32(dy, "dy");
      need(ids.dtype == DType::I32 && ids.elems() >= lead(dy), index, nd, "ids must be i32, one per row");
      need(out.shape.size() == 2 && out.shape[0] > 0 && out.shape[1] == cols(dy), index, nd, "gradient must be (V,C)");
      fixed_grad(out.elems());
      // The ids are the step's tokens or positions, which run() bounds by the tables they index:
      // the gradient table bounds them too.
      need(!in_graph || nd.inputs[1] == io.tokens || nd.inputs[1] == io.positions, index, nd, "ids must be the step's tokens or positions");
      if (in_graph && nd.inputs[1] == io.tokens) vocab_ = vocab_ ? std::min(vocab_, out.shape[0]) : out.shape[0];
      if (in_graph && nd.inputs[1] == io.positions) pos_table_ = pos_table_ ? std::min(pos_table_, out.shape[0]) : out.shape[0];
      break;
    }
    case Op::CROSS_ENTROPY:
    case Op::CROSS_ENTROPY_BACKWARD: {
      Tensor &logits = in(0), &targets = in(1);
      f32(logits, "logits");
      need(cols(logits) > 0, index, nd, "logits have no columns");
      need(targets.dtype == DType::I32 && targets.elems() >= lead(logits), index, nd, "targets must be i32, one per row");
      need(!in_graph || nd.inputs[1] == io.targets, index, nd, "targets must be the step's targets");
      need(cols(out) == (nd.op == Op::CROSS_ENTROPY ? 1 : cols(logits)), index, nd, "output width");
      same_rows(logits, out);
      targets_vocab_ = targets_vocab_ ? std::min(targets_vocab_, cols(logits)) : cols(logits);
      break;
    }
    case Op::CROSS_ENTROPY_STATS:
    case Op::CROSS_ENTROPY_LOSS:
    case Op::CROSS_ENTROPY_CHUNK_BACKWARD: {
      const bool loss = nd.op == Op::CROSS_ENTROPY_LOSS;
      Tensor &x = in(0), &targets = in(1);  // logits, or the loss's stats
      f32(x, loss ? "stats" : "logits");
      need(targets.dtype == DType::I32 && targets.elems() >= lead(x), index, nd, "targets must be i32, one per row");
      need(!in_graph || nd.inputs[1] == io.targets, index, nd, "targets must be the step's targets");
      same_rows(x, out);
      if (loss) {
        need(cols(x) == 3 && cols(out) == 1, index, nd, "stats must be (N,3) and the loss (N,1)");
        break;
      }
      // Divided: v0 + W of huge values would overflow.
      const int64_t v0 = nd.i[0], W = cols(x);
      need(W > 0 && v0 >= 0, index, nd, "a chunk needs columns and a first column >= 0");
      if (nd.op == Op::CROSS_ENTROPY_CHUNK_BACKWARD) {
        Tensor& stats = in(2);
        need(stats.dtype == DType::F32 && cols(stats) == 3, index, nd, "stats must be f32 (N,3)");
        same_rows(x, stats);
        need(cols(out) == W, index, nd, "output width != chunk width");
        break;
      }
      const int64_t V = nd.i[1];
      need(V > 0 && v0 < V && W <= V - v0, index, nd, "chunk outside the vocabulary");
      if (nd.inputs[2] >= 0) {
        Tensor& prev = in(2);
        need(prev.dtype == DType::F32 && cols(prev) == 3, index, nd, "prev must be f32 (N,3)");
        same_rows(x, prev);
      }
      need(cols(out) == 3, index, nd, "stats must be (N,3)");
      targets_vocab_ = targets_vocab_ ? std::min(targets_vocab_, V) : V;
      break;
    }
    case Op::ADAMW: {
      Tensor &p = in(0), &g = in(1), &m = in(2), &v = in(3), &hyper = in(4);
      need(nd.output == nd.inputs[0], index, nd, "output must be the parameter (updated in place)");
      for (const Tensor* t : {&p, &g, &m, &v})
        need(t->dtype == DType::F32 && t->rows == RowKind::Fixed && t->elems() == p.elems(), index, nd,
             "parameter, gradient and moments must be fixed f32 tensors of one size");
      need(nd.inputs[1] != nd.inputs[0] && nd.inputs[2] != nd.inputs[3] && nd.inputs[2] != nd.inputs[0] &&
               nd.inputs[3] != nd.inputs[0] && nd.inputs[1] != nd.inputs[2] && nd.inputs[1] != nd.inputs[3],
           index, nd, "parameter, gradient and moments must be distinct tensors");
      need(hyper.dtype == DType::F32 && hyper.elems() == kAdamwHyper && (!in_graph || nd.inputs[4] == io.hyper), index, nd,
           "hyper must be the graph's 8 f32 hyperparameters");
      break;
    }
    default:
      need(false, index, nd, "not a training op");
  }
}

// The update runs after steps, over parameters and optimizer state only: every tensor it touches is
// fixed, so the planner (which shares the step's row-sized buffers) never hands it one.
void Graph::check_update_nodes() {
  for (size_t i = 0; i < update_nodes.size(); i++) {
    const Node& nd = update_nodes[i];
    need(nd.op == Op::ADAMW, nodes.size() + i, nd, "update nodes must be adamw");
    check_node(nodes.size() + i, nd);
  }
  if (!update_nodes.empty() && (io.hyper < 0 || tensors[io.hyper].storage != Storage::Owned))
    throw GraphError("graph: update nodes need the hyper tensor as a graph input");
}

void Graph::check_targets(const int32_t* targets, int64_t N) const {
  if (!targets) throw GraphError("this graph needs the targets of the step");
  for (int64_t n = 0; n < N; n++)
    if (targets[n] != -100 && (targets[n] < 0 || targets[n] >= targets_vocab_))
      throw GraphError("target " + std::to_string(targets[n]) + " is outside the vocabulary (0.." +
                       std::to_string(targets_vocab_ - 1) + ", or -100 to ignore)");
}

void Graph::update(const float* hyper, int nth) {
  if (update_nodes.empty()) throw GraphError("this graph has no optimizer");
  device->write(tensors[io.hyper].data, hyper, kAdamwHyper * sizeof(float));
  if (nth < 1) nth = 1;
  device->reserve_scratch(scratch_plan(), nth);
  device->run(update_nodes, tensors, nth);
}

double Graph::sum_squares(const std::vector<int>& ids) const {
  double total = 0;
  std::vector<float> host;
  for (int id : ids) {
    if (id < 0 || id >= (int)tensors.size() || tensors[id].dtype != DType::F32 || !tensors[id].data)
      throw GraphError("sumSquares: tensor " + std::to_string(id) + " is not an f32 tensor of the graph");
    host.resize((size_t)tensors[id].elems());
    read(id, host.data());
    for (float x : host) total += (double)x * x;
  }
  return total;
}

void Graph::write_tensor(int t, const float* src, size_t count) {
  if (t < 0 || t >= (int)tensors.size()) throw GraphError("writeTensor: no tensor " + std::to_string(t));
  const Tensor& ten = tensors[t];
  if (ten.dtype != DType::F32 || ten.rows != RowKind::Fixed || ten.storage != Storage::Owned)
    throw GraphError("writeTensor: " + ten.name + " is not a fixed f32 tensor the graph owns");
  if ((int64_t)count != ten.elems())
    throw GraphError("writeTensor: " + ten.name + " has " + std::to_string(ten.elems()) + " elements, got " + std::to_string(count));
  device->write(ten.data, src, count * sizeof(float));
}

}  // namespace kiln
