// The ONNX export's native weight quantizers (native/addon_int4.cc) against their JavaScript
// reference twins (src/core/export/onnx/quantize-weights.ts), bit for bit: odd shapes, both
// stride layouts and padded rows, and the values where JavaScript's arithmetic is easy to get
// wrong (NaN, ±Infinity, subnormals, halves, a float32 scale beside a double one). Bad arguments
// each throw one clear error.
import { describe, expect, it } from 'vitest'
import {
  quantizeInt4Blocks,
  quantizeInt4BlocksRef,
  quantizeInt4Columns,
  quantizeInt4ColumnsRef,
  quantizeInt8Columns,
  quantizeInt8ColumnsRef,
  type WeightView,
} from '../../src/core/export/onnx/quantize-weights.js'
import { native } from '../../src/core/native.js'
import { mulberry32, randomF32 } from '../helpers/numbers.js'

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length)

/** n weights in ±0.1 from a seed. */
const random = (n: number, seed: number): Float32Array => randomF32(n, mulberry32(seed), 0.1)

/** Rows or columns of special values, written over `data` through the view. */
function specials(w: WeightView): void {
  const { data, K, M, kStride, mStride } = w
  const set = (k: number, m: number, v: number) => {
    if (k < K && m < M) data[k * kStride + m * mStride] = v
  }
  for (let k = 0; k < K; k++) {
    set(k, 0, 0) // a zero column: scale 1
    set(k, 1, 1e-45 * (k % 3)) // subnormals: 1e-45 / 7 is 0 as a float32, not as a double
    set(k, 2, (k % 16) - 7.5) // halves over an amax of 7.5 / 7.5 · 7 …: ties after division
    set(k, 3, k % 15 === 0 ? 7 : (k % 15) - 7.5) // amax 7: s = 1, w / s exactly .5
    set(k, 4, -(k % 9) / 2)
  }
  set(0, 5, Number.NaN)
  set(3, 5, 0.5)
  set(1, 6, Number.POSITIVE_INFINITY)
  set(2, 6, 1)
  set(4, 7, Number.NEGATIVE_INFINITY)
  set(5, 7, Number.NaN)
  set(7, 8, -0)
  set(6, 8, 3.4e38)
  for (let k = 0; k < K; k++) set(k, 9, Number.NaN) // all NaN: amax 0, scale 1, nibbles 0
}

/** Values v beside an amax for which v / s and v / float32(s) round to different integers. */
function scaleSplit(double: boolean): [number, number] {
  for (let i = 1; i < 100_000; i++) {
    const amax = Math.fround(1 + i * 1.1920929e-7 * 37)
    const s = amax / 7
    const sf = Math.fround(s)
    for (let q = -6; q <= 6; q++) {
      const v = Math.fround((q + 0.5) * (double ? s : sf))
      if (Math.abs(v) <= amax && Math.round(v / s) !== Math.round(v / sf)) return [amax, v]
    }
  }
  throw new Error('no split found')
}

/** The layouts a (K, M) weight comes in: the checkpoint's (M, K) rows, (K, M) rows, padded rows. */
function views(K: number, M: number, seed: number): WeightView[] {
  return [
    { data: random(K * M, seed), K, M, kStride: 1, mStride: K },
    { data: random(K * M, seed + 1), K, M, kStride: M, mStride: 1 },
    { data: random((K + 3) * M, seed + 2), K, M, kStride: 1, mStride: K + 3 },
    { data: random(K * (M + 2) + 5, seed + 3), K, M, kStride: M + 2, mStride: 1 },
  ]
}

const SHAPES: [number, number][] = []
for (const K of [1, 2, 5, 31, 32, 33, 64, 65, 100])
  for (const M of [1, 2, 3, 10, 11, 64, 65, 130]) SHAPES.push([K, M])

function same(w: WeightView): void {
  const a = quantizeInt4Blocks(w)
  const b = quantizeInt4BlocksRef(w)
  expect(a.packed).toEqual(b.packed)
  expect(bits(a.scale)).toEqual(bits(b.scale))
  const c = quantizeInt4Columns(w)
  const d = quantizeInt4ColumnsRef(w)
  expect(c.packed).toEqual(d.packed)
  expect(bits(c.scale)).toEqual(bits(d.scale))
  for (const signed of [true, false]) {
    const e = quantizeInt8Columns(w, signed)
    const f = quantizeInt8ColumnsRef(w, signed)
    expect(e.q).toEqual(f.q)
    expect(bits(e.scale)).toEqual(bits(f.scale))
    expect(e.zero).toEqual(f.zero)
  }
}

describe('native ONNX weight quantizers', () => {
  it('equal the JavaScript twins bit for bit: odd shapes, both layouts, padded rows', () => {
    SHAPES.forEach(([K, M], i) => {
      for (const w of views(K, M, 7 * i + 1)) same(w)
    })
  })

  it('give signed int8 weights 7 bits: the largest |w| of each column at ±63, none beyond', () => {
    // (ONNX Runtime's uint8 × int8 kernels without VNNI saturate int16 pair sums past 255·64·2.)
    const K = 37
    const M = 9
    const w: WeightView = { data: random(K * M, 11), K, M, kStride: M, mStride: 1 }
    const { q, scale } = quantizeInt8Columns(w, true)
    const qs = new Int8Array(q.buffer, q.byteOffset, q.length)
    for (let m = 0; m < M; m++) {
      let amax = 0
      let qmax = 0
      for (let k = 0; k < K; k++) {
        amax = Math.max(amax, Math.abs(w.data[k * M + m]))
        qmax = Math.max(qmax, Math.abs(qs[k * M + m]))
      }
      expect(qmax).toBe(63)
      expect(scale[m]).toBe(Math.fround(amax / 63))
    }
  })

  it('equal them on zeros, NaN, ±Infinity, subnormals, huge values and exact halves', () => {
    const shapes = [
      [40, 10],
      [40, 11],
      [33, 12],
      [96, 13],
      [17, 64],
    ]
    shapes.forEach(([K, M], i) => {
      for (const w of views(K, M, 11 * i + 5)) {
        specials(w)
        same(w)
      }
    })
  })

  it('divide by the float32 scale for DequantizeLinear blocks and by the double for MatMulNBits', () => {
    for (const double of [false, true]) {
      const [amax, v] = scaleSplit(double)
      // One column of 32 rows, amax first: the value v sits where the two divisions part.
      const data = new Float32Array(64).fill(0)
      data[0] = amax
      data[1] = v
      data[32] = -amax
      data[33] = -v
      for (const M of [1, 2]) same({ data, K: 32, M, kStride: 1, mStride: 32 })
    }
  })

  it('write every output byte, whatever the arrays held before', () => {
    const w = views(33, 11, 3)[1]
    const packed = new Uint8Array(Math.ceil((33 * 11) / 2)).fill(0xff)
    const scale = new Float32Array(2 * 11).fill(Number.NaN)
    native().quantizeInt4Blocks(w.data, 33, 11, 11, 1, packed, scale)
    expect(packed).toEqual(quantizeInt4BlocksRef(w).packed)
    expect(bits(scale)).toEqual(bits(quantizeInt4BlocksRef(w).scale))
    const q = new Uint8Array(33 * 11).fill(0xff)
    const zero = new Uint8Array(11).fill(0xff)
    native().quantizeInt8Columns(w.data, 33, 11, 11, 1, true, q, new Float32Array(11), zero)
    expect(zero).toEqual(new Uint8Array(11))
  })

  it('take empty weights', () => {
    for (const [K, M] of [
      [0, 5],
      [5, 0],
      [0, 0],
    ])
      same({ data: new Float32Array(0), K, M, kStride: 1, mStride: K })
    // No element is read, so no stride is out of bounds; M may be anything with no rows.
    native().quantizeInt4Columns(
      new Float32Array(0),
      0,
      2 ** 53 - 1,
      7,
      7,
      new Uint8Array(0),
      new Float32Array(0),
    )
  })

  it('refuse bad arguments with one clear error each', () => {
    const data = new Float32Array(12)
    const f32 = (n: number) => new Float32Array(n)
    const u8 = (n: number) => new Uint8Array(n)
    // (data (3, 4) as kStride 4, mStride 1 unless said): blocks packed 6, scale 4; columns 64, 4.
    type Args = [number, number, number, number, Uint8Array, Float32Array]
    const blocks =
      (...a: Args) =>
      () =>
        native().quantizeInt4Blocks(data, ...a)
    const columns =
      (...a: Args) =>
      () =>
        native().quantizeInt4Columns(data, ...a)
    const int8 = (signed: boolean, q: number, scale: number, zero: number) => () =>
      native().quantizeInt8Columns(data, 3, 4, 4, 1, signed, u8(q), f32(scale), u8(zero))
    const cases: [() => void, RegExp][] = [
      [blocks(3, 4, 4, 1, u8(5), f32(4)), /packed has 5 elements, ⌈K · M \/ 2⌉ needs 6/],
      [blocks(3, 4, 4, 1, u8(7), f32(4)), /packed has 7 elements/],
      [blocks(3, 4, 4, 1, u8(6), f32(3)), /scale has 3 elements, ⌈K \/ 32⌉ · M needs 4/],
      [columns(3, 4, 4, 1, u8(64), f32(3)), /scale has 3 elements, M · ⌈K \/ 32⌉ needs 4/],
      [columns(3, 4, 4, 1, u8(47), f32(4)), /packed has 47 elements, M · ⌈K \/ 32⌉ · 16 needs 64/],
      [blocks(3, 4, 5, 1, u8(6), f32(4)), /must be below data's 12 floats/],
      [blocks(3, 4, 1, 4, u8(6), f32(4)), /must be below data's 12 floats/],
      [columns(2, 2, 2 ** 53 - 1, 2 ** 53 - 1, u8(32), f32(2)), /must be below data's/],
      [blocks(2 ** 33, 1, 2 ** 33, 0, u8(0), f32(0)), /must be below data's/],
      [blocks(-1, 4, 4, 1, u8(0), f32(0)), /K must be a non-negative integer/],
      [blocks(3, 2.5, 4, 1, u8(0), f32(0)), /M must be a non-negative integer/],
      [blocks(3, 4, Number.NaN, 1, u8(6), f32(4)), /kStride must be a non-negative integer/],
      [blocks(3, 4, 4, 2 ** 53, u8(6), f32(4)), /mStride must be a non-negative integer/],
      [blocks('3' as never, 4, 4, 1, u8(6), f32(4)), /K must be a number/],
      [blocks(2 ** 40, 2 ** 40, 0, 0, u8(6), f32(4)), /scale has 4 elements/],
      [blocks(2 ** 52, 2 ** 52, 0, 0, u8(6), f32(4)), /needs more than 2\^64/],
      [blocks(3, 4, 4, 1, new Int8Array(6) as never, f32(4)), /packed must be a Uint8Array/],
      [columns(3, 4, 4, 1, u8(64), new Float64Array(4) as never), /scale must be a Float32Array/],
      [blocks(3, 4, 4, 1, new Uint8Array(data.buffer, 0, 6), f32(4)), /data and packed share memory/],
      [
        () => native().quantizeInt4Blocks(new Float64Array(12) as never, 3, 4, 4, 1, u8(6), f32(4)),
        /data must be a Float32Array/,
      ],
      [
        () => (native().quantizeInt4Blocks as (...a: unknown[]) => void)(data, 3, 4, 4, 1),
        /quantizeInt4Blocks\(data, K, M/,
      ],
      [int8(1 as never, 12, 4, 4), /signed must be a boolean/],
      [int8(true, 11, 4, 4), /q has 11 elements, K · M needs 12/],
      [int8(false, 12, 4, 3), /zero has 3 elements, M needs 4/],
      [int8(false, 12, 3, 4), /scale has 3 elements, M needs 4/],
    ]
    for (const [call, message] of cases) {
      let error: Error | undefined
      try {
        call()
      } catch (e) {
        error = e as Error
      }
      expect(error, String(message)).toBeInstanceOf(Error)
      expect(error?.message).toMatch(message)
      expect(error?.message).not.toContain('\n')
    }
  })
})
