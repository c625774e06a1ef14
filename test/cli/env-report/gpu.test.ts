// `kiln env` reads GPUs from nvidia-smi (and the driver from /proc when nvidia-smi is missing). The
// fixtures are what an H200 machine printed for exactly the query detectCuda runs.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDriverVersion, parseNvidiaSmi } from '../../../src/cli/env-report/gpu.js'

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8')

describe('GPU detection', () => {
  it('reads nvidia-smi as an H200 prints it', () => {
    expect(parseNvidiaSmi(fixture('nvidia-smi-h200.csv'))).toEqual({
      driver: '580.159.04',
      gpus: [{ name: 'NVIDIA H200', memory_bytes: 143771 * 2 ** 20 }],
    })
  })

  it('reads several GPUs, and nothing as no GPU', () => {
    const two = 'NVIDIA H100 80GB HBM3, 81559, 550.54.15\nNVIDIA H100 80GB HBM3, 81559, 550.54.15\n'
    expect(parseNvidiaSmi(two)?.gpus.map((g) => g.name)).toEqual([
      'NVIDIA H100 80GB HBM3',
      'NVIDIA H100 80GB HBM3',
    ])
    expect(parseNvidiaSmi('\n')).toBeNull()
  })

  it('reads the driver version from /proc/driver/nvidia/version', () => {
    expect(parseDriverVersion(fixture('proc-driver-nvidia-version-h200.txt'))).toBe('580.159.04')
    expect(
      parseDriverVersion(
        'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023',
      ),
    ).toBe('535.104.05')
    expect(parseDriverVersion('something else')).toBe('unknown')
  })
})
