// Matmul against F32/F16/BF16 weights (block-quantized ones go to qmatmul.cc): out (N,M) = x (N,K) · wᵀ (+ bias). Picks the
// AVX-512 kernel (matmul_avx512.cc), else the AVX2+FMA one (matmul_avx2.cc), when the CPU has them (on ARM64 the NEON one,
// matmul_neon.cc), else this portable one. Threads split the output features M, so
// each weight row is streamed from memory by exactly one thread.
#include <algorithm>

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "cpu/dot.h"
#include "cpu/qweights.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
bool matmul_avx2(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t M, bool w_kxm, float* packed, int ith, int nth);
size_t matmul_avx2_scratch(DType dt, int64_t K, bool w_kxm);
bool matmul_avx512(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                   int64_t M, bool w_kxm, float* packed, int ith, int nth);
size_t matmul_avx512_scratch(DType dt, int64_t K);
bool matmul_avx512_gemm(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                        int64_t M, float* panel, int ith, int nth);
size_t matmul_avx512_gemm_scratch(DType dt, int64_t K);
#endif
#if KILN_ARM64
bool matmul_neon(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t M, bool w_kxm, int ith, int nth);  // matmul_neon.cc
#endif

// row: K floats, one F16/BF16 weight row converted to f32.
static void matmul_portable(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                            int64_t K, int64_t M, bool w_kxm, float* row, int ith, int nth) {
  int64_t s, e;
  split_range(M, ith, nth, &s, &e);
  if (s >= e) return;
  if (w_kxm) {  // w (K,M): accumulate rows of w scaled by x
    for (int64_t n = 0; n < N; n++) {
      float* o = out + n * M;
      for (int64_t m = s; m < e; m++) o[m] = bias ? bias[m] : 0.f;
      for (int64_t k = 0; k < K; k++) {
        float xv = x[n * K + k];
        for (int64_t m = s; m < e; m++) o[m] += xv * load_as_f32(w, dt, k * M + m);
      }
    }
    return;
  }
  size_t esz = dtype_info(dt).block_bytes;
  for (int64_t m = s; m < e; m++) {
    const float* wr;
    if (dt == DType::F32) {
      wr = (const float*)w + m * K;
    } else {
      const uint8_t* src = (const uint8_t*)w + (size_t)m * K * esz;
      for (int64_t k = 0; k < K; k++) row[k] = load_as_f32(src, dt, k);
      wr = row;
    }
    for (int64_t n = 0; n < N; n++) out[n * M + m] = dot_f32(x + n * K, wr, K) + (bias ? bias[m] : 0.f);
  }
}

ScratchSize matmul_scratch_cpu(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm, bool gemm) {
  if (is_block_quant(dt)) return matmul_quant_scratch(dt, N, K);
  size_t own = dt == DType::F32 ? 0 : (size_t)K * sizeof(float);  // the portable row
#if KILN_X86
  if (cpu_features().avx2_fma) own = std::max(own, matmul_avx2_scratch(dt, K, w_kxm));
  if (cpu_features().avx512()) own = std::max(own, matmul_avx512_scratch(dt, K));
  if (cpu_features().avx512() && gemm && !w_kxm) own = std::max(own, matmul_avx512_gemm_scratch(dt, K));
#endif
  return {0, own};
}

void matmul_cpu(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                int64_t M, bool w_kxm, bool gemm, const Scratch& scratch, int ith, int nth) {
  if (is_block_quant(dt)) return matmul_quant(out, x, w, dt, bias, N, K, M, scratch, ith, nth);
  float* own = (float*)scratch.own;
#if KILN_X86
  // Only the AVX-512 tier has a GEMM order of its own; the others sum alike for both.
  if (gemm && !w_kxm && cpu_features().avx512() && matmul_avx512_gemm(out, x, w, dt, bias, N, K, M, own, ith, nth))
    return;
  if (cpu_features().avx512() && matmul_avx512(out, x, w, dt, bias, N, K, M, w_kxm, own, ith, nth)) return;
  if (cpu_features().avx2_fma && matmul_avx2(out, x, w, dt, bias, N, K, M, w_kxm, own, ith, nth)) return;
#endif
#if KILN_ARM64
  if (cpu_features().neon && matmul_neon(out, x, w, dt, bias, N, K, M, w_kxm, ith, nth)) return;
#endif
  matmul_portable(out, x, w, dt, bias, N, K, M, w_kxm, own, ith, nth);
}

}  // namespace kiln
