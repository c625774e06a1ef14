// What the AMX kernels (qgemm_amx.cc, qgemm_k_amx.cc) share: their target, the tile
// configuration and the tile instructions as inline assembly with the memory they touch named
// exactly. Only where arch.h's KILN_AMX is 1.
#pragma once
#include "cpu/arch.h"
#if KILN_AMX

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "cpu/transpose_avx512.h"

#define KILN_AMX_TARGET __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")))
#define KILN_AMX_INLINE                                                                                     \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c"), always_inline)) \
  inline

namespace kiln {

constexpr int kAmxRows = 16;  // weight rows per panel, activation rows per tile: a tile's 16 rows

// Palette 1's configuration of the 8 tile registers: rows and bytes per row of each.
struct alignas(64) AmxTileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Configures this thread's tile registers for a kernel (amx_begin), and puts back after it
// (amx_end) whatever the thread had: kiln's kernels may run on libuv's threads, which other
// addons in the process use too, and ggml (node-llama-cpp) configures each thread once and then
// assumes its configuration stays (tilezero on a released configuration is #UD: node-llama-cpp
// died of SIGILL in the same process before this).
// Not _tile_loadconfig/_tile_storeconfig: GCC 12's declare only the first 8 bytes of the
// configuration as read or written, so the compiler may drop the stores of rows and colsb and
// ldtilecfg faults (native llama.cpp built with GCC 12 crashes so). These operands are the whole
// struct.
KILN_AMX_INLINE void amx_begin(const AmxTileConfig& c, AmxTileConfig* saved) {
  asm volatile("sttilecfg %0" : "=m"(*saved));
  asm volatile("ldtilecfg %0" ::"m"(c));
}
KILN_AMX_INLINE void amx_end(const AmxTileConfig& saved) {
  if (saved.palette_id != 0)
    asm volatile("ldtilecfg %0" ::"m"(saved));
  else
    asm volatile("tilerelease" ::);  // back to no tiles (a context switch then saves no tile data)
}

// Part i of `parts` of the cache lines of [p, p + bytes), prefetched into L2. The GEMMs request the
// next panel's weight rows while the tile unit works on this one: prefill reads each weight once,
// from memory, and a panel's unpacking otherwise waits on it (18% of a Q4_0 prefill).
KILN_AMX_INLINE void prefetch_part(const uint8_t* p, size_t bytes, int64_t i, int64_t parts) {
  const int64_t lines = (int64_t)((bytes + 63) / 64), per = (lines + parts - 1) / parts;
  for (int64_t l = i * per; l < (i + 1) * per && l < lines; l++) _mm_prefetch((const char*)p + 64 * l, _MM_HINT_T1);
}

// A finished tile: acc[m] lane n is output (n, m) of 16 activation rows × 16 weight rows. Stores
// rows [0, valid_n), columns [0, valid_m) with the bias added, + 0 where none, as the other tiers
// store their outputs.
KILN_AMX_INLINE void amx_store_tile(__m512 (&acc)[kAmxRows], float* out, int64_t M, const float* bias, int valid_m,
                                    int valid_n) {
  transpose16(acc);  // acc[n] lane m
  const __mmask16 cols = first_lanes(valid_m);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(cols, bias) : _mm512_setzero_ps();
  for (int n = 0; n < valid_n; n++) _mm512_mask_storeu_ps(out + n * M, cols, _mm512_add_ps(acc[n], bv));
}

// The GEMMs' loop over weight rows [m0, m1) of w: panels of 16 rows, each unpacked once
// (unpack(m, rows)) and multiplied by every tile of 16 of the N activation rows (tile(n, m, rows,
// valid_n)), the next panel's rows prefetched meanwhile; the tile registers configured for it and
// put back after.
template <class Unpack, class Tile>
KILN_AMX_INLINE void amx_panels(const AmxTileConfig& config, const uint8_t* w, size_t w_row, int64_t N, int64_t m0,
                                int64_t m1, Unpack unpack, Tile tile) {
  AmxTileConfig saved;
  amx_begin(config, &saved);
  const int64_t tiles = (N + kAmxRows - 1) / kAmxRows;
  for (int64_t m = m0; m < m1; m += kAmxRows) {
    const int rows = (int)(m1 - m < kAmxRows ? m1 - m : kAmxRows);
    unpack(m, rows);
    const int64_t next_rows = m1 - m - rows < kAmxRows ? m1 - m - rows : kAmxRows;
    for (int64_t n = 0; n < N; n += kAmxRows) {
      prefetch_part(w + (m + rows) * w_row, next_rows * w_row, n / kAmxRows, tiles);
      tile(n, m, rows, (int)(N - n < kAmxRows ? N - n : kAmxRows));
    }
  }
  amx_end(saved);
}

}  // namespace kiln

// tileloadd, tilestored (of a 16 × 16 int32 tile into buf, 64 bytes a row), tilezero, tdpbusd
// (c += a·b, a unsigned bytes, b signed) and tdpbssd (both signed) on literal tile numbers. GCC's _tile_stored
// clobbers all memory, which makes the compiler keep accumulators in memory across it; here the
// store names its 1 KB, and the loads read memory their callers wrote before any tile work.
#define KILN_TILE_LOAD(t, base, stride) \
  asm volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"((int64_t)(stride)))
#define KILN_TILE_STORE(t, buf)                                                                    \
  asm volatile("tilestored %%tmm" #t ", (%1,%2,1)" : "=m"(*(int32_t(*)[kiln::kAmxRows * kiln::kAmxRows])(buf)) \
               : "r"(buf), "r"((int64_t)64))
#define KILN_TILE_ZERO(t) asm volatile("tilezero %%tmm" #t ::)
#define KILN_TILE_DPBUSD(c, a, b) asm volatile("tdpbusd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#define KILN_TILE_DPBSSD(c, a, b) asm volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

#endif  // KILN_AMX
