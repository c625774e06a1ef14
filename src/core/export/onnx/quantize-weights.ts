// Weight quantization for ONNX exports, as ONNX Runtime's own tools store it: 8-bit per output column
// for MatMulInteger (quantize_dynamic's per-channel mode: signed symmetric, or unsigned with a zero
// point), and 4-bit blocks of 32 along the input dimension for DequantizeLinear (opset 21's blocked
// int4, symmetric). Weights are (K, M): K inputs, M outputs, ONNX MatMul's order.

export interface Int8Weight {
  /** (K, M) int8 or uint8 values. */
  q: Uint8Array
  /** (M) scales and zero points: w ≈ (q − zero) · scale. */
  scale: Float32Array
  zero: Uint8Array
}

// w (K, M) → q (K, M), per column m: signed: q = round(w / s), s = max|w| / 127, zero 0;
// unsigned: s = (max(w, 0) − min(w, 0)) / 255, zero = round(−min / s), q = clamp(round(w / s) + zero)
export function quantizeInt8Columns(w: Float32Array, K: number, M: number, signed: boolean): Int8Weight {
  const scale = new Float32Array(M)
  const zero = new Uint8Array(M)
  const lo = new Float32Array(M)
  const hi = new Float32Array(M)
  for (let k = 0; k < K; k++)
    for (let m = 0; m < M; m++) {
      const v = w[k * M + m]
      if (v < lo[m]) lo[m] = v
      if (v > hi[m]) hi[m] = v
    }
  for (let m = 0; m < M; m++) {
    if (signed) scale[m] = Math.max(-lo[m], hi[m]) / 127 || 1
    else {
      scale[m] = (hi[m] - lo[m]) / 255 || 1
      zero[m] = Math.min(255, Math.max(0, Math.round(-lo[m] / scale[m])))
    }
  }
  const q = new Uint8Array(K * M)
  const qs = new Int8Array(q.buffer)
  for (let k = 0; k < K; k++)
    for (let m = 0; m < M; m++) {
      const i = k * M + m
      const r = Math.round(w[i] / scale[m])
      if (signed) qs[i] = Math.max(-127, Math.min(127, r))
      else q[i] = Math.max(0, Math.min(255, r + zero[m]))
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
export function quantizeInt4Blocks(w: Float32Array, K: number, M: number): Int4Weight {
  const blocks = Math.ceil(K / INT4_BLOCK)
  const scale = new Float32Array(blocks * M)
  for (let b = 0; b < blocks; b++)
    for (let m = 0; m < M; m++) {
      let amax = 0
      for (let k = b * INT4_BLOCK; k < Math.min(K, (b + 1) * INT4_BLOCK); k++)
        amax = Math.max(amax, Math.abs(w[k * M + m]))
      scale[b * M + m] = amax / 7 || 1
    }
  const packed = new Uint8Array(Math.ceil((K * M) / 2))
  for (let k = 0; k < K; k++)
    for (let m = 0; m < M; m++) {
      const i = k * M + m
      const q = Math.max(-7, Math.min(7, Math.round(w[i] / scale[Math.floor(k / INT4_BLOCK) * M + m])))
      packed[i >> 1] |= (q & 0xf) << ((i & 1) * 4)
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
export function quantizeInt4Columns(w: Float32Array, K: number, M: number): Int4ColumnWeight {
  const blocks = Math.ceil(K / INT4_BLOCK)
  const scale = new Float32Array(M * blocks)
  const packed = new Uint8Array(M * blocks * (INT4_BLOCK / 2))
  for (let m = 0; m < M; m++)
    for (let b = 0; b < blocks; b++) {
      const k0 = b * INT4_BLOCK
      const k1 = Math.min(K, k0 + INT4_BLOCK)
      let amax = 0
      for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(w[k * M + m]))
      const s = amax / 7 || 1
      scale[m * blocks + b] = s
      const base = (m * blocks + b) * (INT4_BLOCK / 2)
      // Rows past K (a last partial block) stay 8: zero after the zero point.
      for (let j = 0; j < INT4_BLOCK; j++) {
        const k = k0 + j
        const u = k < k1 ? Math.max(-7, Math.min(7, Math.round(w[k * M + m] / s))) + 8 : 8
        packed[base + (j >> 1)] |= u << ((j & 1) * 4)
      }
    }
  return { packed, scale }
}
