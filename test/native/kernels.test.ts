// Every op of the table, fast CPU kernels against their plain-loop reference twins, on random
// odd shapes (sizes that are not multiples of the SIMD width) with 1, 2 and 3 threads. Copies
// must match exactly; arithmetic within a bound derived from how each kernel rounds in f32
// (u = 2⁻²⁴ per operation; the references compute in double). Matmul has its own, deeper file.
import { describe, expect, it } from 'vitest'
import { type NativeDType, type NodeSpec, native, type TensorSpec } from '../../src/core/native.js'
import { fromBf16, fromF16, mulberry32, randomF32, toBf16, toF16 } from '../helpers/numbers.js'
import { KERNEL_TIERS, runOpsInChild } from '../helpers/op-child.js'

const U = 2 ** -24
const THREADS = [1, 2, 3]

function randomInts(n: number, below: number, rand: () => number): Int32Array {
  const a = new Int32Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.floor(rand() * below)
  return a
}

function t(name: string, dtype: NativeDType, shape: number[], data?: ArrayBufferView): TensorSpec {
  return { name, dtype, shape, data }
}

/** Input data is copied for every run, so kernels that write into their inputs (kv_store) start equal. */
function copyData(ts: TensorSpec[]): TensorSpec[] {
  return ts.map((x) => (x.data ? { ...x, data: (x.data as Float32Array).slice() } : x))
}

interface Runs {
  ref: Float32Array
  refTensors: TensorSpec[]
  cpu: { threads: number; out: Float32Array; tensors: TensorSpec[] }[]
}

function runBoth(node: NodeSpec, tensors: TensorSpec[]): Runs {
  const refTensors = copyData(tensors)
  const ref = native().runOp('ref', node, refTensors, 1)
  const cpu = THREADS.map((threads) => {
    const ts = copyData(tensors)
    return { threads, out: native().runOp('cpu', node, ts, threads), tensors: ts }
  })
  return { ref, refTensors, cpu }
}

/** Every fast output within tol(i, ref) of the reference; reports the worst element. */
function expectClose(runs: Runs, tol: (i: number, ref: number) => number, what: string) {
  for (const { threads, out } of runs.cpu) {
    expect(out.length, what).toBe(runs.ref.length)
    let worst = 0
    let at = -1
    for (let i = 0; i < out.length; i++) {
      const r = Math.abs(out[i] - runs.ref[i]) / (tol(i, runs.ref[i]) + Number.MIN_VALUE)
      if (!(r <= worst)) {
        worst = r
        at = i
      }
    }
    expect(
      worst,
      `${what} threads=${threads}: out[${at}] = ${out[at]}, ref ${runs.ref[at]}`,
    ).toBeLessThanOrEqual(1)
  }
}

function expectExact(a: Float32Array, b: Float32Array, what: string) {
  expect(a.length, what).toBe(b.length)
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length)
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length)
  let diff = -1
  for (let i = 0; i < x.length && diff < 0; i++) if (x[i] !== y[i]) diff = i
  expect(diff, `${what}: first difference at ${diff} (${a[diff]} vs ${b[diff]})`).toBe(-1)
}

interface CheckedCase {
  node: NodeSpec
  tensors: TensorSpec[]
  tol: (i: number, ref: number) => number
  what: string
}

/** SwiGLU's gate: exp, a sum of positive terms, a division and a product (no cancellation). */
function siluCases(): CheckedCase[] {
  const rand = mulberry32(9)
  const cases: CheckedCase[] = []
  for (const C of WIDTHS)
    for (const N of ROWS)
      cases.push({
        node: { op: 'silu_mul', inputs: [0, 1], output: 2 },
        tensors: [
          t('gate', 'f32', [N, C], randomF32(N * C, rand, 12)),
          t('up', 'f32', [N, C], randomF32(N * C, rand, 3)),
          t('out', 'f32', [N, C]),
        ],
        tol: (_i, ref) => 8 * U * Math.abs(ref),
        what: `silu_mul N=${N} C=${C}`,
      })
  return cases
}

/**
 * Attention over the paged KV cache: GQA over several slots and positions, blocks shuffled and
 * shared between slots. Scores: a dot product of HS terms (the portable kernel: 8 lanes, separate
 * multiply and add; the vector kernels: one FMA chain per lane, then a lane sum), within
 * (2⌈HS/8⌉ + 16) roundings of Σ|q·k|; softmax weights: exp of the score minus the max, a sum over
 * len terms, a reciprocal; output: a weighted sum of len value rows, each |v| ≤ max|v|.
 */
function pagedCases(): CheckedCase[] {
  const rand = mulberry32(7)
  const cases: CheckedCase[] = []
  for (const [S, NH, NKV, P, HS, BS] of [
    [1, 1, 1, 1, 1, 1],
    [2, 4, 2, 13, 8, 4],
    [3, 6, 2, 37, 12, 16],
    [2, 3, 3, 9, 33, 2],
    [3, 8, 1, 64, 64, 16],
    [2, 2, 1, 40, 80, 16],
  ])
    for (const N of ROWS) {
      const q = randomF32(N * NH * HS, rand, 2)
      const kv = pagedCache(S, NKV, P, HS, BS, rand, false)
      const pos = randomInts(N, P, rand)
      const slot = randomInts(N, S, rand)
      const scale = 1 / Math.sqrt(HS)
      const node = { op: 'attention', inputs: [0, 1, 2, 3, 4, 5], output: 6, i: [NH], f: [scale] }
      const tensors = [
        t('q', 'f32', [N, NH * HS], q),
        t('pos', 'i32', [N], pos),
        t('slot', 'i32', [N], slot),
        t('kcache', 'f32', kv.shape, kv.k),
        t('vcache', 'f32', kv.shape, kv.v),
        t('blocks', 'i32', [S, kv.MB], kv.table),
        t('out', 'f32', [N, NH * HS]),
      ]
      const group = NH / NKV
      const bound = new Float64Array(N * NH)
      for (let n = 0; n < N; n++)
        for (let h = 0; h < NH; h++) {
          const kvh = Math.floor(h / group)
          const len = pos[n] + 1
          let maxQk = 0
          let maxV = 0
          const scores: number[] = []
          for (let j = 0; j < len; j++) {
            const row = kv.at(slot[n], kvh, j)
            let s = 0
            let a = 0
            for (let d = 0; d < HS; d++) {
              const p = q[(n * NH + h) * HS + d] * kv.k[row + d]
              s += p
              a += Math.abs(p)
              maxV = Math.max(maxV, Math.abs(kv.v[row + d]))
            }
            scores.push(s * scale)
            maxQk = Math.max(maxQk, a * scale)
          }
          const spread = Math.max(...scores) - Math.min(...scores)
          const dScore = (2 * Math.ceil(HS / 8) + 16) * U * maxQk
          bound[n * NH + h] = 2 * maxV * (2 * dScore + (spread + 3 * len + 10) * U)
        }
      cases.push({
        node,
        tensors,
        tol: (i) => bound[Math.floor(i / HS)],
        what: `S=${S} NH=${NH} NKV=${NKV} P=${P} HS=${HS} BS=${BS} N=${N}`,
      })
    }
  return cases
}

/**
 * Bidirectional attention over ragged sequences, with the bound of the causal kernel's test over
 * the whole sequence instead of a prefix. Scores: the portable kernel sums 8 lanes with separate
 * multiply and add (c = 2⌈HS/8⌉ + 16), the vector kernels run one FMA chain over d (c = HS + 2);
 * the lengths cross the vector kernels' blocks of 4 and 32 queries.
 */
function bidirCases(): CheckedCase[] {
  const rand = mulberry32(17)
  const cases: CheckedCase[] = []
  for (const [NH, NKV, HS] of [
    [1, 1, 1],
    [4, 2, 8],
    [6, 3, 12],
    [3, 3, 33],
    [8, 1, 64],
    [2, 1, 17],
  ])
    for (const lens of [[1], [5], [3, 1, 7], [17, 2], [1, 1, 1, 1], [33, 6], [70]]) {
      const N = lens.reduce((a, b) => a + b, 0)
      const pos = Int32Array.from(lens.flatMap((len) => Array.from({ length: len }, (_, i) => i)))
      const q = randomF32(N * NH * HS, rand, 2)
      const k = randomF32(N * NKV * HS, rand, 2)
      const v = randomF32(N * NKV * HS, rand, 3)
      const scale = 1 / Math.sqrt(HS)
      const node = { op: 'bidir_attention', inputs: [0, 1, 2, 3], output: 4, i: [NH], f: [scale] }
      const tensors = [
        t('q', 'f32', [N, NH * HS], q),
        t('k', 'f32', [N, NKV * HS], k),
        t('v', 'f32', [N, NKV * HS], v),
        t('pos', 'i32', [N], pos),
        t('out', 'f32', [N, NH * HS]),
      ]
      const group = NH / NKV
      const cScore = Math.max(2 * Math.ceil(HS / 8) + 16, HS + 2)
      const bound = new Float64Array(N * NH)
      let start = 0
      for (const len of lens) {
        for (let n = start; n < start + len; n++)
          for (let h = 0; h < NH; h++) {
            const kvh = Math.floor(h / group)
            let maxQk = 0
            let maxV = 0
            const scores: number[] = []
            for (let j = start; j < start + len; j++) {
              let s = 0
              let a = 0
              for (let d = 0; d < HS; d++) {
                const p = q[(n * NH + h) * HS + d] * k[(j * NKV + kvh) * HS + d]
                s += p
                a += Math.abs(p)
                maxV = Math.max(maxV, Math.abs(v[(j * NKV + kvh) * HS + d]))
              }
              scores.push(s * scale)
              maxQk = Math.max(maxQk, a * scale)
            }
            const spread = Math.max(...scores) - Math.min(...scores)
            const dScore = cScore * U * maxQk
            bound[n * NH + h] = 2 * maxV * (2 * dScore + (spread + 3 * len + 10) * U)
          }
        start += len
      }
      cases.push({
        node,
        tensors,
        tol: (i) => bound[Math.floor(i / HS)],
        what: `NH=${NH} NKV=${NKV} HS=${HS} lens=${lens}`,
      })
    }
  return cases
}

/**
 * A paged KV cache of random values for S slots of P positions in blocks of BS: a pool of a few
 * more blocks than the slots need, and a block table that shuffles them. `distinct`: no two slots
 * share a block (for writes); else some entries repeat, as a shared prompt prefix does.
 */
function pagedCache(
  S: number,
  NKV: number,
  P: number,
  HS: number,
  BS: number,
  rand: () => number,
  distinct: boolean,
) {
  const MB = Math.ceil(P / BS)
  const NB = S * MB + 3
  const order = Array.from({ length: NB }, (_, i) => i)
  for (let i = NB - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const table = Int32Array.from({ length: S * MB }, (_, i) =>
    distinct || rand() < 0.7 ? order[i] : order[i % MB],
  )
  const shape = [NB, NKV, BS, HS]
  return {
    MB,
    shape,
    table,
    k: randomF32(NB * NKV * BS * HS, rand, 2),
    v: randomF32(NB * NKV * BS * HS, rand, 3),
    /** Offset of position p's row for kv head h of slot s. */
    at: (s: number, h: number, p: number) =>
      ((table[s * MB + Math.floor(p / BS)] * NKV + h) * BS + (p % BS)) * HS,
  }
}

const ROWS = [1, 3, 17]
const WIDTHS = [1, 7, 33, 257, 1000]

/**
 * GELU on random rows. 1 + erf(x/√2) (or 1 + tanh(...)) cancels for negative x, so the bound is
 * absolute: the error of the inner function's argument and value, times 0.5|x|. (The vector
 * kernels' polynomial erf is within 1e-7, under the 4·2u allowed for the value.)
 */
function geluCases(tanh: boolean): CheckedCase[] {
  const rand = mulberry32(tanh ? 10 : 11)
  const cases: CheckedCase[] = []
  for (const C of WIDTHS)
    for (const N of ROWS) {
      const x = randomF32(N * C, rand, 6)
      if (N === 3 && C === 33) x.set([0, -0, 1, -1, 0.999999, 3.99, 4, 4.01, -4.5, 10, -10, 1e-30, -1e-30])
      const node = { op: 'gelu', inputs: [0], output: 1, i: [tanh ? 1 : 0] }
      const tol = (i: number, ref: number) => {
        const v = Math.abs(x[i])
        const inner = tanh ? 6 * 0.8 * (v + 0.045 * v ** 3) + 2 : 0.8 * v + 4
        return 2 * U * (0.5 * v * inner + 2 * Math.abs(ref))
      }
      cases.push({
        node,
        tensors: [t('x', 'f32', [N, C], x), t('out', 'f32', [N, C])],
        tol,
        what: `N=${N} C=${C}`,
      })
    }
  return cases
}

// The ops this file tests; the last test fails when the table grows an op that is not here.
const TESTED_OPS = [
  'embedding',
  'matmul',
  'rmsnorm',
  'layernorm',
  'rope',
  'kv_store',
  'attention',
  'bidir_attention',
  'add',
  'mul',
  'silu_mul',
  'gelu',
  'tanh',
  'relu',
  'softmax',
  'select_rows',
  'slice_cols',
  // The training ops: fast vs reference and finite differences in train-ops.test.ts.
  'causal_attention',
  'causal_attention_backward',
  'scale',
  'dropout',
  'matmul_backward_weight',
  'matmul_backward_input', // test/native/train-qmatmul.test.ts
  'bias_backward',
  'rmsnorm_backward',
  'rmsnorm_backward_weight',
  'rope_backward',
  'silu_mul_backward',
  'embedding_backward',
  'cross_entropy',
  'cross_entropy_backward',
  'adamw',
  'layernorm_backward',
  'layernorm_backward_weight',
  'gelu_backward',
  'slice_cols_backward',
  // test/native/chunked-loss.test.ts
  'cross_entropy_stats',
  'cross_entropy_loss',
  'cross_entropy_chunk_backward',
]

describe('kernels: fast vs reference', () => {
  it('embedding: f32, f16 and bf16 tables, exact', () => {
    const rand = mulberry32(1)
    for (const dtype of ['f32', 'f16', 'bf16'] as const)
      for (const C of [1, 7, 33, 257])
        for (const N of ROWS) {
          const V = 29
          const vals = randomF32(V * C, rand, 4)
          const table =
            dtype === 'f32' ? vals : Uint16Array.from(vals, (v) => (dtype === 'bf16' ? toBf16(v) : toF16(v)))
          const ids = randomInts(N, V, rand)
          const node = { op: 'embedding', inputs: [0, 1], output: 2 }
          const runs = runBoth(node, [
            t('table', dtype, [V, C], table),
            t('ids', 'i32', [N], ids),
            t('out', 'f32', [N, C]),
          ])
          for (const c of runs.cpu)
            expectExact(c.out, runs.ref, `${dtype} N=${N} C=${C} threads=${c.threads}`)
        }
  })

  it('matmul: every dtype and layout, with and without bias (see matmul.test.ts for the full sweep)', () => {
    const rand = mulberry32(2)
    for (const dtype of ['f32', 'f16', 'bf16'] as const)
      for (const kxm of [false, true])
        for (const bias of [false, true])
          for (const [N, K, M] of [
            [1, 33, 5],
            [3, 257, 67],
            [17, 7, 1],
            [17, 1000, 5],
          ]) {
            // weights as f32 values exactly representable in the dtype, so the bound below can use them
            const wv = randomF32(K * M, rand)
            const w16 =
              dtype === 'f32'
                ? undefined
                : Uint16Array.from(wv, (v) => (dtype === 'bf16' ? toBf16(v) : toF16(v)))
            if (w16)
              w16.forEach((h, i) => {
                wv[i] = dtype === 'bf16' ? fromBf16(h) : fromF16(h)
              })
            const x = randomF32(N * K, rand)
            const b = randomF32(M, rand)
            const tensors = [
              t('x', 'f32', [N, K], x),
              t('w', dtype, kxm ? [K, M] : [M, K], w16 ?? wv),
              t('out', 'f32', [N, M]),
              t('b', 'f32', [M], b),
            ]
            const node = { op: 'matmul', inputs: [0, 1, bias ? 3 : -1], output: 2, i: [kxm ? 1 : 0] }
            const c = kxm ? 2 * K + 2 : 2 * Math.ceil(K / 8) + 16
            const tol = (i: number, ref: number) => {
              const n = Math.floor(i / M)
              const m = i % M
              let abs = 0
              for (let k = 0; k < K; k++) abs += Math.abs(x[n * K + k] * wv[kxm ? k * M + m : m * K + k])
              return c * U * abs + 2 * U * (Math.abs(ref) + (bias ? Math.abs(b[m]) : 0))
            }
            expectClose(runBoth(node, tensors), tol, `${dtype} kxm=${kxm} bias=${bias} N=${N} K=${K} M=${M}`)
          }
  })

  it('rmsnorm', () => {
    const rand = mulberry32(3)
    for (const C of WIDTHS)
      for (const N of ROWS) {
        const x = randomF32(N * C, rand, 3)
        const w = randomF32(C, rand, 2)
        const node = { op: 'rmsnorm', inputs: [0, 1], output: 2, f: [1e-5] }
        const runs = runBoth(node, [t('x', 'f32', [N, C], x), t('w', 'f32', [C], w), t('out', 'f32', [N, C])])
        // sum of squares of C positive terms (≤ 2C roundings), sqrt, divide, two products
        expectClose(runs, (_i, ref) => (2 * C + 16) * U * Math.abs(ref), `N=${N} C=${C}`)
      }
  })

  it('layernorm', () => {
    const rand = mulberry32(4)
    for (const C of WIDTHS)
      for (const N of ROWS) {
        const x = randomF32(N * C, rand, 3)
        for (let i = 0; i < x.length; i++) x[i] += 0.5 // a mean away from zero
        const w = randomF32(C, rand, 2)
        const b = randomF32(C, rand)
        const node = { op: 'layernorm', inputs: [0, 1, 2], output: 3, f: [1e-5] }
        const runs = runBoth(node, [
          t('x', 'f32', [N, C], x),
          t('w', 'f32', [C], w),
          t('b', 'f32', [C], b),
          t('out', 'f32', [N, C]),
        ])
        // The mean is off by up to (C+2)u·mean|x|, which every centred value carries; the variance
        // and its inverse square root add about 2C roundings relative; then three more operations.
        const stats = Array.from({ length: N }, (_, n) => {
          let mean = 0
          let meanAbs = 0
          for (let c = 0; c < C; c++) {
            mean += x[n * C + c]
            meanAbs += Math.abs(x[n * C + c])
          }
          mean /= C
          let v = 0
          for (let c = 0; c < C; c++) v += (x[n * C + c] - mean) ** 2
          const inv = 1 / Math.sqrt(v / C + 1e-5)
          const dMean = (C + 2) * U * (meanAbs / C)
          return { mean, inv, dMean, relInv: (C + 8) * U + dMean * inv }
        })
        const tol = (i: number, ref: number) => {
          const n = Math.floor(i / C)
          const c = i % C
          const s = stats[n]
          const centred = Math.abs(x[i] - s.mean)
          const e =
            Math.abs(w[c]) * s.inv * (s.dMean + U * centred) +
            Math.abs(w[c]) * centred * s.inv * (s.relInv + 3 * U) +
            2 * U * (Math.abs(b[c]) + Math.abs(ref))
          return 2 * e
        }
        expectClose(runs, tol, `N=${N} C=${C}`)
      }
  })

  it('rope', () => {
    const rand = mulberry32(5)
    for (const [H, HS] of [
      [1, 2],
      [3, 6],
      [2, 34],
      [5, 64],
      [1, 130],
    ])
      for (const N of ROWS) {
        const x = randomF32(N * H * HS, rand, 2)
        const pos = randomInts(N, 4096, rand)
        const inv = Float32Array.from({ length: HS / 2 }, (_, i) => 10000 ** ((-2 * i) / HS))
        const node = { op: 'rope', inputs: [0, 1, 2], output: 3, i: [H, HS] }
        const runs = runBoth(node, [
          t('x', 'f32', [N, H * HS], x),
          t('pos', 'i32', [N], pos),
          t('inv', 'f32', [HS / 2], inv),
          t('out', 'f32', [N, H * HS]),
        ])
        // both sides take cos/sin of the same f32 angle; the rotation is two products and a sum
        const half = HS / 2
        const tol = (i: number) => {
          const d = i % HS
          const base = i - d
          const j = d < half ? d + half : d - half
          return 4 * U * (Math.abs(x[base + d]) + Math.abs(x[base + j]))
        }
        expectClose(runs, tol, `N=${N} H=${H} HS=${HS}`)
      }
  })

  it('rope, interleaved pairs (llama.cpp layout): a permutation of rotate-half', () => {
    // Interleaved rope on x equals rotate-half rope on x with each head's (2i, 2i+1) moved to
    // (i, i + HS/2): the llama q/k row permutation GGUF files carry. Checked bit for bit.
    const rand = mulberry32(6)
    for (const [H, HS] of [
      [1, 2],
      [3, 6],
      [2, 64],
    ])
      for (const N of ROWS) {
        const x = randomF32(N * H * HS, rand, 2)
        const pos = randomInts(N, 4096, rand)
        const inv = Float32Array.from({ length: HS / 2 }, (_, i) => 10000 ** ((-2 * i) / HS))
        const half = HS / 2
        const toHalf = (i: number) => {
          const d = i % HS
          return i - d + (d % 2 === 0 ? d / 2 : half + (d - 1) / 2)
        }
        const xHalf = new Float32Array(x.length)
        for (let i = 0; i < x.length; i++) xHalf[toHalf(i)] = x[i]
        for (const backend of ['cpu', 'ref'] as const) {
          const rope = (input: Float32Array, pairing: number) =>
            native().runOp(
              backend,
              { op: 'rope', inputs: [0, 1, 2], output: 3, i: [H, HS, pairing] },
              [
                t('x', 'f32', [N, H * HS], input),
                t('pos', 'i32', [N], pos),
                t('inv', 'f32', [HS / 2], inv),
                t('out', 'f32', [N, H * HS]),
              ],
              2,
            )
          const inter = rope(x, 1)
          const rot = rope(xHalf, 0)
          for (let i = 0; i < x.length; i++)
            expect(inter[i], `${backend} N=${N} H=${H} HS=${HS} i=${i}`).toBe(rot[toHalf(i)])
        }
      }
  })

  it('kv_store writes the same cache cells, exactly, through a shuffled block table', () => {
    const rand = mulberry32(6)
    for (const [S, NKV, P, HS, BS] of [
      [1, 1, 5, 3, 1],
      [3, 2, 11, 8, 4],
      [2, 3, 17, 33, 16],
      [2, 2, 40, 8, 16],
    ])
      for (const rows of [1, 3, 7]) {
        const N = Math.min(rows, S * P)
        const kv = pagedCache(S, NKV, P, HS, BS, rand, true)
        // distinct (slot, pos) per row, so the result does not depend on which row writes last
        const pairs = new Set<number>()
        const slot = new Int32Array(N)
        const pos = new Int32Array(N)
        for (let n = 0; n < N; n++) {
          let key: number
          do key = Math.floor(rand() * S * P)
          while (pairs.has(key))
          pairs.add(key)
          slot[n] = Math.floor(key / P)
          pos[n] = key % P
        }
        const node = { op: 'kv_store', inputs: [0, 1, 2, 3, 4, 5, 6], output: 4 } // in place: out is kcache
        const runs = runBoth(node, [
          t('k', 'f32', [N, NKV * HS], randomF32(N * NKV * HS, rand)),
          t('v', 'f32', [N, NKV * HS], randomF32(N * NKV * HS, rand)),
          t('pos', 'i32', [N], pos),
          t('slot', 'i32', [N], slot),
          t('kcache', 'f32', kv.shape, kv.k),
          t('vcache', 'f32', kv.shape, kv.v),
          t('blocks', 'i32', [S, kv.MB], kv.table),
        ])
        for (const c of runs.cpu)
          for (const k of [4, 5])
            expectExact(
              c.tensors[k].data as Float32Array,
              runs.refTensors[k].data as Float32Array,
              `${k === 4 ? 'k' : 'v'}cache S=${S} NKV=${NKV} P=${P} HS=${HS} BS=${BS} N=${N} threads=${c.threads}`,
            )
        // ...and each row landed where the table says: block table[slot][pos / BS], row pos % BS.
        const kc = runs.cpu[0].tensors[4].data as Float32Array
        const k = runs.cpu[0].tensors[0].data as Float32Array
        for (let n = 0; n < N; n++)
          for (let h = 0; h < NKV; h++)
            expect(kc[kv.at(slot[n], h, pos[n])], `row ${n} head ${h}`).toBe(k[(n * NKV + h) * HS])
      }
  })

  it('attention: GQA over several slots and positions, blocks shuffled and shared between slots', () => {
    for (const c of pagedCases()) expectClose(runBoth(c.node, c.tensors), c.tol, c.what)
  })

  it('bidir_attention: ragged sequences laid end to end, GQA', () => {
    for (const c of bidirCases()) expectClose(runBoth(c.node, c.tensors), c.tol, c.what)
  })

  it('bidir_attention: a row sees exactly its own sequence, whatever else the step holds', () => {
    const rand = mulberry32(18)
    // 37 rows: past the vector kernels' block of 32 queries, and not a multiple of 4
    const [NH, HS, L] = [2, 8, 37]
    const alone = {
      q: randomF32(L * NH * HS, rand),
      k: randomF32(L * NH * HS, rand),
      v: randomF32(L * NH * HS, rand),
    }
    const other = {
      q: randomF32(3 * NH * HS, rand),
      k: randomF32(3 * NH * HS, rand),
      v: randomF32(3 * NH * HS, rand),
    }
    const run = (parts: (typeof alone)[], lens: number[]) => {
      const N = lens.reduce((a, b) => a + b, 0)
      const cat = (key: 'q' | 'k' | 'v') => {
        const out = new Float32Array(N * NH * HS)
        let at = 0
        for (const p of parts) {
          out.set(p[key], at)
          at += p[key].length
        }
        return out
      }
      const pos = Int32Array.from(lens.flatMap((len) => Array.from({ length: len }, (_, i) => i)))
      const node = { op: 'bidir_attention', inputs: [0, 1, 2, 3], output: 4, i: [NH], f: [0.3] }
      return native().runOp(
        'cpu',
        node,
        [
          t('q', 'f32', [N, NH * HS], cat('q')),
          t('k', 'f32', [N, NH * HS], cat('k')),
          t('v', 'f32', [N, NH * HS], cat('v')),
          t('pos', 'i32', [N], pos),
          t('out', 'f32', [N, NH * HS]),
        ],
        2,
      )
    }
    const single = run([alone], [L])
    const after = run([other, alone], [3, L]).subarray(3 * NH * HS)
    const before = run([alone, other], [L, 3]).subarray(0, L * NH * HS)
    expectExact(after, single, 'after another sequence')
    expectExact(before, single, 'before another sequence')
  })

  for (const [op, seed] of [
    ['add', 8],
    ['mul', 28],
  ] as const)
    it(`${op}, exactly`, () => {
      const rand = mulberry32(seed)
      for (const C of WIDTHS)
        for (const N of ROWS) {
          const node = { op, inputs: [0, 1], output: 2 }
          const a = randomF32(N * C, rand)
          const b = randomF32(N * C, rand)
          const runs = runBoth(node, [
            t('a', 'f32', [N, C], a),
            t('b', 'f32', [N, C], b),
            t('out', 'f32', [N, C]),
          ])
          const want = a.map((x, i) => (op === 'add' ? x + b[i] : x * b[i]))
          expectExact(runs.ref, want, `ref N=${N} C=${C}`)
          for (const c of runs.cpu) expectExact(c.out, runs.ref, `N=${N} C=${C} threads=${c.threads}`)
        }
    })

  it('silu_mul', () => {
    for (const c of siluCases()) expectClose(runBoth(c.node, c.tensors), c.tol, c.what)
  })

  for (const tanh of [false, true])
    it(`gelu (${tanh ? 'tanh approximation' : 'exact erf'})`, () => {
      for (const c of geluCases(tanh)) expectClose(runBoth(c.node, c.tensors), c.tol, c.what)
    })

  it('tanh and relu', () => {
    const rand = mulberry32(19)
    for (const C of WIDTHS)
      for (const N of ROWS) {
        const x = randomF32(N * C, rand, 6)
        const th = runBoth({ op: 'tanh', inputs: [0], output: 1 }, [
          t('x', 'f32', [N, C], x),
          t('out', 'f32', [N, C]),
        ])
        expectClose(th, (_i, ref) => 4 * U * Math.abs(ref) + U, `tanh N=${N} C=${C}`)
        const re = runBoth({ op: 'relu', inputs: [0], output: 1 }, [
          t('x', 'f32', [N, C], x),
          t('out', 'f32', [N, C]),
        ])
        for (const c of re.cpu) expectExact(c.out, re.ref, `relu N=${N} C=${C} threads=${c.threads}`)
        expectExact(
          re.ref,
          x.map((a) => Math.max(a, 0)),
          `relu ref N=${N} C=${C}`,
        )
      }
  })

  it('softmax', () => {
    const rand = mulberry32(12)
    for (const C of WIDTHS)
      for (const N of ROWS) {
        const x = randomF32(N * C, rand, 8)
        const node = { op: 'softmax', inputs: [0], output: 1 }
        const runs = runBoth(node, [t('x', 'f32', [N, C], x), t('out', 'f32', [N, C])])
        // exp(x - max): the subtraction's rounding is relative to |x - max| ≤ 16 in the exponent
        expectClose(runs, (_i, ref) => 2 * (16 + 8) * U * Math.abs(ref), `N=${N} C=${C}`)
      }
  })

  it('select_rows and slice_cols copy exactly what they name', () => {
    const rand = mulberry32(13)
    for (const C of [1, 7, 33, 257])
      for (const N of ROWS) {
        const x = randomF32(N * C, rand)
        const R = 1 + Math.floor(rand() * 5)
        const rows = randomInts(R, N, rand)
        const sel = runBoth({ op: 'select_rows', inputs: [0, 1], output: 2 }, [
          t('x', 'f32', [N, C], x),
          t('rows', 'i32', [R], rows),
          t('out', 'f32', [R, C]),
        ])
        const want = new Float32Array(R * C)
        rows.forEach((r, i) => {
          want.set(x.subarray(r * C, (r + 1) * C), i * C)
        })
        expectExact(sel.ref, want, `select_rows ref N=${N} C=${C}`)
        for (const c of sel.cpu) expectExact(c.out, want, `select_rows N=${N} C=${C} threads=${c.threads}`)

        const start = Math.floor(rand() * C)
        const width = 1 + Math.floor(rand() * (C - start))
        const sl = runBoth({ op: 'slice_cols', inputs: [0], output: 1, i: [start, width] }, [
          t('x', 'f32', [N, C], x),
          t('out', 'f32', [N, width]),
        ])
        const slice = new Float32Array(N * width)
        for (let n = 0; n < N; n++) slice.set(x.subarray(n * C + start, n * C + start + width), n * width)
        expectExact(sl.ref, slice, `slice_cols ref N=${N} C=${C}`)
        for (const c of sl.cpu) expectExact(c.out, slice, `slice_cols N=${N} C=${C} threads=${c.threads}`)
      }
  })

  it('select_rows and slice_cols: fast equals reference on odd shapes, exactly', () => {
    const rand = mulberry32(14)
    for (const C of [1, 3, 31, 33, 257, 1001])
      for (const N of [1, 2, 5, 17, 63]) {
        const x = randomF32(N * C, rand)
        // no rows, fewer rows than threads, and more rows than x has (repeats)
        for (const R of [0, 1, 2, N, 2 * N + 1]) {
          const rows = randomInts(R, N, rand)
          const runs = runBoth({ op: 'select_rows', inputs: [0, 1], output: 2 }, [
            t('x', 'f32', [N, C], x),
            t('rows', 'i32', [R], rows),
            t('out', 'f32', [R, C]),
          ])
          expect(runs.ref.length).toBe(R * C)
          for (const c of runs.cpu)
            expectExact(c.out, runs.ref, `select_rows N=${N} C=${C} R=${R} threads=${c.threads}`)
        }
        const mid = Math.floor(C / 3)
        for (const [start, width] of [
          [0, C],
          [C - 1, 1],
          [mid, Math.max(1, C - 2 * mid)],
        ]) {
          const runs = runBoth({ op: 'slice_cols', inputs: [0], output: 1, i: [start, width] }, [
            t('x', 'f32', [N, C], x),
            t('out', 'f32', [N, width]),
          ])
          for (const c of runs.cpu)
            expectExact(
              c.out,
              runs.ref,
              `slice_cols N=${N} C=${C} [${start}, +${width}) threads=${c.threads}`,
            )
        }
      }
  })

  it('covers every op in the table', () => {
    expect([...TESTED_OPS].sort()).toEqual([...native().cpuInfo().ops].sort())
  })
})

// Kernels chosen per process by CPU features: the lower tiers in child processes.
for (const tier of KERNEL_TIERS)
  describe(`kernels: ${tier.name}`, () => {
    const cases: [string, () => CheckedCase[]][] = [
      ['bidir_attention', bidirCases],
      ['attention (paged KV cache)', pagedCases],
      ['silu_mul', siluCases],
      ['gelu (exact erf)', () => geluCases(false)],
      ['gelu (tanh approximation)', () => geluCases(true)],
    ]
    for (const [op, make] of cases)
      it(`${op} agrees with the reference`, () => {
        const cs = make()
        const { cpu, outputs } = runOpsInChild(
          cs.flatMap((c) => [1, 3].map((threads) => ({ node: c.node, tensors: c.tensors, threads }))),
          tier.env,
        )
        expect(tier.took(cpu), JSON.stringify(cpu)).toBe(true)
        cs.forEach((c, i) => {
          const ref = native().runOp('ref', c.node, copyData(c.tensors), 1)
          const cpuRuns = [1, 3].map((threads, j) => ({ threads, out: outputs[2 * i + j], tensors: [] }))
          expectClose({ ref, refTensors: [], cpu: cpuRuns }, c.tol, `${c.what} (${tier.name})`)
        })
      })
  })
