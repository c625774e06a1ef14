// Matmul and embedding lookup against block-quantized weights (Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
//
// The fast kernels quantize the activations (Q8_0 rows for the 32-blocks, Q8_K for the K-quants)
// and sum integer products block by block; the reference multiplies the dequantized weights with
// the unquantized activations in double. The difference is the activations' rounding: each x is
// off by at most half its block's step, amax/254 (Q8_0: d = amax/127; Q8_K: d = amax/128 or less
// in magnitude, half a step ≤ amax/254 too), so
//   |fast - ref| ≤ Σ_k |w_k|·amax(block of k)/254 · (1 + 1e-3) + 64·u·Σ|x·w| + 2u·(|ref| + |b|).
// Portable and AVX2 kernels: K-quants bit for bit (both add one exact integer per super-block in
// the same float order); 32-blocks within the float rounding of the two summation orders.
import { describe, expect, it } from 'vitest'
import { type NativeQuantType, type NodeSpec, native, type TensorSpec } from '../../src/core/native.js'
import { expectSameBits } from '../helpers/bits.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'
import { runOpsInChild } from '../helpers/op-child.js'

const U = 2 ** -24

type QType = 'q4_0' | 'q8_0' | 'q4_k' | 'q6_k' | 'q5_0' | 'q5_1' | 'q5_k'
const TYPES: QType[] = ['q4_0', 'q8_0', 'q4_k', 'q6_k', 'q5_0', 'q5_1', 'q5_k']
const BLOCK: Record<QType, number> = {
  q4_0: 32,
  q8_0: 32,
  q4_k: 256,
  q6_k: 256,
  q5_0: 32,
  q5_1: 32,
  q5_k: 256,
}
const ACT_BLOCK = BLOCK

interface Problem {
  type: QType
  N: number
  K: number
  M: number
  x: Float32Array
  wq: Uint8Array // the blocks the kernel reads
  wf: Float32Array // the same weights dequantized
  b?: Float32Array
}

function problem(type: QType, N: number, K: number, M: number, bias: boolean, seed: number): Problem {
  const rand = mulberry32(seed)
  const w = randomF32(M * K, rand)
  const wq = native().quantize(type as NativeQuantType, w, M, K, 1)
  const wf = native().dequantize(type as NativeQuantType, wq, M, K, 1)
  return { type, N, K, M, x: randomF32(N * K, rand), wq, wf, b: bias ? randomF32(M, rand) : undefined }
}

function opOf(p: Problem): { node: NodeSpec; tensors: TensorSpec[] } {
  const tensors: TensorSpec[] = [
    { name: 'x', dtype: 'f32', shape: [p.N, p.K], data: p.x },
    { name: 'w', dtype: p.type, shape: [p.M, p.K], data: p.wq },
    { name: 'out', dtype: 'f32', shape: [p.N, p.M] },
  ]
  if (p.b) tensors.push({ name: 'b', dtype: 'f32', shape: [p.M], data: p.b })
  return { node: { op: 'matmul', inputs: [0, 1, p.b ? 3 : -1], output: 2, i: [0] }, tensors }
}

function run(p: Problem, backend: 'cpu' | 'ref', threads: number): Float32Array {
  const { node, tensors } = opOf(p)
  return native().runOp(backend, node, tensors, threads)
}

function tolerances(p: Problem, ref: Float32Array): Float64Array {
  const { N, K, M, x, wf } = p
  const A = ACT_BLOCK[p.type]
  const tol = new Float64Array(N * M)
  for (let n = 0; n < N; n++) {
    const amax = new Float64Array(K / A)
    for (let k = 0; k < K; k++)
      amax[Math.floor(k / A)] = Math.max(amax[Math.floor(k / A)], Math.abs(x[n * K + k]))
    for (let m = 0; m < M; m++) {
      let quant = 0
      let abs = 0
      for (let k = 0; k < K; k++) {
        const w = Math.abs(wf[m * K + k])
        quant += (w * amax[Math.floor(k / A)]) / 254
        abs += Math.abs(x[n * K + k]) * w
      }
      const b = p.b ? Math.abs(p.b[m]) : 0
      tol[n * M + m] = quant * 1.001 + 64 * U * abs + 2 * U * (Math.abs(ref[n * M + m]) + b) + 1e-30
    }
  }
  return tol
}

function expectWithin(fast: Float32Array, ref: Float32Array, tol: Float64Array, what: string) {
  let worst = 0
  let at = -1
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(fast[i] - ref[i]) / tol[i]
    if (!(r <= worst)) {
      worst = r
      at = i
    }
  }
  expect(worst, `${what}: out[${at}] = ${fast[at]}, ref ${ref[at]}`).toBeLessThanOrEqual(1)
}

const SHAPES: [number, number, number][] = [
  // [N, blocks per row, M]: decode, a few rows, prefill tiles with remainders
  [1, 1, 1],
  [1, 3, 7],
  [2, 2, 5],
  [4, 1, 9],
  [5, 3, 6],
  [17, 2, 13],
  [64, 3, 33],
]

describe('quantized matmul: fast vs reference', () => {
  for (const type of TYPES)
    it(`${type}: odd shapes, ±bias, 1-3 threads`, () => {
      let seed = 1
      for (const [N, blocks, M] of SHAPES)
        for (const bias of [false, true]) {
          const p = problem(type, N, blocks * BLOCK[type], M, bias, seed++)
          const ref = run(p, 'ref', 1)
          const tol = tolerances(p, ref)
          for (const t of [1, 2, 3])
            expectWithin(run(p, 'cpu', t), ref, tol, `${type} N=${N} K=${p.K} M=${M} t=${t}`)
        }
    })

  it('the 110M llama shapes (K = 768, 2048)', () => {
    let seed = 50
    for (const type of TYPES)
      for (const [N, K, M] of [
        [1, 768, 96],
        [9, 2048, 40],
      ]) {
        const p = problem(type, N, K, M, false, seed++)
        const ref = run(p, 'ref', 1)
        expectWithin(run(p, 'cpu', 2), ref, tolerances(p, ref), `${type} N=${N} K=${K} M=${M}`)
      }
  })

  // Steps of fewer than 4 rows (decode) take the int8 kernels, steps of more dequantize weight panels
  // (see native/cpu/qmatmul.cc); within each, a row does not depend on its step's other rows.
  it('a row is bit-identical whatever else is in its step, on any thread count', () => {
    let seed = 200
    const rowsOf = (p: Problem, rows: number[]) => {
      const x = new Float32Array(rows.length * p.K)
      for (const [i, n] of rows.entries()) x.set(p.x.subarray(n * p.K, (n + 1) * p.K), i * p.K)
      return { ...p, N: rows.length, x }
    }
    for (const type of TYPES) {
      const p = problem(type, 37, 2 * BLOCK[type], 21, true, seed++)
      const batch = run(p, 'cpu', 3)
      for (const n of [0, 5, 36]) {
        const four = run(rowsOf(p, [n, (n + 1) % 37, (n + 2) % 37, (n + 3) % 37]), 'cpu', 2)
        expectSameBits(four.slice(0, p.M), batch.slice(n * p.M, (n + 1) * p.M), `${type} row ${n} in 4 vs 37`)
        const alone = run(rowsOf(p, [n]), 'cpu', 1)
        const pair = run(rowsOf(p, [(n + 7) % 37, n]), 'cpu', 3)
        expectSameBits(alone, pair.slice(p.M), `${type} row ${n} alone vs in 2`)
      }
      expectSameBits(run(p, 'cpu', 1), batch, `${type} 1 vs 3 threads`)
    }
  })

  // Q4_0, Q5_0 and the K-quants' prefill are int8 GEMMs on quantized activations instead, and
  // Q5_1 takes its decode tiles (native/cpu/qgemm_*.cc, qmatmul_avx2.cc): the tolerance and
  // invariance tests above cover Q4_0, Q5_0 and Q5_1, the next the K-quants.
  it('prefill steps compute exactly the f32 product with the dequantized weights (Q8_0)', () => {
    let seed = 400
    for (const type of TYPES.filter((t) => t === 'q8_0'))
      for (const [N, M] of [
        [4, 9],
        [37, 21],
      ]) {
        const p = problem(type, N, 3 * BLOCK[type], M, true, seed++)
        const { node, tensors } = opOf(p)
        const asF32 = tensors.map((t) => (t.name === 'w' ? { ...t, dtype: 'f32' as const, data: p.wf } : t))
        for (const threads of [1, 3])
          expectSameBits(
            run(p, 'cpu', threads),
            native().runOp('cpu', node, asF32, threads),
            `${type} N=${N} M=${M} t=${threads}`,
          )
      }
  })

  it('K-quant prefill (the int8 GEMMs) gives every row the bits of a decode step', () => {
    let seed = 500
    for (const [type, N, blocks, M] of [
      ['q4_k', 4, 1, 8],
      ['q4_k', 37, 3, 21],
      ['q4_k', 9, 2, 67],
      ['q6_k', 4, 1, 8],
      ['q6_k', 37, 3, 21],
      ['q6_k', 9, 2, 67],
      ['q5_k', 4, 1, 8],
      ['q5_k', 37, 3, 21],
      ['q5_k', 9, 2, 67],
    ] as const) {
      const p = problem(type, N, blocks * 256, M, true, seed++)
      for (const threads of [1, 3]) {
        const batch = run(p, 'cpu', threads)
        for (let n = 0; n < N; n++) {
          const alone = run({ ...p, N: 1, x: p.x.slice(n * p.K, (n + 1) * p.K) }, 'cpu', 2)
          expectSameBits(
            batch.slice(n * M, (n + 1) * M),
            alone,
            `${type} N=${N} M=${M} row ${n} t=${threads}`,
          )
        }
      }
    }
  })

  it('refuses rows that are not whole blocks and (K,M) block weights', () => {
    const p = problem('q4_0', 1, 32, 2, false, 3)
    const { node, tensors } = opOf(p)
    tensors[1] = { ...tensors[1], shape: [4, 16] }
    expect(() => native().runOp('cpu', node, tensors, 1)).toThrow(/whole blocks of 32/)
    const kxm = opOf(p)
    kxm.tensors[1] = { ...kxm.tensors[1], shape: [32, 2] }
    expect(() => native().runOp('cpu', { ...kxm.node, i: [1] }, kxm.tensors, 1)).toThrow(/\(K,M\) weights/)
  })
})

describe('quantized embedding rows', () => {
  for (const type of TYPES)
    it(`${type}: a looked-up row equals the dequantized row`, () => {
      const V = 11
      const C = 2 * BLOCK[type]
      const rand = mulberry32(9)
      const table = native().quantize(type as NativeQuantType, randomF32(V * C, rand), V, C, 1)
      const deq = native().dequantize(type as NativeQuantType, table, V, C, 1)
      const ids = Int32Array.from([3, 0, 10, 3])
      const tensors: TensorSpec[] = [
        { name: 'table', dtype: type, shape: [V, C], data: table },
        { name: 'ids', dtype: 'i32', shape: [ids.length], data: ids },
        { name: 'out', dtype: 'f32', shape: [ids.length, C] },
      ]
      for (const backend of ['cpu', 'ref'] as const) {
        const out = native().runOp(backend, { op: 'embedding', inputs: [0, 1], output: 2 }, tensors, 2)
        for (let r = 0; r < ids.length; r++)
          expectSameBits(
            out.slice(r * C, (r + 1) * C),
            deq.slice(ids[r] * C, (ids[r] + 1) * C),
            `${backend} row ${r}`,
          )
      }
    })
})

// The AVX512-VNNI kernels compute the AVX2 ones' integers and add them in the same float order
// (native/cpu/qmatmul_avx512vnni.cc, qgemm_avx512vnni.cc), and so do the AMX ones (qgemm_amx.cc): every
// tier must agree with AVX2 bit for bit. On a CPU without AVX512-VNNI both sides run the AVX2 kernels and
// the test says so in its name.
/** Every type of `types` on every [N, blocks, M] shape, 1 and 3 threads: this process's bits = those of a
 * child capped at `tier`. */
function expectSameAsTier(tier: string, types: QType[], shapes: number[][], seed: number) {
  const problems: { p: Problem; threads: number }[] = []
  for (const type of types)
    for (const [N, blocks, M] of shapes)
      for (const threads of [1, 3])
        problems.push({ p: problem(type, N, blocks * BLOCK[type], M, seed % 2 === 0, seed++), threads })
  const { outputs } = runOpsInChild(
    problems.map(({ p, threads }) => ({ ...opOf(p), threads })),
    { KILN_SIMD: tier },
  )
  for (const [i, { p, threads }] of problems.entries())
    expectSameBits(run(p, 'cpu', threads), outputs[i], `${p.type} N=${p.N} K=${p.K} M=${p.M} t=${threads}`)
}

describe(`quantized matmul: ${native().cpuInfo().kernels} tier vs AVX2 (KILN_SIMD=avx2)`, () => {
  function expectSameAsAvx2(types: QType[], shapes: number[][], seed: number) {
    expect(runOpsInChild([], { KILN_SIMD: 'avx2' }).cpu.kernels).toBe(
      native().cpuInfo().avx2 ? 'avx2' : 'portable',
    )
    expectSameAsTier('avx2', types, shapes, seed)
  }

  it('decode steps agree bit for bit: odd row counts (tiles of 4 and their tails), 1-3 threads', () => {
    const shapes = [
      [1, 1, 1],
      [1, 3, 7],
      [2, 2, 13],
      [3, 5, 6],
      [1, 24, 96],
    ]
    expectSameAsAvx2(TYPES, shapes, 700)
  })

  // Q8_0's prefill is the f32 matmul's (AVX-512 tiles on this tier, AVX2 ones under the cap): not here.
  it('prefill steps agree bit for bit: rows in whole and partial tiles, panels and their tails, 1-3 threads', () => {
    const shapes = [
      [4, 1, 8],
      [5, 3, 13],
      [7, 2, 17],
      [37, 3, 21],
      [64, 24, 40],
    ]
    expectSameAsAvx2(
      TYPES.filter((t) => t !== 'q8_0'),
      shapes,
      800,
    )
  })
})

// The AMX GEMMs (qgemm_amx.cc) take steps of 16 rows on: whole and partial tiles of 16 rows, panels
// of 16 weight rows and their tails, odd block counts (the kernel runs blocks in pairs). Against the
// AVX512-VNNI tier, whose tiles the AMX ones replace.
describe.runIf(native().cpuInfo().amx)('quantized matmul: AMX vs AVX512-VNNI (KILN_SIMD=avx512vnni)', () => {
  it('prefill steps agree bit for bit: 16-row tiles and their tails, 16-row panels and theirs, 1-3 threads', () => {
    expect(runOpsInChild([], { KILN_SIMD: 'avx512vnni' }).cpu.kernels).toBe('avx512vnni')
    const shapes = [
      [16, 1, 16],
      [17, 5, 8],
      [33, 2, 50],
      [48, 7, 33],
      [64, 24, 40],
    ]
    expectSameAsTier('avx512vnni', ['q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'], shapes, 900)
  })
})

describe('quantized matmul: portable kernels (KILN_NO_SIMD=1)', () => {
  // The AVX-512 tiers quantize K-quant activations with their own kernel (quantize_act_avx512.cc),
  // which must write quantize_row_q8_K's bytes: here the cases its vector search could get wrong.
  it('K-quant activations: ties of magnitude, the largest in a last or first lane, an all-zero super-block, NaN', () => {
    const K = 512
    const rows: number[][] = []
    const base = (seed: number) => Array.from(randomF32(K, mulberry32(seed)))
    const tie = base(1)
    // ties of the largest magnitude (which one wins flips the signs of d and of every quant
    // together, so the outputs cannot tell; the bytes stay ggml's choice, the first)
    tie[40] = -3
    tie[300] = 3
    tie[301] = -3
    rows.push(tie)
    const neg = base(2)
    neg[255] = -7 // the largest in the last lane of the first super-block
    neg[256] = 6.5 // and in the first of the second
    rows.push(neg)
    const zero = base(3)
    zero.fill(0, 256, 512)
    rows.push(zero)
    const nan = base(4)
    nan[17] = Number.NaN // a NaN never wins the largest magnitude
    rows.push(nan)
    const x = Float32Array.from(rows.flat())
    const problems: Problem[] = ['q4_k', 'q6_k'].map((type, i) => ({
      ...problem(type as QType, rows.length, K, 24, false, 40 + i),
      x,
    }))
    const { outputs } = runOpsInChild(
      problems.map((p) => ({ ...opOf(p), threads: 1 })),
      { KILN_NO_SIMD: '1' },
    )
    problems.forEach((p, i) => {
      const fast = run(p, 'cpu', 1)
      // row 3 (NaN) has no finite bits to compare: both sides must agree on which outputs are NaN
      expectSameBits(fast.slice(0, 3 * 24), outputs[i].slice(0, 3 * 24), `${p.type} finite rows`)
      for (let m = 0; m < 24; m++)
        expect(Number.isNaN(fast[3 * 24 + m]), `${p.type} NaN row`).toBe(Number.isNaN(outputs[i][3 * 24 + m]))
    })
  })

  it('agree with the AVX2 ones: K-quant decode bit for bit, the rest within rounding', () => {
    const problems: Problem[] = []
    let seed = 300
    for (const type of TYPES)
      for (const [N, M] of [
        [1, 9],
        [6, 5],
      ])
        problems.push(problem(type, N, 3 * BLOCK[type], M, true, seed++))
    const { cpu, outputs } = runOpsInChild(
      problems.map((p) => ({ ...opOf(p), threads: 2 })),
      { KILN_NO_SIMD: '1' },
    )
    expect(cpu.avx2).toBe(false)
    problems.forEach((p, i) => {
      const portable = outputs[i]
      const fast = run(p, 'cpu', 2)
      // K-quants, decode and prefill (the GEMMs): the same int8 sums in the same order; other
      // prefill steps: AVX2 dequantizes (Q8_0) or sums in lanes (Q4_0)
      if (p.type === 'q4_k' || p.type === 'q5_k' || p.type === 'q6_k')
        expectSameBits(portable, fast, `${p.type} N=${p.N}`)
      else {
        const ref = run(p, 'ref', 1)
        expectWithin(portable, ref, tolerances(p, ref), `${p.type} portable N=${p.N}`)
      }
    })
  })
})
