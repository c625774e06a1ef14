// AVX2 kernels for block-quantized weights (compiled with target attributes; the rest of the addon
// stays portable). x is already quantized (Q8_0 or Q8_K rows). Each output element is summed in a
// fixed order whatever N, the tile or the thread count, so a row's result is bit-identical alone or
// in a batch:
//   Q4_0, Q8_0: 8 float lanes, lane += (d_w·d_x)·(int32 lane of the block's byte-pair sums), block
//               by block; then the lanes reduced as ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)); then + bias.
//   Q5_0, Q5_1: as Q4_0 (Q5_1's offset m_w·d_x·Σx added to the same lanes).
//   Q4_K, Q5_K, Q6_K: per super-block an exact integer sum, added to a scalar float exactly as the
//               portable twin does (so the two agree bit for bit); then + bias.
// Tiles: R activation rows × C weight rows share each unpacked weight block.
#include "cpu/arch.h"
#if KILN_X86  // the whole file: x86 only (arch.h)

#include <immintrin.h>

#include <cstring>

#include "cpu/qgemm_avx2.h"
#include "cpu/q4_K_tile_x86.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"

#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define KILN_UNROLL _Pragma("GCC unroll 16")

namespace kiln {

namespace {

KILN_AVX2_INLINE float hsum(__m256 a) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 s = _mm_add_ps(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

// IEEE half -> float with the F16C instruction (the portable f16_to_f32 branches per call).
KILN_AVX2_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

KILN_AVX2_INLINE int hsum_i32(__m256i a) {
  __m128i b = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4e));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xb1));
  return _mm_cvtsi128_si32(b);
}

// 16 bytes of nibbles as 32 bytes: low nibbles are elements 0..15, high nibbles 16..31.
// (The 16 bytes in both halves, the upper half shifted by 4: three operations where splitting and
// joining halves takes five.)
KILN_AVX2_INLINE __m256i nibbles32(const uint8_t* qs) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)qs));
  return _mm256_and_si256(_mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

// A weight block of 32 as bytes: Q8_0 as stored (signed); Q4_0 (0..15), Q5_0 and Q5_1 (0..31,
// bit 4 from qh) unsigned, Q4_0's and Q5_0's offsets (8, 16) applied to the sums instead.
template <DType DT>
KILN_AVX2_INLINE __m256i load_w32(const uint8_t* blk) {
  if constexpr (DT == DType::Q8_0) {
    return _mm256_loadu_si256((const __m256i*)(((const block_q8_0*)blk)->qs));
  } else if constexpr (DT == DType::Q4_0) {
    return nibbles32(((const block_q4_0*)blk)->qs);
  } else {
    const uint8_t* qh = DT == DType::Q5_0 ? ((const block_q5_0*)blk)->qh : ((const block_q5_1*)blk)->qh;
    const uint8_t* qs = DT == DType::Q5_0 ? ((const block_q5_0*)blk)->qs : ((const block_q5_1*)blk)->qs;
    return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0x10)));
  }
}

// How far ahead decode prefetches, in tiles (measured: 1 tile ahead left single-thread Q4_0 decode
// latency-bound at ~6 GB/s; 4 reached ~8.5 GB/s).
constexpr int64_t kPrefetchTiles = 4;

// Lane c of v in all 8 lanes.
KILN_AVX2_INLINE __m256 lane(__m128 v, int c) {
  return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(c));
}

template <DType DT>
constexpr size_t w_block_bytes() {
  return DT == DType::Q8_0   ? sizeof(block_q8_0)
         : DT == DType::Q5_0 ? sizeof(block_q5_0)
         : DT == DType::Q5_1 ? sizeof(block_q5_1)
                             : sizeof(block_q4_0);
}

// R activation rows × C weight rows over every 32-block: acc[r][c] lanes as described above.
template <DType DT, int R, int C>
KILN_AVX2 void tile32(float* out, int64_t M, const uint8_t* xq, size_t x_row, const uint8_t* w, size_t w_row,
                      int64_t nb, const float* bias) {
  __m256 acc[R][C];
  KILN_UNROLL for (int r = 0; r < R; r++) KILN_UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  // Decode: the tile's C rows are one contiguous region, and so are the next tiles'. Hardware
  // prefetchers lose track of C interleaved streams, so the region kPrefetchTiles ahead is
  // requested in address order, a few lines per block step, while this one is computed.
  const char* next = (const char*)(w + kPrefetchTiles * C * w_row);
  const int64_t next_lines = (int64_t)(C * w_row + 63) / 64;
  const int64_t lines_per_step = (next_lines + nb - 1) / nb;
  for (int64_t b = 0; b < nb; b++) {
    if constexpr (R == 1) {
      for (int64_t l = b * lines_per_step; l < (b + 1) * lines_per_step && l < next_lines; l++)
        _mm_prefetch(next + l * 64, _MM_HINT_T0);
    }
    __m256i wa[C], wq[C];
    static_assert(C <= 4, "the scales of at most 4 weight rows are packed in one u64");
    uint64_t dwh = 0, mwh = 0;  // the C weight scales (and Q5_1's offsets) as f16 bits, converted together
    KILN_UNROLL for (int c = 0; c < C; c++) {
      const uint8_t* blk = w + c * w_row + b * w_block_bytes<DT>();
      wq[c] = load_w32<DT>(blk);
      // maddubs wants one unsigned operand: Q4_0's and Q5's quants are; Q8_0 multiplies |w| by sign(w)·x.
      if constexpr (DT == DType::Q8_0) wa[c] = _mm256_sign_epi8(wq[c], wq[c]);
      dwh |= (uint64_t)(*(const uint16_t*)blk) << (16 * c);
      if constexpr (DT == DType::Q5_1) mwh |= (uint64_t)(((const uint16_t*)blk)[1]) << (16 * c);
    }
    const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dwh));
    __m128 mw;
    if constexpr (DT == DType::Q5_1) mw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)mwh));
    KILN_UNROLL for (int r = 0; r < R; r++) {
      const block_q8_0* xb = (const block_q8_0*)(xq + r * x_row) + b;
      const __m256i xv = _mm256_loadu_si256((const __m256i*)xb->qs);
      const __m128 dx = _mm_set1_ps(h2f(xb->d));
      const __m128 dwx = _mm_mul_ps(dw, dx);  // d_w·d_x of each weight row
      // Q4_0, Q5_0: Σ(q − o)·x = Σ q·x − Σ o·x, per byte pair (no int16 overflow: |pair| ≤ 2·31·128)
      __m256i xo;
      if constexpr (DT == DType::Q4_0) xo = _mm256_maddubs_epi16(_mm256_set1_epi8(8), xv);
      if constexpr (DT == DType::Q5_0) xo = _mm256_maddubs_epi16(_mm256_set1_epi8(16), xv);
      // Q5_1: + m_w·d_x·Σ x
      __m256 xsum;
      if constexpr (DT == DType::Q5_1)
        xsum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), xv), ones));
      KILN_UNROLL for (int c = 0; c < C; c++) {
        __m256i p16;
        if constexpr (DT == DType::Q4_0 || DT == DType::Q5_0)
          p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(wq[c], xv), xo);
        else if constexpr (DT == DType::Q5_1)
          p16 = _mm256_maddubs_epi16(wq[c], xv);
        else
          p16 = _mm256_maddubs_epi16(wa[c], _mm256_sign_epi8(xv, wq[c]));
        __m256i p = _mm256_madd_epi16(p16, ones);
        acc[r][c] = _mm256_fmadd_ps(lane(dwx, c), _mm256_cvtepi32_ps(p), acc[r][c]);
        if constexpr (DT == DType::Q5_1) acc[r][c] = _mm256_fmadd_ps(lane(_mm_mul_ps(mw, dx), c), xsum, acc[r][c]);
      }
    }
  }
  KILN_UNROLL for (int r = 0; r < R; r++) KILN_UNROLL for (int c = 0; c < C; c++) {
    out[r * M + c] = hsum(acc[r][c]) + (bias ? bias[c] : 0.f);
  }
}

template <DType DT>
KILN_AVX2 void matmul32(float* out, const uint8_t* xq, size_t x_row, const uint8_t* w, const float* bias, int64_t N,
                        int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const size_t w_row = (size_t)(K / 32) * w_block_bytes<DT>();
  const int64_t nb = K / 32;
  auto b = [&](int64_t m) { return bias ? bias + m : nullptr; };
  if (N < 4) {  // decode: 4 weight rows at a time for memory-level parallelism
    for (int64_t n = 0; n < N; n++) {
      int64_t m = m0;
      for (; m + 4 <= m1; m += 4)
        tile32<DT, 1, 4>(out + n * M + m, M, xq + n * x_row, x_row, w + m * w_row, w_row, nb, b(m));
      for (; m < m1; m++) tile32<DT, 1, 1>(out + n * M + m, M, xq + n * x_row, x_row, w + m * w_row, w_row, nb, b(m));
    }
    return;
  }
  // prefill: 4 x rows × 2 weight rows per tile, weight rows outermost so a row pair stays in L1
  // while every x row passes over it.
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) {
    int64_t n = 0;
    for (; n + 4 <= N; n += 4)
      tile32<DT, 4, 2>(out + n * M + m, M, xq + n * x_row, x_row, w + m * w_row, w_row, nb, b(m));
    for (; n < N; n++) tile32<DT, 1, 2>(out + n * M + m, M, xq + n * x_row, x_row, w + m * w_row, w_row, nb, b(m));
  }
  for (; m < m1; m++)
    for (int64_t n = 0; n < N; n++)
      tile32<DT, 1, 1>(out + n * M + m, M, xq + n * x_row, x_row, w + m * w_row, w_row, nb, b(m));
}

// ---- K-quants: a super-block of 256 is unpacked once to bytes, then dotted with every x row ----

struct Unpacked256 {
  alignas(32) uint8_t q[QK_K];  // unsigned quants: Q4_K 0..15, Q6_K 0..63
  int16_t sc[16];               // per sub-block scale (Q4_K: 8 of 32, Q6_K: 16 of 16)
  int16_t mn[8];                // Q4_K mins
  float d, dmin;
};

KILN_AVX2_INLINE void unpack_q4_K(const block_q4_K* b, Unpacked256* u) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int j = 0; j < 4; j++) {  // 64 elements: low nibbles sub-block 2j, high nibbles 2j+1
    __m256i q = _mm256_loadu_si256((const __m256i*)(b->qs + 32 * j));
    _mm256_store_si256((__m256i*)(u->q + 64 * j), _mm256_and_si256(q, m4));
    _mm256_store_si256((__m256i*)(u->q + 64 * j + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
  }
  uint8_t sc[8], mn[8];
  q4_K_scales(b->scales, sc, mn);
  for (int j = 0; j < 8; j++) {
    u->sc[j] = sc[j];
    u->mn[j] = mn[j];
  }
  u->d = h2f(b->d);
  u->dmin = h2f(b->dmin);
}

// Bits shift..shift+1 of each qh byte, moved to bits 4..5 (the high part of a six-bit quant).
KILN_AVX2_INLINE __m256i hi2(__m256i qh, int shift, __m256i m3) {
  return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, shift), m3), 4);
}

KILN_AVX2_INLINE void unpack_q6_K(const block_q6_K* b, Unpacked256* u) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; h++) {
    __m256i l0 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h));
    __m256i l1 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h + 32));
    __m256i hb = _mm256_loadu_si256((const __m256i*)(b->qh + 32 * h));
    uint8_t* o = u->q + 128 * h;
    _mm256_store_si256((__m256i*)(o), _mm256_or_si256(_mm256_and_si256(l0, m4), hi2(hb, 0, m3)));
    _mm256_store_si256((__m256i*)(o + 32), _mm256_or_si256(_mm256_and_si256(l1, m4), hi2(hb, 2, m3)));
    _mm256_store_si256((__m256i*)(o + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), hi2(hb, 4, m3)));
    _mm256_store_si256((__m256i*)(o + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), hi2(hb, 6, m3)));
  }
  for (int j = 0; j < 16; j++) u->sc[j] = b->scales[j];
  u->d = h2f(b->d);
}

// Σ sc·Σ q·x over the super-block (integer, exact). Q4_K: 8 sub-blocks of 32; Q6_K: 16 of 16.
template <DType DT>
KILN_AVX2_INLINE int dot256(const Unpacked256& u, const block_q8_K* x) {
  __m256i sum = _mm256_setzero_si256();
  KILN_UNROLL for (int j = 0; j < 8; j++) {
    __m256i q = _mm256_load_si256((const __m256i*)(u.q + 32 * j));
    __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i*)(x->qs + 32 * j)));
    __m256i s;
    if constexpr (DT == DType::Q4_K)
      s = _mm256_set1_epi16(u.sc[j]);
    else  // int16 lanes 0..7 hold elements 0..15 (sub-block 2j), lanes 8..15 elements 16..31
      s = _mm256_set_m128i(_mm_set1_epi16(u.sc[2 * j + 1]), _mm_set1_epi16(u.sc[2 * j]));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, s));
  }
  int isum = hsum_i32(sum);
  if constexpr (DT == DType::Q6_K) {  // the quants were stored + 32
    int off = 0;
    for (int j = 0; j < 16; j++) off += u.sc[j] * x->bsums[j];
    isum -= 32 * off;
  }
  return isum;
}

// Σ_j m_j·(Σ q8 of sub-block j) for Q4_K and Q5_K: pairs of 16-element sums, times the 8 mins.
KILN_AVX2_INLINE int mins_dot(const block_q8_K* x, const uint8_t* mn) {
  const __m128i bs = q8_K_sub_block_sums(x);
  __m128i m = _mm_madd_epi16(bs, _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i*)mn)));
  m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xb1));
  return _mm_cvtsi128_si32(m);
}

// Decode: one super-block dotted straight from its packed bytes (no unpacked copy), the same exact
// integer sums as dot256, so the result is bit-identical.
// Q5_K: Q4_K's sums with bit 4 of each quant from qh (bit 2j of qh[l] for element 64j + l, bit
// 2j + 1 for 64j + 32 + l). Exact integers, added as the portable twin adds them.
KILN_AVX2_INLINE float dot_q5_K_direct(const block_q5_K* b, const block_q8_K* x) {
  alignas(8) uint8_t sc[8], mn[8];
  q4_K_scales(b->scales, sc, mn);
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  const __m256i qh = _mm256_loadu_si256((const __m256i*)b->qh);
  __m256i sum = _mm256_setzero_si256();
  KILN_UNROLL for (int j = 0; j < 4; j++) {
    const __m256i q = _mm256_loadu_si256((const __m256i*)(b->qs + 32 * j));
    // (qh >> k) & 1 per byte: the bits shifted in from the next byte are masked off; << 4 stays in the byte
    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4);
    const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4);
    const __m256i lo = _mm256_maddubs_epi16(_mm256_or_si256(_mm256_and_si256(q, m4), h0),
                                            _mm256_loadu_si256((const __m256i*)(x->qs + 64 * j)));
    const __m256i hi = _mm256_maddubs_epi16(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1),
                                            _mm256_loadu_si256((const __m256i*)(x->qs + 64 * j + 32)));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(lo, _mm256_set1_epi16(sc[2 * j])));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(hi, _mm256_set1_epi16(sc[2 * j + 1])));
  }
  const int isum = hsum_i32(sum);
  return x->d * (h2f(b->d) * (float)isum) - x->d * (h2f(b->dmin) * (float)mins_dot(x, mn));
}

KILN_AVX2_INLINE float dot_q6_K_direct(const block_q6_K* b, const block_q8_K* x) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  // The 16 scales as int16, and per group of 32 the pair (sc_j in lanes 0..7, sc_j+1 in 8..15)
  // picked by a byte shuffle from a copy of the right half in both 128-bit lanes.
  const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)b->scales));
  const __m256i sc_half[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11)};
  __m256i sum = _mm256_setzero_si256();
  KILN_UNROLL for (int h = 0; h < 2; h++) {  // halves of 128: 4 groups of 32, each 2 sub-blocks
    const __m256i l0 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256((const __m256i*)(b->ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i*)(b->qh + 32 * h));
    // bits 0-1, 2-3, 4-5, 6-7 of qh, each moved to bits 4-5 (masked first: no bit crosses a byte)
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4)),
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0C)), 2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, _mm256_set1_epi8(0x30))),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                        _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8((char)0xC0)), 2)),
    };
    KILN_UNROLL for (int g = 0; g < 4; g++) {
      const int j = 2 * g;  // sub-blocks 8h + j (elements 0..15 of the group) and 8h + j + 1
      const __m256i p = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i*)(x->qs + 128 * h + 32 * g)));
      const __m256i pick = _mm256_setr_epi8(2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,
                                            2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,
                                            2 * j + 2, 2 * j + 3, 2 * j + 2, 2 * j + 3, 2 * j + 2, 2 * j + 3,
                                            2 * j + 2, 2 * j + 3, 2 * j + 2, 2 * j + 3, 2 * j + 2, 2 * j + 3,
                                            2 * j + 2, 2 * j + 3, 2 * j + 2, 2 * j + 3);
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc_half[h], pick)));
    }
  }
  // The quants were stored + 32: subtract 32·Σ sc·(Σ q8 of the sub-block).
  const __m256i bs = _mm256_loadu_si256((const __m256i*)x->bsums);
  const int isum = hsum_i32(sum) - 32 * hsum_i32(_mm256_madd_epi16(sc16, bs));
  return x->d * (h2f(b->d) * (float)isum);
}

// Decode against Q4_K, kQ4KRows weight rows at a time (rows ≥ `rows` repeat the last, their results
// dropped). Per row and super-block the exact integers of the portable twin (Σ sc·Σ q·x and
// Σ m·Σ x; integer sums in any order are the same integer) and its float expression, lane by lane
// across the rows (no FMA: -ffp-contract=off), so the bits are its bits and prefill's. What the
// tile saves: the scales unpacked with word operations and picked by shuffles, one reduction for
// all the rows' sums, the float work done once for the rows, the activation sums shared.
constexpr int kQ4KRows = 4;

KILN_AVX2 void tile_q4_K(float* out, const block_q8_K* xb, const uint8_t* w, size_t w_row, int64_t nb,
                         const float* bias, int rows) {
  constexpr int C = kQ4KRows;
  const uint8_t* wr[C];
  for (int c = 0; c < C; c++) wr[c] = w + (c < rows ? c : rows - 1) * w_row;
  // The next tiles' rows, one contiguous region, requested a few lines per super-block (as tile32).
  const char* next = (const char*)(w + kPrefetchTiles * C * w_row);
  const int64_t next_lines = (int64_t)(C * w_row + 63) / 64;
  const int64_t lines_per_step = (next_lines + nb - 1) / nb;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  // pick[j]: int16 lane j of a vector in every lane (both 128-bit halves hold the 8 scales)
  __m256i pick[8];
  KILN_UNROLL for (int j = 0; j < 8; j++) pick[j] = _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j)));
  __m128 acc = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    for (int64_t l = b * lines_per_step; l < (b + 1) * lines_per_step && l < next_lines; l++)
      _mm_prefetch(next + l * 64, _MM_HINT_T0);
    const block_q8_K* x = xb + b;
    const __m128i bs = q8_K_sub_block_sums(x);
    __m256i isum[C];
    __m128i msum[C];
    uint32_t dmins[C];  // d (low half) and dmin (high half) of each row's block, as f16 bits
    KILN_UNROLL for (int c = 0; c < C; c++) {
      const block_q4_K* blk = (const block_q4_K*)(wr[c] + b * sizeof(block_q4_K));
      const __m128i sm = q4_K_scales_mins(blk->scales);
      const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
      msum[c] = q4_K_mins_lanes(bs, sm);
      __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
      KILN_UNROLL for (int j = 0; j < 4; j++) {  // 64 elements: low nibbles sub-block 2j, high 2j+1
        const __m256i q = _mm256_loadu_si256((const __m256i*)(blk->qs + 32 * j));
        const __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), _mm256_loadu_si256((const __m256i*)(x->qs + 64 * j)));
        const __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                                _mm256_loadu_si256((const __m256i*)(x->qs + 64 * j + 32)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(lo, _mm256_shuffle_epi8(sc, pick[2 * j])));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(hi, _mm256_shuffle_epi8(sc, pick[2 * j + 1])));
      }
      isum[c] = _mm256_add_epi32(s0, s1);
      std::memcpy(&dmins[c], &blk->d, 4);
    }
    acc = _mm_add_ps(acc, q4_K_tile_terms(isum, msum, dmins, x->d));
  }
  alignas(16) float r[C];
  _mm_store_ps(r, acc);
  for (int c = 0; c < rows; c++) out[c] = r[c] + (bias ? bias[c] : 0.f);
}

template <DType DT>
KILN_AVX2 void matmulK(float* out, const uint8_t* xq, size_t x_row, const uint8_t* w, const float* bias, int64_t N,
                       int64_t K, int64_t m0, int64_t m1, int64_t M) {
  constexpr size_t wb = DT == DType::Q4_K   ? sizeof(block_q4_K)
                        : DT == DType::Q5_K ? sizeof(block_q5_K)
                                            : sizeof(block_q6_K);
  const int64_t nb = K / QK_K;
  const size_t w_row = (size_t)nb * wb;
  // Decode: each weight row streamed once, dotted from its packed bytes; Q4_K's kQ4KRows rows at a
  // time. (Q5_K has no unpacked path: its prefill steps take the GEMM, so only decode steps come here.)
  if (DT == DType::Q4_K && N < 4) {
    for (int64_t n = 0; n < N; n++)
      for (int64_t m = m0; m < m1; m += kQ4KRows)
        tile_q4_K(out + n * M + m, (const block_q8_K*)(xq + n * x_row), w + m * w_row, w_row, nb,
                  bias ? bias + m : nullptr, (int)(m1 - m < kQ4KRows ? m1 - m : kQ4KRows));
    return;
  }
  if (DT != DType::Q4_K && (N < 4 || DT == DType::Q5_K)) {
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* wr = w + m * w_row;
      for (int64_t l = 0; l < (int64_t)w_row; l += 64) _mm_prefetch((const char*)wr + 4 * w_row + l, _MM_HINT_T0);
      for (int64_t n = 0; n < N; n++) {
        const block_q8_K* xb = (const block_q8_K*)(xq + n * x_row);
        float acc = 0.f;
        for (int64_t b = 0; b < nb; b++) {
          if constexpr (DT == DType::Q5_K)
            acc += dot_q5_K_direct((const block_q5_K*)(wr + b * wb), xb + b);
          else
            acc += dot_q6_K_direct((const block_q6_K*)(wr + b * wb), xb + b);
        }
        out[n * M + m] = acc + (bias ? bias[m] : 0.f);
      }
    }
    return;
  }
  if constexpr (DT != DType::Q5_K) {  // prefill without the GEMMs: each super-block unpacked once
    constexpr int64_t kRowsPerPass = 64;  // x rows whose partial sums stay in a small buffer
    float acc[kRowsPerPass];
    Unpacked256 u;
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* wr = w + m * w_row;
      for (int64_t n0 = 0; n0 < N; n0 += kRowsPerPass) {
        const int64_t n1 = n0 + kRowsPerPass < N ? n0 + kRowsPerPass : N;
        for (int64_t n = n0; n < n1; n++) acc[n - n0] = 0.f;
        for (int64_t b = 0; b < nb; b++) {
          if constexpr (DT == DType::Q4_K)
            unpack_q4_K((const block_q4_K*)(wr + b * wb), &u);
          else
            unpack_q6_K((const block_q6_K*)(wr + b * wb), &u);
          for (int64_t n = n0; n < n1; n++) {
            const block_q8_K* xb = (const block_q8_K*)(xq + n * x_row) + b;
            const int isum = dot256<DT>(u, xb);
            if constexpr (DT == DType::Q4_K) {
              int summ = 0;
              for (int j = 0; j < 8; j++) summ += u.mn[j] * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
              acc[n - n0] += xb->d * (u.d * (float)isum) - xb->d * (u.dmin * (float)summ);
            } else {
              acc[n - n0] += xb->d * (u.d * (float)isum);
            }
          }
        }
        for (int64_t n = n0; n < n1; n++) out[n * M + m] = acc[n - n0] + (bias ? bias[m] : 0.f);
      }
    }
  }
}

}  // namespace

// Activation row (k floats, k a multiple of 32) -> Q8_0 blocks: d = amax/127, q = round(x/d) to
// nearest even (ggml's AVX2 quantize_row_q8_0 rounds so too; its reference rounds ties away from
// zero: activations are kiln's own, only weights must match ggml's bytes).
KILN_AVX2 void quantize_act_q8_0_avx2(const float* x, uint8_t* y, int64_t k) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / QK8_0; i++) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
      v[j] = _mm256_loadu_ps(x + i * QK8_0 + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    block_q8_0* b = (block_q8_0*)y + i;
    b->d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    __m256i q[4];
    for (int j = 0; j < 4; j++)
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(id)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // int32 -> int8 with packs, then undo their lane interleave
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i*)b->qs, p);
  }
}

bool matmul_quant_avx2(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                       int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M) {
  const uint8_t* wb = (const uint8_t*)w;
  switch (dt) {
    case DType::Q4_0:
      matmul32<DType::Q4_0>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q8_0:
      matmul32<DType::Q8_0>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q5_0:
      matmul32<DType::Q5_0>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q5_1:
      matmul32<DType::Q5_1>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q4_K:
      matmulK<DType::Q4_K>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q6_K:
      matmulK<DType::Q6_K>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    case DType::Q5_K:
      matmulK<DType::Q5_K>(out, xq, x_row, wb, bias, N, K, m0, m1, M);
      return true;
    default:
      return false;
  }
}

}  // namespace kiln

#endif  // KILN_X86
