// A built forward graph: tensors (mapped weights, KV cache, planned activation buffers) and the
// node list, executed natively in one call per step. Built once per model; every step feeds token
// ids, positions and sequence slots for N ragged rows and gets logits for the R rows it asks for.
#pragma once
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

struct GraphError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using CBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

struct GraphInputs {
  int tokens = -1;    // (N) i32
  int positions = -1; // (N) i32
  int slots = -1;     // (N) i32
  int out_rows = -1;  // (R) i32, indices into the N rows
  int output = -1;    // (R, V) f32
};

class Graph {
 public:
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;
  GraphInputs io;
  const Backend* backend = nullptr;
  std::mutex run_mu;  // one step at a time per graph (async steps come from the libuv pool)

  // Checks every node's shapes and dtypes, then plans and allocates activation buffers.
  void finalize();
  // Checks the nodes only (single-op graphs in tests own all their tensors).
  void check();
  // Runs the node list on nth threads over the tensors as they are.
  void execute(int nth);
  // Runs one step on nth threads; writes R * V floats to logits.
  void run(const int32_t* tokens, const int32_t* pos, const int32_t* slots, int64_t N, const int32_t* out_rows,
           int64_t R, float* logits, int nth);

  int64_t max_rows() const { return tensors[io.tokens].shape[0]; }
  int64_t max_out_rows() const { return tensors[io.out_rows].shape[0]; }
  int64_t vocab() const { return vocab_; }
  int64_t out_cols() const { return tensors[io.output].row_elems(); }
  int64_t positions() const { return max_pos_; }
  int64_t slots() const { return max_slots_; }
  size_t activation_bytes() const { return activation_bytes_; }

 private:
  void check_node(size_t index, const Node& nd);
  void plan_buffers();
  void exec(const Node& nd, const Scratch& scratch, int ith, int nth);
  void reserve_scratch(int nth);

  std::vector<CBuffer> buffers_;
  std::vector<float> scratch_;  // attention: nth * P floats
  // Kernel scratch (kernels.h): one shared buffer, and own_stride_ bytes per thread.
  ScratchSize scratch_need_;
  bool scratch_planned_ = false;
  CBuffer scratch_shared_, scratch_own_;
  size_t shared_bytes_ = 0, own_bytes_ = 0;
  int64_t vocab_ = 0, max_pos_ = 0, max_slots_ = 0;
  int max_threads_ = 0;
  size_t activation_bytes_ = 0;
};

}  // namespace kiln
