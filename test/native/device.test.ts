// The device boundary seen from JS: a graph is built on a named device ('cpu') running a kernel
// table ('cpu' or 'ref'), with `backend` alone still accepted; steps write their inputs to the
// device and read the output rows back. The graph here is the smallest that has everything a step
// touches: embedding → kv_store → attention → select_rows, over a paged KV cache and its block table.
import { describe, expect, it } from 'vitest'
import { type GraphSpec, type NativeGraph, native } from '../../src/core/native.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'

const V = 11
const C = 8 // one head of size 8
const S = 2
const BS = 4 // positions per KV block
const MB = 2 // blocks per slot
const NB = 5 // one more than the identity table needs
const ROWS = 4

const table = randomF32(V * C, mulberry32(21), 1)

function spec(extra: Partial<GraphSpec>): GraphSpec {
  return {
    tensors: [
      { name: 'tokens', dtype: 'i32', shape: [ROWS], rows: 1 }, // 0
      { name: 'positions', dtype: 'i32', shape: [ROWS], rows: 1 }, // 1
      { name: 'slots', dtype: 'i32', shape: [ROWS], rows: 1 }, // 2
      { name: 'out_rows', dtype: 'i32', shape: [ROWS], rows: 2 }, // 3
      { name: 'table', dtype: 'f32', shape: [V, C], data: table }, // 4
      { name: 'x', dtype: 'f32', shape: [ROWS, C], rows: 1 }, // 5
      { name: 'kcache', dtype: 'f32', shape: [NB, 1, BS, C] }, // 6
      { name: 'vcache', dtype: 'f32', shape: [NB, 1, BS, C] }, // 7
      { name: 'attn', dtype: 'f32', shape: [ROWS, C], rows: 1 }, // 8
      { name: 'out', dtype: 'f32', shape: [ROWS, C], rows: 2 }, // 9
      { name: 'blocks', dtype: 'i32', shape: [S, MB] }, // 10
    ],
    nodes: [
      { op: 'embedding', inputs: [4, 0], output: 5 },
      { op: 'kv_store', inputs: [5, 5, 1, 2, 6, 7, 10], output: 6 },
      { op: 'attention', inputs: [5, 1, 2, 6, 7, 10], output: 8, i: [1], f: [1 / Math.sqrt(C)] },
      { op: 'select_rows', inputs: [8, 3], output: 9 },
    ],
    io: { tokens: 0, positions: 1, slots: 2, outRows: 3, output: 9, blocks: 10 },
    ...extra,
  }
}

/** Attention of one sequence's rows over its own earlier rows, in double. */
function expected(ids: number[], want: number[]): Float64Array {
  const out = new Float64Array(want.length * C)
  want.forEach((n, r) => {
    const q = table.subarray(ids[n] * C, ids[n] * C + C)
    const s = ids.slice(0, n + 1).map((id) => {
      let d = 0
      for (let c = 0; c < C; c++) d += q[c] * table[id * C + c]
      return d / Math.sqrt(C)
    })
    const m = Math.max(...s)
    const e = s.map((v) => Math.exp(v - m))
    const sum = e.reduce((a, b) => a + b, 0)
    for (let c = 0; c < C; c++)
      out[r * C + c] = ids.slice(0, n + 1).reduce((a, id, j) => a + (e[j] / sum) * table[id * C + c], 0)
  })
  return out
}

describe('device boundary', () => {
  const ids = [3, 9, 0, 7]
  const step = (g: NativeGraph, want: number[]) =>
    g.run(
      Int32Array.from(ids),
      Int32Array.from([0, 1, 2, 3]),
      Int32Array.from([1, 1, 1, 1]),
      Int32Array.from(want),
      2,
    )
  // The same step through runAsync, with a block table or an output array.
  const stepAsync = (g: NativeGraph, want: number[], o: { blocks?: Int32Array; out?: Float32Array } = {}) =>
    g.runAsync(
      Int32Array.from(ids),
      Int32Array.from([0, 1, 2, 3]),
      Int32Array.from([1, 1, 1, 1]),
      Int32Array.from(want),
      2,
      undefined,
      o.blocks,
      undefined,
      false,
      o.out,
    )

  for (const [name, extra] of [
    ['backend alone (as callers pass it)', { backend: 'cpu' }],
    ['device and backend', { device: 'cpu', backend: 'cpu' }],
    ['neither (defaults)', {}],
    ['the ref kernels on the cpu device', { device: 'cpu', backend: 'ref' }],
  ] as [string, Partial<GraphSpec>][])
    it(`runs a step with ${name}`, async () => {
      const g = new (native().Graph)(spec(extra))
      try {
        const info = g.info()
        expect(info.device).toBe('cpu')
        expect(info.backend).toBe(extra.backend ?? 'cpu')
        const want = [3, 0, 2]
        const got = step(g, want)
        const ref = expected(ids, want)
        expect(got.length).toBe(ref.length)
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-5)
        // the same step again, asynchronously: same bits; and a step that wants no rows
        expect(
          await g.runAsync(
            Int32Array.from(ids),
            Int32Array.from([0, 1, 2, 3]),
            Int32Array.from([1, 1, 1, 1]),
            Int32Array.from(want),
            1,
          ),
        ).toEqual(got)
        expect(step(g, []).length).toBe(0)
      } finally {
        g.dispose()
      }
    })

  it('reads and writes the KV cache through the block table a step gives', async () => {
    const g = new (native().Graph)(spec({}))
    try {
      expect(g.info()).toMatchObject({
        kvBlocks: NB,
        blockSize: BS,
        blocksPerSlot: MB,
        positions: MB * BS,
        slots: S,
      })
      const run = (blocks?: Int32Array) => stepAsync(g, [3, 0, 2], { blocks })
      const identity = await run()
      // Slot 1 in the spare block 4 (then 0): the same numbers, wherever they are kept.
      expect(await run(Int32Array.from([0, 1, 4, 0]))).toEqual(identity)
      expect(await run()).toEqual(identity)
      await expect(run(Int32Array.from([0, 1, 7, 0]))).rejects.toThrow(
        /block table: slot 1 position 0 is in block 7, outside 0..4/,
      )
      // (a table of the wrong size is refused before the step is queued)
      expect(() => run(Int32Array.from([0, 1, 2]))).toThrow(
        /blocks must have slots × blocks per slot entries \(4\)/,
      )
    } finally {
      g.dispose()
    }
  })

  it('fills and resolves with the output array a step is given, and refuses one of the wrong size', async () => {
    const g = new (native().Graph)(spec({}))
    try {
      const run = (out?: Float32Array) => stepAsync(g, [3, 0, 2], { out })
      const fresh = await run()
      // one array for several steps, as the scheduler does: the same array back, the same bits
      const out = new Float32Array(fresh.length).fill(Number.NaN)
      for (let k = 0; k < 3; k++) {
        const got = await run(out)
        expect(got).toBe(out)
        expect(got).toEqual(fresh)
      }
      // a view of a longer array: only the view is written
      const big = new Float32Array(fresh.length + 8).fill(7)
      const view = big.subarray(4, 4 + fresh.length)
      expect(await run(view)).toEqual(fresh)
      expect([...big.subarray(0, 4), ...big.subarray(4 + fresh.length)]).toEqual(Array(8).fill(7))
      expect(() => run(new Float32Array(fresh.length + 1))).toThrow(/out must have outRows × \d+ floats/)
      expect(() => run(new Float64Array(fresh.length) as unknown as Float32Array)).toThrow(
        /out must be a Float32Array/,
      )
      // detached while the step runs: the step rejects (the step's own buffer is written, never the freed one)
      const lost = new Float32Array(fresh.length)
      const pending = run(lost)
      structuredClone(lost.buffer, { transfer: [lost.buffer] })
      await expect(pending).rejects.toThrow(/the output array was detached during the step/)
      expect(await run()).toEqual(fresh)
    } finally {
      g.dispose()
    }
  })

  it('names the devices and kernel tables it knows when given another', () => {
    expect(() => new (native().Graph)(spec({ device: 'cuda' as 'cpu' }))).toThrow(
      /unknown device "cuda" \(cpu\)/,
    )
    expect(() => new (native().Graph)(spec({ backend: 'fast' as 'cpu' }))).toThrow(
      /unknown backend "fast" \(cpu, ref\)/,
    )
    expect(() => native().runOp('fast' as 'cpu', { op: 'add', inputs: [0, 1], output: 2 }, [], 1)).toThrow(
      /unknown backend "fast"/,
    )
  })
})
