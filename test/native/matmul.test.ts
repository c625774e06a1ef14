// Matmul, the op most of a forward's time goes to: the fast CPU kernels (the best this CPU has:
// AVX-512 or AVX2; and, in child processes, AVX2 under KILN_SIMD=avx2 and the portable one under
// KILN_NO_SIMD=1) against the plain-loop reference on odd shapes, every weight dtype and layout,
// with and without bias, on 1-3 threads; and a row's result must be bit-identical whatever batch
// it came in, whatever the thread count.
//
// Tolerance: widening f16/bf16 weights to f32 is exact, so every dtype gets the same bound, the
// f32 rounding-error bound of the summation order the kernels use, on the widened values:
//   |fast - ref| ≤ c·u·Σ|x·w| + 2u·(|ref| + |b|),  u = 2⁻²⁴,
// with c = 2·⌈K/8⌉ + 16 for w (M,K) (AVX2: 8 lanes of K/8 terms, up to 7 tail terms, the lane sum
// and the bias; AVX-512's 16 lanes of K/16 terms and its 4-level lane sum fit inside it; the
// factor 2 covers the portable kernel's separate multiply and add), and c = 2K + 2 for w (K,M)
// and for the GEMM order that encoder graphs ask for (node i1 = 1; one chain of K terms per
// output). The reference sums in double.
import { describe, expect, it } from 'vitest'
import { type NodeSpec, native, type TensorSpec } from '../../src/core/native.js'
import { expectSameBits } from '../helpers/bits.js'
import { fromBf16, fromF16, mulberry32, randomF32, toBf16, toF16 } from '../helpers/numbers.js'
import { KERNEL_TIERS, runOpsInChild } from '../helpers/op-child.js'

const U = 2 ** -24

type WDType = 'f32' | 'bf16' | 'f16'
const DTYPES: WDType[] = ['f32', 'bf16', 'f16']

interface Weights {
  data: Float32Array | Uint16Array // what the kernel reads
  values: Float32Array // the same numbers widened to f32 (exact)
}

function randomWeights(dtype: WDType, n: number, rand: () => number): Weights {
  const values = new Float32Array(n)
  for (let i = 0; i < n; i++) values[i] = rand() * 2 - 1
  if (dtype === 'f32') return { data: values, values }
  const data = new Uint16Array(n)
  for (let i = 0; i < n; i++) {
    data[i] = dtype === 'bf16' ? toBf16(values[i]) : toF16(values[i])
    values[i] = dtype === 'bf16' ? fromBf16(data[i]) : fromF16(data[i])
  }
  return { data, values }
}

interface Shape {
  N: number
  K: number
  M: number
  dtype: WDType
  kxm: boolean
  bias: boolean
  /** The node's i1: the many-row summation order (native/kernels.h). */
  gemm?: boolean
}

interface Problem extends Shape {
  x: Float32Array
  w: Weights
  b?: Float32Array
}

function problem(s: Shape, seed: number): Problem {
  const rand = mulberry32(seed)
  return {
    ...s,
    x: randomF32(s.N * s.K, rand),
    w: randomWeights(s.dtype, s.K * s.M, rand),
    b: s.bias ? randomF32(s.M, rand) : undefined,
  }
}

function opOf(p: Problem): { node: NodeSpec; tensors: TensorSpec[] } {
  const tensors: TensorSpec[] = [
    { name: 'x', dtype: 'f32', shape: [p.N, p.K], data: p.x },
    { name: 'w', dtype: p.dtype, shape: p.kxm ? [p.K, p.M] : [p.M, p.K], data: p.w.data },
    { name: 'out', dtype: 'f32', shape: [p.N, p.M] },
  ]
  if (p.b) tensors.push({ name: 'b', dtype: 'f32', shape: [p.M], data: p.b })
  const node = { op: 'matmul', inputs: [0, 1, p.b ? 3 : -1], output: 2, i: [p.kxm ? 1 : 0, p.gemm ? 1 : 0] }
  return { node, tensors }
}

function run(p: Problem, backend: 'cpu' | 'ref', threads: number): Float32Array {
  const { node, tensors } = opOf(p)
  return native().runOp(backend, node, tensors, threads)
}

/** The rounding-error bound of the header, per output. */
function tolerances(p: Problem, ref: Float32Array): Float64Array {
  const { N, K, M, x, kxm } = p
  const w = p.w.values
  const c = kxm || p.gemm ? 2 * K + 2 : 2 * Math.ceil(K / 8) + 16
  const tol = new Float64Array(N * M)
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let abs = 0
      for (let k = 0; k < K; k++) abs += Math.abs(x[n * K + k] * w[kxm ? k * M + m : m * K + k])
      const b = p.b ? Math.abs(p.b[m]) : 0
      tol[n * M + m] = c * U * abs + 2 * U * (Math.abs(ref[n * M + m]) + b) + Number.MIN_VALUE
    }
  return tol
}

/** The worst |fast - ref| / tolerance (≤ 1 passes), and where. */
function worst(fast: Float32Array, ref: Float32Array, tol: Float64Array): { ratio: number; at: number } {
  let ratio = 0
  let at = -1
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(fast[i] - ref[i]) / tol[i]
    if (!(r <= ratio)) {
      ratio = r
      at = i
    }
  }
  return { ratio, at }
}

function label(s: Shape): string {
  return `${s.dtype} ${s.kxm ? '(K,M)' : '(M,K)'} N=${s.N} K=${s.K} M=${s.M}${s.bias ? ' +bias' : ''}${s.gemm ? ' gemm' : ''}`
}

function checkAgainstRef(s: Shape, seed: number, threads: number[]) {
  const p = problem(s, seed)
  const ref = run(p, 'ref', 1)
  const tol = tolerances(p, ref)
  for (const t of threads) {
    const fast = run(p, 'cpu', t)
    const { ratio, at } = worst(fast, ref, tol)
    expect(ratio, `${label(s)} threads=${t}: out[${at}] = ${fast[at]}, ref ${ref[at]}`).toBeLessThanOrEqual(1)
  }
}

/** Copies rows [n0, n0 + count) of a problem into a problem of its own. */
function rowsOf(p: Problem, n0: number, count: number): Problem {
  return { ...p, N: count, x: p.x.slice(n0 * p.K, (n0 + count) * p.K) }
}

describe('matmul: fast vs reference', () => {
  for (const dtype of DTYPES)
    for (const kxm of [false, true])
      it(`${dtype} ${kxm ? '(K,M)' : '(M,K)'} on odd shapes, 1-3 threads`, () => {
        let seed = 1
        for (const K of [0, 1, 7, 8, 33, 257, 1000])
          for (const N of [1, 3, 4, 17])
            for (const M of [1, 5, 67])
              for (const bias of [false, true])
                checkAgainstRef({ N, K, M, dtype, kxm, bias }, seed++, [1, 2, 3])
      })

  // Shapes past the blocking thresholds: rows of x in several L2 blocks (K = 2051), decode rows
  // long enough for per-row prefetch, (K,M) weights in several K blocks and column panels, and
  // the 110M llama shapes.
  const big: [number, number, number][] = [
    [1, 2051, 70],
    [40, 2051, 70],
    [17, 300, 130],
    [1, 768, 256],
    [64, 768, 256],
    [5, 2048, 96],
  ]
  for (const dtype of DTYPES)
    it(`${dtype} on larger shapes, both layouts`, () => {
      let seed = 100
      for (const [N, K, M] of big)
        for (const kxm of [false, true])
          checkAgainstRef({ N, K, M, dtype, kxm, bias: kxm }, seed++, [1, 2, 3])
    })

  it('matches the reference where widening matters: f16 subnormals and extremes', () => {
    // f16 weights across the whole exponent range, including subnormals, and bf16 likewise.
    for (const dtype of ['f16', 'bf16'] as const) {
      const rand = mulberry32(7)
      const N = 3
      const K = 45
      const M = 9
      const data = new Uint16Array(K * M)
      const values = new Float32Array(K * M)
      for (let i = 0; i < data.length; i++) {
        const r = (rand() * 2 ** 32) >>> 0
        const h =
          dtype === 'f16'
            ? (r & 0x8000) | (((r >>> 16) % 0x1e) << 10) | (r & 0x3ff) // finite: exponent 0..29
            : (r & 0x8000) | ((100 + ((r >>> 16) % 56)) << 7) | (r & 0x7f)
        data[i] = h
        values[i] = dtype === 'f16' ? fromF16(h) : fromBf16(h)
      }
      for (const kxm of [false, true]) {
        const p: Problem = {
          N,
          K,
          M,
          dtype,
          kxm,
          bias: false,
          x: randomF32(N * K, rand),
          w: { data, values },
        }
        const ref = run(p, 'ref', 1)
        const { ratio, at } = worst(run(p, 'cpu', 2), ref, tolerances(p, ref))
        expect(ratio, `${dtype} kxm=${kxm} at ${at}`).toBeLessThanOrEqual(1)
      }
    }
  })
})

describe('matmul: a row does not depend on its batch or the thread count', () => {
  for (const dtype of DTYPES)
    for (const kxm of [false, true])
      it(`${dtype} ${kxm ? '(K,M)' : '(M,K)'}`, () => {
        const p = problem({ N: 64, K: 257, M: 67, dtype, kxm, bias: true }, 42)
        const batch = run(p, 'cpu', 2)
        expectSameBits(run(p, 'cpu', 1), batch, 'N=64, 1 vs 2 threads')
        expectSameBits(run(p, 'cpu', 3), batch, 'N=64, 3 vs 2 threads')
        for (let n = 0; n < p.N; n++) {
          const alone = run(rowsOf(p, n, 1), 'cpu', 1 + (n % 3))
          expectSameBits(alone, batch.subarray(n * p.M, (n + 1) * p.M), `row ${n} alone`)
        }
        // Sub-batches on both sides of the decode/prefill switch, at odd offsets.
        for (const [n0, count] of [
          [5, 2],
          [9, 3],
          [20, 4],
          [31, 7],
          [40, 19],
        ]) {
          const part = run(rowsOf(p, n0, count), 'cpu', 2)
          expectSameBits(part, batch.subarray(n0 * p.M, (n0 + count) * p.M), `rows ${n0}..${n0 + count - 1}`)
        }
      })
})

// Encoder graphs' matmuls (i1 = 1): on AVX-512 the GEMM-order kernel (matmul_avx512_gemm.cc),
// elsewhere the same kernels as above. Its edges: K not a multiple of 16, M not a multiple of the
// 12-row tile (every remainder), N past one 32-row panel.
describe('matmul in the GEMM order', () => {
  for (const dtype of DTYPES)
    it(`${dtype} against the reference on odd shapes, 1-3 threads`, () => {
      let seed = 700
      for (const K of [0, 1, 7, 16, 17, 33, 257])
        for (const N of [1, 3, 16, 33, 70])
          for (const M of [1, 5, 11, 12, 13, 67])
            for (const bias of [false, true])
              checkAgainstRef({ N, K, M, dtype, kxm: false, bias, gemm: true }, seed++, [1, 2, 3])
      for (const [N, K, M] of [
        [64, 768, 256],
        [40, 2051, 70],
        [5, 1000, 130],
      ])
        checkAgainstRef({ N, K, M, dtype, kxm: false, bias: true, gemm: true }, seed++, [1, 2, 3])
    })

  for (const dtype of DTYPES)
    it(`${dtype}: a row has the same bits alone, in any batch, on any thread count`, () => {
      const p = problem({ N: 70, K: 257, M: 67, dtype, kxm: false, bias: true, gemm: true }, 43)
      const batch = run(p, 'cpu', 2)
      expectSameBits(run(p, 'cpu', 1), batch, 'N=70, 1 vs 2 threads')
      expectSameBits(run(p, 'cpu', 3), batch, 'N=70, 3 vs 2 threads')
      for (let n = 0; n < p.N; n++) {
        const alone = run(rowsOf(p, n, 1), 'cpu', 1 + (n % 3))
        expectSameBits(alone, batch.subarray(n * p.M, (n + 1) * p.M), `row ${n} alone`)
      }
      for (const [n0, count] of [
        [5, 2],
        [9, 31],
        [20, 33],
        [37, 33],
      ]) {
        const part = run(rowsOf(p, n0, count), 'cpu', 2)
        expectSameBits(part, batch.subarray(n0 * p.M, (n0 + count) * p.M), `rows ${n0}..${n0 + count - 1}`)
      }
    })

  it('refuses an order other than 0 or 1', () => {
    const p = problem({ N: 2, K: 3, M: 4, dtype: 'f32', kxm: false, bias: false }, 1)
    const { node, tensors } = opOf(p)
    expect(() => native().runOp('cpu', { ...node, i: [0, 2] }, tensors, 1)).toThrow(/i1 \(summation order\)/)
  })
})

for (const tier of KERNEL_TIERS)
  describe(`matmul: ${tier.name}`, () => {
    function inChild(problems: { p: Problem; threads: number }[]): Float32Array[] {
      const { cpu, outputs } = runOpsInChild(
        problems.map(({ p, threads }) => ({ ...opOf(p), threads })),
        tier.env,
      )
      expect(tier.took(cpu), JSON.stringify(cpu)).toBe(true)
      return outputs
    }

    it('agree with the reference on odd shapes, both layouts, every dtype', () => {
      const problems: { p: Problem; threads: number }[] = []
      let seed = 500
      for (const dtype of DTYPES)
        for (const kxm of [false, true])
          for (const [N, K, M] of [
            [1, 7, 5],
            [3, 33, 67],
            [17, 257, 5],
            [4, 1000, 67],
            [40, 2051, 70],
          ])
            for (const threads of [1, 3])
              problems.push({ p: problem({ N, K, M, dtype, kxm, bias: (seed & 1) === 0 }, seed++), threads })
      // The GEMM order asked for: this tier's own kernel where it has none of its own.
      for (const dtype of DTYPES)
        for (const [N, K, M] of [
          [3, 33, 67],
          [40, 257, 13],
        ])
          problems.push({
            p: problem({ N, K, M, dtype, kxm: false, bias: true, gemm: true }, seed++),
            threads: 2,
          })
      const outs = inChild(problems)
      problems.forEach(({ p, threads }, i) => {
        const ref = run(p, 'ref', 1)
        const { ratio, at } = worst(outs[i], ref, tolerances(p, ref))
        expect(ratio, `${label(p)} threads=${threads} at ${at}`).toBeLessThanOrEqual(1)
      })
    })

    it('give a row the same bits alone as in a batch', () => {
      for (const kxm of [false, true]) {
        const p = problem({ N: 17, K: 77, M: 13, dtype: 'bf16', kxm, bias: true }, 77)
        const problems = [{ p, threads: 2 }]
        for (let n = 0; n < p.N; n++) problems.push({ p: rowsOf(p, n, 1), threads: 1 })
        const [batch, ...rows] = inChild(problems)
        rows.forEach((r, n) => {
          expectSameBits(r, batch.subarray(n * p.M, (n + 1) * p.M), `kxm=${kxm} row ${n}`)
        })
      }
    })
  })
