// Token (and learned position) embedding lookup; converts F16/BF16 and block-quantized rows to f32.
#include "cpu/qweights.h"
#include "kernels.h"

namespace kiln {

void embedding_cpu(float* out, const void* table, DType dt, const int32_t* ids, int64_t N, int64_t C, int ith,
                   int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) weight_row_to_f32(table, dt, ids[r], C, out + r * C);
}

}  // namespace kiln
