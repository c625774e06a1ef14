// transposeF32, the ONNX export's weight transpose: any slab of columns of any shape equals the
// plain definition (out[j][r] = src[r][c0 + j]), the slabs of a matrix together are its
// transpose, and bad shapes or ranges throw one clear error without writing past an array.
import { describe, expect, it } from 'vitest'
import { native } from '../../src/core/native.js'

function reference(src: Float32Array, rows: number, cols: number, c0: number, n: number): Float32Array {
  const out = new Float32Array(n * rows)
  for (let j = 0; j < n; j++) for (let r = 0; r < rows; r++) out[j * rows + r] = src[r * cols + c0 + j]
  return out
}

describe('transposeF32', () => {
  it('any slab of columns, shapes around the 32-wide tiles', () => {
    for (const [rows, cols] of [
      [1, 1],
      [3, 5],
      [32, 32],
      [33, 65],
      [100, 7],
      [7, 100],
      [64, 1000],
    ]) {
      const src = Float32Array.from({ length: rows * cols }, (_, i) => i * 0.5 - 3)
      const whole = new Float32Array(rows * cols)
      native().transposeF32(src, rows, cols, 0, whole)
      expect(whole).toEqual(reference(src, rows, cols, 0, cols))
      // In slabs of 3 columns, as the export writes a weight.
      const pieces: number[] = []
      for (let c0 = 0; c0 < cols; c0 += 3) {
        const out = new Float32Array(Math.min(3, cols - c0) * rows)
        native().transposeF32(src, rows, cols, c0, out)
        expect(out).toEqual(reference(src, rows, cols, c0, out.length / rows))
        pieces.push(...out)
      }
      expect(Float32Array.from(pieces)).toEqual(whole)
    }
  })

  it('refuses shapes that do not match and columns past the end', () => {
    const src = new Float32Array(12)
    const t = (rows: number, cols: number, c0: number, out: Float32Array) => () =>
      native().transposeF32(src, rows, cols, c0, out)
    expect(t(3, 5, 0, new Float32Array(3))).toThrow(/src has 12 floats, rows × cols = 3 × 5/)
    expect(t(3, 4, 0, new Float32Array(4))).toThrow(/out must hold whole columns of 3 floats/)
    expect(t(3, 4, 2, new Float32Array(9))).toThrow(/columns 2 \+ 3 pass the 4 src has/)
    expect(t(3, 4, 5, new Float32Array(0))).toThrow(/columns 5 \+ 0 pass the 4 src has/)
    expect(t(-1, 4, 0, new Float32Array(0))).toThrow(/rows must be a non-negative integer/)
    expect(t(3, 4, 0.5, new Float32Array(3))).toThrow(/c0 must be a non-negative integer/)
    expect(t(2 ** 52, 2 ** 52, 0, new Float32Array(0))).toThrow(/src has 12 floats/)
    expect(() => native().transposeF32(new Int32Array(4) as never, 2, 2, 0, new Float32Array(4))).toThrow(
      /src must be a Float32Array/,
    )
    // An empty slab is nothing to do.
    native().transposeF32(src, 3, 4, 4, new Float32Array(0))
  })
})
