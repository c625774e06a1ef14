// Runs single ops in a fresh Node process with extra environment, for kernels chosen once per
// process from it: KILN_NO_SIMD=1 (the portable kernels), KILN_SIMD=avx2 (the AVX2 kernels on an
// AVX-512 machine) and KILN_SIMD=avx512 (AVX-512 without the VNNI int8 kernels). The child is test/native/run-op-child.mjs; tensors travel as base64.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import type { CpuInfo, NodeSpec, TensorSpec } from '../../src/core/native.js'

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'native', 'run-op-child.mjs')

export interface OpCase {
  node: NodeSpec
  tensors: TensorSpec[]
  threads: number
}

function b64(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')
}

/** The f32 outputs of each case on the cpu backend, and what the child's kernels saw of the CPU. */
export function runOpsInChild(
  cases: OpCase[],
  env: Record<string, string>,
): { cpu: CpuInfo; outputs: Float32Array[] } {
  const input = cases.map(({ node, tensors, threads }) => ({
    backend: 'cpu',
    node,
    threads,
    tensors: tensors.map((t) => ({ ...t, data: t.data ? b64(t.data) : undefined })),
  }))
  const res = spawnSync(process.execPath, [child], {
    input: JSON.stringify({ cases: input }),
    env: { ...process.env, ...env },
    maxBuffer: 1 << 28,
    encoding: 'utf8',
  })
  expect(res.status, res.stderr).toBe(0)
  const { cpu, outputs } = JSON.parse(res.stdout) as { cpu: CpuInfo; outputs: string[] }
  return {
    cpu,
    outputs: outputs.map((s) => {
      const buf = Buffer.from(s, 'base64')
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
    }),
  }
}

/** The environments that select each kernel tier below the best, with a check that it took. */
export const KERNEL_TIERS = [
  {
    name: 'AVX-512 kernels without VNNI (KILN_SIMD=avx512)',
    env: { KILN_SIMD: 'avx512' },
    took: (c: CpuInfo) => !c.avx512vnni,
  },
  { name: 'AVX2 kernels (KILN_SIMD=avx2)', env: { KILN_SIMD: 'avx2' }, took: (c: CpuInfo) => !c.avx512f },
  { name: 'portable kernels (KILN_NO_SIMD=1)', env: { KILN_NO_SIMD: '1' }, took: (c: CpuInfo) => !c.avx2 },
] as const
