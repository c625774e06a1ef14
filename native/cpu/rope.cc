// Rotary position embedding and its backward: rotate-half pairing (i, i + HS/2) as in transformers' Llama/Qwen2, or
// interleaved pairs (2i, 2i + 1) as llama.cpp's llama GGUF files expect.
// inv_freq carries every scaling variant (default, llama3) as data computed at load.
#include <cmath>

#include "kernels.h"

namespace kiln {

// Rotates each pair by sign · pos · inv_freq: rope is sign +1; its backward (the transpose of a
// rotation) is the rotation by the opposite angle.
static void rotate_pairs(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                         int64_t HS, bool interleaved, float sign, int ith, int nth) {
  int64_t s, e;
  split_range(N, ith, nth, &s, &e);
  const int64_t half = HS / 2;
  const int64_t stride = interleaved ? 2 : 1;  // element index of pair i: (i·stride, i·stride + off)
  const int64_t off = interleaved ? 1 : half;
  float cosv[512], sinv[512];  // HS ≤ 1024 is checked when the graph is built
  for (int64_t r = s; r < e; r++) {
    float p = (float)pos[r];
    for (int64_t i = 0; i < half; i++) {
      float a = p * inv_freq[i];
      cosv[i] = std::cos(a);
      sinv[i] = sign * std::sin(a);
    }
    for (int64_t h = 0; h < H; h++) {
      const float* xh = x + r * H * HS + h * HS;
      float* oh = out + r * H * HS + h * HS;
      for (int64_t i = 0; i < half; i++) {
        const int64_t a = i * stride, b = a + off;
        float x0 = xh[a], x1 = xh[b];
        oh[a] = x0 * cosv[i] - x1 * sinv[i];
        oh[b] = x1 * cosv[i] + x0 * sinv[i];
      }
    }
  }
}

void rope_cpu(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
              int64_t HS, bool interleaved, int ith, int nth) {
  rotate_pairs(out, x, pos, inv_freq, N, H, HS, interleaved, 1.f, ith, nth);
}

void rope_backward_cpu(float* dx, const float* dy, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                       int64_t HS, bool interleaved, int ith, int nth) {
  rotate_pairs(dx, dy, pos, inv_freq, N, H, HS, interleaved, -1.f, ith, nth);
}

}  // namespace kiln
