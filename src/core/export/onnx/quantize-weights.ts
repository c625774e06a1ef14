// Weight quantization for ONNX exports, as ONNX Runtime's own tools store it: 8-bit per output column
// for MatMulInteger (quantize_dynamic's per-channel mode: signed symmetric, or unsigned with a zero
// point), and 4-bit blocks of 32 along the input dimension for DequantizeLinear (opset 21's blocked
// int4, symmetric). Weights are (K, M) to ONNX (K inputs, M outputs, MatMul's order); they are read
// through a view, as the checkpoint stores them ((M, K) for a Linear), so that nothing is
// transposed in float first. The export quantizes in native code (addon_int4.cc: a JavaScript int4
// quantizer took 16-19 ns a weight, most of a q4 export's time); the JavaScript below is its
// reference twin, which the tests hold it to bit for bit.
import { native } from '../../native.js'

/** A (K, M) matrix over `data`: element (k, m) at data[k · kStride + m · mStride]. */
export interface WeightView {
  data: Float32Array
  K: number
  M: number
  kStride: number
  mStride: number
}

/** Columns handled together where the output is (K, M) row-major: reads stay in cache either way. */
const TILE = 64

export interface Int8Weight {
  /** (K, M) int8 or uint8 values. */
  q: Uint8Array
  /** (M) scales and zero points: w ≈ (q − zero) · scale. */
  scale: Float32Array
  zero: Uint8Array
}

// w (K, M) → q (K, M), per column m: signed: q = round(w / s), s = max|w| / 63, zero 0;
// unsigned: s = (max(w, 0) − min(w, 0)) / 255, zero = round(−min / s), q = clamp(round(w / s) + zero)
export function quantizeInt8Columns(w: WeightView, signed: boolean): Int8Weight {
  const { data, K, M, kStride, mStride } = w
  const out = { q: new Uint8Array(K * M), scale: new Float32Array(M), zero: new Uint8Array(M) }
  native().quantizeInt8Columns(data, K, M, kStride, mStride, signed, out.q, out.scale, out.zero)
  return out
}

/**
 * Signed 8-bit weights use 7 bits (±63, ONNX Runtime's reduce_range): without VNNI, ONNX Runtime's
 * uint8 × int8 kernels sum byte pairs in saturating int16 (vpmaddubsw), which ±127 overflows.
 */
export const INT8_SIGNED_MAX = 63

/** The JavaScript twin of quantizeInt8Columns, for the tests. */
export function quantizeInt8ColumnsRef(w: WeightView, signed: boolean): Int8Weight {
  const { data, K, M, kStride, mStride } = w
  const scale = new Float32Array(M)
  const zero = new Uint8Array(M)
  for (let m = 0; m < M; m++) {
    let lo = 0
    let hi = 0
    for (let k = 0, i = m * mStride; k < K; k++, i += kStride) {
      const v = data[i]
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
    if (signed) scale[m] = Math.max(-lo, hi) / INT8_SIGNED_MAX || 1
    else {
      scale[m] = (hi - lo) / 255 || 1
      zero[m] = Math.min(255, Math.max(0, Math.round(-lo / scale[m])))
    }
  }
  const q = new Uint8Array(K * M)
  const qs = new Int8Array(q.buffer)
  for (let m0 = 0; m0 < M; m0 += TILE) {
    const m1 = Math.min(M, m0 + TILE)
    for (let k = 0; k < K; k++)
      for (let m = m0; m < m1; m++) {
        const r = Math.round(data[k * kStride + m * mStride] / scale[m])
        if (signed) qs[k * M + m] = Math.max(-INT8_SIGNED_MAX, Math.min(INT8_SIGNED_MAX, r))
        else q[k * M + m] = Math.max(0, Math.min(255, r + zero[m]))
      }
  }
  return { q, scale, zero }
}

export const INT4_BLOCK = 32

export interface Int4Weight {
  /** (K, M) int4 values, two per byte, the first in the low nibble (ONNX's packing). */
  packed: Uint8Array
  /** (⌈K / 32⌉, M) scales: w ≈ q · scale, q in [−7, 7]. */
  scale: Float32Array
}

// w (K, M) → q (K, M) int4, one scale per 32 rows of a column: s = max|w| / 7, q = round(w / s)
export function quantizeInt4Blocks(w: WeightView): Int4Weight {
  const { data, K, M, kStride, mStride } = w
  const packed = new Uint8Array(Math.ceil((K * M) / 2))
  const scale = new Float32Array(Math.ceil(K / INT4_BLOCK) * M)
  native().quantizeInt4Blocks(data, K, M, kStride, mStride, packed, scale)
  return { packed, scale }
}

/** The JavaScript twin of quantizeInt4Blocks, for the tests. */
export function quantizeInt4BlocksRef(w: WeightView): Int4Weight {
  const { data, K, M, kStride, mStride } = w
  const blocks = Math.ceil(K / INT4_BLOCK)
  const scale = new Float32Array(blocks * M)
  for (let m = 0; m < M; m++)
    for (let b = 0; b < blocks; b++) {
      let amax = 0
      const k1 = Math.min(K, (b + 1) * INT4_BLOCK)
      for (let k = b * INT4_BLOCK, at = k * kStride + m * mStride; k < k1; k++, at += kStride) {
        const a = Math.abs(data[at])
        if (a > amax) amax = a
      }
      scale[b * M + m] = amax / 7 || 1
    }
  const packed = new Uint8Array(Math.ceil((K * M) / 2))
  const q = (at: number, s: number) => Math.max(-7, Math.min(7, Math.round(data[at] / s)))
  for (let m0 = 0; m0 < M; m0 += TILE) {
    const m1 = Math.min(M, m0 + TILE)
    for (let k = 0; k < K; k++) {
      const row = Math.floor(k / INT4_BLOCK) * M
      let m = m0
      let at = k * kStride + m0 * mStride
      // With M even, a row's values pair up within it: whole bytes, written once (the tiles start
      // at even columns).
      if (M % 2 === 0)
        for (; m + 1 < m1; m += 2, at += 2 * mStride)
          packed[(k * M + m) >>> 1] =
            (q(at, scale[row + m]) & 0xf) | ((q(at + mStride, scale[row + m + 1]) & 0xf) << 4)
      for (let i = k * M + m; m < m1; m++, i++, at += mStride)
        packed[i >>> 1] |= (q(at, scale[row + m]) & 0xf) << ((i & 1) * 4)
    }
  }
  return { packed, scale }
}

/** MatMulNBits' layout of 4-bit weights: per output column, blocks of 32 along K. */
export interface Int4ColumnWeight {
  /** (M, ⌈K / 32⌉, 16) bytes: unsigned values q + 8, two a byte, the first in the low nibble. */
  packed: Uint8Array
  /** (M · ⌈K / 32⌉) scales, column-major by block: w ≈ (u − 8) · scale. */
  scale: Float32Array
}

// w (K, M) → per column m, per block of 32 rows: s = max|w| / 7, u = round(w / s) + 8 in [1, 15]
export function quantizeInt4Columns(w: WeightView): Int4ColumnWeight {
  const { data, K, M, kStride, mStride } = w
  const blocks = Math.ceil(K / INT4_BLOCK)
  const packed = new Uint8Array(M * blocks * (INT4_BLOCK / 2))
  const scale = new Float32Array(M * blocks)
  native().quantizeInt4Columns(data, K, M, kStride, mStride, packed, scale)
  return { packed, scale }
}

/** The JavaScript twin of quantizeInt4Columns, for the tests. */
export function quantizeInt4ColumnsRef(w: WeightView): Int4ColumnWeight {
  const { data, K, M, kStride, mStride } = w
  const blocks = Math.ceil(K / INT4_BLOCK)
  const scale = new Float32Array(M * blocks)
  const packed = new Uint8Array(M * blocks * (INT4_BLOCK / 2))
  for (let m = 0; m < M; m++)
    for (let b = 0; b < blocks; b++) {
      const k0 = b * INT4_BLOCK
      const k1 = Math.min(K, k0 + INT4_BLOCK)
      const first = k0 * kStride + m * mStride
      let amax = 0
      for (let k = k0, at = first; k < k1; k++, at += kStride) {
        const a = Math.abs(data[at])
        if (a > amax) amax = a
      }
      const s = amax / 7 || 1
      scale[m * blocks + b] = s
      const base = (m * blocks + b) * (INT4_BLOCK / 2)
      // Two values a byte, each byte written once; rows past K (a last partial block) are 8: zero
      // after the zero point.
      for (let j = 0, at = first; j < INT4_BLOCK; j += 2, at += 2 * kStride) {
        const lo = k0 + j < k1 ? Math.max(-7, Math.min(7, Math.round(data[at] / s))) + 8 : 8
        const hi = k0 + j + 1 < k1 ? Math.max(-7, Math.min(7, Math.round(data[at + kStride] / s))) + 8 : 8
        packed[base + (j >> 1)] = lo | (hi << 4)
      }
    }
  return { packed, scale }
}
