// RMSNorm (llama, qwen2) and LayerNorm (gpt2, the encoders), rows split across threads. Each row
// is summed by one thread in a fixed order, so a row's result does not depend on the batch it
// came in: kLanes running sums (element c into sum c mod kLanes), then the sums pairwise. Plain
// C++ that the compiler vectorizes at whatever width the build has, with the same bits; one
// running sum was a chain of dependent adds, ~4 cycles an element (14% of a bert-tiny forward).
#include <cmath>

#include "kernels.h"

namespace kiln {

namespace {

constexpr int kLanes = 16;

// ((a0+a8)+(a4+a12)) + ... : the pairwise tree over the lanes, in one fixed order.
inline float lane_total(float (&a)[kLanes]) {
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; j++) a[j] += a[j + w];
  return a[0];
}

// Σ f(x[c]) over the row, in the order above.
template <typename F>
inline float row_sum(const float* x, int64_t C, F f) {
  float a[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes)
    for (int j = 0; j < kLanes; j++) a[j] += f(x[c + j]);
  for (int j = 0; c + j < C; j++) a[j] += f(x[c + j]);
  return lane_total(a);
}

}  // namespace

void rmsnorm_cpu(float* out, const float* x, const float* w, int64_t N, int64_t C, float eps, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) {
    const float* xr = x + r * C;
    float* o = out + r * C;
    const float ss = row_sum(xr, C, [](float v) { return v * v; });
    // transformers: x * rsqrt(mean(x²) + eps), in float32, then * weight
    float inv = 1.f / std::sqrt(ss / (float)C + eps);
    for (int64_t c = 0; c < C; c++) o[c] = w[c] * (xr[c] * inv);
  }
}

void layernorm_cpu(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t C, float eps,
                   int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) {
    const float* xr = x + r * C;
    float* o = out + r * C;
    const float mean = row_sum(xr, C, [](float v) { return v; }) / (float)C;
    const float var = row_sum(xr, C, [mean](float v) { return (v - mean) * (v - mean); }) / (float)C;
    float inv = 1.f / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; c++) o[c] = (xr[c] - mean) * inv * w[c] + b[c];
  }
}

}  // namespace kiln
