// The input gradient through a frozen weight of any dtype: dx (N,K) = dy (N,M) · w (M,K). For
// QLoRA's quantized base, where the forward kernels only read w as rows against activation rows,
// this runs the other way round: a tile of w (rows × columns) is dequantized into the thread's
// scratch, and each dx row gathers dy's multipliers over the tile's rows. Threads own column ranges
// cut at block bounds, so every dx element is summed over m in order on one thread: the result does
// not depend on the thread count.
#include <algorithm>
#include <cstring>

#include "cpu/qweights.h"
#include "kernels.h"

namespace kiln {

// Columns [c0, c1) of row `row` of w (K wide) as floats; c0 and c1 on block bounds.
static void weight_cols_to_f32(const void* w, DType t, int64_t row, int64_t K, int64_t c0, int64_t c1, float* out) {
  const uint8_t* p = (const uint8_t*)w + dtype_bytes(t, row * K + c0);
  if (is_block_quant(t)) {
    quant_weight_kernels(t)->dequantize(p, out, c1 - c0);
  } else if (t == DType::F32) {
    std::memcpy(out, p, (size_t)(c1 - c0) * 4);
  } else {
    for (int64_t i = 0; i < c1 - c0; i++) out[i] = load_as_f32(p, t, i);
  }
}

void matmul_backward_input_cpu(float* dx, const float* dy, const void* w, DType dt, int64_t N, int64_t K, int64_t M,
                               float* scratch, int ith, int nth) {
  const int64_t block = is_block_quant(dt) ? dtype_info(dt).block : 1;
  int64_t b0, b1;
  split_range(K / block, ith, nth, &b0, &b1);
  const int64_t TR = kMatmulBackwardInputRows;
  // Tile width: whole blocks, at most kMatmulBackwardInputCols (a multiple of every block size).
  const int64_t TC = std::max(block, kMatmulBackwardInputCols / block * block);
  float* tile = scratch + (int64_t)ith * kMatmulBackwardInputScratch;
  for (int64_t c0 = b0 * block; c0 < b1 * block; c0 += TC) {
    const int64_t c1 = std::min(c0 + TC, b1 * block), width = c1 - c0;
    for (int64_t n = 0; n < N; n++) std::fill(dx + n * K + c0, dx + n * K + c1, 0.f);
    for (int64_t m0 = 0; m0 < M; m0 += TR) {
      const int64_t rows = std::min(TR, M - m0);
      for (int64_t r = 0; r < rows; r++) weight_cols_to_f32(w, dt, m0 + r, K, c0, c1, tile + r * width);
      for (int64_t n = 0; n < N; n++) {
        float* d = dx + n * K + c0;
        const float* g = dy + n * M + m0;
        int64_t r = 0;
        // Four rows at a time, added left to right: the same sums as one row at a time, with a
        // quarter of the loads and stores of d.
        for (; r + 4 <= rows; r += 4) {
          const float a0 = g[r], a1 = g[r + 1], a2 = g[r + 2], a3 = g[r + 3];
          const float *t0 = tile + r * width, *t1 = t0 + width, *t2 = t1 + width, *t3 = t2 + width;
          for (int64_t j = 0; j < width; j++) d[j] = (((d[j] + a0 * t0[j]) + a1 * t1[j]) + a2 * t2[j]) + a3 * t3[j];
        }
        for (; r < rows; r++) {
          const float a = g[r];
          const float* t = tile + r * width;
          for (int64_t j = 0; j < width; j++) d[j] += a * t[j];
        }
      }
    }
  }
}

}  // namespace kiln
