// Row and column copies: the rows whose logits a step wants (select_rows), and a column range
// (slice_cols). Rows are split across threads; each row is one memcpy.
#include <cstring>

#include "kernels.h"

namespace kiln {

void select_rows_cpu(float* out, const float* x, const int32_t* rows, int64_t R, int64_t C, int ith, int nth) {
  int64_t s, e;
  split_range(R, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) std::memcpy(out + r * C, x + (int64_t)rows[r] * C, C * sizeof(float));
}

void slice_cols_cpu(float* out, const float* x, int64_t N, int64_t C, int64_t start, int64_t W, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) std::memcpy(out + r * W, x + r * C + start, W * sizeof(float));
}

}  // namespace kiln
