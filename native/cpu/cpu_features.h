// What the CPU can do, detected once at run time (the addon is built for the baseline ISA).
#pragma once

namespace kiln {
struct CpuFeatures {
  bool avx2_fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx_vnni = false;
  // The AVX-512 kernels' needs (F, BW, VL, plus what the AVX2 ones need).
  bool avx512() const { return avx512f && avx512bw && avx512vl && avx2_fma && f16c; }
};
const CpuFeatures& cpu_features();
}  // namespace kiln
