// The CPU backend table: the fast kernels of cpu/.
#include "kernels.h"

namespace kiln {

void embedding_cpu(float*, const void*, DType, const int32_t*, int64_t, int64_t, int, int);
void rmsnorm_cpu(float*, const float*, const float*, int64_t, int64_t, float, int, int);
void layernorm_cpu(float*, const float*, const float*, const float*, int64_t, int64_t, float, int, int);
void rope_cpu(float*, const float*, const int32_t*, const float*, int64_t, int64_t, int64_t, bool, int, int);
void kv_store_cpu(float*, float*, const float*, const float*, const int32_t*, const int32_t*, int64_t, int64_t,
                  int64_t, int64_t, int, int);
void attention_cpu(float*, const float*, const float*, const float*, const int32_t*, const int32_t*, int64_t,
                   int64_t, int64_t, int64_t, int64_t, float, float*, int, int);
void add_cpu(float*, const float*, const float*, int64_t, int, int);
void silu_mul_cpu(float*, const float*, const float*, int64_t, int, int);
void gelu_cpu(float*, const float*, int64_t, bool, int, int);
void softmax_cpu(float*, const float*, int64_t, int64_t, int, int);

const Backend& cpu_backend() {
  static const Backend b = {"cpu",         embedding_cpu, matmul_forward, matmul_scratch, rmsnorm_cpu,
                            layernorm_cpu, rope_cpu,      kv_store_cpu,   attention_cpu,  add_cpu,
                            silu_mul_cpu,  gelu_cpu,      softmax_cpu};
  return b;
}

}  // namespace kiln
