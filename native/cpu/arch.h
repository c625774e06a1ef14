// The instruction-set family a file is compiled for. The addon builds from one source list on
// every platform: x86 kernel files (*_avx2, *_avx512, *_vnni) compile to nothing off x86, the NEON
// ones (*_neon) to nothing off ARM64, and the dispatch sites call each family only where it exists.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#define KILN_X86 1
#else
#define KILN_X86 0
#endif

#if defined(__aarch64__)
#define KILN_ARM64 1
#else
#define KILN_ARM64 0
#endif

// AMX (Intel's tile matrix unit) kernels: x86 Linux (the kernel grants the tile state on request,
// cpu_features.cc), with a compiler whose headers have the AMX intrinsics (GCC 11, clang 12 on).
#if KILN_X86 && defined(__linux__) && ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define KILN_AMX 1
#else
#define KILN_AMX 0
#endif
