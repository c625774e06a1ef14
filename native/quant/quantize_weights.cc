// The ONNX export's weight quantizers, bit for bit what quantize-weights.ts computes in JavaScript
// (its reference twin, which the tests compare against). What makes them agree:
//   - a scale is max |w| / 7 (63, 255) in double, then `|| 1` on that double (0 → 1), then
//     stored as float32: a subnormal max can give a stored scale of 0, and w / 0 is then ±∞ (a
//     clamped ±7) or NaN (0 / 0: nibble 0), as in JavaScript;
//   - w / s is divided in double, s being the float32 read back from the scale array, except in the
//     MatMulNBits columns, where JavaScript divides by its local double before storing it;
//   - Math.round rounds halves toward +∞ (not away from 0 as C's round does), NaN stays NaN and
//     survives Math.min / Math.max, and NaN becomes 0 in `& 0xf`, `|` and a typed-array store;
//   - max |w| skips NaN (`a > amax` is false for it), and the build has -ffp-contract=off.
#include "quant/quantize_weights.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kiln {

// 1.5 · 2^52: for |x| < 2^51, x + it − it is x rounded once to the nearest integer, ties to even.
constexpr double kRoundMagic = 6755399441055744.0;

// Math.max(lo, Math.min(hi, Math.round(x))) for x not NaN and integer bounds (|lo|, |hi| ≤ 255).
// Clamping first gives the same (rounding is monotone, the bounds are integers); then a tie that
// went down to even (x − t exactly 0.5: both are small) goes up, as Math.round's do. No branch on
// the value's sign or floor() (a libm call without SSE4.1): with a weight's sign a coin toss, a
// branch on it mispredicts half the time, which cost more than the division.
static inline double round_clamp(double x, double lo, double hi) {
  x = std::min(std::max(x, lo), hi);
  const double t = (x + kRoundMagic) - kRoundMagic;
  return x - t == 0.5 ? t + 1 : t;
}

// The 4-bit codes of 32 values v / s: signed nibbles (two's complement) for DequantizeLinear, or
// round + 8 for MatMulNBits; NaN (0 / 0, NaN weights) is 0 either way, as `NaN & 0xf` and
// `NaN | …` are in JavaScript. Two lanes at a time where SSE2 is (every x86-64), the same
// operations as round_clamp: the scalar loop does not vectorize (GCC will not if-convert
// comparisons that may trap), and was most of the time.
template <bool kUnsigned>
static inline void codes32(const float* v, double s, uint8_t* out) {
#if defined(__SSE2__)
  const __m128d sv = _mm_set1_pd(s), one = _mm_set1_pd(1), half = _mm_set1_pd(0.5);
  const __m128d lo = _mm_set1_pd(-7), hi = _mm_set1_pd(7);
  const __m128d magic = _mm_set1_pd(kRoundMagic);
  alignas(16) int32_t q[kInt4Block];
  for (int j = 0; j < kInt4Block; j += 4) {
    const __m128 f = _mm_loadu_ps(v + j);
    __m128d x[2] = {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))};
    __m128i r[2];
    __m128d nan[2];
    for (int h = 0; h < 2; h++) {
      __m128d y = _mm_div_pd(x[h], sv);
      nan[h] = _mm_cmpunord_pd(y, y);
      // (A NaN becomes −7 in the clamp, max returning its second operand; it is masked below.)
      y = _mm_min_pd(_mm_max_pd(y, lo), hi);
      __m128d t = _mm_sub_pd(_mm_add_pd(y, magic), magic);
      t = _mm_add_pd(t, _mm_and_pd(_mm_cmpeq_pd(_mm_sub_pd(y, t), half), one));
      r[h] = _mm_cvttpd_epi32(t);
    }
    const __m128i codes = kUnsigned ? _mm_add_epi32(_mm_unpacklo_epi64(r[0], r[1]), _mm_set1_epi32(8))
                                    : _mm_and_si128(_mm_unpacklo_epi64(r[0], r[1]), _mm_set1_epi32(0xf));
    const __m128i nans = _mm_castps_si128(_mm_shuffle_ps(_mm_castpd_ps(nan[0]), _mm_castpd_ps(nan[1]), _MM_SHUFFLE(2, 0, 2, 0)));
    _mm_store_si128((__m128i*)(q + j), _mm_andnot_si128(nans, codes));
  }
  for (int j = 0; j < kInt4Block; j++) out[j] = (uint8_t)q[j];
#else
  for (int j = 0; j < kInt4Block; j++) {
    const double x = (double)v[j] / s;
    const int32_t q = (int32_t)round_clamp(x != x ? 0.0 : x, -7, 7);
    out[j] = x != x ? 0 : kUnsigned ? (uint8_t)(q + 8) : (uint8_t)(q & 0xf);
  }
#endif
}

// max |w| over a block; NaN is skipped, as `if (a > amax)` skips it.
static inline float abs_max32(const float* v) {
  float amax = 0;
  for (int j = 0; j < kInt4Block; j++) {
    const float a = std::fabs(v[j]);
    amax = a > amax ? a : amax;
  }
  return amax;
}

// `amax / d || 1`, in double.
static inline double scale_of(double amax, double d) {
  const double s = amax / d;
  return s != 0 && !std::isnan(s) ? s : 1;
}

constexpr int64_t kTile = 16;  // columns a tile: a cache line of floats

// tile[c][j] = w(k0 + j, m0 + c) for c < mt, j < n, zeros past n (they change no max |w|, and the
// math then runs on whole blocks). Read along whichever of k and m is closer in memory: 32 rows
// far apart (8 KiB for a 2048-wide weight) land on the same few cache sets, and a column at a time
// would miss on every one of them for every column.
static void gather_tile(const StridedF32& w, int64_t k0, int64_t n, int64_t m0, int64_t mt, float (*tile)[kInt4Block]) {
  const float* p = w.data + k0 * w.k_stride + m0 * w.m_stride;
  if (w.k_stride <= w.m_stride)
    for (int64_t c = 0; c < mt; c++)
      for (int64_t j = 0; j < n; j++) tile[c][j] = p[j * w.k_stride + c * w.m_stride];
  else
    for (int64_t j = 0; j < n; j++)
      for (int64_t c = 0; c < mt; c++) tile[c][j] = p[j * w.k_stride + c * w.m_stride];
  for (int64_t c = 0; c < mt; c++)
    for (int64_t j = n; j < kInt4Block; j++) tile[c][j] = 0;
}

// A block of 32 rows at a time: its nibbles over all M columns are the linear elements
// [k0 · M, (k0 + n) · M) of q (K, M), which start at an even index (k0 is a multiple of 32), so the
// block packs into whole bytes of its own, each written once. The nibbles wait in a (32, M) buffer
// whose row pitch is an odd number of cache lines (with a power of two, the 32 rows a column
// writes would share one cache set).
void quantize_int4_blocks(const StridedF32& w, uint8_t* packed, float* scale) {
  const int64_t K = w.K, M = w.M;
  if (K == 0 || M == 0) return;
  int64_t pitch = (M + 63) / 64 * 64;
  if (pitch / 64 % 2 == 0) pitch += 64;
  std::vector<uint8_t> nib((size_t)(kInt4Block * pitch));
  for (int64_t k0 = 0; k0 < K; k0 += kInt4Block) {
    const int64_t n = std::min(kInt4Block, K - k0);
    for (int64_t m0 = 0; m0 < M; m0 += kTile) {
      const int64_t mt = std::min(kTile, M - m0);
      float tile[kTile][kInt4Block];
      gather_tile(w, k0, n, m0, mt, tile);
      for (int64_t c = 0; c < mt; c++) {
        const float s = (float)scale_of(abs_max32(tile[c]), 7);
        scale[(k0 / kInt4Block) * M + m0 + c] = s;
        uint8_t q[kInt4Block];
        codes32<false>(tile[c], s, q);
        for (int64_t j = 0; j < n; j++) nib[(size_t)(j * pitch + m0 + c)] = q[j];
      }
    }
    // Row by row, a byte for each two nibbles of the linear order (a pair spans two rows when M is
    // odd); an odd K · M leaves the last byte's high nibble empty.
    uint8_t* out = packed + k0 * M / 2;
    uint8_t low = 0;
    bool half = false;
    for (int64_t j = 0; j < n; j++) {
      const uint8_t* row = nib.data() + j * pitch;
      int64_t m = 0;
      if (half) *out++ = (uint8_t)(low | row[m++] << 4);
      for (; m + 1 < M; m += 2) *out++ = (uint8_t)(row[m] | row[m + 1] << 4);
      half = m < M;
      if (half) low = row[m];
    }
    if (half) *out = low;
  }
}

// Columns in tiles of 16, blocks along K within a tile; each (column, block) is 16 bytes of its own.
void quantize_int4_columns(const StridedF32& w, uint8_t* packed, float* scale) {
  const int64_t K = w.K, M = w.M;
  if (K == 0 || M == 0) return;  // nothing to write (and M may be anything when K is 0)
  const int64_t blocks = (K + kInt4Block - 1) / kInt4Block;
  for (int64_t m0 = 0; m0 < M; m0 += kTile) {
    const int64_t mt = std::min(kTile, M - m0);
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t k0 = b * kInt4Block, n = std::min(kInt4Block, K - k0);
      float tile[kTile][kInt4Block];
      gather_tile(w, k0, n, m0, mt, tile);
      for (int64_t c = 0; c < mt; c++) {
        const int64_t m = m0 + c;
        // Unlike the blocks above, JavaScript divides by the double, not by the float32 it stores.
        const double s = scale_of(abs_max32(tile[c]), 7);
        scale[m * blocks + b] = (float)s;
        uint8_t u[kInt4Block];
        codes32<true>(tile[c], s, u);
        for (int64_t j = n; j < kInt4Block; j++) u[j] = 8;  // rows past K: zero after the zero point
        uint8_t* out = packed + (m * blocks + b) * (kInt4Block / 2);
        for (int64_t t = 0; t < kInt4Block / 2; t++) out[t] = (uint8_t)(u[2 * t] | u[2 * t + 1] << 4);
      }
    }
  }
}

// Two passes as in JavaScript: each column's range (a column at a time, or a row at a time,
// whichever is contiguous), then q (K, M) row-major, tiles of 64 columns so that writes stay
// sequential. (Not the int4 kernels' tiles: 8-bit exports are not the slow ones.)
// Signed weights take 7 bits (±63, ONNX Runtime's reduce_range): on CPUs without VNNI its uint8 ×
// int8 kernels multiply with vpmaddubsw, whose int16 pair sums saturate past 32767 (255·127·2 does);
// 255·64·2 does not. (On an AVX2-only Zen 3, ±127 weights put llama-tiny's logits 0.26 off kiln's.)
constexpr int kSignedMax = 63;

void quantize_int8_columns(const StridedF32& w, bool is_signed, uint8_t* q, float* scale, uint8_t* zero) {
  const int64_t K = w.K, M = w.M, ks = w.k_stride, ms = w.m_stride;
  std::vector<float> lo((size_t)M, 0.0f), hi((size_t)M, 0.0f);
  auto range = [&](int64_t k, int64_t m) {
    const float v = w.data[k * ks + m * ms];
    if (v < lo[(size_t)m]) lo[(size_t)m] = v;
    if (v > hi[(size_t)m]) hi[(size_t)m] = v;
  };
  if (ks <= ms)
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++) range(k, m);
  else
    for (int64_t k = 0; k < K; k++)
      for (int64_t m = 0; m < M; m++) range(k, m);
  for (int64_t m = 0; m < M; m++) {
    const double l = lo[(size_t)m], h = hi[(size_t)m];
    if (is_signed) {
      scale[m] = (float)scale_of(std::max(-l, h), kSignedMax);
      zero[m] = 0;
    } else {
      scale[m] = (float)scale_of(h - l, 255);
      const double z = -l / (double)scale[m];
      zero[m] = std::isnan(z) ? 0 : (uint8_t)round_clamp(z, 0, 255);
    }
  }
  for (int64_t m0 = 0; m0 < M; m0 += 64) {
    const int64_t m1 = std::min(M, m0 + 64);
    for (int64_t k = 0; k < K; k++)
      for (int64_t m = m0; m < m1; m++) {
        const double x = (double)w.data[k * ks + m * ms] / (double)scale[m];
        uint8_t v = 0;  // NaN: 0, as a typed-array store makes it
        if (!std::isnan(x))
          v = is_signed ? (uint8_t)(int8_t)round_clamp(x, -kSignedMax, kSignedMax)
                        : (uint8_t)(round_clamp(x, -zero[m], 255 - zero[m]) + zero[m]);
        q[k * M + m] = v;
      }
  }
}

}  // namespace kiln
