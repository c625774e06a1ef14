#include "cpu/cpu_features.h"

#include <cstdlib>

namespace kiln {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    c.f16c = __builtin_cpu_supports("f16c");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx_vnni = __builtin_cpu_supports("avxvnni");
#endif
    // KILN_NO_SIMD=1 forces the portable kernels (tests use it to cover the fallback).
    const char* off = std::getenv("KILN_NO_SIMD");
    if (off && off[0] == '1') c = CpuFeatures{};
    return c;
  }();
  return f;
}

}  // namespace kiln
