// Seeded random numbers and scalar float conversions for tests (f16/bf16 via the project's own
// converters in src/core/formats/float.ts, which are tested against exact references).
import { bf16BitsToF32, f16BitsToF32, f32BitsToBf16, f32BitsToF16 } from '../../src/core/formats/float.js'

/** Seeded uniform generator in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** A number's float32 bit pattern (rounded to float32 first). */
export function f32Bits(v: number): number {
  f32[0] = v
  return u32[0]
}

/** The float32 value of a bit pattern. */
export function f32Value(bits: number): number {
  u32[0] = bits
  return f32[0]
}

/** f32 → bf16 bits, round to nearest even. */
export const toBf16 = (v: number): number => f32BitsToBf16(f32Bits(v))

/** f32 → IEEE half bits, round to nearest even, subnormals and overflow to infinity. */
export const toF16 = (v: number): number => f32BitsToF16(f32Bits(v))

export const fromBf16 = (h: number): number => f32Value(bf16BitsToF32(h))

export const fromF16 = (h: number): number => f32Value(f16BitsToF32(h))

/** Uniform in [-scale, scale), as f32. */
export function randomF32(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale
  return a
}

/** ‖a − b‖ / ‖b‖: the golden fixtures' per-tensor gradient tolerance (test/fixtures/golden/README.md). */
export function relError(a: Float32Array, b: Float32Array): number {
  let d = 0
  let n = 0
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2
    n += b[i] ** 2
  }
  return Math.sqrt(d / n)
}

/** log-softmax of one row of logits, in double precision (the oracle for log-probabilities). */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i])
  let sum = 0
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max)
  const lse = max + Math.log(sum)
  return Float64Array.from(row, (v) => v - lse)
}
