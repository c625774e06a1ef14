// RMSNorm (llama, qwen2) and LayerNorm (gpt2), rows split across threads. Each row is summed by
// one thread in a fixed order, so a row's result does not depend on the batch it came in.
#include <cmath>

#include "kernels.h"

namespace kiln {

void rmsnorm_cpu(float* out, const float* x, const float* w, int64_t N, int64_t C, float eps, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  for (int64_t r = s; r < e; r++) {
    const float* xr = x + r * C;
    float* o = out + r * C;
    float ss = 0.f;
    for (int64_t c = 0; c < C; c++) ss += xr[c] * xr[c];
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
    float mean = 0.f;
    for (int64_t c = 0; c < C; c++) mean += xr[c];
    mean /= (float)C;
    float var = 0.f;
    for (int64_t c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
    var /= (float)C;
    float inv = 1.f / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; c++) o[c] = (xr[c] - mean) * inv * w[c] + b[c];
  }
}

}  // namespace kiln
