// What the CPU can do, detected once at run time (the addon is built for the baseline ISA), and
// the kernel tier that follows from it. KILN_SIMD=<tier> caps the tier (tests use it to run every
// tier this machine has; users to rule one out), KILN_NO_SIMD=1 is KILN_SIMD=portable:
//   portable    plain C++, any CPU
//   avx2        AVX2 + FMA + F16C: f32/f16/bf16 tiles, int8 dot products as maddubs + madd
//   avx512      AVX-512 F/BW/VL: 16-lane f32/f16/bf16 tiles; int8 as avx2
//   avx512vnni  avx512 with AVX512-VNNI: the int8 kernels 512 bits wide with vpdpbusd, computing
//               the very integer partial sums the avx2 ones do, in the same float order (so the
//               two tiers agree bit for bit)
//   amx         avx512vnni with AMX-INT8 (Linux): prefill's int8 GEMMs on the tile unit, the very
//               integers again, in the same float order (bit for bit the same as well)
// On ARM64 the tiers are portable, neon (Advanced SIMD, which every ARM64 CPU has: f32/f16/bf16
// tiles, attention, elementwise, int8 dot products as widening multiplies), dotprod (the int8
// dot products with sdot, ARMv8.2's dotprod: Apple M1 on, Graviton 2 on) and i8mm (steps of
// several rows in 2×2 tiles with smmla, FEAT_I8MM: Apple M2 on, Graviton 3 on), each computing the
// very integer sums the portable kernels do, in the same float order (so all four agree bit for bit).
// A tier above what the CPU has caps nothing: the CPU's own tier is used (cpu_kernel_tier() says).
#pragma once
#include <string>

namespace kiln {
struct CpuFeatures {
  bool avx2_fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx_vnni = false;     // VEX-encoded vpdpbusd (Alder Lake, Zen 5, ...)
  bool avx512_vnni = false;  // EVEX-encoded (Cascade Lake, Ice Lake, Zen 4, ...)
  bool amx_int8 = false;     // AMX-TILE + AMX-INT8 (+ AVX512-VBMI), the tile state granted by the OS (Sapphire Rapids, ...)
  bool intel = false;        // GenuineIntel (some kernels tune for its prefetchers; not a tier)
  bool neon = false;         // ARM64 Advanced SIMD
  bool dotprod = false;      // ARM64 sdot/udot (FEAT_DotProd)
  bool i8mm = false;         // ARM64 smmla (FEAT_I8MM), with dotprod
  // The AVX-512 kernels' needs (F, BW, VL, plus what the AVX2 ones need).
  bool avx512() const { return avx512f && avx512bw && avx512vl && avx2_fma && f16c; }
  // The 512-bit int8 kernels' needs.
  bool avx512vnni() const { return avx512() && avx512_vnni; }
  // The tile kernels' needs (their scaling and layouts are AVX-512 VNNI code).
  bool amx() const { return avx512vnni() && amx_int8; }
};
const CpuFeatures& cpu_features();
// The highest tier the kernels use ("avx512vnni", ..., "i8mm", "dotprod", "neon", "portable"): what `kiln env` shows.
const char* cpu_kernel_tier();
// "" when KILN_SIMD is unset or names a tier, else the one-line error the addon throws at load.
std::string cpu_simd_env_error();
}  // namespace kiln
