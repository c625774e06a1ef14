// What the CPU can do, detected once at run time (the addon is built for the baseline ISA).
#pragma once

namespace kiln {
struct CpuFeatures {
  bool avx2_fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx_vnni = false;
};
const CpuFeatures& cpu_features();
}  // namespace kiln
