// matmul_backward_input: dx = dy · w through a frozen weight of any dtype (QLoRA's quantized base),
// fast and reference kernels against the product computed here in double over the weight as the
// forward reads it (dequantized by the addon), on odd shapes and thread counts; the fast kernel's
// result does not depend on the thread count.
import { describe, expect, it } from 'vitest'
import { convertBits, type FloatDType } from '../../src/core/formats/float.js'
import { type NativeDType, type NativeQuantType, native, type TensorSpec } from '../../src/core/native.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'

const FLOATS: [NativeDType, FloatDType][] = [
  ['f32', 'F32'],
  ['f16', 'F16'],
  ['bf16', 'BF16'],
]
const QUANTS: [NativeQuantType, number][] = [
  ['q8_0', 32],
  ['q4_0', 32],
  ['q5_0', 32],
  ['q5_1', 32],
  ['q4_k', 256],
  ['q5_k', 256],
  ['q6_k', 256],
]

/** A random (M, K) weight stored as `dtype`, and the floats the kernels read it as. */
function weight(
  dtype: string,
  M: number,
  K: number,
  rand: () => number,
): { data: Uint8Array; values: Float32Array } {
  const f = randomF32(M * K, rand)
  const float = FLOATS.find(([d]) => d === dtype)
  if (float) {
    const bits = float[1] === 'F32' ? new Uint32Array(M * K) : new Uint16Array(M * K)
    convertBits(new Uint32Array(f.buffer), 'F32', bits, float[1])
    const back = new Uint32Array(M * K)
    convertBits(bits, float[1], back, 'F32')
    return { data: new Uint8Array(bits.buffer), values: new Float32Array(back.buffer) }
  }
  const data = native().quantize(dtype as NativeQuantType, f, M, K, 1)
  return { data, values: native().dequantize(dtype as NativeQuantType, data, M, K) }
}

function run(
  backend: 'cpu' | 'ref',
  dtype: string,
  w: Uint8Array,
  dy: Float32Array,
  N: number,
  M: number,
  K: number,
  threads: number,
) {
  const tensors: TensorSpec[] = [
    { name: 'dy', dtype: 'f32', shape: [N, M], data: dy.slice() },
    { name: 'w', dtype: dtype as NativeDType, shape: [M, K], data: w },
    { name: 'dx', dtype: 'f32', shape: [N, K] },
  ]
  return native().runOp(backend, { op: 'matmul_backward_input', inputs: [0, 1], output: 2 }, tensors, threads)
}

describe('matmul_backward_input', () => {
  const cases = [
    ...FLOATS.map(([d]) => [d, [5, 33, 531]] as const),
    ...QUANTS.map(([d, block]) => [d, [block, 3 * block, 37 * block].filter((k) => k <= 1280)] as const),
  ]
  for (const [dtype, widths] of cases)
    it(`${dtype}: fast and reference = dy · w, the same at 1, 2 and 3 threads`, () => {
      const rand = mulberry32(dtype.length * 7919 + widths[0])
      for (const K of widths)
        for (const M of [1, 5, 37])
          for (const N of [1, 7]) {
            const w = weight(dtype, M, K, rand)
            const dy = randomF32(N * M, rand)
            const want = new Float64Array(N * K)
            const abs = new Float64Array(N * K)
            for (let n = 0; n < N; n++)
              for (let m = 0; m < M; m++)
                for (let k = 0; k < K; k++) {
                  const p = dy[n * M + m] * w.values[m * K + k]
                  want[n * K + k] += p
                  abs[n * K + k] += Math.abs(p)
                }
            const what = `${dtype} N=${N} M=${M} K=${K}`
            const check = (got: Float32Array, rtol: number, who: string) => {
              for (let i = 0; i < want.length; i++)
                expect(Math.abs(got[i] - want[i]), `${what} ${who} [${i}]`).toBeLessThanOrEqual(
                  rtol * abs[i] + 1e-30,
                )
            }
            check(run('ref', dtype, w.data, dy, N, M, K, 1), 1e-7, 'ref')
            const one = run('cpu', dtype, w.data, dy, N, M, K, 1)
            check(one, M * 1.2e-7, 'cpu')
            for (const threads of [2, 3]) expect(run('cpu', dtype, w.data, dy, N, M, K, threads)).toEqual(one)
          }
    })

  it('refuses shapes that do not fit and weights that are not weights', () => {
    const dy = new Float32Array(2 * 4)
    const go = (w: TensorSpec, dx: number[]) =>
      native().runOp(
        'cpu',
        { op: 'matmul_backward_input', inputs: [0, 1], output: 2 },
        [{ name: 'dy', dtype: 'f32', shape: [2, 4], data: dy }, w, { name: 'dx', dtype: 'f32', shape: dx }],
        1,
      )
    const f = (shape: number[]) => ({
      name: 'w',
      dtype: 'f32' as const,
      shape,
      data: new Float32Array(shape[0] * shape[1]),
    })
    expect(() => go(f([4, 8]), [2, 9])).toThrow(/do not fit/)
    expect(() => go(f([3, 8]), [2, 8])).toThrow(/do not fit/)
    expect(() => go({ name: 'w', dtype: 'i32', shape: [4, 8], data: new Int32Array(32) }, [2, 8])).toThrow(
      /weight must be a float or block-quantized type/,
    )
  })
})
