// Matmul against F32/F16/BF16 weights on ARM64 NEON: out (N,M) = x (N,K) · wᵀ (+ bias), w (M,K).
// Returns false for (K,M) weights (GPT-2's Conv1D), which the portable kernel takes.
//
// Every output element is summed in one fixed order, whatever the tiling, the thread count or the
// number of rows N, so a row's result is bit-identical alone or in a batch:
//   one 4-lane FMA chain over k = 0, 4, 8, .. (K rounded down to 4), lanes reduced as
//   (a0+a2)+(a1+a3), then the K%4 tail by scalar FMA in k order, then + bias.
// Register tiles of up to 4 x rows × 4 weight rows (16 accumulators of the 32 registers); F16 and
// BF16 weights are widened to f32 as they are loaded (vcvt_f32_f16, and a 16-bit shift for BF16),
// once per tile for up to 4 rows of x. Threads split the output features M, so each weight row is
// streamed from memory by one thread; x is walked in blocks that stay in L2 while a block of
// weight rows passes over them.
#include "cpu/arch.h"
#if KILN_ARM64  // the whole file: ARM64 only (arch.h)

#include <arm_neon.h>

#include <cmath>

#include "kernels.h"

namespace kiln {
namespace {

constexpr int kRows = 4;                     // x rows per tile
constexpr int kCols = 4;                     // weight rows per tile
constexpr int64_t kXBlockBytes = 256 << 10;  // bytes of x rows per block: about half of a typical L2

template <DType T>
inline float32x4_t load_w(const void* w, int64_t i) {
  if constexpr (T == DType::F32) {
    return vld1q_f32((const float*)w + i);
  } else if constexpr (T == DType::F16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t*)w + i)));
  } else {  // BF16: the high 16 bits of an f32
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t*)w + i), 16));
  }
}

inline float lane_sum(float32x4_t a) {
  const float32x2_t b = vadd_f32(vget_low_f32(a), vget_high_f32(a));
  return vget_lane_f32(b, 0) + vget_lane_f32(b, 1);
}

// out rows n0..n0+R-1, columns m0..m0+C-1.
template <DType T, int R, int C>
void tile(float* out, const float* x, const void* w, const float* bias, int64_t n0, int64_t m0, int64_t K,
          int64_t M) {
  float32x4_t acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32(0.f);
  const int64_t K4 = K & ~(int64_t)3;
  const float* xr[R];
  for (int r = 0; r < R; r++) xr[r] = x + (n0 + r) * K;
  for (int64_t k = 0; k < K4; k += 4) {
    float32x4_t wv[C];
    for (int c = 0; c < C; c++) wv[c] = load_w<T>(w, (m0 + c) * K + k);
    for (int r = 0; r < R; r++) {
      const float32x4_t xv = vld1q_f32(xr[r] + k);
      for (int c = 0; c < C; c++) acc[r][c] = vfmaq_f32(acc[r][c], xv, wv[c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) {
      float s = lane_sum(acc[r][c]);
      for (int64_t k = K4; k < K; k++) s = std::fma(xr[r][k], load_as_f32(w, T, (m0 + c) * K + k), s);
      out[(n0 + r) * M + m0 + c] = s + (bias ? bias[m0 + c] : 0.f);
    }
}

template <DType T>
using TileFn = void(float*, const float*, const void*, const float*, int64_t, int64_t, int64_t, int64_t);

template <DType T, int R>
TileFn<T>* tile_of_cols(int cols) {
  switch (cols) {
    case 1:
      return tile<T, R, 1>;
    case 2:
      return tile<T, R, 2>;
    case 3:
      return tile<T, R, 3>;
    default:
      return tile<T, R, 4>;
  }
}

template <DType T>
TileFn<T>* tile_of(int rows, int cols) {
  switch (rows) {
    case 1:
      return tile_of_cols<T, 1>(cols);
    case 2:
      return tile_of_cols<T, 2>(cols);
    case 3:
      return tile_of_cols<T, 3>(cols);
    default:
      return tile_of_cols<T, 4>(cols);
  }
}

template <DType T>
void matmul_rows(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K, int64_t M,
                 int64_t s, int64_t e) {
  const int64_t block = K * (int64_t)sizeof(float) >= kXBlockBytes ? 1 : kXBlockBytes / (K * (int64_t)sizeof(float));
  for (int64_t nb = 0; nb < N; nb += block) {
    const int64_t ne = nb + block < N ? nb + block : N;
    for (int64_t m = s; m < e; m += kCols) {
      const int cols = (int)(e - m < kCols ? e - m : kCols);
      for (int64_t n = nb; n < ne; n += kRows) {
        const int rows = (int)(ne - n < kRows ? ne - n : kRows);
        tile_of<T>(rows, cols)(out, x, w, bias, n, m, K, M);
      }
    }
  }
}

}  // namespace

bool matmul_neon(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t M, bool w_kxm, int ith, int nth) {
  if (w_kxm) return false;
  int64_t s, e;
  split_range(M, ith, nth, &s, &e);
  switch (dt) {
    case DType::F32:
      if (s < e) matmul_rows<DType::F32>(out, x, w, bias, N, K, M, s, e);
      return true;
    case DType::F16:
      if (s < e) matmul_rows<DType::F16>(out, x, w, bias, N, K, M, s, e);
      return true;
    case DType::BF16:
      if (s < e) matmul_rows<DType::BF16>(out, x, w, bias, N, K, M, s, e);
      return true;
    default:
      return false;
  }
}

}  // namespace kiln

#endif  // KILN_ARM64
