// Kernel signatures shared by every backend. A backend is a table of these function pointers;
// the fast CPU kernels and their plain-loop reference twins (ref/) have identical signatures.
// Every kernel is called by all nth threads of a step with its own ith and splits the work itself.
// Shapes: N token rows, C channels, K/M matmul in/out features, H heads, HS head size, P positions.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace kiln {

// Memory a kernel works in. Kernels run in pool threads, where running out of memory could only
// abort the process, so they never allocate: the graph sizes each kernel's scratch from the
// backend's *_scratch functions and allocates it before the step, on the calling thread, where a
// failure is a JS error. `shared` is one buffer every thread of the step sees; `own` is this
// thread's alone. Both 64-byte aligned.
struct Scratch {
  uint8_t* shared = nullptr;
  uint8_t* own = nullptr;
};
struct ScratchSize {
  size_t shared = 0, own = 0;
};

// Bytes rounded up to whole cache lines, so buffers carved one after another stay aligned.
inline size_t cache_lines(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

struct Backend {
  const char* name;
  // out (N,C) = table[ids] ; table (V,C) of dtype dt
  void (*embedding)(float* out, const void* table, DType dt, const int32_t* ids, int64_t N, int64_t C,
                    int ith, int nth);
  // out (N,M) = x (N,K) · wᵀ + bias ; w (M,K) of dtype dt, or (K,M) when w_kxm (GPT-2 Conv1D)
  void (*matmul)(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                 int64_t K, int64_t M, bool w_kxm, const Scratch& scratch, int ith, int nth);
  // What matmul needs for steps of up to N rows.
  ScratchSize (*matmul_scratch)(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm);
  // out (N,C) = x / rms(x) * w
  void (*rmsnorm)(float* out, const float* x, const float* w, int64_t N, int64_t C, float eps, int ith,
                  int nth);
  // out (N,C) = (x - mean) / sqrt(var + eps) * w + b
  void (*layernorm)(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t C,
                    float eps, int ith, int nth);
  // out (N,H*HS) = x rotated by pos·inv_freq. Pairing (i, i+HS/2) rotate-half (GPT-NeoX,
  // transformers); interleaved pairs (2i, 2i+1) for llama.cpp's llama GGUF files, whose q/k rows
  // are permuted for it.
  void (*rope)(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
               int64_t HS, bool interleaved, int ith, int nth);
  // kcache/vcache (S,NKV,P,HS)[slot[n], :, pos[n], :] = k/v (N,NKV*HS)[n]
  void (*kv_store)(float* kcache, float* vcache, const float* k, const float* v, const int32_t* pos,
                   const int32_t* slot, int64_t N, int64_t NKV, int64_t P, int64_t HS, int ith, int nth);
  // out (N,NH*HS): row n attends to positions 0..pos[n] of its slot's cache (causal, GQA)
  // scratch: nth * P floats
  void (*attention)(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                    const int32_t* slot, int64_t N, int64_t NH, int64_t NKV, int64_t P, int64_t HS, float scale,
                    float* scratch, int ith, int nth);
  void (*add)(float* out, const float* a, const float* b, int64_t n, int ith, int nth);
  void (*silu_mul)(float* out, const float* gate, const float* up, int64_t n, int ith, int nth);
  void (*gelu)(float* out, const float* x, int64_t n, bool tanh_approx, int ith, int nth);
  void (*softmax)(float* out, const float* x, int64_t N, int64_t C, int ith, int nth);
};

const Backend& cpu_backend();
const Backend& ref_backend();

// Fast matmul entry (cpu/matmul.cc picks AVX2 or portable at run time).
void matmul_forward(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                    int64_t K, int64_t M, bool w_kxm, const Scratch& scratch, int ith, int nth);
ScratchSize matmul_scratch(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm);
void matmul_forward_ref(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                        int64_t K, int64_t M, bool w_kxm, const Scratch& scratch, int ith, int nth);
ScratchSize matmul_scratch_ref(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm);

// Splits [0, n) into nth nearly equal contiguous ranges.
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  int64_t per = n / nth, extra = n % nth;
  *begin = ith * per + (ith < extra ? ith : extra);
  *end = *begin + per + (ith < extra ? 1 : 0);
}

}  // namespace kiln
