// The op table cannot drift: a backend table built with KILN_BACKEND (native/kernels.h) that lacks
// an op's kernel, or has one of another op's signature, does not compile; a hand-written table
// cannot leave an entry out; and a switch over Op that misses an op fails with binding.gyp's flags.
// Each case compiles a tiny translation unit with the C++ compiler (skipped when there is none).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { native } from '../../src/core/native.js'

const root = path.resolve(import.meta.dirname, '../..')
const nativeDir = path.join(root, 'native')

function findCompiler(): string | undefined {
  for (const cxx of [process.env.CXX, 'g++', 'c++', 'clang++'])
    if (cxx && spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0) return cxx
  return undefined
}
const cxx = findCompiler()

/** The ops as ops.h lists them: X(ID, op, n_inputs, __VA_ARGS__). */
const OPS = [
  ...readFileSync(path.join(nativeDir, 'ops/ops.h'), 'utf8').matchAll(/X\((\w+), (\w+), \d+, __VA_ARGS__\)/g),
].map((m) => ({ id: m[1], op: m[2] }))

/** The addon's own compile flags (-std, warnings), read from binding.gyp. */
const gypFlags: string[] = JSON.parse(
  readFileSync(path.join(root, 'binding.gyp'), 'utf8'),
).targets[0].cflags_cc.filter((f: string) => f.startsWith('-std') || f.startsWith('-W'))

const dir = mkdtempSync(path.join(tmpdir(), 'kiln-op-table-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function compile(name: string, source: string): { ok: boolean; stderr: string } {
  const file = path.join(dir, `${name}.cc`)
  writeFileSync(file, source)
  const r = spawnSync(cxx as string, [...gypFlags, '-fsyntax-only', '-I', nativeDir, file], {
    encoding: 'utf8',
  })
  return { ok: r.status === 0, stderr: r.stderr }
}

/** A backend "test": one declaration per op (`decl` may change or drop one), then its table. */
function backendTu(decl: (op: string) => string | undefined, table = 'KILN_BACKEND(test)'): string {
  const lines = OPS.map(({ op }) => decl(op)).filter((l) => l !== undefined)
  return [
    '#include "kernels.h"',
    'namespace kiln {',
    ...lines,
    'matmul_scratch_kernel matmul_scratch_test;',
    `const Backend& test_backend() { static const Backend b = ${table}; return b; }`,
    '}',
  ].join('\n')
}
const declare = (op: string) => `${op}_kernel ${op}_test;`

describe.skipIf(!cxx)('op table: the build fails when a backend lacks an op', () => {
  it('reads the op list', () => {
    expect(OPS.map((o) => o.op)).toEqual(native().cpuInfo().ops)
    expect(gypFlags).toContain('-Werror=switch')
  })

  it('a table with every kernel compiles', () => {
    const r = compile('complete', backendTu(declare))
    expect(r.stderr).toBe('')
    expect(r.ok).toBe(true)
  })

  for (const missing of [OPS[OPS.length - 1].op, 'rope'])
    it(`a table without ${missing}_test fails to compile, naming it`, () => {
      const r = compile(
        `missing-${missing}`,
        backendTu((op) => (op === missing ? undefined : declare(op))),
      )
      expect(r.ok).toBe(false)
      expect(r.stderr).toMatch(
        new RegExp(`\\b${missing}_test\\b.*not declared|not declared.*\\b${missing}_test\\b`),
      )
    })

  it("a kernel with another op's signature fails to compile (add's kernel as gelu's)", () => {
    const r = compile(
      'swapped',
      backendTu((op) => (op === 'gelu' ? 'add_kernel gelu_test;' : declare(op))),
    )
    expect(r.ok).toBe(false)
    expect(r.stderr).toMatch(/\bgelu\b/)
  })

  it('a hand-written table that leaves the last entry out fails to compile', () => {
    const positional = `Backend("test", ${OPS.slice(0, -1)
      .map(({ op }) => `${op}_test`)
      .join(', ')}, matmul_scratch_test)`
    const r = compile('positional', backendTu(declare, positional))
    expect(r.ok).toBe(false)
  })

  it("a switch over Op without some op's case fails with binding.gyp's flags; with every case it compiles", () => {
    const sw = (ids: string[]) =>
      [
        '#include "ops/ops.h"',
        'int f(kiln::Op op) {',
        '  switch (op) {',
        ...ids.map((id, i) => `    case kiln::Op::${id}: return ${i};`),
        '  }',
        '  return -1;',
        '}',
      ].join('\n')
    const all = OPS.map((o) => o.id)
    const last = all[all.length - 1]
    const partial = compile('switch-partial', sw(all.slice(0, -1)))
    expect(partial.ok).toBe(false)
    expect(partial.stderr).toContain(last)
    const full = compile('switch-full', sw(all))
    expect(full.stderr).toBe('')
    expect(full.ok).toBe(true)
  })
})

describe('op table: every backend of the build lists every op', () => {
  it('backends() names each kernel table with all the ops', () => {
    const ops = native().cpuInfo().ops
    const backends = native().backends()
    expect(backends.map((b) => `${b.device}/${b.name}`)).toEqual(['cpu/cpu', 'cpu/ref'])
    for (const b of backends) expect(b.ops, b.name).toEqual(ops)
  })
})
