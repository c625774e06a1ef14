// The float module (src/core/formats/float.ts): F32 → F16/BF16 rounding to nearest even against an
// exact arithmetic reference, exact widening, and float32 access agreeing with the bit converters.
import { describe, expect, it } from 'vitest'
import { FormatError } from '../../../src/core/errors.js'
import {
  asFloat32,
  convertBits,
  f32BitsToBf16,
  f32BitsToF16,
  toFloat32,
} from '../../../src/core/formats/float.js'
import { f32Bits, f32Value, fromBf16, fromF16 } from '../../helpers/numbers.js'

/** Exact reference: the nearest value with `mantBits` mantissa bits, ties to even, by arithmetic. */
function roundRef(x: number, mantBits: number, minExp: number, maxFinite: number): number {
  if (Number.isNaN(x)) return x
  const a = Math.abs(x)
  const e = Math.max(Math.floor(Math.log2(a || 1)), minExp)
  const ulp = 2 ** (e - mantBits)
  let q = a / ulp // exact: a power-of-two scale
  const fl = Math.floor(q)
  const frac = q - fl
  q = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl
  let r = q * ulp
  const maxUlp = 2 ** (Math.floor(Math.log2(maxFinite)) - mantBits)
  if (r > maxFinite) r = a >= maxFinite + maxUlp / 2 ? Number.POSITIVE_INFINITY : maxFinite
  return x < 0 || Object.is(x, -0) ? -r : r
}

describe('bit converters', () => {
  it('rounds F32 to F16 to nearest even, with subnormals, overflow and NaN', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to 2^16 rounds to even: infinity
      [1e10, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // a tie between 0 and the smallest subnormal: even is 0
      [2 ** -25 * 1.0000001, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even
      [1 + 2 ** -11, 0x3c00], // tie: even mantissa stays
      [1 + 3 * 2 ** -11, 0x3c02], // tie: odd mantissa rounds up
    ]
    for (const [x, h] of cases) expect([x, f32BitsToF16(f32Bits(x))]).toEqual([x, h])
    expect(f32BitsToF16(0x7fc00000) & 0x7fff).toBeGreaterThan(0x7c00)
  })

  it('matches an exact reference on random F32 values (F16 and BF16)', () => {
    let s = 12345
    const next = () => {
      s ^= s << 13
      s ^= s >>> 17
      s ^= s << 5
      return s >>> 0
    }
    for (let i = 0; i < 50_000; i++) {
      const bits = next()
      const x = f32Value(bits)
      if (Number.isNaN(x)) continue
      const h = f32BitsToF16(bits)
      if (Math.abs(x) < 2 ** 17) expect(fromF16(h)).toBe(roundRef(x, 10, -14, 65504))
      else expect(Math.abs(fromF16(h))).toBe(Number.POSITIVE_INFINITY)
      const b = f32BitsToBf16(bits)
      expect(fromBf16(b)).toBe(roundRef(x, 7, -126, 3.3895313892515355e38))
      // Narrow from values spread over the F16 range too, where F16 is exercised hardest.
      const y = (x % 1) * 2 ** ((i % 40) - 26)
      expect(fromF16(f32BitsToF16(f32Bits(y)))).toBe(roundRef(Math.fround(y), 10, -14, 65504))
    }
  })

  it('widens exactly and converts whole arrays', () => {
    const src = new Float32Array([1.5, -0.1, 3e-7, 70000, 1e-30])
    const srcBits = new Uint32Array(src.buffer)
    const h = new Uint16Array(5)
    convertBits(srcBits, 'F32', h, 'F16')
    const back = new Uint32Array(5)
    convertBits(h, 'F16', back, 'F32')
    const r = new Float32Array(back.buffer)
    for (let i = 0; i < 5; i++) expect(r[i]).toBe(Math.fround(roundRef(src[i], 10, -14, 65504)))
    const b = new Uint16Array(5)
    convertBits(srcBits, 'F32', b, 'BF16')
    const h2 = new Uint16Array(5)
    convertBits(b, 'BF16', h2, 'F16')
    for (let i = 0; i < 5; i++) expect(fromF16(h2[i])).toBe(roundRef(fromBf16(b[i]), 10, -14, 65504))
    // Every F16 pattern survives F16 → F32 → F16.
    const all = new Uint16Array(65536).map((_, i) => i)
    const wide = new Uint32Array(65536)
    convertBits(all, 'F16', wide, 'F32')
    const narrow = new Uint16Array(65536)
    convertBits(wide, 'F32', narrow, 'F16')
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0
      if (!nan) expect(narrow[i]).toBe(i)
    }
  })
})

/** float16 bits → value by arithmetic, independent of the module's bit-level decoding. */
function f16Reference(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** A stored tensor of `bits`, placed at an odd byte offset when `misaligned` (a copy must be made). */
function stored(dtype: string, bits: Uint16Array | Uint32Array, misaligned = false) {
  const bytes = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength)
  const data = misaligned ? new Uint8Array(bytes.length + 1).subarray(1) : bytes
  if (misaligned) data.set(bytes)
  return { name: 't', dtype, data, file: 'x.safetensors' }
}

describe('float32 access', () => {
  const all16 = new Uint16Array(65536).map((_, i) => i)

  it('decodes every F16 pattern as the arithmetic reference does (NaN stays NaN, with its bits)', () => {
    for (const misaligned of [false, true]) {
      const values = toFloat32(stored('F16', all16, misaligned))
      const bits = new Uint32Array(values.buffer)
      const viaBits = new Uint32Array(65536)
      convertBits(all16, 'F16', viaBits, 'F32')
      expect(bits).toEqual(viaBits)
      for (let h = 0; h < 65536; h++) {
        const want = f16Reference(h)
        if (Number.isNaN(want)) {
          // A NaN keeps its sign and payload, as a float32 NaN.
          expect([h, bits[h] >>> 31, (bits[h] >>> 23) & 0xff, (bits[h] >>> 13) & 0x3ff]).toEqual([
            h,
            h >>> 15,
            0xff,
            h & 0x3ff,
          ])
        } else expect(Object.is(values[h], want), `${h}: ${values[h]} vs ${want}`).toBe(true)
      }
    }
  })

  it('decodes every BF16 pattern as the top half of a float32', () => {
    const values = toFloat32(stored('BF16', all16, true))
    const bits = new Uint32Array(values.buffer)
    for (let h = 0; h < 65536; h++) expect(bits[h]).toBe(h * 65536)
    for (let h = 0; h < 65536; h += 257) expect(Object.is(values[h], fromBf16(h))).toBe(true)
  })

  it('copies F32 bits exactly, and views them in place when aligned', () => {
    const src = new Uint32Array([0x3fc00000, 0xbdcccccd, 0x7fc00001, 0x80000000, 0x00000001])
    expect(new Uint32Array(toFloat32(stored('F32', src)).buffer)).toEqual(src)
    expect(new Uint32Array(toFloat32(stored('F32', src, true)).buffer)).toEqual(src)
    const aligned = stored('F32', src)
    expect(asFloat32(aligned).buffer).toBe(aligned.data.buffer)
    const copy = asFloat32(stored('F32', src, true))
    expect(new Uint32Array(copy.buffer, copy.byteOffset, copy.length)).toEqual(src)
  })

  it('refuses other dtypes by name', () => {
    expect(() => toFloat32(stored('I32', new Uint32Array(2)))).toThrow(FormatError)
    expect(() => toFloat32(stored('Q8_0', new Uint32Array(2)))).toThrow(/is Q8_0; only F32, F16 and BF16/)
    expect(() => asFloat32(stored('F16', new Uint16Array(2)))).toThrow(/is F16, not F32/)
  })
})
