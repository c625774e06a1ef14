// The 5-bit ggml types kiln reads (Q5_0, Q5_1, Q5_K: what llama.cpp's Q5_K_M files hold, and its
// fallback for rows that are not whole 256-blocks, e.g. Qwen2-0.5B's 896): quantized and
// dequantized exactly as ggml's own compiled code does (node-llama-cpp's libggml-base through
// ctypes), with the error each format's bits allow, and the same bytes on any thread count.
import { describe, expect, it } from 'vitest'
import { dequantizeRows, type QuantType, quantizeRows } from '../../src/core/quant/block-quant.js'
import { findLibggml, type GgmlType, ggmlQuantize } from '../helpers/libggml.js'
import { mulberry32 } from '../helpers/numbers.js'

const TYPES: (GgmlType & { kiln: QuantType })[] = [
  { kiln: 'q5_0', name: 'q5_0', block: 32, bytes: 22 },
  { kiln: 'q5_1', name: 'q5_1', block: 32, bytes: 24 },
  { kiln: 'q5_k', name: 'q5_K', block: 256, bytes: 176 },
]
const COLS = 512
const fr = Math.fround

/** Edge-case rows (zeros, a constant, one spike, tiny and huge values, negative extremes), then random rows. */
function matrix(randomRows: number): Float32Array {
  const rand = mulberry32(41)
  const rows: number[][] = [
    new Array(COLS).fill(0),
    new Array(COLS).fill(0.75),
    new Array(COLS).fill(-3),
    Array.from({ length: COLS }, (_, i) => (i % 97 === 5 ? 40 : 0.01 * ((i % 7) - 3))),
    Array.from({ length: COLS }, (_, i) => (i % 2 ? 1e-30 : -1e-30)),
    Array.from({ length: COLS }, (_, i) => (i % 3 ? 6e4 : -6e4)),
    Array.from({ length: COLS }, (_, i) => -Math.abs(Math.sin(i)) * 2),
    Array.from({ length: COLS }, (_, i) => (i % 32 === 0 ? -1 : 0.5)),
  ]
  for (let r = 0; r < randomRows; r++) {
    const scale = 10 ** (rand() * 8 - 4)
    const shift = rand() < 0.3 ? (rand() - 0.5) * scale : 0
    rows.push(Array.from({ length: COLS }, () => fr((rand() * 2 - 1) * scale + shift)))
  }
  return Float32Array.from(rows.flat())
}

const asBytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength)

function firstDifferentBlock(a: Uint8Array, b: Uint8Array, blockBytes: number): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return Math.floor(i / blockBytes)
  return -1
}

const libggml = findLibggml()
if (!libggml)
  console.warn("python3 or node-llama-cpp's libggml-base is missing: skipping the check against ggml itself")

describe.skipIf(!libggml)('5-bit types match ggml itself (libggml-base through ctypes)', () => {
  it('quantize_row_*_ref bytes and dequantize_row_* values, edge cases and 600 random rows', () => {
    const x = matrix(600)
    const rows = x.length / COLS
    const theirs = ggmlQuantize(libggml!, x, TYPES)
    for (const t of TYPES) {
      const ggml = theirs.get(t.name.toLowerCase())!
      const ours = quantizeRows(t.kiln, x, rows, COLS, 2)
      expect(firstDifferentBlock(ours, ggml.bytes, t.bytes), `${t.kiln}: first block that differs`).toBe(-1)
      expect(
        Buffer.compare(asBytes(dequantizeRows(t.kiln, ggml.bytes, rows, COLS)), asBytes(ggml.values)),
      ).toBe(0)
    }
  })
})

describe('5-bit types', () => {
  const x = matrix(60)
  const rows = x.length / COLS
  it('give the same bytes on 1, 2 and 3 threads', () => {
    for (const t of TYPES) {
      const one = quantizeRows(t.kiln, x, rows, COLS, 1)
      for (const th of [2, 3]) expect(Buffer.compare(quantizeRows(t.kiln, x, rows, COLS, th), one)).toBe(0)
    }
  })

  it('hold what their bits allow: 4-bit > 5-bit > 6/8-bit error on random rows', () => {
    const rand = mulberry32(9)
    const y = Float32Array.from({ length: 64 * COLS }, () => fr(rand() * 2 - 1))
    const rms = (type: QuantType) => {
      const back = dequantizeRows(type, quantizeRows(type, y, 64, COLS), 64, COLS)
      let s = 0
      for (let i = 0; i < y.length; i++) s += (back[i] - y[i]) ** 2
      return Math.sqrt(s / y.length)
    }
    expect(rms('q4_0')).toBeGreaterThan(rms('q5_0'))
    expect(rms('q5_0')).toBeGreaterThan(rms('q8_0'))
    expect(rms('q4_k')).toBeGreaterThan(rms('q5_k'))
    expect(rms('q5_k')).toBeGreaterThan(rms('q6_k'))
    // Uniform values in [-1, 1]: a 5-bit grid over the block's range, about range/31/√12 RMS.
    for (const type of ['q5_0', 'q5_1', 'q5_k'] as const) expect(rms(type)).toBeLessThan(0.03)
  })
})
