// Seeded random numbers and scalar float conversions for tests (f16/bf16 via the project's own
// converters in src/core/export/float-convert.ts, which are tested against exact references).
import { f16BitsToF32, f32BitsToBf16, f32BitsToF16 } from '../../src/core/export/float-convert.js'

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

const bitsOf = (v: number): number => {
  f32[0] = v
  return u32[0]
}

/** f32 → bf16 bits, round to nearest even. */
export const toBf16 = (v: number): number => f32BitsToBf16(bitsOf(v))

/** f32 → IEEE half bits, round to nearest even, subnormals and overflow to infinity. */
export const toF16 = (v: number): number => f32BitsToF16(bitsOf(v))

export function fromBf16(h: number): number {
  u32[0] = h << 16
  return f32[0]
}

export function fromF16(h: number): number {
  u32[0] = f16BitsToF32(h)
  return f32[0]
}

/** Uniform in [-scale, scale), as f32. */
export function randomF32(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale
  return a
}
