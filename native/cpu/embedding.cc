// Token (and learned position) embedding lookup; converts F16/BF16 rows to f32.
#include "kernels.h"

namespace kiln {

void embedding_cpu(float* out, const void* table, DType dt, const int32_t* ids, int64_t N, int64_t C, int ith,
                   int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  size_t esz = dtype_info(dt).size;
  for (int64_t r = s; r < e; r++) {
    const uint8_t* row = (const uint8_t*)table + (size_t)ids[r] * C * esz;
    float* o = out + r * C;
    if (dt == DType::F32) {
      std::memcpy(o, row, C * sizeof(float));
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = load_as_f32(row, dt, c);
    }
  }
}

}  // namespace kiln
