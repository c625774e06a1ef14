// The chunked loss (native/train_kernels.h): cross_entropy_stats merges a vocabulary chunk's logits
// into running (max, Σexp, target logit) stats, cross_entropy_loss turns them into the loss and
// cross_entropy_chunk_backward gives a chunk's gradient. Checked: fast kernels = reference twins on
// odd shapes and thread counts; any split of the vocabulary gives cross_entropy's loss and gradient;
// the chunk gradient against central differences of the loss; and the row views of fixed tensors
// the chunks read the head weight through (a matmul over a view = a matmul over those rows).
import { describe, expect, it } from 'vitest'
import { type NativeDType, type NodeSpec, native, type TensorSpec } from '../../src/core/native.js'
import { directionalCheck, randomDirection } from '../helpers/finite-diff.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'

type Backend = 'cpu' | 'ref'
const t = (name: string, dtype: NativeDType, shape: number[], data?: ArrayBufferView): TensorSpec => ({
  name,
  dtype,
  shape,
  data,
})
const run = (backend: Backend, node: NodeSpec, tensors: TensorSpec[], threads = 1) =>
  native().runOp(backend, node, tensors, threads)

function problem(N: number, V: number, rand: () => number) {
  const logits = randomF32(N * V, rand, 6)
  const targets = Int32Array.from({ length: N }, () => Math.floor(rand() * V))
  for (let n = 1; n < N; n += 3) targets[n] = -100
  targets[N - 1] = V - 1
  return { logits, targets }
}

/** Columns [v0, v0 + W) of a row-major (N, V) matrix. */
function columns(a: Float32Array, N: number, V: number, v0: number, W: number): Float32Array {
  const out = new Float32Array(N * W)
  for (let n = 0; n < N; n++) out.set(a.subarray(n * V + v0, n * V + v0 + W), n * W)
  return out
}

/** Chunk boundaries of V columns W at a time (the last narrower). */
const chunksOf = (V: number, W: number) =>
  Array.from({ length: Math.ceil(V / W) }, (_, j) => [j * W, Math.min(W, V - j * W)] as const)

/** The stats chain and loss over chunks of width W, and each chunk's gradient, on one backend. */
function chunked(
  backend: Backend,
  N: number,
  V: number,
  W: number,
  logits: Float32Array,
  targets: Int32Array,
  threads = 1,
) {
  let stats: Float32Array | undefined
  for (const [v0, w] of chunksOf(V, W)) {
    const tensors = [
      t('logits', 'f32', [N, w], columns(logits, N, V, v0, w)),
      t('targets', 'i32', [N], targets),
    ]
    tensors.push(stats ? t('prev', 'f32', [N, 3], stats) : t('stats', 'f32', [N, 3]))
    if (stats) tensors.push(t('stats', 'f32', [N, 3]))
    stats = run(
      backend,
      { op: 'cross_entropy_stats', inputs: [0, 1, stats ? 2 : -1], output: stats ? 3 : 2, i: [v0, V] },
      tensors,
      threads,
    )
  }
  const s = stats as Float32Array
  const loss = run(
    backend,
    { op: 'cross_entropy_loss', inputs: [0, 1], output: 2 },
    [t('stats', 'f32', [N, 3], s), t('targets', 'i32', [N], targets), t('loss', 'f32', [N, 1])],
    threads,
  )
  const grad = new Float32Array(N * V)
  for (const [v0, w] of chunksOf(V, W)) {
    const d = run(
      backend,
      { op: 'cross_entropy_chunk_backward', inputs: [0, 1, 2], output: 3, i: [v0] },
      [
        t('logits', 'f32', [N, w], columns(logits, N, V, v0, w)),
        t('targets', 'i32', [N], targets),
        t('stats', 'f32', [N, 3], s),
        t('dlogits', 'f32', [N, w]),
      ],
      threads,
    )
    for (let n = 0; n < N; n++) grad.set(d.subarray(n * w, (n + 1) * w), n * V + v0)
  }
  return { loss, grad }
}

function whole(N: number, V: number, logits: Float32Array, targets: Int32Array) {
  const tensors = (w: number) => [
    t('logits', 'f32', [N, V], logits),
    t('targets', 'i32', [N], targets),
    t('o', 'f32', [N, w]),
  ]
  return {
    loss: run('ref', { op: 'cross_entropy', inputs: [0, 1], output: 2 }, tensors(1)),
    grad: run('ref', { op: 'cross_entropy_backward', inputs: [0, 1], output: 2 }, tensors(V)),
  }
}

function expectClose(got: Float32Array, want: Float32Array, rel: number, abs: number, what: string) {
  expect(got.length, what).toBe(want.length)
  for (let i = 0; i < got.length; i++)
    if (!(Math.abs(got[i] - want[i]) <= rel * Math.abs(want[i]) + abs))
      expect.fail(`${what}: [${i}] ${got[i]} vs ${want[i]}`)
}

describe('chunked cross-entropy', () => {
  it('any split of the vocabulary gives cross_entropy: fast and reference, 1 to 3 threads', () => {
    const rand = mulberry32(811)
    for (const N of [1, 7, 13])
      for (const V of [5, 67, 1001])
        for (const W of [1, 7, 32, V]) {
          if (W === 1 && V > 67) continue
          const { logits, targets } = problem(N, V, rand)
          const want = whole(N, V, logits, targets)
          for (const backend of ['ref', 'cpu'] as const)
            for (const threads of backend === 'cpu' ? [1, 2, 3] : [1]) {
              const got = chunked(backend, N, V, W, logits, targets, threads)
              const what = `${backend} N=${N} V=${V} W=${W} threads=${threads}`
              expectClose(got.loss, want.loss, 2e-6, 2e-6, `${what} loss`)
              expectClose(got.grad, want.grad, 2e-5, 1e-7, `${what} dlogits`)
              for (let n = 0; n < N; n++)
                if (targets[n] === -100) expect(got.loss[n], `${what} ignored row`).toBe(0)
            }
        }
  })

  it('a chunk gradient is the central difference of the chunked loss', () => {
    const rand = mulberry32(812)
    const N = 5
    const V = 37
    const W = 8
    const { logits, targets } = problem(N, V, rand)
    const dy = randomF32(N, rand)
    const fwd = (l: Float32Array) => chunked('ref', N, V, W, l, targets).loss
    for (const backend of ['ref', 'cpu'] as const) {
      const { grad } = chunked(backend, N, V, W, logits, targets)
      const weighted = Float64Array.from(grad, (x, i) => x * dy[Math.floor(i / V)])
      const r = directionalCheck(fwd, logits, weighted, dy, randomDirection(logits.length, rand), 1e-2)
      expect(r.error, `${backend}: numeric ${r.numeric}, analytic ${r.analytic}`).toBeLessThan(1e-2)
    }
  })

  it('a matmul over a row view reads those rows of the weight', () => {
    const rand = mulberry32(813)
    const [N, K, V] = [3, 64, 40]
    const x = randomF32(N * K, rand)
    const w = randomF32(V * K, rand)
    for (const [row, rows] of [
      [0, 16],
      [16, 16],
      [32, 8],
    ]) {
      const viaView = run('cpu', { op: 'matmul', inputs: [0, 2, -1], output: 3 }, [
        t('x', 'f32', [N, K], x),
        t('w', 'f32', [V, K], w),
        { name: 'w.rows', dtype: 'f32', shape: [rows, K], view: { of: 1, row } },
        t('y', 'f32', [N, rows]),
      ])
      const direct = run('cpu', { op: 'matmul', inputs: [0, 1, -1], output: 2 }, [
        t('x', 'f32', [N, K], x),
        t('w', 'f32', [rows, K], w.slice(row * K, (row + rows) * K)),
        t('y', 'f32', [N, rows]),
      ])
      expect(Array.from(viaView)).toEqual(Array.from(direct))
    }
  })

  it('refuses views outside their base, of views, of another dtype or row shape, and chunks outside the vocabulary', () => {
    const w = new Float32Array(8 * 4)
    const view = (shape: number[], row: number, of = 1, dtype: NativeDType = 'f32'): TensorSpec => ({
      name: 'v',
      dtype,
      shape,
      view: { of, row },
    })
    const mm =
      (v: TensorSpec, extra: TensorSpec[] = []) =>
      () =>
        run('cpu', { op: 'matmul', inputs: [0, 2, -1], output: 3 }, [
          t('x', 'f32', [2, 4], new Float32Array(8)),
          t('w', 'f32', [8, 4], w),
          v,
          t('y', 'f32', [2, v.shape[0]]),
          ...extra,
        ])
    expect(mm(view([4, 4], 5))).toThrow(/rows outside w/)
    expect(mm(view([4, 4], 2 ** 52))).toThrow(/rows outside w/)
    expect(mm(view([4, 2], 0))).toThrow(/row shape differs/)
    expect(mm(view([4, 4], 0, 1, 'f16'))).toThrow(/dtype or rank/)
    expect(mm(view([4, 4], 0, 9))).toThrow(/no such base/)
    expect(mm(view([4, 4], 0, 4), [view([8, 4], 0)])).toThrow(/a view of a view/)
    expect(() =>
      run('cpu', { op: 'matmul', inputs: [0, 1, -1], output: 2 }, [
        t('x', 'f32', [2, 4], new Float32Array(8)),
        { name: 'v', dtype: 'f32', shape: [4, 4], view: { of: 1, row: -1 } },
        t('y', 'f32', [2, 4]),
      ]),
    ).toThrow(/non-negative integer/)
    const targets = Int32Array.of(0, 1)
    const stats =
      (i: number[], W = 4) =>
      () =>
        run('cpu', { op: 'cross_entropy_stats', inputs: [0, 1, -1], output: 2, i }, [
          t('logits', 'f32', [2, W], new Float32Array(2 * W)),
          t('targets', 'i32', [2], targets),
          t('stats', 'f32', [2, 3]),
        ])
    expect(stats([0, 4])).not.toThrow()
    expect(stats([1, 4])).toThrow(/outside the vocabulary/)
    expect(stats([-1, 4])).toThrow(/first column/)
    expect(stats([2 ** 62, 4])).toThrow(/outside the vocabulary/)
    expect(stats([0, 1], 1)).toThrow(/target 1 is outside the vocabulary/)
  })
})
