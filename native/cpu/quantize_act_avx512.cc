// Activation rows -> Q8_K blocks (the K-quant matmuls' activations) on AVX-512: byte for byte
// quant/q8_k.cc's quantize_row_q8_K, which it replaces on the avx512 tiers (its scalar loops were
// 12% of a Q4_K_M prefill). The same steps on 16 lanes: the signed value of largest magnitude (the
// first on ties; NaNs never win), iscale = -127/max, q = kq_nearest_int(iscale·x) by the same
// float add and bit mask, min 127, truncated to a byte, and each 16-element sum of those bytes.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's AVX-512 headers (see matmul_avx512.cc)
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstring>

#include "quant/blocks.h"

#define KILN_AVX512_Q8K __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace kiln {

KILN_AVX512_Q8K void quantize_act_q8_K_avx512(const float* x, uint8_t* y, int64_t k) {
  block_q8_K* out = reinterpret_cast<block_q8_K*>(y);
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    block_q8_K& b = out[i];
    __m512 v[QK_K / 16];
    __m512 amax = _mm512_setzero_ps();
    for (int j = 0; j < QK_K / 16; j++) {
      v[j] = _mm512_loadu_ps(x + 16 * j);
      amax = _mm512_max_ps(_mm512_abs_ps(v[j]), amax);  // a NaN lane keeps amax (second operand)
    }
    const float a = _mm512_reduce_max_ps(amax);
    if (a == 0) {  // also what quantize_row_q8_K writes
      b.d = 0;
      std::memset(b.qs, 0, sizeof(b.qs));
      std::memset(b.bsums, 0, sizeof(b.bsums));
      continue;
    }
    float max = 0;  // the first element whose magnitude is a
    for (int j = 0; j < QK_K / 16; j++) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), _mm512_set1_ps(a), _CMP_EQ_OQ);
      if (hit) {
        max = x[16 * j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 s = _mm512_set1_ps(iscale), magic = _mm512_set1_ps(12582912.f);
    const __m512i low23 = _mm512_set1_epi32(0x007fffff), half = _mm512_set1_epi32(0x00400000),
                  top = _mm512_set1_epi32(127);
    for (int j = 0; j < QK_K / 16; j++) {
      const __m512i bits = _mm512_castps_si512(_mm512_add_ps(_mm512_mul_ps(s, v[j]), magic));
      const __m512i q = _mm512_min_epi32(_mm512_sub_epi32(_mm512_and_si512(bits, low23), half), top);
      const __m128i q8 = _mm512_cvtepi32_epi8(q);  // truncation, as the (int8_t) cast
      _mm_storeu_si128((__m128i*)(b.qs + 16 * j), q8);
      b.bsums[j] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q8));
    }
    b.d = 1 / iscale;
  }
}

}  // namespace kiln

#endif  // KILN_X86
