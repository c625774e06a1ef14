// The CPU as a bug report needs it: model, cores, and the SIMD features that decide kiln's kernels.
import { readFileSync } from 'node:fs'
import os from 'node:os'

/** Features worth naming, in the order people look for them (Linux /proc/cpuinfo flag names). */
const FEATURES = [
  'sse4_2',
  'avx',
  'avx2',
  'fma',
  'f16c',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512_bf16',
  'avx512_vnni',
  'avx_vnni',
  'amx_tile',
  'asimd',
  'sve',
]

export interface CpuReport {
  model: string
  /** Logical cores this process may use. */
  cores: number
  simd: string[]
}

function cpuFlags(): Set<string> {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8')
    // x86 says "flags", arm64 says "Features".
    const line = /^(?:flags|Features)\s*:(.*)$/m.exec(text)
    return new Set((line?.[1] ?? '').trim().split(/\s+/))
  } catch {
    return new Set()
  }
}

export function cpuReport(): CpuReport {
  const flags = cpuFlags()
  const simd = FEATURES.filter((f) => flags.has(f))
  // macOS on Apple silicon has NEON without a flag list to read.
  if (simd.length === 0 && process.arch === 'arm64') simd.push('neon')
  return { model: os.cpus()[0]?.model?.trim() || 'unknown', cores: os.availableParallelism(), simd }
}
