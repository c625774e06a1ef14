// The weight gradient of matmul: dW += dyᵀ · x. Threads split dW's rows. On AVX-512 CPUs a packed
// GEMM (train_matmul_avx512.cc); elsewhere each row block streams the step's rows once for four
// output rows at a time, so x (or dy) is read a quarter as often.
#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "kernels.h"

namespace kiln {

#if KILN_X86
void accumulate_outer_avx512(float* dst, const float* a, int64_t A, const float* b, int64_t L, int64_t N, int64_t s,
                             int64_t e);
#endif

// dst (R,L) += aᵀ · b over N rows: a (N, A) supplies dst's rows [s, e) (column r of a), b (N, L).
static void accumulate_outer(float* dst, const float* a, int64_t A, const float* b, int64_t L, int64_t N, int64_t s,
                             int64_t e) {
  if (s >= e) return;
#if KILN_X86
  if (cpu_features().avx512()) return accumulate_outer_avx512(dst, a, A, b, L, N, s, e);
#endif
  int64_t r = s;
  for (; r + 4 <= e; r += 4) {
    float *d0 = dst + r * L, *d1 = d0 + L, *d2 = d1 + L, *d3 = d2 + L;
    for (int64_t n = 0; n < N; n++) {
      const float* an = a + n * A + r;
      float a0 = an[0], a1 = an[1], a2 = an[2], a3 = an[3];
      if (a0 == 0.f && a1 == 0.f && a2 == 0.f && a3 == 0.f) continue;  // ignored rows of the loss
      const float* bn = b + n * L;
      for (int64_t l = 0; l < L; l++) {
        float bv = bn[l];
        d0[l] += a0 * bv;
        d1[l] += a1 * bv;
        d2[l] += a2 * bv;
        d3[l] += a3 * bv;
      }
    }
  }
  for (; r < e; r++) {
    float* d = dst + r * L;
    for (int64_t n = 0; n < N; n++) {
      float av = a[n * A + r];
      if (av == 0.f) continue;
      const float* bn = b + n * L;
      for (int64_t l = 0; l < L; l++) d[l] += av * bn[l];
    }
  }
}

void matmul_backward_weight_cpu(float* dw, const float* dy, const float* x, int64_t N, int64_t K, int64_t M,
                                bool w_kxm, int ith, int nth) {
  int64_t s, e;
  if (w_kxm) {  // dW (K,M): row k = Σ_n x[n,k] · dy[n,:]
    split_range(K, ith, nth, &s, &e);
    accumulate_outer(dw, x, K, dy, M, N, s, e);
  } else {  // dW (M,K): row m = Σ_n dy[n,m] · x[n,:]
    split_range(M, ith, nth, &s, &e);
    accumulate_outer(dw, dy, M, x, K, N, s, e);
  }
}

}  // namespace kiln
