// NVIDIA GPUs and their driver, as nvidia-smi reports them (no CUDA library is loaded to ask).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface GpuInfo {
  name: string
  memory_bytes: number
}

export interface CudaInfo {
  driver: string
  gpus: GpuInfo[]
}

/** The query detectCuda runs; its CSV (no header, no units) is what parseNvidiaSmi reads. */
export const NVIDIA_SMI_ARGS = [
  '--query-gpu=name,memory.total,driver_version',
  '--format=csv,noheader,nounits',
]

/** One GPU a line: "NVIDIA H200, 143771, 570.133.20" (memory in MiB). */
export function parseNvidiaSmi(csv: string): CudaInfo | null {
  const rows = csv
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(',').map((c) => c.trim()))
  if (rows.length === 0) return null
  return {
    driver: rows[0][2] || 'unknown',
    gpus: rows.map(([name, mib]) => ({ name, memory_bytes: Math.round(Number(mib) * 2 ** 20) || 0 })),
  }
}

/** The driver version in /proc/driver/nvidia/version ("… Kernel Module for x86_64  580.159.04  Release …"). */
export function parseDriverVersion(text: string): string {
  return /Kernel Module\s+(?:for \S+\s+)?([0-9][\w.]*)/.exec(text)?.[1] ?? 'unknown'
}

/** null when there is no NVIDIA driver (or nvidia-smi cannot be run). */
export function detectCuda(): CudaInfo | null {
  const r = spawnSync('nvidia-smi', NVIDIA_SMI_ARGS, { encoding: 'utf8', timeout: 5000 })
  const parsed = r.status === 0 ? parseNvidiaSmi(r.stdout) : null
  if (parsed) return parsed
  // A driver without nvidia-smi on the PATH still says its version here.
  try {
    return { driver: parseDriverVersion(readFileSync('/proc/driver/nvidia/version', 'utf8')), gpus: [] }
  } catch {
    return null
  }
}
