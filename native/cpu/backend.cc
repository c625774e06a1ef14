// The CPU backend table: the fast kernels of cpu/, declared here by hand (not from the op list) so
// that an op without a cpu kernel fails to compile at KILN_BACKEND(cpu).
#include "kernels.h"

namespace kiln {

embedding_kernel embedding_cpu;            // embedding.cc
matmul_kernel matmul_cpu;                  // matmul.cc (block weights: qmatmul.cc)
matmul_scratch_kernel matmul_scratch_cpu;  // matmul.cc
rmsnorm_kernel rmsnorm_cpu;                // norm.cc
layernorm_kernel layernorm_cpu;            // norm.cc
rope_kernel rope_cpu;                      // rope.cc
kv_store_kernel kv_store_cpu;              // attention.cc
attention_kernel attention_cpu;            // attention.cc
bidir_attention_kernel bidir_attention_cpu;  // attention.cc
add_kernel add_cpu;                        // elementwise.cc
mul_kernel mul_cpu;                        // elementwise.cc
silu_mul_kernel silu_mul_cpu;              // elementwise.cc
gelu_kernel gelu_cpu;                      // elementwise.cc
tanh_kernel tanh_cpu;                      // elementwise.cc
relu_kernel relu_cpu;                      // elementwise.cc
softmax_kernel softmax_cpu;                // elementwise.cc
select_rows_kernel select_rows_cpu;        // copy.cc
slice_cols_kernel slice_cols_cpu;          // copy.cc
causal_attention_kernel causal_attention_cpu;                    // train_attention.cc
causal_attention_backward_kernel causal_attention_backward_cpu;  // train_attention.cc
scale_kernel scale_cpu;                                          // train_ops.cc
dropout_kernel dropout_cpu;                                      // train_ops.cc
matmul_backward_weight_kernel matmul_backward_weight_cpu;        // train_matmul.cc
matmul_backward_input_kernel matmul_backward_input_cpu;          // train_qmatmul.cc
bias_backward_kernel bias_backward_cpu;                          // train_ops.cc
rmsnorm_backward_kernel rmsnorm_backward_cpu;                    // train_ops.cc
rmsnorm_backward_weight_kernel rmsnorm_backward_weight_cpu;      // train_ops.cc
rope_backward_kernel rope_backward_cpu;                          // rope.cc
silu_mul_backward_kernel silu_mul_backward_cpu;                  // train_ops.cc
embedding_backward_kernel embedding_backward_cpu;                // train_ops.cc
cross_entropy_kernel cross_entropy_cpu;                          // train_ops.cc
cross_entropy_backward_kernel cross_entropy_backward_cpu;        // train_ops.cc
adamw_kernel adamw_cpu;                                          // train_ops.cc
layernorm_backward_kernel layernorm_backward_cpu;                // train_gpt2.cc
layernorm_backward_weight_kernel layernorm_backward_weight_cpu;  // train_gpt2.cc
gelu_backward_kernel gelu_backward_cpu;                          // train_gpt2.cc
slice_cols_backward_kernel slice_cols_backward_cpu;              // train_gpt2.cc
cross_entropy_stats_kernel cross_entropy_stats_cpu;              // train_ops.cc
cross_entropy_loss_kernel cross_entropy_loss_cpu;                // train_ops.cc
cross_entropy_chunk_backward_kernel cross_entropy_chunk_backward_cpu;  // train_ops.cc

const Backend& cpu_backend() {
  static const Backend b = KILN_BACKEND(cpu);
  return b;
}

}  // namespace kiln
