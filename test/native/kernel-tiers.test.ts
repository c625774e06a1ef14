// The kernel tier (native/cpu/cpu_features.h): picked once per process from the CPU, capped by
// KILN_SIMD, and a KILN_SIMD that names no tier refused in one line before anything runs.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { native } from '../../src/core/native.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const TIERS = ['portable', 'avx2', 'avx512', 'avx512vnni', 'amx']

function childInfo(env: Record<string, string>) {
  // The build this process loaded (KILN_NATIVE_ADDON: npm run test:asan's sanitizer build).
  const addon = process.env.KILN_NATIVE_ADDON
    ? path.resolve(process.env.KILN_NATIVE_ADDON)
    : path.join(root, 'build', 'Release', 'kiln_native.node')
  const p = spawnSync(
    process.execPath,
    ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addon)}).cpuInfo()))`],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  )
  return { status: p.status, stdout: p.stdout, stderr: p.stderr }
}

describe('kernel tiers', () => {
  it("this process's tier follows from the CPU's features", () => {
    const c = native().cpuInfo()
    expect(TIERS).toContain(c.kernels)
    const want = !c.avx2
      ? 'portable'
      : !c.avx512f
        ? 'avx2'
        : !c.avx512vnni
          ? 'avx512'
          : c.amx
            ? 'amx'
            : 'avx512vnni'
    expect(c.kernels).toBe(want)
  })

  it('KILN_SIMD caps the tier at each name, never above what the CPU has', () => {
    const best = TIERS.indexOf(native().cpuInfo().kernels)
    for (const [i, tier] of TIERS.entries()) {
      const r = childInfo({ KILN_SIMD: tier })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).kernels).toBe(TIERS[Math.min(i, best)])
    }
    expect(JSON.parse(childInfo({ KILN_NO_SIMD: '1' }).stdout).kernels).toBe('portable')
  })

  it('a KILN_SIMD that names no tier: one line naming the tiers, exit 1, for any command', () => {
    const r = childInfo({ KILN_SIMD: 'avx9000' })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain(
      'KILN_SIMD=avx9000 is not a kernel tier: use one of portable, avx2, avx512, avx512vnni, amx',
    )
    const gen = spawnSync(
      process.execPath,
      [path.join(root, 'bin', 'run.js'), 'generate', 'hi', '--max-new-tokens', '2'],
      {
        env: { ...process.env, KILN_SIMD: 'avx9000' },
        encoding: 'utf8',
      },
    )
    expect(gen.status).toBe(1)
    expect(gen.stdout).toBe('')
    expect(gen.stderr.trim().split('\n')).toEqual([
      'kiln: KILN_SIMD=avx9000 is not a kernel tier: use one of portable, avx2, avx512, avx512vnni, amx',
    ])
    const env = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), 'env'], {
      env: { ...process.env, KILN_SIMD: 'avx9000' },
      encoding: 'utf8',
    })
    expect(env.status).toBe(0)
    expect(env.stdout).toContain('native:    unavailable (KILN_SIMD=avx9000 is not a kernel tier')
  })
})
