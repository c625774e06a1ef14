// A built forward graph: tensors (weights, KV cache, planned activation buffers) and the node list,
// run on a device in one call per step. Built once per model; every step feeds token ids,
// positions and sequence slots for N ragged rows and gets logits for the R rows it asks for.
// The graph checks shapes and plans memory; the device (device.h) holds the memory and runs.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device.h"
#include "kernels.h"
#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

struct GraphInputs {
  int tokens = -1;    // (N) i32
  int positions = -1; // (N) i32
  int slots = -1;     // (N) i32
  int out_rows = -1;  // (R) i32, indices into the N rows
  int types = -1;     // (N) i32 token type ids (BERT's segments); absent (-1) in graphs that have none
  int blocks = -1;    // (S, MB) i32 KV block table (kernels.h); absent in graphs without a KV cache
  int output = -1;    // (R, V) f32
  int targets = -1;   // (N) i32 next-token labels, -100 ignored (training graphs: train.h)
  int hyper = -1;     // (8) f32 optimizer hyperparameters written by update() (training graphs)
};

class Graph {
 public:
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;
  // Training graphs: the optimizer's nodes, run by update() after one or more steps have summed
  // the gradients (nodes above: forward, loss and backward). They touch fixed tensors only.
  std::vector<Node> update_nodes;
  // Training graphs: the first forward_nodes nodes compute the loss; a step asked to skip the
  // backward (evaluation) runs only those, and leaves the gradients as they are.
  int64_t forward_nodes = -1;
  GraphInputs io;
  std::unique_ptr<Device> device;
  std::mutex run_mu;  // one step at a time per graph (async steps come from the libuv pool)

  // Checks every node's shapes and dtypes, places the weights on the device and allocates the
  // planned activation buffers and KV cache there.
  // Memory it allocates (owned tensors, activations, kernel scratch) is bounded by mem_limit bytes,
  // checked from the declared shapes before anything is allocated.
  void finalize(uint64_t mem_limit);
  // For single-op graphs (kernel tests): checks the node, places the tensors that came with data
  // and gives every other tensor a zeroed buffer of its own; every row count is its shape's.
  // The index tensors given with data (ids, positions, slots, rows, block tables) are checked
  // against what they index, as a graph's run() checks the step's inputs.
  void finalize_op(uint64_t mem_limit);
  // Runs the node list on nth threads over the tensors as they are.
  void execute(int nth, bool forward_only = false);
  // Runs one step on nth threads; writes R * out_cols() floats to logits. types: (N) token types,
  // required by graphs that read them, else ignored (may be null). blocks: the (S, MB) KV block
  // table, or null for the identity table (slot s owns blocks s*MB .. s*MB+MB-1, where they exist).
  // targets: (N) next-token labels, required by training graphs (io.targets), else ignored.
  void run(const int32_t* tokens, const int32_t* pos, const int32_t* slots, const int32_t* types, const int32_t* blocks,
           int64_t N, const int32_t* out_rows, int64_t R, float* logits, int nth, const int32_t* targets = nullptr,
           bool forward_only = false);
  // Training graphs: writes the kAdamwHyper hyperparameters and runs the update nodes.
  void update(const float* hyper, int nth);
  // Σ x² over the given f32 tensors (the gradients' global norm, for clipping), in double.
  double sum_squares(const std::vector<int>& ids) const;
  // Overwrites fixed f32 tensor t (a parameter, an optimizer moment) with floats from src.
  void write_tensor(int t, const float* src, size_t count);
  // Copies tensor t's bytes (all its rows) from the device to dst.
  void read(int t, void* dst) const;

  int64_t max_rows() const { return tensors[io.tokens].shape[0]; }
  int64_t max_out_rows() const { return tensors[io.out_rows].shape[0]; }
  int64_t vocab() const { return vocab_; }
  int64_t out_cols() const { return tensors[io.output].row_elems(); }
  int64_t positions() const { return max_pos_; }
  int64_t slots() const { return max_slots_; }
  int64_t kv_blocks() const { return kv_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t blocks_per_slot() const { return blocks_per_slot_; }
  size_t activation_bytes() const { return activation_bytes_; }

 private:
  void check();
  void check_views() const;
  void resolve_views();
  // Memory the graph allocated: an owned tensor, or a view of one (nodes may write those).
  bool owned_memory(const Tensor& t) const {
    return t.storage == Storage::Owned || (t.storage == Storage::View && tensors[t.view_of].storage == Storage::Owned);
  }
  void check_io();
  void check_memory(uint64_t mem_limit) const;
  void check_op_indices() const;
  void check_node(size_t index, const Node& nd);
  void check_train_node(size_t index, const Node& nd);  // graph_train.cc
  void check_update_nodes();                            // graph_train.cc
  void check_targets(const int32_t* targets, int64_t N) const;
  void place_weights();
  void plan_buffers();
  const ScratchPlan& scratch_plan();

  ScratchPlan scratch_;
  bool scratch_planned_ = false;
  int64_t vocab_ = 0, max_pos_ = 0, max_slots_ = 0, pos_table_ = 0, type_vocab_ = 0, bidir_rows_ = 0,
          bidir_scratch_ = 0, kv_len_ = 0, kv_blocks_ = 0, block_size_ = 0, blocks_per_slot_ = 0;
  int64_t targets_vocab_ = 0;
  bool causal_ = false;
  std::vector<Node> forward_list_;  // nodes[0, forward_nodes)  // in-step causal attention: positions are bounded by the step's rows
  bool identity_blocks_ = false;  // the block table on the device is the identity table
  void write_identity_blocks();
  void check_blocks(const int32_t* blocks, const int32_t* pos, const int32_t* slots, int64_t N) const;
  size_t activation_bytes_ = 0;
};

}  // namespace kiln
