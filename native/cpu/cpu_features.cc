#include "cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu/arch.h"

#if KILN_ARM64 && defined(__linux__)
#include <sys/auxv.h>
#endif
#if KILN_AMX
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if KILN_ARM64 && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace kiln {

namespace {

// The tiers of this build's architecture in order; each keeps what the ones below it have and adds
// its own.
#if KILN_ARM64
const char* const kTiers[] = {"portable", "neon", "dotprod", "i8mm"};
#else
const char* const kTiers[] = {"portable", "avx2", "avx512", "avx512vnni", "amx"};
#endif
constexpr int kTierCount = sizeof(kTiers) / sizeof(kTiers[0]);

#if KILN_ARM64 && defined(__APPLE__)
bool sysctl_flag(const char* name) {
  int v = 0;
  size_t len = sizeof(v);
  return sysctlbyname(name, &v, &len, nullptr, 0) == 0 && v != 0;
}
#endif

#if KILN_AMX
// AMX-TILE and AMX-INT8 (CPUID leaf 7: EDX bits 24, 25), and Linux's leave to use the tile data
// (a process asks once, ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; refused by kernels before 5.16
// or where a hypervisor hides the state).
bool amx_granted() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 24) & 1) || !((d >> 25) & 1)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

CpuFeatures detect() {
  CpuFeatures c;
#if KILN_X86
  __builtin_cpu_init();
  c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  c.f16c = __builtin_cpu_supports("f16c");
  c.avx512f = __builtin_cpu_supports("avx512f");
  c.avx512bw = __builtin_cpu_supports("avx512bw");
  c.avx512vl = __builtin_cpu_supports("avx512vl");
  c.avx_vnni = __builtin_cpu_supports("avxvnni");
  c.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  c.intel = __builtin_cpu_is("intel");
#if KILN_AMX
  c.amx_int8 = amx_granted() && __builtin_cpu_supports("avx512vbmi");  // every AMX CPU has VBMI (vpermb)
#endif
#elif KILN_ARM64
  c.neon = true;  // Advanced SIMD is part of ARMv8-A
#if defined(__linux__)
  // The kernel's hwcaps (asm/hwcap.h): HWCAP_ASIMDDP is bit 20 of AT_HWCAP, HWCAP2_I8MM bit 13 of AT_HWCAP2.
  c.dotprod = (getauxval(AT_HWCAP) >> 20) & 1;
  c.i8mm = (getauxval(AT_HWCAP2) >> 13) & 1;
#elif defined(__APPLE__)
  c.dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  c.i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
#endif
  c.i8mm = c.i8mm && c.dotprod;  // the i8mm tier's leftover rows take the sdot kernels
#endif
  return c;
}

// What a CPU keeps under a cap of tier t.
CpuFeatures capped(CpuFeatures c, int t) {
  if (t < 1) return CpuFeatures{};
#if KILN_ARM64
  if (t < 2) c.dotprod = false;
  if (t < 3) c.i8mm = false;
#else
  if (t < 2) c.avx512f = c.avx512bw = c.avx512vl = false;
  if (t < 3) c.avx512_vnni = c.avx_vnni = false;
  if (t < 4) c.amx_int8 = false;
#endif
  return c;
}

int tier_index(const char* name) {
  for (int i = 0; i < kTierCount; i++)
    if (std::strcmp(name, kTiers[i]) == 0) return i;
  return -1;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c = detect();
    const char* off = std::getenv("KILN_NO_SIMD");
    if (off && off[0] == '1') return CpuFeatures{};
    const char* cap = std::getenv("KILN_SIMD");
    if (cap && *cap) {
      const int t = tier_index(cap);
      if (t >= 0) c = capped(c, t);
    }
    return c;
  }();
  return f;
}

std::string cpu_simd_env_error() {
  const char* cap = std::getenv("KILN_SIMD");
  if (!cap || !*cap || tier_index(cap) >= 0) return "";
  std::string names;
  for (int i = 0; i < kTierCount; i++) names += std::string(i ? ", " : "") + kTiers[i];
  return std::string("KILN_SIMD=") + cap + " is not a kernel tier: use one of " + names;
}

const char* cpu_kernel_tier() {
  const CpuFeatures& c = cpu_features();
  if (c.amx()) return "amx";
  if (c.avx512vnni()) return "avx512vnni";
  if (c.avx512()) return "avx512";
  if (c.avx2_fma && c.f16c) return "avx2";
  if (c.neon && c.dotprod && c.i8mm) return "i8mm";
  if (c.neon && c.dotprod) return "dotprod";
  if (c.neon) return "neon";
  return "portable";
}

}  // namespace kiln
