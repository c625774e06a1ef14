// The training ops (native/ops/ops.h after slice_cols; semantics in native/train_kernels.h):
// 1. fast CPU kernels against their plain reference twins (native/ref/ref_train.cc) on odd shapes
//    with 1, 2 and 3 threads; the += gradients also from a non-zero start (through a Graph: runOp
//    refuses a gradient that comes with data, so a graph's owned gradient is written first);
// 2. every backward op against central differences of its forward op on the reference backend;
// 3. adamw against PyTorch's AdamW written out here, over a few steps;
// 4. bad shapes and indices refused with an Error.
import { describe, expect, it } from 'vitest'
import { type NativeDType, type NodeSpec, native, type TensorSpec } from '../../src/core/native.js'
import { type Directional, directionalCheck, randomDirection } from '../helpers/finite-diff.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'

const THREADS = [1, 2, 3]
/** f32 against the double-summing references: relative, plus this times the output's largest magnitude. */
const RTOL = 1e-5
/** Central differences: relative error of the directional derivative. */
const FD_TOL = 1e-2

type Backend = 'cpu' | 'ref'

function t(name: string, dtype: NativeDType, shape: number[], data?: ArrayBufferView): TensorSpec {
  return { name, dtype, shape, data }
}

/** Each run gets its own copy of the data (kernels may write inputs in place). */
function copyData(ts: TensorSpec[]): TensorSpec[] {
  return ts.map((x) => (x.data ? { ...x, data: (x.data as Float32Array | Int32Array).slice() } : x))
}

function run(backend: Backend, node: NodeSpec, tensors: TensorSpec[], threads = 1): Float32Array {
  return native().runOp(backend, node, copyData(tensors), threads)
}

function randomInts(n: number, below: number, rand: () => number): Int32Array {
  const a = new Int32Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.floor(rand() * below)
  return a
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]))
  return m
}

/** Positions of sequences laid end to end, each from 0. */
function positions(lens: number[]): Int32Array {
  return Int32Array.from(lens.flatMap((len) => Array.from({ length: len }, (_, i) => i)))
}

/** Worst |got − want| / tol over the elements, expected ≤ 1; returns it. */
function expectNear(
  got: Float32Array,
  want: ArrayLike<number>,
  tol: (i: number) => number,
  what: string,
): number {
  expect(got.length, what).toBe(want.length)
  let worst = 0
  let at = 0
  for (let i = 0; i < got.length; i++) {
    const r = Math.abs(got[i] - want[i]) / (tol(i) + Number.MIN_VALUE)
    if (!(r <= worst)) {
      worst = r
      at = i
    }
  }
  expect(worst, `${what}: [${at}] = ${got[at]}, expected ${want[at]}`).toBeLessThanOrEqual(1)
  return worst
}

/** Default tolerance: RTOL relative plus `spread`·RTOL·max|want| (sums that cancel). */
function scaledTol(want: ArrayLike<number>, spread = 1): (i: number) => number {
  const m = maxAbs(want)
  return (i) => RTOL * (Math.abs(want[i]) + spread * m) + 1e-30
}

/** The reference once, then the fast kernel with 1, 2 and 3 threads, each against it. */
function fastVsRef(
  node: NodeSpec,
  tensors: TensorSpec[],
  what: string,
  tol?: (want: Float32Array) => (i: number) => number,
): Float32Array {
  const ref = run('ref', node, tensors)
  expect(ref.every(Number.isFinite), `${what}: reference finite`).toBe(true)
  for (const threads of THREADS) {
    const out = run('cpu', node, tensors, threads)
    expectNear(out, ref, (tol ?? scaledTol)(ref), `${what} threads=${threads}`)
  }
  return ref
}

/**
 * Runs an op whose output is a += gradient inside a Graph (runOp refuses a gradient that comes with
 * data), from `start`: the gradient is an owned fixed tensor written before the step. The graph gets
 * the io it needs (tokens, positions, slots, out rows, and embeddings reading the tokens and the
 * positions); ids: embedding_backward's ids, which in a graph must be the step's tokens.
 */
function accumulate(
  backend: Backend,
  node: NodeSpec,
  tensors: TensorSpec[],
  start: Float32Array,
  threads: number,
  ids?: Int32Array,
): Float32Array {
  const base = tensors.length
  const N = ids ? ids.length : 1
  const V = ids ? tensors[node.output].shape[0] : 1
  const [tokens, pos, slots, outRows, table, e1, e2] = [0, 1, 2, 3, 4, 5, 6].map((k) => base + k)
  const all: TensorSpec[] = [
    ...copyData(tensors),
    { name: 'tokens', dtype: 'i32', shape: [N], rows: 1 },
    { name: 'positions', dtype: 'i32', shape: [N], rows: 1 },
    { name: 'slots', dtype: 'i32', shape: [N], rows: 1 },
    { name: 'out_rows', dtype: 'i32', shape: [1] },
    t('table', 'f32', [V, 1], new Float32Array(V)),
    { name: 'e1', dtype: 'f32', shape: [N, 1], rows: 1 },
    { name: 'e2', dtype: 'f32', shape: [N, 1], rows: 1 },
  ]
  const inputs = [...node.inputs]
  if (ids) inputs[1] = tokens
  const g = new (native().Graph)({
    backend,
    tensors: all,
    nodes: [
      { ...node, inputs },
      { op: 'embedding', inputs: [table, tokens], output: e1 },
      { op: 'embedding', inputs: [table, pos], output: e2 },
    ],
    io: { tokens, positions: pos, slots, outRows, output: e1 },
  })
  try {
    g.writeTensor(node.output, start)
    const zeros = new Int32Array(N)
    g.run(ids ?? zeros, zeros, zeros, new Int32Array(1), threads)
    return g.readTensor(node.output)
  } finally {
    g.dispose()
  }
}

/**
 * A += op: the fast and reference kernels from zero (runOp, 1..3 threads), then both from a random
 * start in a graph, against start + the reference's contribution.
 */
function checkAccumulating(
  node: NodeSpec,
  tensors: TensorSpec[],
  what: string,
  rand: () => number,
  tol: (want: Float32Array) => (i: number) => number,
  ids?: Int32Array,
): Float32Array {
  const contribution = fastVsRef(node, tensors, what, tol)
  const start = randomF32(contribution.length, rand, 2)
  const want = Float64Array.from(contribution, (c, i) => c + start[i])
  // the kernels add into the start row by row: a rounding per row, relative to the partial sums
  const rows = tensors[node.inputs[0]].shape[0]
  const big = maxAbs(contribution)
  const startTol = (i: number) => tol(contribution)(i) + 2 * rows * 2 ** -24 * (Math.abs(start[i]) + big)
  expectNear(accumulate('ref', node, tensors, start, 1, ids), want, startTol, `${what} ref from start`)
  for (const threads of THREADS)
    expectNear(
      accumulate('cpu', node, tensors, start, threads, ids),
      want,
      startTol,
      `${what} cpu from start threads=${threads}`,
    )
  return contribution
}

function expectFd(r: Directional, what: string) {
  expect(
    r.error,
    `${what}: numeric ${r.numeric}, analytic ${r.analytic}, relative error ${r.error}`,
  ).toBeLessThan(FD_TOL)
}

// ---------------------------------------------------------------------------------------------
// Attention

const ATTENTION_CASES: [NH: number, NKV: number, HS: number, lens: number[]][] = [
  [1, 1, 1, [1]],
  [4, 2, 5, [3, 2, 4]], // positions 0,1,2,0,1,0,1,2,3
  [4, 4, 3, [7, 6]],
  [4, 2, 7, [1, 2, 3, 4, 3]],
  [6, 3, 9, [2, 5]],
  [2, 1, 33, [9, 4]],
  [4, 1, 6, [13]],
]

function attentionTensors(NH: number, NKV: number, HS: number, lens: number[], rand: () => number) {
  const N = lens.reduce((a, b) => a + b, 0)
  return {
    N,
    q: randomF32(N * NH * HS, rand, 1.5),
    k: randomF32(N * NKV * HS, rand, 1.5),
    v: randomF32(N * NKV * HS, rand, 2),
    dy: randomF32(N * NH * HS, rand, 1),
    pos: positions(lens),
  }
}

describe('training ops: causal attention', () => {
  it('causal_attention: fast = reference (ragged, GQA, odd head sizes)', () => {
    const rand = mulberry32(101)
    for (const [NH, NKV, HS, lens] of ATTENTION_CASES) {
      const { N, q, k, v, pos } = attentionTensors(NH, NKV, HS, lens, rand)
      const node = {
        op: 'causal_attention',
        inputs: [0, 1, 2, 3],
        output: 4,
        i: [NH],
        f: [1 / Math.sqrt(HS)],
      }
      // the output is a convex combination of v's rows: errors scale with max |v|
      const vmax = maxAbs(v)
      fastVsRef(
        node,
        [
          t('q', 'f32', [N, NH * HS], q),
          t('k', 'f32', [N, NKV * HS], k),
          t('v', 'f32', [N, NKV * HS], v),
          t('pos', 'i32', [N], pos),
          t('out', 'f32', [N, NH * HS]),
        ],
        `NH=${NH} NKV=${NKV} HS=${HS} lens=${lens}`,
        (want) => (i) => RTOL * (Math.abs(want[i]) + vmax),
      )
    }
  })

  it('causal_attention: a row sees only its own sequence up to itself', () => {
    // The first row of each sequence attends to itself alone: out = its own v (per kv head).
    const rand = mulberry32(102)
    const [NH, NKV, HS, lens] = [4, 2, 5, [3, 2, 4]] as const
    const { N, q, k, v, pos } = attentionTensors(NH, NKV, HS, [...lens], rand)
    const node = { op: 'causal_attention', inputs: [0, 1, 2, 3], output: 4, i: [NH], f: [0.4] }
    const tensors = [
      t('q', 'f32', [N, NH * HS], q),
      t('k', 'f32', [N, NKV * HS], k),
      t('v', 'f32', [N, NKV * HS], v),
      t('pos', 'i32', [N], pos),
      t('out', 'f32', [N, NH * HS]),
    ]
    for (const backend of ['cpu', 'ref'] as const) {
      const out = run(backend, node, tensors, 2)
      for (const n of [0, 3, 5])
        for (let h = 0; h < NH; h++)
          for (let d = 0; d < HS; d++)
            expect(out[(n * NH + h) * HS + d]).toBeCloseTo(v[(n * NKV + Math.floor(h / 2)) * HS + d], 6)
    }
  })

  it('causal_attention_backward: fast = reference', () => {
    const rand = mulberry32(103)
    for (const [NH, NKV, HS, lens] of ATTENTION_CASES) {
      const { N, q, k, v, dy, pos } = attentionTensors(NH, NKV, HS, lens, rand)
      const W = NH * HS + 2 * NKV * HS
      const node = {
        op: 'causal_attention_backward',
        inputs: [0, 1, 2, 3, 4],
        output: 5,
        i: [NH],
        f: [1 / Math.sqrt(HS)],
      }
      fastVsRef(
        node,
        [
          t('dy', 'f32', [N, NH * HS], dy),
          t('q', 'f32', [N, NH * HS], q),
          t('k', 'f32', [N, NKV * HS], k),
          t('v', 'f32', [N, NKV * HS], v),
          t('pos', 'i32', [N], pos),
          t('out', 'f32', [N, W]),
        ],
        `NH=${NH} NKV=${NKV} HS=${HS} lens=${lens}`,
        (want) => scaledTol(want, 4),
      )
    }
  })

  it('causal_attention_backward: dq, dk, dv match central differences of causal_attention', () => {
    const rand = mulberry32(104)
    for (const [NH, NKV, HS, lens] of ATTENTION_CASES) {
      const { N, q, k, v, dy, pos } = attentionTensors(NH, NKV, HS, lens, rand)
      const scale = 1 / Math.sqrt(HS)
      const qw = NH * HS
      const kw = NKV * HS
      const fwd = (qq: Float32Array, kk: Float32Array, vv: Float32Array) =>
        run('ref', { op: 'causal_attention', inputs: [0, 1, 2, 3], output: 4, i: [NH], f: [scale] }, [
          t('q', 'f32', [N, qw], qq),
          t('k', 'f32', [N, kw], kk),
          t('v', 'f32', [N, kw], vv),
          t('pos', 'i32', [N], pos),
          t('out', 'f32', [N, qw]),
        ])
      const tensors = [
        t('dy', 'f32', [N, qw], dy),
        t('q', 'f32', [N, qw], q),
        t('k', 'f32', [N, kw], k),
        t('v', 'f32', [N, kw], v),
        t('pos', 'i32', [N], pos),
        t('out', 'f32', [N, qw + 2 * kw]),
      ]
      const node = {
        op: 'causal_attention_backward',
        inputs: [0, 1, 2, 3, 4],
        output: 5,
        i: [NH],
        f: [scale],
      }
      for (const backend of ['ref', 'cpu'] as const) {
        const g = run(backend, node, tensors, 2)
        const part = (off: number, width: number) => {
          const a = new Float32Array(N * width)
          for (let n = 0; n < N; n++)
            a.set(g.subarray(n * (qw + 2 * kw) + off, n * (qw + 2 * kw) + off + width), n * width)
          return a
        }
        const what = `${backend} NH=${NH} NKV=${NKV} HS=${HS} lens=${lens}`
        const h = 1e-2
        expectFd(
          directionalCheck((x) => fwd(x, k, v), q, part(0, qw), dy, randomDirection(q.length, rand), h),
          `${what} dq`,
        )
        expectFd(
          directionalCheck((x) => fwd(q, x, v), k, part(qw, kw), dy, randomDirection(k.length, rand), h),
          `${what} dk`,
        )
        expectFd(
          directionalCheck((x) => fwd(q, k, x), v, part(qw + kw, kw), dy, randomDirection(v.length, rand), h),
          `${what} dv`,
        )
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Linear: scale, matmul's weight and bias gradients

const ROWS = [1, 7, 13]
const COLS = [5, 33, 67]

describe('training ops: scale, matmul_backward_weight, bias_backward', () => {
  it('scale: fast = reference, and its own backward', () => {
    const rand = mulberry32(201)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 3)
        const s = 0.37
        const node = { op: 'scale', inputs: [0], output: 1, f: [s] }
        const tensors = [t('x', 'f32', [N, C], x), t('out', 'f32', [N, C])]
        const ref = fastVsRef(node, tensors, `N=${N} C=${C}`, () => () => 0)
        const s32 = Math.fround(s)
        expectNear(
          ref,
          Float32Array.from(x, (v) => Math.fround(s32 * v)),
          () => 0,
          `N=${N} C=${C} exact`,
        )
        // d<dy, s·x>/dx = s·dy = scale(dy)
        const dy = randomF32(N * C, rand)
        const grad = run('ref', node, [t('dy', 'f32', [N, C], dy), t('out', 'f32', [N, C])])
        expectFd(
          directionalCheck(
            (xx) => run('ref', node, [t('x', 'f32', [N, C], xx), t('out', 'f32', [N, C])]),
            x,
            grad,
            dy,
            randomDirection(x.length, rand),
            1e-2,
          ),
          `scale N=${N} C=${C}`,
        )
      }
  })

  it('dropout: fast = reference, drops about p, scales the rest by 1/(1-p), and is its own backward', () => {
    const rand = mulberry32(205)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 3)
        const p = 0.3
        const seed = Float32Array.of(12345, 678, 1)
        const node = { op: 'dropout', inputs: [0, 1], output: 2, f: [p], i: [4] }
        const tensors = [t('x', 'f32', [N, C], x), t('seed', 'f32', [3], seed), t('out', 'f32', [N, C])]
        const ref = fastVsRef(node, tensors, `N=${N} C=${C}`)
        let dropped = 0
        for (let i = 0; i < x.length; i++) {
          if (ref[i] === 0) dropped++
          else expect(Math.abs(ref[i] - x[i] / (1 - p))).toBeLessThanOrEqual(1e-6 * Math.abs(x[i]) + 1e-7)
        }
        if (x.length >= 1000) expect(Math.abs(dropped / x.length - p)).toBeLessThan(0.05)
        // The same node on dy keeps exactly the same entries: dropout's backward.
        const ones = run('cpu', node, [
          t('dy', 'f32', [N, C], new Float32Array(N * C).fill(1)),
          tensors[1],
          tensors[2],
        ])
        for (let i = 0; i < x.length; i++) expect(ones[i] === 0, `N=${N} C=${C} i=${i}`).toBe(ref[i] === 0)
        // Off (the seed's third entry 0, evaluation): x passes through unchanged.
        const off = [tensors[0], t('seed', 'f32', [3], Float32Array.of(12345, 678, 0)), tensors[2]]
        for (const backend of ['cpu', 'ref'] as const) expect(run(backend, node, off)).toEqual(x)
        // Another salt or seed draws another mask.
        if (x.length >= 100) {
          const other = run('cpu', { ...node, i: [5] }, tensors)
          expect(other.some((v, i) => (v === 0) !== (ref[i] === 0))).toBe(true)
        }
      }
  })

  it('matmul_backward_weight: fast = reference from zero and from a start, both layouts', () => {
    const rand = mulberry32(202)
    for (const kxm of [0, 1])
      for (const N of ROWS)
        for (const K of COLS)
          for (const M of [3, 17, 33]) {
            const dy = randomF32(N * M, rand)
            const x = randomF32(N * K, rand)
            // rows of dy that are zero (ignored tokens), and a zero column block of x: the fast
            // kernel skips zero multipliers
            if (N > 3) dy.fill(0, 2 * M, 3 * M)
            if (K > 8) for (let n = 0; n < N; n++) x.fill(0, n * K + 4, n * K + 8)
            const node = { op: 'matmul_backward_weight', inputs: [0, 1], output: 2, i: [kxm] }
            const tensors = [
              t('dy', 'f32', [N, M], dy),
              t('x', 'f32', [N, K], x),
              t('dw', 'f32', kxm ? [K, M] : [M, K]),
            ]
            // bound: Σ_n |dy x| per element
            const tol = () => (i: number) => {
              const m = kxm ? i % M : Math.floor(i / K)
              const k = kxm ? Math.floor(i / M) : i % K
              let abs = 0
              for (let n = 0; n < N; n++) abs += Math.abs(dy[n * M + m] * x[n * K + k])
              return 2 * RTOL * abs + 1e-30
            }
            checkAccumulating(node, tensors, `kxm=${kxm} N=${N} K=${K} M=${M}`, rand, tol)
          }
  })

  it('bias_backward: fast = reference from zero and from a start', () => {
    const rand = mulberry32(203)
    for (const N of ROWS)
      for (const M of COLS) {
        const dy = randomF32(N * M, rand, 2)
        const node = { op: 'bias_backward', inputs: [0], output: 1 }
        const tensors = [t('dy', 'f32', [N, M], dy), t('db', 'f32', [M])]
        const tol = () => (m: number) => {
          let abs = 0
          for (let n = 0; n < N; n++) abs += Math.abs(dy[n * M + m])
          return 2 * RTOL * abs + 1e-30
        }
        checkAccumulating(node, tensors, `N=${N} M=${M}`, rand, tol)
      }
  })

  it('matmul: weight, input and bias gradients match central differences (both layouts)', () => {
    const rand = mulberry32(204)
    for (const kxm of [0, 1])
      for (const [N, K, M] of [
        [1, 5, 3],
        [7, 33, 17],
        [13, 67, 5],
      ]) {
        const x = randomF32(N * K, rand)
        const w = randomF32(K * M, rand)
        const b = randomF32(M, rand)
        const dy = randomF32(N * M, rand)
        const wShape = kxm ? [K, M] : [M, K]
        const fwd = (xx: Float32Array, ww: Float32Array, bb: Float32Array) =>
          run('ref', { op: 'matmul', inputs: [0, 1, 3], output: 2, i: [kxm] }, [
            t('x', 'f32', [N, K], xx),
            t('w', 'f32', wShape, ww),
            t('out', 'f32', [N, M]),
            t('b', 'f32', [M], bb),
          ])
        const what = `kxm=${kxm} N=${N} K=${K} M=${M}`
        for (const backend of ['ref', 'cpu'] as const) {
          const dw = run(backend, { op: 'matmul_backward_weight', inputs: [0, 1], output: 2, i: [kxm] }, [
            t('dy', 'f32', [N, M], dy),
            t('x', 'f32', [N, K], x),
            t('dw', 'f32', wShape),
          ])
          expectFd(
            directionalCheck((ww) => fwd(x, ww, b), w, dw, dy, randomDirection(w.length, rand), 1e-2),
            `${backend} ${what} dW`,
          )
          const db = run(backend, { op: 'bias_backward', inputs: [0], output: 1 }, [
            t('dy', 'f32', [N, M], dy),
            t('db', 'f32', [M]),
          ])
          expectFd(
            directionalCheck((bb) => fwd(x, w, bb), b, db, dy, randomDirection(b.length, rand), 1e-2),
            `${backend} ${what} db`,
          )
          // dx = dy · W: matmul of dy with the flipped layout ((M,K) read as (K',M') = (M,K) and back)
          const dx = run(backend, { op: 'matmul', inputs: [0, 1, -1], output: 2, i: [kxm ? 0 : 1] }, [
            t('dy', 'f32', [N, M], dy),
            t('w', 'f32', wShape, w),
            t('dx', 'f32', [N, K]),
          ])
          expectFd(
            directionalCheck((xx) => fwd(xx, w, b), x, dx, dy, randomDirection(x.length, rand), 1e-2),
            `${backend} ${what} dx`,
          )
        }
      }
  })
})

// ---------------------------------------------------------------------------------------------
// Norm, rope, silu_mul, embedding

describe('training ops: rmsnorm, rope, silu_mul, embedding backward', () => {
  const eps = 1e-5

  it('rmsnorm_backward: fast = reference, and central differences of rmsnorm (x)', () => {
    const rand = mulberry32(301)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 2)
        const w = randomF32(C, rand, 1.5)
        const dy = randomF32(N * C, rand)
        const node = { op: 'rmsnorm_backward', inputs: [0, 1, 2], output: 3, f: [eps] }
        const tensors = [
          t('dy', 'f32', [N, C], dy),
          t('x', 'f32', [N, C], x),
          t('w', 'f32', [C], w),
          t('dx', 'f32', [N, C]),
        ]
        fastVsRef(node, tensors, `N=${N} C=${C}`, (want) => scaledTol(want, 2))
        const fwd = (xx: Float32Array) =>
          run('ref', { op: 'rmsnorm', inputs: [0, 1], output: 2, f: [eps] }, [
            t('x', 'f32', [N, C], xx),
            t('w', 'f32', [C], w),
            t('out', 'f32', [N, C]),
          ])
        for (const backend of ['ref', 'cpu'] as const)
          expectFd(
            directionalCheck(
              fwd,
              x,
              run(backend, node, tensors, 2),
              dy,
              randomDirection(x.length, rand),
              1e-2,
            ),
            `${backend} rmsnorm dx N=${N} C=${C}`,
          )
      }
  })

  it('rmsnorm_backward_weight: fast = reference from zero and from a start, and central differences (w)', () => {
    const rand = mulberry32(302)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 2)
        const w = randomF32(C, rand, 1.5)
        const dy = randomF32(N * C, rand)
        const node = { op: 'rmsnorm_backward_weight', inputs: [0, 1], output: 2, f: [eps] }
        const tensors = [t('dy', 'f32', [N, C], dy), t('x', 'f32', [N, C], x), t('dw', 'f32', [C])]
        const ref = checkAccumulating(node, tensors, `N=${N} C=${C}`, rand, (want) => scaledTol(want, 4))
        const fwd = (ww: Float32Array) =>
          run('ref', { op: 'rmsnorm', inputs: [0, 1], output: 2, f: [eps] }, [
            t('x', 'f32', [N, C], x),
            t('w', 'f32', [C], ww),
            t('out', 'f32', [N, C]),
          ])
        expectFd(
          directionalCheck(fwd, w, ref, dy, randomDirection(w.length, rand), 1e-2),
          `rmsnorm dw N=${N} C=${C}`,
        )
        expectFd(
          directionalCheck(fwd, w, run('cpu', node, tensors, 3), dy, randomDirection(w.length, rand), 1e-2),
          `cpu rmsnorm dw N=${N} C=${C}`,
        )
      }
  })

  it('rope_backward: fast = reference, and central differences of rope (both pairings)', () => {
    const rand = mulberry32(303)
    for (const pairing of [0, 1])
      for (const [H, HS, lens] of [
        [1, 2, [1]],
        [3, 6, [3, 2, 4]],
        [2, 10, [7, 6]],
        [4, 34, [13]],
        [1, 66, [5, 2]],
      ] as [number, number, number[]][]) {
        const pos = positions(lens)
        // plus rows at later positions (rope itself takes any position)
        const N = pos.length
        if (N > 4) pos[N - 1] = 517
        const invFreq = Float32Array.from({ length: HS / 2 }, (_, i) => 10000 ** ((-2 * i) / HS))
        const dy = randomF32(N * H * HS, rand)
        const x = randomF32(N * H * HS, rand, 2)
        const node = { op: 'rope_backward', inputs: [0, 1, 2], output: 3, i: [H, HS, pairing] }
        const tensors = [
          t('dy', 'f32', [N, H * HS], dy),
          t('pos', 'i32', [N], pos),
          t('inv_freq', 'f32', [HS / 2], invFreq),
          t('dx', 'f32', [N, H * HS]),
        ]
        const what = `pairing=${pairing} H=${H} HS=${HS} lens=${lens}`
        // angles in f32 (fast) or double (reference): an angle of a few hundred differs by ~ulp
        fastVsRef(node, tensors, what, (want) => scaledTol(want, 5))
        const fwd = (xx: Float32Array) =>
          run('ref', { op: 'rope', inputs: [0, 1, 2], output: 3, i: [H, HS, pairing] }, [
            t('x', 'f32', [N, H * HS], xx),
            t('pos', 'i32', [N], pos),
            t('inv_freq', 'f32', [HS / 2], invFreq),
            t('out', 'f32', [N, H * HS]),
          ])
        for (const backend of ['ref', 'cpu'] as const)
          expectFd(
            directionalCheck(
              fwd,
              x,
              run(backend, node, tensors, 2),
              dy,
              randomDirection(x.length, rand),
              1e-2,
            ),
            `${backend} ${what}`,
          )
      }
  })

  it('silu_mul_backward: fast = reference, and central differences of silu_mul (gate and up)', () => {
    const rand = mulberry32(304)
    for (const N of ROWS)
      for (const F of COLS) {
        const gate = randomF32(N * F, rand, 5)
        const up = randomF32(N * F, rand, 2)
        const dy = randomF32(N * F, rand)
        const node = { op: 'silu_mul_backward', inputs: [0, 1, 2], output: 3 }
        const tensors = [
          t('dy', 'f32', [N, F], dy),
          t('gate', 'f32', [N, F], gate),
          t('up', 'f32', [N, F], up),
          t('out', 'f32', [N, 2 * F]),
        ]
        fastVsRef(node, tensors, `N=${N} F=${F}`, (want) => scaledTol(want, 0.1))
        const fwd = (g: Float32Array, u: Float32Array) =>
          run('ref', { op: 'silu_mul', inputs: [0, 1], output: 2 }, [
            t('gate', 'f32', [N, F], g),
            t('up', 'f32', [N, F], u),
            t('out', 'f32', [N, F]),
          ])
        for (const backend of ['ref', 'cpu'] as const) {
          const out = run(backend, node, tensors, 3)
          const dgate = new Float32Array(N * F)
          const dup = new Float32Array(N * F)
          for (let n = 0; n < N; n++) {
            dgate.set(out.subarray(2 * n * F, 2 * n * F + F), n * F)
            dup.set(out.subarray(2 * n * F + F, 2 * n * F + 2 * F), n * F)
          }
          expectFd(
            directionalCheck((g) => fwd(g, up), gate, dgate, dy, randomDirection(gate.length, rand), 1e-2),
            `${backend} dgate N=${N} F=${F}`,
          )
          expectFd(
            directionalCheck((u) => fwd(gate, u), up, dup, dy, randomDirection(up.length, rand), 1e-2),
            `${backend} dup N=${N} F=${F}`,
          )
        }
      }
  })

  it('embedding_backward: fast = reference from zero and from a start (repeated ids), and central differences', () => {
    const rand = mulberry32(305)
    for (const N of ROWS)
      for (const C of COLS) {
        const V = 11
        const ids = randomInts(N, V, rand)
        if (N > 2) ids[N - 1] = ids[0] // a repeat
        const dy = randomF32(N * C, rand)
        const node = { op: 'embedding_backward', inputs: [0, 1], output: 2 }
        const tensors = [t('dy', 'f32', [N, C], dy), t('ids', 'i32', [N], ids), t('dtable', 'f32', [V, C])]
        // sums of at most N rows in row order on both sides: exact
        const ref = checkAccumulating(node, tensors, `N=${N} C=${C}`, rand, () => () => 1e-30, ids)
        const table = randomF32(V * C, rand)
        const fwd = (tab: Float32Array) =>
          run('ref', { op: 'embedding', inputs: [0, 1], output: 2 }, [
            t('table', 'f32', [V, C], tab),
            t('ids', 'i32', [N], ids),
            t('out', 'f32', [N, C]),
          ])
        expectFd(
          directionalCheck(fwd, table, ref, dy, randomDirection(table.length, rand), 1e-2),
          `embedding N=${N} C=${C}`,
        )
      }
  })
})

// ---------------------------------------------------------------------------------------------
// Loss

describe('training ops: cross_entropy', () => {
  function ceCase(N: number, V: number, rand: () => number) {
    const logits = randomF32(N * V, rand, 4)
    const targets = randomInts(N, V, rand)
    for (let n = 1; n < N; n += 3) targets[n] = -100
    targets[N - 1] = V - 1 // the last id
    return { logits, targets }
  }

  it('cross_entropy and cross_entropy_backward: fast = reference, ignored rows 0', () => {
    const rand = mulberry32(401)
    for (const N of ROWS)
      for (const V of [5, 33, 67, 1001]) {
        const { logits, targets } = ceCase(N, V, rand)
        const tensors = (w: number) => [
          t('logits', 'f32', [N, V], logits),
          t('targets', 'i32', [N], targets),
          t('out', 'f32', [N, w]),
        ]
        const loss = fastVsRef(
          { op: 'cross_entropy', inputs: [0, 1], output: 2 },
          tensors(1),
          `loss N=${N} V=${V}`,
        )
        const d = fastVsRef(
          { op: 'cross_entropy_backward', inputs: [0, 1], output: 2 },
          tensors(V),
          `dlogits N=${N} V=${V}`,
          (want) => (i) => RTOL * Math.abs(want[i]) + 1e-6,
        )
        for (let n = 0; n < N; n++) {
          const row = d.subarray(n * V, (n + 1) * V)
          if (targets[n] === -100) {
            expect(loss[n]).toBe(0)
            expect(row.every((x) => x === 0)).toBe(true)
          } else {
            // a direct loss: logsumexp - logit, in double
            let mx = Number.NEGATIVE_INFINITY
            for (const l of logits.subarray(n * V, (n + 1) * V)) mx = Math.max(mx, l)
            let s = 0
            for (const l of logits.subarray(n * V, (n + 1) * V)) s += Math.exp(l - mx)
            const want = mx + Math.log(s) - logits[n * V + targets[n]]
            expect(Math.abs(loss[n] - want)).toBeLessThanOrEqual(1e-5 * (Math.abs(want) + mx))
            // softmax − onehot sums to 0
            let sum = 0
            for (const x of row) sum += x
            expect(Math.abs(sum)).toBeLessThan(1e-5)
          }
        }
      }
  })

  it('cross_entropy_backward: central differences of cross_entropy', () => {
    const rand = mulberry32(402)
    for (const N of ROWS)
      for (const V of [5, 33, 67]) {
        const { logits, targets } = ceCase(N, V, rand)
        const dy = randomF32(N, rand) // per-row loss weights
        const fwd = (l: Float32Array) =>
          run('ref', { op: 'cross_entropy', inputs: [0, 1], output: 2 }, [
            t('logits', 'f32', [N, V], l),
            t('targets', 'i32', [N], targets),
            t('loss', 'f32', [N, 1]),
          ])
        for (const backend of ['ref', 'cpu'] as const) {
          const d = run(backend, { op: 'cross_entropy_backward', inputs: [0, 1], output: 2 }, [
            t('logits', 'f32', [N, V], logits),
            t('targets', 'i32', [N], targets),
            t('dlogits', 'f32', [N, V]),
          ])
          // unscaled per row: the gradient of Σ dy_n · loss_n is dy_n · dlogits[n]
          const grad = Float64Array.from(d, (x, i) => x * dy[Math.floor(i / V)])
          expectFd(
            directionalCheck(fwd, logits, grad, dy, randomDirection(logits.length, rand), 1e-2),
            `${backend} N=${N} V=${V}`,
          )
        }
      }
  })
})

// ---------------------------------------------------------------------------------------------
// Optimizer

describe('training ops: adamw', () => {
  /** PyTorch's AdamW (decoupled weight decay), in double, on state kept in double. */
  function adamwStep(
    p: Float64Array,
    g: Float32Array,
    m: Float64Array,
    v: Float64Array,
    hyper: Float32Array,
  ) {
    const [lr, b1, b2, eps, wd, bc1, bc2, gs] = hyper
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * gs
      m[i] = b1 * m[i] + (1 - b1) * gi
      v[i] = b2 * v[i] + (1 - b2) * gi * gi
      p[i] *= 1 - lr * wd
      const mhat = m[i] / bc1
      const vhat = v[i] / bc2
      p[i] -= (lr * mhat) / (Math.sqrt(vhat) + eps)
    }
  }

  function adamwTensors(
    n: number,
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    h: Float32Array,
  ) {
    return [
      t('param', 'f32', [n], p),
      t('grad', 'f32', [n], g),
      t('m', 'f32', [n], m),
      t('v', 'f32', [n], v),
      t('hyper', 'f32', [8], h),
    ]
  }

  const node = { op: 'adamw', inputs: [0, 1, 2, 3, 4], output: 0 }

  it('matches PyTorch AdamW over steps; zeroes grad, updates m and v in place (both backends, 1..3 threads)', () => {
    for (const n of [1, 7, 67, 1001]) {
      const rand = mulberry32(500 + n)
      const p0 = randomF32(n, rand, 2)
      const runs = [
        { backend: 'ref' as const, threads: 1 },
        ...THREADS.map((threads) => ({ backend: 'cpu' as const, threads })),
      ].map((r) => ({ ...r, p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) }))
      const P = Float64Array.from(p0)
      const M = new Float64Array(n)
      const Vv = new Float64Array(n)
      const [lr, b1, b2, eps, wd, gs] = [1e-2, 0.9, 0.999, 1e-8, 0.1, 1 / 7]
      for (let step = 1; step <= 5; step++) {
        const grad = randomF32(n, rand, 3)
        if (n > 3) grad[3] = 0 // a parameter no token reached
        const hyper = Float32Array.from([lr, b1, b2, eps, wd, 1 - b1 ** step, 1 - b2 ** step, gs])
        adamwStep(P, grad, M, Vv, hyper)
        for (const r of runs) {
          const g = grad.slice()
          const out = native().runOp(r.backend, node, adamwTensors(n, r.p, g, r.m, r.v, hyper), r.threads)
          const what = `${r.backend} threads=${r.threads} n=${n} step=${step}`
          expect(
            g.every((x) => x === 0),
            `${what}: grad zeroed`,
          ).toBe(true)
          expectNear(r.p, out, () => 0, `${what}: returned param = param in place`)
          expectNear(r.p, P, (i) => 1e-6 * Math.abs(P[i]) + 1e-5 * lr, `${what} param`)
          // m = β1·m + (1−β1)·g cancels: its error scales with the moments' size, not its own
          const mBig = maxAbs(M)
          expectNear(r.m, M, (i) => 1e-5 * Math.abs(M[i]) + 1e-6 * mBig, `${what} m`)
          expectNear(r.v, Vv, (i) => 1e-5 * Math.abs(Vv[i]) + 1e-12, `${what} v`)
        }
      }
      // the update moved every parameter (by at most about lr per step)
      for (const r of runs)
        for (let i = 0; i < n; i++) {
          expect(r.p[i]).not.toBe(p0[i])
          expect(Math.abs(r.p[i] - p0[i])).toBeLessThan(5 * lr * (1.5 + wd * Math.abs(p0[i])))
        }
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Refusals

describe('training ops: refusals', () => {
  const rand = mulberry32(601)
  const f = (name: string, shape: number[], withData = true) =>
    t(
      name,
      'f32',
      shape,
      withData
        ? randomF32(
            shape.reduce((a, b) => a * b, 1),
            rand,
          )
        : undefined,
    )

  for (const backend of ['cpu', 'ref'] as const) {
    it(`${backend}: bad shapes and indices throw`, () => {
      const r = (node: NodeSpec, tensors: TensorSpec[]) => () => native().runOp(backend, node, tensors, 2)
      // matmul_backward_weight: the gradient's shape is not the weight's (either layout)
      expect(
        r({ op: 'matmul_backward_weight', inputs: [0, 1], output: 2, i: [0] }, [
          f('dy', [3, 5]),
          f('x', [3, 7]),
          f('dw', [7, 5], false),
        ]),
      ).toThrow(/gradient shape/)
      expect(
        r({ op: 'matmul_backward_weight', inputs: [0, 1], output: 2, i: [1] }, [
          f('dy', [3, 5]),
          f('x', [3, 7]),
          f('dw', [5, 7], false),
        ]),
      ).toThrow(/gradient shape/)
      expect(
        r({ op: 'matmul_backward_weight', inputs: [0, 1], output: 2, i: [0] }, [
          f('dy', [3, 5]),
          f('x', [4, 7]),
          f('dw', [5, 7], false),
        ]),
      ).toThrow(/row counts/)
      // cross_entropy(_backward): a target past the vocabulary, or negative but not -100
      for (const op of ['cross_entropy', 'cross_entropy_backward'])
        for (const bad of [5, 6, -1, -101])
          expect(
            r({ op, inputs: [0, 1], output: 2 }, [
              f('logits', [3, 5]),
              t('targets', 'i32', [3], Int32Array.from([0, bad, -100])),
              f('out', [3, op === 'cross_entropy' ? 1 : 5], false),
            ]),
          ).toThrow(/outside the vocabulary/)
      // adamw: the output is not the parameter; two of its tensors are one
      const adamIn = () => [f('p', [7]), f('g', [7]), f('m', [7]), f('v', [7]), f('hyper', [8])]
      expect(r({ op: 'adamw', inputs: [0, 1, 2, 3, 4], output: 1 }, adamIn())).toThrow(/in place/)
      expect(r({ op: 'adamw', inputs: [0, 1, 2, 2, 4], output: 0 }, adamIn())).toThrow(/distinct/)
      expect(
        r({ op: 'adamw', inputs: [0, 1, 2, 3, 4], output: 0 }, [
          f('p', [7]),
          f('g', [6]),
          f('m', [7]),
          f('v', [7]),
          f('hyper', [8]),
        ]),
      ).toThrow(/one size/)
      // causal attention: NH not a multiple of NKV (q 3 heads of 4, k/v 2 heads of 4)
      for (const [op, o] of [
        ['causal_attention', 0],
        ['causal_attention_backward', 1],
      ] as const) {
        const pre = o ? [f('dy', [5, 12])] : []
        expect(
          r({ op, inputs: o ? [0, 1, 2, 3, 4] : [0, 1, 2, 3], output: 4 + o, i: [3], f: [0.5] }, [
            ...pre,
            f('q', [5, 12]),
            f('k', [5, 8]),
            f('v', [5, 8]),
            t('pos', 'i32', [5], positions([5])),
            f('out', [5, o ? 28 : 12], false),
          ]),
        ).toThrow(/multiple of kv heads/)
      }
      // rope_backward: odd head size; embedding_backward: an id past the table
      expect(
        r({ op: 'rope_backward', inputs: [0, 1, 2], output: 3, i: [2, 5, 0] }, [
          f('dy', [3, 10]),
          t('pos', 'i32', [3], positions([3])),
          f('inv_freq', [2]),
          f('dx', [3, 10], false),
        ]),
      ).toThrow(/even/)
      expect(
        r({ op: 'embedding_backward', inputs: [0, 1], output: 2 }, [
          f('dy', [3, 4]),
          t('ids', 'i32', [3], Int32Array.from([0, 9, 1])),
          f('dtable', [9, 4], false),
        ]),
      ).toThrow(/outside/)
      // a += gradient that comes with data (runOp cannot own it)
      expect(r({ op: 'bias_backward', inputs: [0], output: 1 }, [f('dy', [3, 4]), f('db', [4])])).toThrow(
        /gradient must be/,
      )
    })
  }
})

// ---------------------------------------------------------------------------------------------
// GPT-2's ops: LayerNorm, GELU, slice_cols

describe("GPT-2's backward ops", () => {
  const lnEps = 1e-5
  const layernorm = (x: Float32Array, w: Float32Array, b: Float32Array, N: number, C: number) =>
    run('ref', { op: 'layernorm', inputs: [0, 1, 2], output: 3, f: [lnEps] }, [
      t('x', 'f32', [N, C], x),
      t('w', 'f32', [C], w),
      t('b', 'f32', [C], b),
      t('out', 'f32', [N, C]),
    ])

  it('layernorm_backward: fast = reference, and central differences of layernorm (x)', () => {
    const rand = mulberry32(401)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 2)
        const w = randomF32(C, rand, 1.5)
        const b = randomF32(C, rand, 0.5)
        const dy = randomF32(N * C, rand)
        const node = { op: 'layernorm_backward', inputs: [0, 1, 2], output: 3, f: [lnEps] }
        const tensors = [
          t('dy', 'f32', [N, C], dy),
          t('x', 'f32', [N, C], x),
          t('w', 'f32', [C], w),
          t('dx', 'f32', [N, C]),
        ]
        fastVsRef(node, tensors, `N=${N} C=${C}`, (want) => scaledTol(want, 4))
        for (const backend of ['ref', 'cpu'] as const)
          expectFd(
            directionalCheck(
              (xx) => layernorm(xx, w, b, N, C),
              x,
              run(backend, node, tensors, 2),
              dy,
              randomDirection(x.length, rand),
              1e-2,
            ),
            `${backend} layernorm dx N=${N} C=${C}`,
          )
      }
  })

  it('layernorm_backward_weight: fast = reference from zero and from a start, and central differences (w)', () => {
    const rand = mulberry32(402)
    for (const N of ROWS)
      for (const C of COLS) {
        const x = randomF32(N * C, rand, 2)
        const w = randomF32(C, rand, 1.5)
        const b = randomF32(C, rand, 0.5)
        const dy = randomF32(N * C, rand)
        const node = { op: 'layernorm_backward_weight', inputs: [0, 1], output: 2, f: [lnEps] }
        const tensors = [t('dy', 'f32', [N, C], dy), t('x', 'f32', [N, C], x), t('dw', 'f32', [C])]
        const ref = checkAccumulating(node, tensors, `N=${N} C=${C}`, rand, (want) => scaledTol(want, 4))
        for (const grad of [ref, run('cpu', node, tensors, 3)])
          expectFd(
            directionalCheck(
              (ww) => layernorm(x, ww, b, N, C),
              w,
              grad,
              dy,
              randomDirection(w.length, rand),
              1e-2,
            ),
            `layernorm dw N=${N} C=${C}`,
          )
      }
  })

  for (const tanh of [0, 1])
    it(`gelu_backward (${tanh ? 'tanh approximation' : 'exact erf'}): fast = reference, and central differences`, () => {
      const rand = mulberry32(403 + tanh)
      for (const N of ROWS)
        for (const C of COLS) {
          const x = randomF32(N * C, rand, 4)
          const dy = randomF32(N * C, rand)
          const node = { op: 'gelu_backward', inputs: [0, 1], output: 2, i: [tanh] }
          const tensors = [t('dy', 'f32', [N, C], dy), t('x', 'f32', [N, C], x), t('dx', 'f32', [N, C])]
          fastVsRef(node, tensors, `N=${N} C=${C}`, (want) => scaledTol(want, 2))
          const fwd = (xx: Float32Array) =>
            run('ref', { op: 'gelu', inputs: [0], output: 1, i: [tanh] }, [
              t('x', 'f32', [N, C], xx),
              t('out', 'f32', [N, C]),
            ])
          for (const backend of ['ref', 'cpu'] as const)
            expectFd(
              directionalCheck(
                fwd,
                x,
                run(backend, node, tensors, 2),
                dy,
                randomDirection(x.length, rand),
                1e-2,
              ),
              `${backend} gelu dx N=${N} C=${C}`,
            )
        }
    })

  it('slice_cols_backward: dy in its columns, zeros elsewhere, exactly; refuses a slice out of range', () => {
    const rand = mulberry32(405)
    for (const N of ROWS)
      for (const [C, start, W] of [
        [5, 0, 5],
        [33, 11, 11],
        [67, 40, 27],
      ]) {
        const dy = randomF32(N * W, rand)
        const node = { op: 'slice_cols_backward', inputs: [0], output: 1, i: [start] }
        const tensors = [t('dy', 'f32', [N, W], dy), t('dx', 'f32', [N, C])]
        const want = new Float32Array(N * C)
        for (let n = 0; n < N; n++) want.set(dy.subarray(n * W, (n + 1) * W), n * C + start)
        for (const backend of ['ref', 'cpu'] as const)
          for (const threads of THREADS) expect(run(backend, node, tensors, threads)).toEqual(want)
      }
    expect(() =>
      run('cpu', { op: 'slice_cols_backward', inputs: [0], output: 1, i: [3] }, [
        t('dy', 'f32', [2, 4], new Float32Array(8)),
        t('dx', 'f32', [2, 6]),
      ]),
    ).toThrow(/slice out of range/)
  })
})
