#include "cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace kiln {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    c.f16c = __builtin_cpu_supports("f16c");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx_vnni = __builtin_cpu_supports("avxvnni");
#endif
    // KILN_NO_SIMD=1 forces the portable kernels (tests use it to cover the fallback).
    const char* off = std::getenv("KILN_NO_SIMD");
    if (off && off[0] == '1') c = CpuFeatures{};
    // KILN_SIMD=avx2 caps the kernels at AVX2 (tests use it to cover them on AVX-512 machines).
    const char* cap = std::getenv("KILN_SIMD");
    if (cap && std::strcmp(cap, "avx2") == 0) c.avx512f = c.avx512bw = c.avx512vl = false;
    return c;
  }();
  return f;
}

}  // namespace kiln
