// KILN_PROFILE=1 (native/cpu/op_profile.h): the CPU device times every node of a step by op kind,
// decode steps (one row per matmul) apart from the others, and opProfile() hands the tables over
// and clears them; profiling changes no result. Read once per process, so each case is a child.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// Generates 4 greedy tokens from the embedded default model on 2 threads, then prints the ids,
// the profile, and a second profile taken right after (the first call clears the tables).
const script = `
const { loadModel } = await import(${JSON.stringify(path.join(root, 'dist/index.js'))})
const { native } = await import(${JSON.stringify(path.join(root, 'dist/core/native.js'))})
const model = loadModel(${JSON.stringify(path.join(root, 'models/default'))}, { threads: 2, contextLength: 64 })
const it = model.generate([1, 2, 3, 4, 5, 6, 7, 8], { maxNewTokens: 4, temperature: 0, eosTokenIds: [] })
const ids = []
for (let r = await it.next(); !r.done; r = await it.next()) ids.push(r.value)
const profile = native().opProfile()
const again = native().opProfile()
model.dispose()
console.log(JSON.stringify({ ids, profile, again }))
`

function generate(env: Record<string, string | undefined>) {
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  })
  expect(p.status, p.stderr).toBe(0)
  return JSON.parse(p.stdout.trim().split('\n').pop() as string)
}

describe('op profile (KILN_PROFILE=1)', () => {
  it('times every node by op kind, decode apart from prefill, clears on read, and changes no result', () => {
    const on = generate({ KILN_PROFILE: '1' })
    const off = generate({ KILN_PROFILE: undefined })
    expect(on.ids).toEqual(off.ids)
    expect(on.ids.length).toBe(4)

    const { decode, prefill } = on.profile
    expect(on.profile.enabled).toBe(true)
    // the prompt is one prefill step; the later tokens are decode steps of one row
    expect(prefill.steps).toBe(1)
    expect(decode.steps).toBeGreaterThanOrEqual(3)
    // llama, 4 layers: q, k, v, o, gate, up, down per layer, then the head
    for (const t of [decode, prefill]) {
      expect(t.ops.matmul.nodes_per_step).toBe(4 * 7 + 1)
      expect(t.ops.attention.nodes_per_step).toBe(4)
      expect(t.ops.rmsnorm.nodes_per_step).toBe(4 * 2 + 1)
      for (const op of Object.values(t.ops) as { us_per_step: number }[])
        expect(op.us_per_step).toBeGreaterThan(0)
    }
    expect(on.again.decode.steps).toBe(0)
    expect(on.again.prefill.steps).toBe(0)

    expect(off.profile.enabled).toBe(false)
    expect(off.profile.decode.steps).toBe(0)
    expect(off.profile.prefill.steps).toBe(0)
  })
})
