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

/** null when there is no NVIDIA driver (or nvidia-smi cannot be run). */
export function detectCuda(): CudaInfo | null {
  const r = spawnSync(
    'nvidia-smi',
    ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader,nounits'],
    {
      encoding: 'utf8',
      timeout: 5000,
    },
  )
  if (r.status === 0 && r.stdout.trim()) {
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(',').map((c) => c.trim()))
    return {
      driver: rows[0][2] ?? 'unknown',
      gpus: rows.map(([name, mib]) => ({ name, memory_bytes: Math.round(Number(mib) * 2 ** 20) })),
    }
  }
  // A driver without nvidia-smi on the PATH still says its version here.
  try {
    const text = readFileSync('/proc/driver/nvidia/version', 'utf8')
    const m = /Kernel Module\s+(\S+)/.exec(text)
    return { driver: m?.[1] ?? 'unknown', gpus: [] }
  } catch {
    return null
  }
}
