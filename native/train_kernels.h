// Kernel signatures of the training ops (ops/ops.h, after slice_cols): forward ops that only training
// graphs use, the backward of each forward op (llm.c style, `<op>_backward` beside `<op>`), the
// causal-LM loss and AdamW. Included by kernels.h before the Backend table, whose fields they type.
// Gradient outputs marked += accumulate into a fixed tensor (a parameter's gradient, summed over the
// nodes and micro-batches that reach it); adamw zeroes them after the update. Everything else
// writes every element of its output.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace kiln {

// out (N,NH*HS): row n attends to the rows of its own sequence up to itself (causal, GQA), over
// the step's own k, v (N,NKV*HS), no cache: a training step's rows are whole sequences laid end to
// end, each from position 0 (kernels.h: for_each_sequence). scratch: nth * N floats.
using causal_attention_kernel = void(float* out, const float* q, const float* k, const float* v, const int32_t* pos,
                                     int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch,
                                     int ith, int nth);
// out (N, NH*HS + 2*NKV*HS) = [dq | dk | dv] of causal_attention given dy (N,NH*HS); the scores
// are recomputed, not stored. scratch: nth * 2N floats.
using causal_attention_backward_kernel = void(float* out, const float* dy, const float* q, const float* k,
                                              const float* v, const int32_t* pos, int64_t N, int64_t NH,
                                              int64_t NKV, int64_t HS, float scale, float* scratch, int ith,
                                              int nth);
// out (n) = s · x (n)
using scale_kernel = void(float* out, const float* x, int64_t n, float s, int ith, int nth);
// out (N,C) = x · keep / (1 - p): keep[n,c] = a hash of (seed, salt, n, c) ≥ p, so the same op on
// dy (same seed, salt and rows) is dropout's backward. seed: two 16-bit halves as floats, written
// per step, then 1 to drop or 0 to pass x through (evaluation); salt tells the graph's dropout
// nodes apart.
inline float dropout_uniform(uint32_t seed, int64_t salt, int64_t index) {
  uint64_t z = ((uint64_t)seed << 32) ^ ((uint64_t)salt * 0x9E3779B97F4A7C15ull) ^ (uint64_t)index;
  z += 0x9E3779B97F4A7C15ull;  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(z >> 40) * (1.f / 16777216.f);
}
inline uint32_t dropout_seed(const float* seed) { return (uint32_t)seed[0] | ((uint32_t)seed[1] << 16); }
constexpr int kDropoutSeed = 3;
using dropout_kernel = void(float* out, const float* x, const float* seed, int64_t N, int64_t C, float p,
                            int64_t salt, int ith, int nth);
// dw += dyᵀ · x: dw (M,K), or (K,M) when w_kxm (the layout of the forward's weight); dy (N,M), x (N,K)
using matmul_backward_weight_kernel = void(float* dw, const float* dy, const float* x, int64_t N, int64_t K,
                                           int64_t M, bool w_kxm, int ith, int nth);
// dx (N,K) = dy (N,M) · w (M,K): the input gradient of x·wᵀ for a weight of any dtype, block-quantized
// included (QLoRA's frozen base), dequantized a tile of rows and columns at a time, never whole.
// scratch: nth * kMatmulBackwardInputScratch floats.
constexpr int64_t kMatmulBackwardInputRows = 16, kMatmulBackwardInputCols = 512;
constexpr int64_t kMatmulBackwardInputScratch = kMatmulBackwardInputRows * kMatmulBackwardInputCols;
using matmul_backward_input_kernel = void(float* dx, const float* dy, const void* w, DType dt, int64_t N, int64_t K,
                                          int64_t M, float* scratch, int ith, int nth);
// dx (N,C) of out = (x - mean) / sqrt(var + eps) * w + b (GPT-2's norms; db is bias_backward)
using layernorm_backward_kernel = void(float* dx, const float* dy, const float* x, const float* w, int64_t N,
                                       int64_t C, float eps, int ith, int nth);
// dw (C) += Σ_n dy · (x - mean) / sqrt(var + eps)
using layernorm_backward_weight_kernel = void(float* dw, const float* dy, const float* x, int64_t N, int64_t C,
                                              float eps, int ith, int nth);
// dx (n) = dy · gelu'(x), exact (erf) or the tanh approximation, as gelu
using gelu_backward_kernel = void(float* dx, const float* dy, const float* x, int64_t n, bool tanh_approx, int ith,
                                  int nth);
// dx (N,C): dy (N,W) in columns [start, start+W), zero elsewhere (slice_cols' backward: GPT-2's
// fused q/k/v projection, sliced three ways)
using slice_cols_backward_kernel = void(float* dx, const float* dy, int64_t N, int64_t C, int64_t start, int64_t W,
                                        int ith, int nth);
// db (M) += Σ_n dy (N,M)
using bias_backward_kernel = void(float* db, const float* dy, int64_t N, int64_t M, int ith, int nth);
// dx (N,C) of out = x / rms(x) * w
using rmsnorm_backward_kernel = void(float* dx, const float* dy, const float* x, const float* w, int64_t N, int64_t C,
                                     float eps, int ith, int nth);
// dw (C) += Σ_n dy · x / rms(x)
using rmsnorm_backward_weight_kernel = void(float* dw, const float* dy, const float* x, int64_t N, int64_t C,
                                            float eps, int ith, int nth);
// dx (N,H*HS): dy rotated back (by -pos·inv_freq), rope's pairing
using rope_backward_kernel = void(float* dx, const float* dy, const int32_t* pos, const float* inv_freq, int64_t N,
                                  int64_t H, int64_t HS, bool interleaved, int ith, int nth);
// out (N,2F) = [dgate | dup] of silu(gate) * up, gate/up/dy (N,F)
using silu_mul_backward_kernel = void(float* out, const float* dy, const float* gate, const float* up, int64_t N,
                                      int64_t F, int ith, int nth);
// dtable (V,C) += dy (N,C) scattered to rows ids (N)
using embedding_backward_kernel = void(float* dtable, const float* dy, const int32_t* ids, int64_t N, int64_t C,
                                       int ith, int nth);
// loss (N) = logsumexp(logits[n]) - logits[n, targets[n]], 0 where targets[n] = -100
using cross_entropy_kernel = void(float* loss, const float* logits, const int32_t* targets, int64_t N, int64_t V,
                                  int ith, int nth);
// dlogits (N,V) = softmax(logits[n]) - onehot(targets[n]), a zero row where targets[n] = -100.
// Unscaled: the step's mean over counted tokens is applied by adamw's grad_scale.
using cross_entropy_backward_kernel = void(float* dlogits, const float* logits, const int32_t* targets, int64_t N,
                                           int64_t V, int ith, int nth);
// The chunked loss. stats (N,3) per row: m, the largest logit so far; s, Σ exp(logit - m) so far;
// t, the target's logit once its chunk has been seen (else 0). Each chunk (N,W) holds the
// vocabulary's columns v0..v0+W-1 and merges into prev's stats (null: the first chunk). Rows whose
// target is -100 get zeros throughout.
using cross_entropy_stats_kernel = void(float* stats, const float* logits, const int32_t* targets, const float* prev,
                                        int64_t N, int64_t W, int64_t v0, int ith, int nth);
// loss (N) = m + log(s) - t, 0 where the target is -100
using cross_entropy_loss_kernel = void(float* loss, const float* stats, const int32_t* targets, int64_t N, int ith,
                                       int nth);
// dlogits (N,W) of one chunk = exp(logit - m) / s - onehot(target - v0), a zero row where the target is -100
using cross_entropy_chunk_backward_kernel = void(float* dlogits, const float* logits, const int32_t* targets,
                                                 const float* stats, int64_t N, int64_t W, int64_t v0, int ith,
                                                 int nth);
// AdamW (PyTorch's, decoupled weight decay) on n elements: g = grad·grad_scale; param *= 1 - lr·wd;
// m, v updated; param -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps); then grad = 0.
// hyper: lr, beta1, beta2, eps, weight_decay, bc1 (1-beta1^t), bc2 (1-beta2^t), grad_scale.
constexpr int kAdamwHyper = 8;
using adamw_kernel = void(float* param, float* grad, float* m, float* v, const float* hyper, int64_t n, int ith,
                          int nth);

}  // namespace kiln
