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
