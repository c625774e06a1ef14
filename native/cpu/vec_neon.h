// ARM64 Advanced SIMD (4 lanes) as the vector type V of the kernel bodies written once over V
// (bidir_attention_simd.h, paged_attention_simd.h, elementwise_simd.h); the including file compiles
// them for it. NEON is part of ARMv8-A, so no target attribute is needed.
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#define KILN_TARGET
#define KILN_SIMD_NS neon
#define KILN_VEC_INLINE __attribute__((always_inline)) static inline

namespace kiln {
namespace neon {

struct V {
  static constexpr int W = 4;
  using vf = float32x4_t;
  KILN_VEC_INLINE uint32x4_t first(int64_t n) {  // lanes 0..n-1 set
    const uint32_t idx[4] = {0, 1, 2, 3};
    return vcltq_u32(vld1q_u32(idx), vdupq_n_u32((uint32_t)n));
  }
  KILN_VEC_INLINE vf zero() { return vdupq_n_f32(0.f); }
  KILN_VEC_INLINE vf set1(float f) { return vdupq_n_f32(f); }
  KILN_VEC_INLINE vf load(const float* p) { return vld1q_f32(p); }
  // Touches only p[0..n-1] (n < 4): the lanes past n read as 0.
  KILN_VEC_INLINE vf load_n(const float* p, int64_t n) {
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    std::memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
  }
  KILN_VEC_INLINE void store(float* p, vf v) { vst1q_f32(p, v); }
  KILN_VEC_INLINE void store_n(float* p, vf v, int64_t n) {
    float t[4];
    vst1q_f32(t, v);
    std::memcpy(p, t, (size_t)n * sizeof(float));
  }
  KILN_VEC_INLINE vf fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }  // a·b + c, one rounding
  KILN_VEC_INLINE vf mul(vf a, vf b) { return vmulq_f32(a, b); }
  KILN_VEC_INLINE vf add(vf a, vf b) { return vaddq_f32(a, b); }
  KILN_VEC_INLINE vf div(vf a, vf b) { return vdivq_f32(a, b); }
  KILN_VEC_INLINE vf sub(vf a, vf b) { return vsubq_f32(a, b); }
  KILN_VEC_INLINE vf max(vf a, vf b) { return vmaxq_f32(a, b); }
  KILN_VEC_INLINE vf min(vf a, vf b) { return vminq_f32(a, b); }
  KILN_VEC_INLINE vf abs(vf a) { return vabsq_f32(a); }
  KILN_VEC_INLINE vf copysign(vf mag, vf sign) {  // |mag| with the sign bit of sign
    return vbslq_f32(vdupq_n_u32(0x80000000u), sign, mag);
  }
  KILN_VEC_INLINE vf select_lt(vf a, vf b, vf x, vf y) { return vbslq_f32(vcltq_f32(a, b), x, y); }
  KILN_VEC_INLINE vf first_n(vf v, int64_t n, float fill) { return vbslq_f32(first(n), v, vdupq_n_f32(fill)); }
  // (a0+a2)+(a1+a3): the 8-lane order of vec_avx2.h folded the same way, halves first.
  KILN_VEC_INLINE float hsum(vf a) {
    const float32x2_t b = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(b, 0) + vget_lane_f32(b, 1);
  }
  KILN_VEC_INLINE float hmax(vf a) { return vmaxvq_f32(a); }
  // e^x as in vec_avx2.h: the same clamp, Cody-Waite split, polynomial and 2^n in the exponent field.
  KILN_VEC_INLINE vf exp(vf x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33f)), vdupq_n_f32(88.3f));
    const vf n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));  // to nearest, ties even
    vf r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));                         // x − n·c
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    vf p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.f)), p, vmulq_f32(r, r));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
  }
};

}  // namespace neon
}  // namespace kiln
