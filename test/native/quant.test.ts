// ggml block quantization (Q8_0, Q4_0): the native kernels against a plain TS reference written
// from ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref (f32 rounding at every step via
// Math.fround, C roundf = half away from zero), byte for byte; round-trip error bounds derived from
// the formats; thread-count independence; and the errors for bad input.
import { describe, expect, it } from 'vitest'
import { f32BitsToF16 } from '../../src/core/formats/float.js'
import { native } from '../../src/core/native.js'
import {
  type BlockQuantType,
  dequantizeRows,
  quantizedBytes,
  quantizeRows,
} from '../../src/core/quant/block-quant.js'
import { fromF16, mulberry32, randomF32 } from '../helpers/numbers.js'

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
function f32Bits(x: number): number {
  f32[0] = x
  return u32[0]
}

/** C's roundf: to nearest, halfway cases away from zero (JS Math.round rounds them toward +∞). */
function roundf(x: number): number {
  if (!Number.isFinite(x)) return x
  const r = Math.floor(Math.abs(x) + 0.5) // exact in double for any f32 x
  return x < 0 ? -r : r
}

/** float → int8_t as x86 does it (cvttss2si, low byte): NaN and out-of-range give 0. */
function toI8(v: number): number {
  if (!(v > -2147483648 && v < 2147483648)) return 0
  return (Math.trunc(v) << 24) >> 24
}

function refQ8_0(x: Float32Array, cols: number): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34)
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0
    for (let j = 0; j < 32; j++) {
      const av = Math.abs(x[b * 32 + j])
      amax = Math.max(amax, av) // ggml MAX(amax, fabsf(v)); inputs here have no NaN
    }
    const d = Math.fround(amax / 127)
    const id = d !== 0 ? Math.fround(1 / d) : 0
    const h = f32BitsToF16(f32Bits(d))
    out[b * 34] = h & 0xff
    out[b * 34 + 1] = h >>> 8
    for (let j = 0; j < 32; j++) out[b * 34 + 2 + j] = toI8(roundf(Math.fround(x[b * 32 + j] * id))) & 0xff
  }
  expect(cols % 32).toBe(0)
  return out
}

function refQ4_0(x: Float32Array, cols: number): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18)
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0
    let max = 0
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]
      if (amax < Math.abs(v)) {
        amax = Math.abs(v)
        max = v
      }
    }
    const d = Math.fround(max / -8)
    const id = d !== 0 ? Math.fround(1 / d) : 0
    const h = f32BitsToF16(f32Bits(d))
    out[b * 18] = h & 0xff
    out[b * 18 + 1] = h >>> 8
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(x[b * 32 + j] * id)
      const x1 = Math.fround(x[b * 32 + 16 + j] * id)
      const xi0 = Math.min(15, toI8(Math.fround(x0 + 8.5))) & 0xff
      const xi1 = Math.min(15, toI8(Math.fround(x1 + 8.5))) & 0xff
      out[b * 18 + 2 + j] = (xi0 | (xi1 << 4)) & 0xff
    }
  }
  expect(cols % 32).toBe(0)
  return out
}

/** The 32-element types with a TypeScript twin here (Q5_0/Q5_1 are judged by ggml itself: quant-5bit.test.ts). */
const TYPES = ['q8_0', 'q4_0'] as const satisfies readonly BlockQuantType[]
type TwinType = (typeof TYPES)[number]
const REF: Record<TwinType, (x: Float32Array, cols: number) => Uint8Array> = {
  q8_0: refQ8_0,
  q4_0: refQ4_0,
}
const BLOCK_BYTES: Record<TwinType, number> = { q8_0: 34, q4_0: 18 }

/** Rows of 32-element blocks covering the edge cases, then random rows at several scales. */
function testMatrix(): { x: Float32Array; rows: number; cols: number } {
  const cols = 96
  const blocks: number[][] = []
  const rand = mulberry32(7)
  blocks.push(new Array(32).fill(0)) // all zero: d = ±0, id = 0
  blocks.push(new Array(32).fill(0.37)) // all equal
  blocks.push(new Array(32).fill(-2.5))
  const negMax = Array.from(randomF32(32, rand))
  negMax[5] = -3 // the largest magnitude is negative
  blocks.push(negMax)
  // d = 1 exactly: halfway cases for roundf (±2.5 → ±3) and for Q4_0's + 8.5 truncation.
  blocks.push([127, -127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, ...Array.from({ length: 24 }, (_, i) => i - 12.5)])
  blocks.push([-8, 8, 7.5, -7.5, 0.5, -0.5, 3.5, -3.5, ...Array.from({ length: 24 }, (_, i) => (i - 12) / 2)])
  blocks.push(Array.from(randomF32(32, rand, 1e-30))) // tiny: d far below f16 (stored as 0)
  blocks.push(Array.from(randomF32(32, rand, 1e-6))) // d a half subnormal
  blocks.push(Array.from(randomF32(32, rand, 1e-38))) // 1/d overflows to inf
  blocks.push(Array.from(randomF32(32, rand, 1e30))) // d overflows f16 to inf
  blocks.push(Array.from(randomF32(32, rand, 3e38)))
  blocks.push([1, ...new Array(31).fill(0)]) // one non-zero
  for (const scale of [1, 0.02, 100, 1000]) {
    for (let k = 0; k < 6; k++) blocks.push(Array.from(randomF32(32, rand, scale)))
  }
  while (blocks.length % (cols / 32) !== 0) blocks.push(Array.from(randomF32(32, rand)))
  const x = Float32Array.from(blocks.flat())
  return { x, rows: x.length / cols, cols }
}

describe('block quantization matches the ggml reference byte for byte', () => {
  const { x, rows, cols } = testMatrix()
  for (const type of TYPES) {
    it(`${type}: ${rows} × ${cols} edge-case and random rows`, () => {
      const got = quantizeRows(type, x, rows, cols, 1)
      const want = REF[type](x, cols)
      expect(got.length).toBe(quantizedBytes(type, rows, cols))
      expect(got.length).toBe(want.length)
      const firstDiff = got.findIndex((b, i) => b !== want[i])
      expect(firstDiff, `first differing byte (block ${Math.floor(firstDiff / BLOCK_BYTES[type])})`).toBe(-1)
    })

    it(`${type}: 2000 random rows of 256 at random scales`, () => {
      const rand = mulberry32(type === 'q8_0' ? 11 : 12)
      const r = 2000
      const c = 256
      const data = new Float32Array(r * c)
      for (let i = 0; i < r; i++) {
        const scale = 10 ** (rand() * 8 - 4)
        data.set(randomF32(c, rand, scale), i * c)
      }
      expect(Buffer.compare(quantizeRows(type, data, r, c, 4), REF[type](data, c))).toBe(0)
    })

    it(`${type}: threads 1, 2, 3 and 8 give identical bytes`, () => {
      const rand = mulberry32(3)
      const r = 37
      const c = 160
      const data = randomF32(r * c, rand)
      const one = quantizeRows(type, data, r, c, 1)
      for (const th of [2, 3, 8]) expect(Buffer.compare(quantizeRows(type, data, r, c, th), one)).toBe(0)
      const deq = dequantizeRows(type, one, r, c, 1)
      for (const th of [2, 3]) expect(dequantizeRows(type, one, r, c, th)).toEqual(deq)
    })
  }
})

/** The f16 scale of block b. */
function blockScale(bytes: Uint8Array, type: TwinType, b: number): number {
  const o = b * BLOCK_BYTES[type]
  return fromF16(bytes[o] | (bytes[o + 1] << 8))
}

describe('dequantize', () => {
  it('q8_0: q·d exactly, and |x − x̂| ≤ d/2 + 127·|d₁₆ − d| + ε', () => {
    const rand = mulberry32(21)
    const rows = 64
    const cols = 128
    const x = new Float32Array(rows * cols)
    for (let i = 0; i < rows; i++) x.set(randomF32(cols, rand, 10 ** (rand() * 4 - 2)), i * cols)
    const q = quantizeRows('q8_0', x, rows, cols)
    const y = dequantizeRows('q8_0', q, rows, cols)
    for (let b = 0; b < x.length / 32; b++) {
      const d16 = blockScale(q, 'q8_0', b)
      let amax = 0
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]))
      const d = Math.fround(amax / 127)
      // x·id is within ½ of q (plus f32 rounding of id and the product); the f16 scale moves each
      // |q| ≤ 127 step by |d₁₆ − d|; the final product q·d₁₆ rounds once in f32.
      const bound = d / 2 + 127 * Math.abs(d16 - d) + amax * 2 ** -20
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j
        const qi = (q[b * 34 + 2 + j] << 24) >> 24
        expect(y[i]).toBe(Math.fround(qi * d16))
        expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(bound)
      }
    }
  })

  it('q4_0: (q − 8)·d exactly, and |x − x̂| ≤ |d|/2 + 8·|d₁₆ − d| + ε (|d| at the clamped +8 end)', () => {
    const rand = mulberry32(22)
    const rows = 64
    const cols = 128
    const x = new Float32Array(rows * cols)
    for (let i = 0; i < rows; i++) x.set(randomF32(cols, rand, 10 ** (rand() * 4 - 2)), i * cols)
    // A block whose opposite-sign extreme hits the clamp: q would be 16, stored as 15.
    x.set([-4, 4, ...new Array(30).fill(1)], 0)
    const q = quantizeRows('q4_0', x, rows, cols)
    const y = dequantizeRows('q4_0', q, rows, cols)
    let clamped = 0
    for (let b = 0; b < x.length / 32; b++) {
      const d16 = blockScale(q, 'q4_0', b)
      let amax = 0
      let max = 0
      for (let j = 0; j < 32; j++) {
        if (amax < Math.abs(x[b * 32 + j])) {
          amax = Math.abs(x[b * 32 + j])
          max = x[b * 32 + j]
        }
      }
      const d = Math.fround(max / -8)
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j
        const byte = q[b * 18 + 2 + (j % 16)]
        const qi = (j < 16 ? byte & 0xf : byte >> 4) - 8
        expect(y[i]).toBe(Math.fround(qi * d16))
        // x/d lies in [−8, 8]; trunc(x/d + 8.5) − 8 is within ½ of it except at +8, clamped to 7.
        const atClamp = x[i] / d > 7.5
        if (atClamp) clamped++
        const bound = (atClamp ? 1 : 0.5) * Math.abs(d) + 8 * Math.abs(d16 - d) + amax * 2 ** -20
        expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(bound)
      }
    }
    expect(clamped).toBeGreaterThan(0)
  })

  it('zero rows and empty inputs', () => {
    for (const type of TYPES) {
      expect(quantizeRows(type, new Float32Array(0), 0, 32).length).toBe(0)
      expect(quantizeRows(type, new Float32Array(0), 3, 0).length).toBe(0)
      expect(dequantizeRows(type, new Uint8Array(0), 0, 64).length).toBe(0)
      const z = quantizeRows(type, new Float32Array(64), 2, 32)
      expect(Array.from(dequantizeRows(type, z, 2, 32)).every((v) => v === 0)).toBe(true)
    }
  })
})

describe('bad input is a JS error, not a crash', () => {
  const n = native()
  it('cols not a multiple of 32', () => {
    expect(() => n.quantize('q8_0', new Float32Array(48), 1, 48, 1)).toThrow(/multiple of 32.*48/)
    expect(() => n.dequantize('q4_0', new Uint8Array(18), 1, 16)).toThrow(/multiple of 32/)
  })
  it('wrong element and byte counts', () => {
    expect(() => n.quantize('q8_0', new Float32Array(60), 2, 32, 1)).toThrow(/60 floats/)
    expect(() => n.quantize('q4_0', new Float32Array(64), 3, 32, 1)).toThrow(/64 floats/)
    expect(() => n.quantize('q8_0', new Float32Array(32), 2 ** 52, 2 ** 20, 1)).toThrow(/32 floats/)
    expect(() => n.dequantize('q8_0', new Uint8Array(33), 1, 32)).toThrow(/needs 34 bytes, got 33/)
    expect(() => n.dequantize('q4_0', new Uint8Array(40), 2, 32)).toThrow(/needs 36 bytes, got 40/)
    expect(() => n.dequantize('q8_0', new Uint8Array(34), 2 ** 52, 2 ** 20)).toThrow(/bytes/)
  })
  it('unknown type, bad arguments', () => {
    expect(() => n.quantize('q3_k' as BlockQuantType, new Float32Array(32), 1, 32, 1)).toThrow(
      /unknown quantization type "q3_k"/,
    )
    expect(() => quantizeRows('f16' as BlockQuantType, new Float32Array(32), 1, 32)).toThrow(/q8_0, q4_0/)
    expect(() => n.quantize('q8_0', new Float64Array(32) as unknown as Float32Array, 1, 32, 1)).toThrow(
      /Float32Array/,
    )
    expect(() => n.dequantize('q8_0', new Int8Array(34) as unknown as Uint8Array, 1, 32)).toThrow(
      /Uint8Array/,
    )
    expect(() => n.quantize('q8_0', new Float32Array(32), -1, 32, 1)).toThrow(/non-negative integers/)
    expect(() => n.quantize('q8_0', new Float32Array(32), 1.5, 32, 1)).toThrow(/non-negative integers/)
  })
})
