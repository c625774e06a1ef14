// What the AMX kernels (qgemm_amx.cc, qgemm_k_amx.cc) share: their target, the tile
// configuration and the tile instructions as inline assembly with the memory they touch named
// exactly. Only where arch.h's KILN_AMX is 1.
#pragma once
#include "cpu/arch.h"
#if KILN_AMX

#include <cstdint>

#define KILN_AMX_TARGET __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KILN_AMX_INLINE                                                                                     \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) \
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

// Loads a configuration into this thread's tile registers. Not _tile_loadconfig: GCC 12's declares
// only the first 8 bytes of the configuration as read, so the compiler may drop the stores of rows
// and colsb and ldtilecfg faults (native llama.cpp built with GCC 12 crashes so). This operand is
// the whole struct.
KILN_AMX_INLINE void amx_load_config(const AmxTileConfig& c) { asm volatile("ldtilecfg %0" ::"m"(c)); }
// Back to the state without tiles (so a context switch saves no tile data).
KILN_AMX_INLINE void amx_release() { asm volatile("tilerelease" ::); }

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
