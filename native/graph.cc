// Graph checks and buffer planning; memory and execution belong to the device. Shapes are checked
// once when the graph is built, so kernels run without re-validating; run() only checks the step's
// inputs.
#include "graph.h"

#include <algorithm>

#include "cpu/qweights.h"
#include "graph_need.h"

namespace kiln {

bool dtype_from_name(const std::string& name, DType* out) {
  for (int i = 0; i < (int)DType::COUNT; i++)
    if (name == dtype_info((DType)i).name) {
      *out = (DType)i;
      return true;
    }
  return false;
}


void Graph::check_node(size_t index, const Node& nd) {
  auto in = [&](int k) -> Tensor& {
    int id = nd.inputs[k];
    need(id >= 0 && id < (int)tensors.size(), index, nd, "input " + std::to_string(k) + " missing");
    return tensors[id];
  };
  need(nd.output >= 0 && nd.output < (int)tensors.size(), index, nd, "output missing");
  Tensor& out = tensors[nd.output];
  need(out.dtype == DType::F32, index, nd, "output must be f32");
  // kv_store writes into the caches in place; its output names the key cache it updates.
  if (nd.op == Op::KV_STORE) need(nd.output == nd.inputs[4], index, nd, "output must be the key cache");
  auto f32 = [&](Tensor& t, const char* what) { need(t.dtype == DType::F32, index, nd, std::string(what) + " must be f32"); };
  auto same_rows = [&](Tensor& a, Tensor& b) {
    need(a.rows == b.rows && (a.rows != RowKind::Fixed || lead(a) == lead(b)), index, nd, "row counts differ");
  };
  // In a graph (io set), the index inputs of a kernel are the step's inputs, which run() checks
  // against what they index; any other i32 tensor (data given from JS) would index unchecked.
  const bool in_graph = io.tokens >= 0;
  // The most rows a kernel may read from t in a step (a step's N or R for row-sized tensors).
  auto rows_cap = [&](const Tensor& t) {
    return in_graph && t.rows == RowKind::Tokens ? max_rows() : in_graph && t.rows == RowKind::Out ? max_out_rows() : lead(t);
  };
  auto step_input = [&](int k, int io_id, const char* what) {
    need(!in_graph || nd.inputs[k] == io_id, index, nd, std::string(what) + " must be the step's " + what);
  };
  auto cols = [](Tensor& t) { return t.row_elems(); };
  // A paged cache (NB,NKV,BS,HS) and its block table (S,MB): every KV op of the graph shares one
  // table and one geometry, which bounds the positions (MB*BS) and the slots (S).
  auto kv_cache = [&](Tensor& table, Tensor& kc) {
    need(table.dtype == DType::I32 && table.shape.size() == 2 && table.shape[0] > 0 && table.shape[1] > 0, index, nd,
         "block table must be (S,MB) i32");
    need(kc.shape[0] > 0 && kc.shape[1] > 0 && kc.shape[2] > 0 && kc.shape[3] > 0, index, nd,
         "cache must have blocks of at least one position, kv head and column");
    // The kernels write and read the caches as f32 (an f16 cache would be half the bytes).
    need(kc.dtype == DType::F32 && tensors[nd.inputs[op_info(nd.op).n_inputs == 7 ? 5 : 4]].dtype == DType::F32, index, nd,
         "caches must be f32");
    int64_t S = table.shape[0], MB = table.shape[1], NB = kc.shape[0], BS = kc.shape[2];
    need(kv_blocks_ == 0 || (kv_blocks_ == NB && block_size_ == BS && blocks_per_slot_ == MB && max_slots_ == S), index,
         nd, "every KV cache must have the same blocks and block table");
    need(io.blocks < 0 || nd.inputs[op_info(nd.op).n_inputs - 1] == io.blocks, index, nd, "block table must be the graph's");
    kv_blocks_ = NB;
    block_size_ = BS;
    blocks_per_slot_ = MB;
    max_slots_ = S;
    max_pos_ = MB * BS;
    kv_len_ = max_pos_;
  };
  switch (nd.op) {
    case Op::EMBEDDING: {
      Tensor &tab = in(0), &ids = in(1);
      std::string why = weight_problem(tab);
      need(why.empty(), index, nd, "table: " + why);
      need(ids.dtype == DType::I32, index, nd, "ids must be i32");
      need(tab.shape[0] > 0, index, nd, "table has no rows");
      need(!in_graph || nd.inputs[1] == io.tokens || nd.inputs[1] == io.positions || nd.inputs[1] == io.types, index, nd,
           "ids must be the step's tokens, positions or types");
      need(cols(out) == tab.shape[1], index, nd, "output width != C");
      same_rows(ids, out);
      // The tables the step's inputs index bound those inputs, so run() can refuse an id past one.
      // Every table the token ids index bounds them (the smallest: a larger one would let an id
      // past the smaller table's end).
      if (nd.inputs[1] == io.tokens) vocab_ = vocab_ ? std::min(vocab_, tab.shape[0]) : tab.shape[0];
      if (nd.inputs[1] == io.positions) pos_table_ = pos_table_ ? std::min(pos_table_, tab.shape[0]) : tab.shape[0];
      if (nd.inputs[1] == io.types) type_vocab_ = type_vocab_ ? std::min(type_vocab_, tab.shape[0]) : tab.shape[0];
      break;
    }
    case Op::MATMUL: {
      Tensor &x = in(0), &w = in(1);
      f32(x, "x");
      bool kxm = nd.i[0] != 0;
      need(!kxm || is_float_weight(w.dtype), index, nd, "(K,M) weights must be a float type");
      need(nd.i[1] == 0 || nd.i[1] == 1, index, nd, "i1 (summation order) must be 0 (decode) or 1 (gemm)");
      std::string why = weight_problem(w);
      need(why.empty(), index, nd, why);
      int64_t K = kxm ? w.shape[0] : w.shape[1], M = kxm ? w.shape[1] : w.shape[0];
      need(cols(x) == K, index, nd, "x width " + std::to_string(cols(x)) + " != weight in-features " + std::to_string(K));
      need(cols(out) == M, index, nd, "output width != weight out-features");
      if (nd.inputs[2] >= 0) {
        Tensor& b = in(2);
        f32(b, "bias");
        need(b.elems() == M, index, nd, "bias length != out-features");
      }
      same_rows(x, out);
      break;
    }
    case Op::RMSNORM:
    case Op::LAYERNORM: {
      Tensor &x = in(0), &w = in(1);
      f32(x, "x");
      f32(w, "weight");
      need(w.elems() == cols(x) && cols(out) == cols(x), index, nd, "norm weight length != C");
      if (nd.op == Op::LAYERNORM) need(in(2).elems() == cols(x) && in(2).dtype == DType::F32, index, nd, "bias length != C");
      same_rows(x, out);
      break;
    }
    case Op::ROPE: {
      Tensor &x = in(0), &pos = in(1), &freq = in(2);
      int64_t H = nd.i[0], HS = nd.i[1];
      f32(x, "x");
      need(H > 0 && HS > 0 && HS % 2 == 0 && HS <= 1024, index, nd, "head size must be even and ≤ 1024");
      need(H <= cols(x), index, nd, "more heads than columns");  // H*HS below cannot overflow
      need(nd.i[2] == 0 || nd.i[2] == 1, index, nd, "pairing must be 0 (rotate-half) or 1 (interleaved)");
      need(cols(x) == H * HS && cols(out) == H * HS, index, nd, "x width != H*HS");
      need(pos.dtype == DType::I32 && freq.dtype == DType::F32 && freq.elems() == HS / 2, index, nd, "inv_freq must be HS/2 f32");
      need(pos.elems() >= rows_cap(x), index, nd, "pos has fewer entries than x has rows");
      same_rows(x, out);
      break;
    }
    case Op::KV_STORE: {
      Tensor &k = in(0), &v = in(1), &kc = in(4), &vc = in(5);
      need(kc.shape.size() == 4 && kc.shape == vc.shape, index, nd, "caches must be (NB,NKV,BS,HS)");
      kv_cache(in(6), kc);
      f32(k, "k");
      f32(v, "v");
      need(cols(k) % kc.shape[1] == 0 && cols(k) / kc.shape[1] == kc.shape[3] && cols(v) == cols(k), index, nd, "k/v width != NKV*HS");
      need(in(2).dtype == DType::I32 && in(3).dtype == DType::I32, index, nd, "pos/slot must be i32");
      same_rows(k, v);
      // The kernel reads pos and slot for each of k's rows: in a graph, the step's rows.
      step_input(2, io.positions, "pos");
      step_input(3, io.slots, "slot");
      need(!in_graph || k.rows == RowKind::Tokens, index, nd, "k must have one row per token");
      break;
    }
    case Op::ATTENTION: {
      Tensor &q = in(0), &kc = in(3), &vc = in(4);
      int64_t NH = nd.i[0];
      need(kc.shape.size() == 4 && kc.shape == vc.shape, index, nd, "caches must be (NB,NKV,BS,HS)");
      kv_cache(in(5), kc);  // NKV, HS > 0
      int64_t NKV = kc.shape[1], HS = kc.shape[3];
      need(NH > 0 && NH % NKV == 0, index, nd, "heads must be a multiple of kv heads");
      f32(q, "q");
      need(in(1).dtype == DType::I32 && in(2).dtype == DType::I32, index, nd, "pos/slot must be i32");
      step_input(1, io.positions, "pos");
      step_input(2, io.slots, "slot");
      need(!in_graph || q.rows == RowKind::Tokens, index, nd, "q must have one row per token");
      // Divided, not multiplied: NH * HS of huge params overflows.
      need(cols(q) % NH == 0 && cols(q) / NH == HS && cols(out) == cols(q), index, nd, "q width != NH*HS");
      same_rows(q, out);
      break;
    }
    case Op::BIDIR_ATTENTION: {
      Tensor &q = in(0), &k = in(1), &v = in(2), &pos = in(3);
      checked_kv_heads(q, k, v, index, nd);
      const int64_t HS = cols(q) / nd.i[0];
      f32(q, "q");
      f32(k, "k");
      f32(v, "v");
      // run() checks the layout of the step's positions; single-op graphs (kernel tests) have none.
      need(pos.dtype == DType::I32 && (io.positions < 0 || nd.inputs[3] == io.positions), index, nd, "pos must be the step's positions");
      need(cols(out) == cols(q), index, nd, "output width != q width");
      same_rows(q, k);
      same_rows(q, v);
      same_rows(q, out);
      need(io.positions < 0 || q.rows == RowKind::Tokens, index, nd, "q must have one row per token");
      need(pos.elems() >= rows_cap(q), index, nd, "pos has fewer entries than q has rows");
      bidir_rows_ = std::max<int64_t>(bidir_rows_, lead(q));
      bidir_scratch_ = std::max<int64_t>(bidir_scratch_, bidir_attention_scratch(lead(q), HS));
      break;
    }
    case Op::ADD:
    case Op::MUL:
    case Op::SILU_MUL: {
      Tensor &a = in(0), &b = in(1);
      f32(a, "a");
      f32(b, "b");
      need(cols(a) == cols(b) && cols(out) == cols(a), index, nd, "operand widths differ");
      same_rows(a, b);
      same_rows(a, out);
      break;
    }
    case Op::GELU:
    case Op::TANH:
    case Op::RELU:
    case Op::SOFTMAX: {
      Tensor& x = in(0);
      f32(x, "x");
      need(cols(out) == cols(x), index, nd, "output width != input width");
      same_rows(x, out);
      break;
    }
    case Op::SELECT_ROWS: {
      Tensor &x = in(0), &rows = in(1);
      need(rows.dtype == DType::I32 && rows.rows == out.rows, index, nd, "rows must be i32 and size the output");
      f32(x, "x");
      need(cols(out) == cols(x), index, nd, "output width != input width");
      // The step's output rows index the step's token rows (run() checks them < N).
      step_input(1, io.out_rows, "rows");
      need(!in_graph || x.rows == RowKind::Tokens, index, nd, "x must have one row per token");
      need(rows.rows != RowKind::Fixed || lead(rows) == lead(out), index, nd, "rows must have one entry per output row");
      break;
    }
    case Op::CAUSAL_ATTENTION:
    case Op::CAUSAL_ATTENTION_BACKWARD:
    case Op::SCALE:
    case Op::DROPOUT:
    case Op::MATMUL_BACKWARD_WEIGHT:
    case Op::MATMUL_BACKWARD_INPUT:
    case Op::BIAS_BACKWARD:
    case Op::RMSNORM_BACKWARD:
    case Op::RMSNORM_BACKWARD_WEIGHT:
    case Op::ROPE_BACKWARD:
    case Op::SILU_MUL_BACKWARD:
    case Op::EMBEDDING_BACKWARD:
    case Op::CROSS_ENTROPY:
    case Op::CROSS_ENTROPY_BACKWARD:
    case Op::ADAMW:
    case Op::LAYERNORM_BACKWARD:
    case Op::LAYERNORM_BACKWARD_WEIGHT:
    case Op::GELU_BACKWARD:
    case Op::SLICE_COLS_BACKWARD:
    case Op::CROSS_ENTROPY_STATS:
    case Op::CROSS_ENTROPY_LOSS:
    case Op::CROSS_ENTROPY_CHUNK_BACKWARD:
      check_train_node(index, nd);
      break;
    case Op::SLICE_COLS: {
      Tensor& x = in(0);
      f32(x, "x");
      // i1 <= cols - i0 rather than i0 + i1 <= cols: the sum of two huge params overflows.
      need(nd.i[0] >= 0 && nd.i[1] > 0 && nd.i[0] <= cols(x) && nd.i[1] <= cols(x) - nd.i[0] && cols(out) == nd.i[1], index, nd,
           "slice out of range");
      same_rows(x, out);
      break;
    }
  }
  if (nd.op != Op::KV_STORE && nd.op != Op::ADAMW)
    for (int k = 0; k < op_info(nd.op).n_inputs; k++)
      need(nd.inputs[k] != nd.output, index, nd, "output aliases an input");
}

// Activations whose lifetimes do not overlap share a buffer (greedy, best fit), so memory is a few
// layer-sized buffers rather than one per node.
void Graph::plan_buffers() {
  size_t T = tensors.size();
  std::vector<int> first(T, -1), last(T, -1);
  for (size_t i = 0; i < nodes.size(); i++) {
    const Node& nd = nodes[i];
    for (int k = 0; k < kMaxInputs; k++)
      if (nd.inputs[k] >= 0) last[nd.inputs[k]] = (int)i;
    if (first[nd.output] < 0) first[nd.output] = (int)i;
    last[nd.output] = std::max(last[nd.output], (int)i);
  }
  last[io.output] = (int)nodes.size();
  struct Buf { size_t floats; int free_after; };
  std::vector<Buf> bufs;
  std::vector<int> assign(T, -1);
  for (size_t i = 0; i < nodes.size(); i++) {
    int t = nodes[i].output;
    Tensor& ten = tensors[t];
    if (first[t] != (int)i || ten.storage != Storage::Owned || ten.data || ten.rows == RowKind::Fixed) continue;
    size_t need_floats = (size_t)ten.elems();
    int best = -1;
    for (size_t b = 0; b < bufs.size(); b++)
      if (bufs[b].free_after < (int)i && bufs[b].floats >= need_floats && (best < 0 || bufs[b].floats < bufs[best].floats))
        best = (int)b;
    if (best < 0) {
      bufs.push_back({need_floats, 0});
      best = (int)bufs.size() - 1;
    }
    bufs[best].free_after = last[t];
    assign[t] = best;
  }
  activation_bytes_ = 0;
  std::vector<void*> mem;
  for (auto& b : bufs) {
    mem.push_back(device->alloc(b.floats * sizeof(float)));
    activation_bytes_ += b.floats * sizeof(float);
  }
  // The rest of the owned tensors (KV caches, step inputs) get a buffer each.
  for (size_t t = 0; t < T; t++) {
    if (assign[t] >= 0)
      tensors[t].data = mem[assign[t]];
    else if (tensors[t].storage == Storage::Owned && !tensors[t].data)
      tensors[t].data = device->alloc(tensors[t].nbytes());
  }
}

void Graph::place_weights() {
  for (auto& t : tensors)
    if (t.storage == Storage::External) t.data = device->place(t);
}

// The step's inputs are written by run() (N or R entries of i32) and the output read from (R rows
// of f32): each must be a distinct i32 vector the graph owns, with room for the most rows a step
// may have; every row-sized tensor has room for them too.
void Graph::check_io() {
  auto idx_ok = [&](int id, const char* what) {
    if (id < 0 || id >= (int)tensors.size()) throw GraphError(std::string("graph: missing ") + what + " tensor");
  };
  idx_ok(io.tokens, "tokens");
  idx_ok(io.positions, "positions");
  idx_ok(io.slots, "slots");
  idx_ok(io.out_rows, "out_rows");
  idx_ok(io.output, "output");
  if (io.types >= 0) idx_ok(io.types, "types");
  if (io.blocks >= 0) idx_ok(io.blocks, "blocks");
  const int inputs[] = {io.tokens, io.positions, io.slots, io.out_rows, io.types, io.blocks};
  const char* names[] = {"tokens", "positions", "slots", "out_rows", "types", "blocks"};
  for (int a = 0; a < 6; a++) {
    if (inputs[a] < 0) continue;
    for (int b = 0; b < a; b++)
      if (inputs[a] == inputs[b]) throw GraphError(std::string("graph: ") + names[a] + " and " + names[b] + " are the same tensor");
    const Tensor& t = tensors[inputs[a]];
    if (t.dtype != DType::I32 || t.storage != Storage::Owned || t.shape.size() != (a == 5 ? 2u : 1u))
      throw GraphError(std::string("graph: ") + names[a] + " must be an i32 " + (a == 5 ? "matrix" : "vector") + " without data");
    if (a != 3 && a != 5 && t.shape[0] < max_rows())
      throw GraphError(std::string("graph: ") + names[a] + " has fewer entries than tokens");
  }
  const Tensor& out = tensors[io.output];
  if (out.dtype != DType::F32 || out.shape.empty() || out.shape[0] < max_out_rows())
    throw GraphError("graph: output must be f32 with a row for each of out_rows");
  for (const Tensor& t : tensors)
    if ((t.rows == RowKind::Tokens && t.shape[0] < max_rows()) || (t.rows == RowKind::Out && t.shape[0] < max_out_rows()))
      throw GraphError("graph: tensor " + t.name + " has fewer rows than a step may have");
  // Nodes write their outputs (and kv_store its caches): those are the graph's own memory, not a
  // buffer from JS (or a read-only mapping) that came as data.
  auto owned = [&](int id) {
    if (id >= 0 && id < (int)tensors.size() && !owned_memory(tensors[id]))
      throw GraphError("graph: tensor " + tensors[id].name + " is written by a node and cannot come with data");
  };
  for (const Node& nd : nodes) {
    owned(nd.output);
    if (nd.op == Op::KV_STORE) owned(nd.inputs[5]);
  }
  // adamw writes the gradient (zeroing it) and the moments too.
  for (const Node& nd : update_nodes)
    for (int k = 0; k < 4; k++) owned(nd.inputs[k]);
  if (io.targets >= 0) {
    idx_ok(io.targets, "targets");
    const Tensor& t = tensors[io.targets];
    if (t.dtype != DType::I32 || t.storage != Storage::Owned || t.shape.size() != 1 || t.shape[0] < max_rows() ||
        io.targets == io.tokens || io.targets == io.positions || io.targets == io.slots)
      throw GraphError("graph: targets must be an i32 vector without data, an entry per token, of its own");
  }
  if (io.hyper >= 0) {
    idx_ok(io.hyper, "hyper");
    const Tensor& h = tensors[io.hyper];
    if (h.dtype != DType::F32 || h.storage != Storage::Owned || h.rows != RowKind::Fixed || h.elems() != kAdamwHyper)
      throw GraphError("graph: hyper must be 8 f32 without data");
  }
}

// What finalize() will allocate, from the declared shapes, against mem_limit.
void Graph::check_memory(uint64_t mem_limit) const {
  uint64_t total = 0;
  for (const Tensor& t : tensors) {
    if (t.storage != Storage::Owned) continue;
    total += t.nbytes();  // at most 2^53 each (tensor_from_js)
    if (total > mem_limit)
      throw GraphError("graph: tensor " + t.name + " takes the graph past " + std::to_string(mem_limit >> 20) +
                       " MiB, this machine's memory");
  }
}

void Graph::finalize(uint64_t mem_limit) {
  check_views();
  check_io();
  for (auto& t : tensors)
    if (t.storage == Storage::External && !t.data && t.elems() > 0) throw GraphError("graph: tensor " + t.name + " has no data");
  check();
  check_update_nodes();
  if (forward_nodes >= 0) {
    if (forward_nodes > (int64_t)nodes.size()) throw GraphError("graph: forward_nodes past the node list");
    // The output must be computed by then (its last writer is a forward node).
    for (size_t i = (size_t)forward_nodes; i < nodes.size(); i++)
      if (nodes[i].output == io.output) throw GraphError("graph: the output is written after the forward nodes");
    forward_list_.assign(nodes.begin(), nodes.begin() + forward_nodes);
  }
  if (io.blocks >= 0 && kv_blocks_ == 0) throw GraphError("graph: a block table without a KV cache");
  check_memory(mem_limit);
  // Kernel scratch per thread (attention: the cache's positions, or the encoder's rows).
  if ((uint64_t)std::max<int64_t>(kv_len_, bidir_scratch_) > mem_limit / 4 / 64)
    throw GraphError("graph: attention scratch past this machine's memory");
  if (vocab_ == 0) throw GraphError("graph: no embedding reads the token ids");
  // Decoders are bounded by their KV cache's length, encoders by their position table.
  // In-step causal attention (training) reads no cache: a sequence is at most a step's rows.
  if (causal_ && max_pos_ == 0) max_pos_ = max_rows();
  if (pos_table_ > 0) max_pos_ = max_pos_ ? std::min(max_pos_, pos_table_) : pos_table_;
  if (max_pos_ == 0) throw GraphError("graph: nothing bounds the positions (no KV cache and no position embedding)");
  if (io.types >= 0 && type_vocab_ == 0) throw GraphError("graph: no embedding reads the token types");
  if (kv_blocks_ > 0 && io.blocks < 0) throw GraphError("graph: a KV cache needs the block table as a graph input");
  // Without a KV cache, a slot only names a row's sequence within the step.
  if (max_slots_ == 0) max_slots_ = max_rows();
  if (io.targets >= 0 && targets_vocab_ == 0) throw GraphError("graph: targets without a loss that reads them");
  place_weights();
  plan_buffers();
  resolve_views();
  for (auto& t : tensors) t.cur_rows = lead(t);
  if (io.blocks >= 0) write_identity_blocks();
}

// Slot s's positions in blocks s*MB .. s*MB+MB-1 (entries past the pool are refused per row, in run).
void Graph::write_identity_blocks() {
  std::vector<int32_t> table((size_t)(max_slots_ * blocks_per_slot_));
  for (size_t i = 0; i < table.size(); i++) table[i] = (int32_t)i;
  device->write(tensors[io.blocks].data, table.data(), table.size() * 4);
  identity_blocks_ = true;
}

// Every block a row reads or writes (positions 0..pos of its slot) must be a block of the cache.
void Graph::check_blocks(const int32_t* blocks, const int32_t* pos, const int32_t* slots, int64_t N) const {
  for (int64_t n = 0; n < N; n++) {
    const int32_t* row = blocks + (int64_t)slots[n] * blocks_per_slot_;
    for (int64_t b = 0; b <= pos[n] / block_size_; b++)
      if (row[b] < 0 || row[b] >= kv_blocks_)
        throw GraphError("block table: slot " + std::to_string(slots[n]) + " position " + std::to_string(b * block_size_) +
                         " is in block " + std::to_string(row[b]) + ", outside 0.." + std::to_string(kv_blocks_ - 1));
  }
}

void Graph::finalize_op(uint64_t mem_limit) {
  check_views();
  check();
  check_memory(mem_limit);
  if ((uint64_t)std::max<int64_t>(kv_len_, bidir_scratch_) > mem_limit / 4 / 64)
    throw GraphError("attention scratch past this machine's memory");
  check_op_indices();
  place_weights();
  for (auto& t : tensors) {
    t.cur_rows = t.shape.empty() ? 1 : t.shape[0];
    if (!t.data && t.storage != Storage::View) t.data = device->alloc(t.nbytes());
  }
  resolve_views();
}

// Single-op graphs (runOp) take their index tensors as data: the kernels would index with them
// unchecked, so each is checked here against what it indexes (owned ones are zeros). Host memory:
// the data are still the caller's buffers (before place_weights).
void Graph::check_op_indices() const {
  const Node& nd = nodes[0];
  auto T = [&](int k) -> const Tensor& { return tensors[nd.inputs[k]]; };
  auto value = [&](const Tensor& t, int64_t i) -> int64_t { return t.data ? ((const int32_t*)t.data)[i] : 0; };
  auto entries = [&](const Tensor& t, int64_t n, const char* what) {
    if (t.elems() < n) throw GraphError(std::string(op_info(nd.op).name) + ": " + what + " has fewer entries than rows");
  };
  auto in_range = [&](const Tensor& t, int64_t n, int64_t hi, const char* what) {
    entries(t, n, what);
    for (int64_t i = 0; i < n; i++)
      if (value(t, i) < 0 || value(t, i) >= hi)
        throw GraphError(std::string(op_info(nd.op).name) + ": " + what + " " + std::to_string(value(t, i)) + " outside 0.." +
                         std::to_string(hi - 1));
  };
  // Every position 0..pos of a row's slot must be in a block of the cache (as check_blocks).
  auto kv_rows = [&](const Tensor& pos, const Tensor& slot, const Tensor& table, int64_t N) {
    in_range(slot, N, max_slots_, "slot");
    in_range(pos, N, max_pos_, "position");
    for (int64_t n = 0; n < N; n++)
      for (int64_t b = 0; b <= value(pos, n) / block_size_; b++) {
        int64_t blk = value(table, value(slot, n) * blocks_per_slot_ + b);
        if (blk < 0 || blk >= kv_blocks_) throw GraphError(std::string(op_info(nd.op).name) + ": block table entry outside the cache");
      }
  };
  switch (nd.op) {
    case Op::EMBEDDING:
      in_range(T(1), lead(tensors[nd.output]), T(0).shape[0], "id");
      break;
    case Op::KV_STORE:
      kv_rows(T(2), T(3), T(6), lead(T(0)));
      break;
    case Op::ATTENTION:
      kv_rows(T(1), T(2), T(5), lead(tensors[nd.output]));
      break;
    case Op::SELECT_ROWS:
      in_range(T(1), lead(tensors[nd.output]), lead(T(0)), "row");
      break;
    case Op::CAUSAL_ATTENTION:
    case Op::CAUSAL_ATTENTION_BACKWARD: {
      // As run() checks a step's: whole sequences, each from position 0 (kernels find them so).
      const Tensor& pos = T(nd.op == Op::CAUSAL_ATTENTION ? 3 : 4);
      for (int64_t n = 0; n < lead(tensors[nd.output]); n++)
        if (value(pos, n) != 0 && (n == 0 || value(pos, n) != value(pos, n - 1) + 1))
          throw GraphError(std::string(op_info(nd.op).name) + ": positions must be whole sequences, each from 0");
      break;
    }
    case Op::EMBEDDING_BACKWARD:
      in_range(T(1), lead(T(0)), tensors[nd.output].shape[0], "id");
      break;
    case Op::CROSS_ENTROPY:
    case Op::CROSS_ENTROPY_BACKWARD:
    case Op::CROSS_ENTROPY_STATS:
      entries(T(1), lead(T(0)), "targets");
      if (T(1).data) check_targets((const int32_t*)T(1).data, lead(T(0)));  // owned: zeros
      break;
    case Op::CROSS_ENTROPY_LOSS:  // these index nothing with the targets (a chunk's own bounds)
    case Op::CROSS_ENTROPY_CHUNK_BACKWARD:
      entries(T(1), lead(T(0)), "targets");
      break;
    default:
      break;  // rope and the attentions read positions but index nothing with them (sizes: check_node)
  }
}

void Graph::check() {
  for (size_t i = 0; i < nodes.size(); i++) check_node(i, nodes[i]);
}

// A view is whole rows of a fixed tensor that is not itself a view: same dtype and row shape, its
// rows inside the base's.
void Graph::check_views() const {
  for (size_t i = 0; i < tensors.size(); i++) {
    const Tensor& v = tensors[i];
    if (v.storage != Storage::View) continue;
    auto fail = [&](const std::string& why) { throw GraphError("graph: view " + v.name + ": " + why); };
    if (v.view_of < 0 || v.view_of >= (int)tensors.size() || v.view_of == (int)i) fail("no such base tensor");
    const Tensor& b = tensors[v.view_of];
    if (b.storage == Storage::View) fail("a view of a view");
    if (v.rows != RowKind::Fixed || b.rows != RowKind::Fixed) fail("views are of fixed tensors only");
    if (v.dtype != b.dtype || v.shape.empty() || v.shape.size() != b.shape.size()) fail("dtype or rank differs from " + b.name);
    for (size_t d = 1; d < v.shape.size(); d++)
      if (v.shape[d] != b.shape[d]) fail("row shape differs from " + b.name);
    if (v.view_row > b.shape[0] || v.shape[0] > b.shape[0] - v.view_row) fail("rows outside " + b.name);
  }
}

// Once the bases have their memory: a view's data is its first row's.
void Graph::resolve_views() {
  for (Tensor& v : tensors)
    if (v.storage == Storage::View) {
      const Tensor& b = tensors[v.view_of];
      v.data = (uint8_t*)b.data + dtype_bytes(b.dtype, v.view_row * b.row_elems());
    }
}

// Kernels never allocate (a pool thread cannot report running out of memory): their scratch is
// sized here, from the device's kernel table, for the largest node at the graph's most rows, and
// the device allocates it before the step.
const ScratchPlan& Graph::scratch_plan() {
  if (scratch_planned_) return scratch_;
  const Backend& be = device->kernels();
  for (const Node& nd : nodes) {
    if (nd.op != Op::MATMUL) continue;
    const Tensor& w = tensors[nd.inputs[1]];
    bool kxm = nd.i[0] != 0;
    int64_t K = kxm ? w.shape[0] : w.shape[1], M = kxm ? w.shape[1] : w.shape[0];
    int64_t N = lead(tensors[nd.output]);
    ScratchSize s = be.matmul_scratch(w.dtype, N, K, M, kxm, nd.i[1] != 0);
    scratch_.kernel.shared = std::max(scratch_.kernel.shared, cache_lines(s.shared));
    scratch_.kernel.own = std::max(scratch_.kernel.own, cache_lines(s.own));
  }
  scratch_.attention_floats = std::max<int64_t>(kv_len_, bidir_scratch_);
  scratch_planned_ = true;
  return scratch_;
}

void Graph::execute(int nth, bool forward_only) {
  if (nth < 1) nth = 1;
  device->reserve_scratch(scratch_plan(), nth);
  device->run(forward_only ? forward_list_ : nodes, tensors, nth);
}

void Graph::read(int t, void* dst) const { device->read(dst, tensors[t].data, tensors[t].nbytes()); }

void Graph::run(const int32_t* tokens, const int32_t* pos, const int32_t* slots, const int32_t* types,
                const int32_t* blocks, int64_t N, const int32_t* out_rows, int64_t R, float* logits, int nth,
                const int32_t* targets, bool forward_only) {
  if (N < 1 || N > max_rows()) throw GraphError("step has " + std::to_string(N) + " rows; this graph takes 1.." + std::to_string(max_rows()));
  if (R < 0 || R > max_out_rows()) throw GraphError("step asks for " + std::to_string(R) + " output rows; at most " + std::to_string(max_out_rows()));
  for (int64_t n = 0; n < N; n++) {
    if (tokens[n] < 0 || tokens[n] >= vocab_) throw GraphError("token id " + std::to_string(tokens[n]) + " is outside the vocabulary (0.." + std::to_string(vocab_ - 1) + ")");
    if (pos[n] < 0 || pos[n] >= max_pos_) throw GraphError("position " + std::to_string(pos[n]) + " is past the context length " + std::to_string(max_pos_));
    if (slots[n] < 0 || slots[n] >= max_slots_) throw GraphError("sequence slot " + std::to_string(slots[n]) + " out of range");
  }
  for (int64_t r = 0; r < R; r++)
    if (out_rows[r] < 0 || out_rows[r] >= N) throw GraphError("output row index out of range");
  if (io.types >= 0) {
    if (!types) throw GraphError("this graph needs the token types of the step");
    for (int64_t n = 0; n < N; n++)
      if (types[n] < 0 || types[n] >= type_vocab_) throw GraphError("token type " + std::to_string(types[n]) + " is outside 0.." + std::to_string(type_vocab_ - 1));
  }
  // Encoder attention finds a row's sequence from the positions alone (kernels.h).
  if (bidir_rows_ > 0)
    for (int64_t n = 0; n < N; n++)
      if (pos[n] != 0 && (n == 0 || pos[n] != pos[n - 1] + 1))
        throw GraphError("row " + std::to_string(n) + ": a step with in-step attention (an encoder, training) takes whole sequences, each its rows in order from position 0");
  if (io.targets >= 0) check_targets(targets, N);
  for (auto& t : tensors) t.cur_rows = t.rows == RowKind::Tokens ? N : t.rows == RowKind::Out ? R : (t.shape.empty() ? 1 : t.shape[0]);
  if (io.targets >= 0) device->write(tensors[io.targets].data, targets, N * 4);
  device->write(tensors[io.tokens].data, tokens, N * 4);
  device->write(tensors[io.positions].data, pos, N * 4);
  device->write(tensors[io.slots].data, slots, N * 4);
  device->write(tensors[io.out_rows].data, out_rows, R * 4);
  if (io.types >= 0) device->write(tensors[io.types].data, types, N * 4);
  if (io.blocks >= 0 && blocks) {
    check_blocks(blocks, pos, slots, N);
    device->write(tensors[io.blocks].data, blocks, (size_t)(max_slots_ * blocks_per_slot_) * 4);
    identity_blocks_ = false;
  } else if (io.blocks >= 0) {
    for (int64_t n = 0; n < N; n++)
      if ((int64_t)slots[n] * blocks_per_slot_ + pos[n] / block_size_ >= kv_blocks_)
        throw GraphError("slot " + std::to_string(slots[n]) + " position " + std::to_string(pos[n]) +
                         " is past the KV pool's " + std::to_string(kv_blocks_) + " blocks: give a block table");
    if (!identity_blocks_) write_identity_blocks();
  }
  if (forward_only && forward_nodes < 0) throw GraphError("this graph has no forward part to run alone");
  execute(nth, forward_only);
  if (R > 0) device->read(logits, tensors[io.output].data, (size_t)R * out_cols() * 4);
}

}  // namespace kiln
