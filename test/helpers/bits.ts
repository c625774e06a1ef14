// Bit-for-bit comparison of float arrays, naming the first element that differs.
import { expect } from 'vitest'

export function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length)
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length)
  expect(x.length, what).toBe(y.length)
  let diff = -1
  for (let i = 0; i < x.length && diff < 0; i++) if (x[i] !== y[i]) diff = i
  expect(diff, `${what}: first difference at ${diff} (${a[diff]} vs ${b[diff]})`).toBe(-1)
}
