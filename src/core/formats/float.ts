// The one place that knows the F32, F16 and BF16 encodings: bit converters rounding to nearest even
// (export, re-quantization, the dtype load option) and float32 access to stored tensors (norm scales,
// biases at load). Load-time work, not a hot path. Little-endian host, as the native addon assumes.
import { FormatError } from '../errors.js'

export type FloatDType = 'F32' | 'F16' | 'BF16'
/** Raw bits: Uint32Array for F32, Uint16Array for F16 and BF16. */
export type FloatBits = Uint32Array | Uint16Array

export const FLOAT_SIZE: Readonly<Record<FloatDType, 2 | 4>> = { F32: 4, F16: 2, BF16: 2 }

/** A bits array of `n` elements of `dtype`. */
export function allocBits(dtype: FloatDType, n: number): FloatBits {
  return dtype === 'F32' ? new Uint32Array(n) : new Uint16Array(n)
}

/** The bytes of `data` as a bits array: a view when aligned, a copy otherwise. */
export function bitsView(dtype: FloatDType, data: Uint8Array): FloatBits {
  const size = FLOAT_SIZE[dtype]
  const n = data.byteLength / size
  if (!Number.isInteger(n)) throw new RangeError(`${data.byteLength} bytes is not a whole number of ${dtype}`)
  if (data.byteOffset % size !== 0) {
    const copy = data.slice()
    return size === 4 ? new Uint32Array(copy.buffer, 0, n) : new Uint16Array(copy.buffer, 0, n)
  }
  return size === 4
    ? new Uint32Array(data.buffer, data.byteOffset, n)
    : new Uint16Array(data.buffer, data.byteOffset, n)
}

/** bfloat16 bits → float32 bits (exact: bfloat16 is the top half of a float32). */
export function bf16BitsToF32(h: number): number {
  return (h << 16) >>> 0
}

/** float16 bits → float32 bits (exact). */
export function f16BitsToF32(h: number): number {
  return f16ToF32Table()[h & 0xffff]
}

let F16_TO_F32: Uint32Array | undefined

/** float16 bits → float32 bits, for all 65536 patterns (256 KiB, built on first use). */
function f16ToF32Table(): Uint32Array {
  if (F16_TO_F32) return F16_TO_F32
  const t = new Uint32Array(65536)
  const f = new Float32Array(1)
  const u = new Uint32Array(f.buffer)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) {
      // Subnormal (or zero): mant units of 2^-24, a normal float32; let the FPU find its exponent.
      f[0] = mant * 2 ** -24
      t[h] = (sign | u[0]) >>> 0
    } else if (exp === 31) {
      t[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0 // inf, or NaN keeping its payload
    } else {
      t[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0
    }
  }
  F16_TO_F32 = t
  return t
}

/** float32 bits → float16 bits, round to nearest even; NaN stays NaN, overflow becomes ±inf. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000
  let a = x & 0x7fffffff
  if (a >= 0x47800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00) // 2^16 and up: inf or NaN
  if (a < 0x38800000) {
    // Below 2^-14: a float16 subnormal, in units of 2^-24. Half a unit (2^-25) and less round to 0.
    if (a <= 0x33000000) return sign
    const e = a >>> 23
    const m = (a & 0x7fffff) | 0x800000
    const shift = 126 - e // 14..24
    let q = m >>> shift
    const rem = m & ((1 << shift) - 1)
    const half = 1 << (shift - 1)
    if (rem > half || (rem === half && (q & 1) === 1)) q++
    return sign | q
  }
  // Normal: rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to even.
  a += -0x38000000 + 0xfff + ((a >>> 13) & 1)
  return sign | (a >>> 13)
}

/** float32 bits → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16
}

/**
 * Converts `src` (of dtype `from`) into `dst` (of dtype `to`, at least as long). Widening is exact;
 * narrowing rounds once, to nearest even.
 */
export function convertBits(src: FloatBits, from: FloatDType, dst: FloatBits, to: FloatDType): void {
  const n = src.length
  if (dst.length < n) throw new RangeError(`destination holds ${dst.length} elements, need ${n}`)
  if (from === to) {
    dst.set(src)
    return
  }
  // One loop per pair, each calling fixed functions, so that the per-element work inlines.
  if (to === 'F32') {
    if (from === 'BF16') {
      for (let i = 0; i < n; i++) dst[i] = bf16BitsToF32(src[i])
    } else {
      const t = f16ToF32Table()
      for (let i = 0; i < n; i++) dst[i] = t[src[i]]
    }
    return
  }
  const narrow = to === 'F16' ? f32BitsToF16 : f32BitsToBf16
  if (from === 'F32') {
    for (let i = 0; i < n; i++) dst[i] = narrow(src[i])
  } else if (from === 'BF16') {
    for (let i = 0; i < n; i++) dst[i] = narrow(bf16BitsToF32(src[i]))
  } else {
    const t = f16ToF32Table()
    for (let i = 0; i < n; i++) dst[i] = narrow(t[src[i]])
  }
}

/** The parts of a stored tensor (safetensors or GGUF) that float32 access needs. */
interface StoredTensor {
  name: string
  dtype: string
  data: Uint8Array
  file: string
}

function isFloatDType(dtype: string): dtype is FloatDType {
  return Object.hasOwn(FLOAT_SIZE, dtype)
}

/**
 * An F32 tensor as a Float32Array: a view into the mapped file when its bytes are 4-byte aligned
 * (read-only memory: never write to it), a copy otherwise.
 */
export function asFloat32(view: StoredTensor): Float32Array {
  if (view.dtype !== 'F32') {
    throw new FormatError(`${view.file}: tensor "${view.name}" is ${view.dtype}, not F32`)
  }
  const bits = bitsView('F32', view.data)
  return new Float32Array(bits.buffer, bits.byteOffset, bits.length)
}

/** A new Float32Array holding an F32, F16 or BF16 tensor's values. */
export function toFloat32(view: StoredTensor): Float32Array {
  const { dtype } = view
  if (!isFloatDType(dtype)) {
    throw new FormatError(
      `${view.file}: tensor "${view.name}" is ${dtype}; only F32, F16 and BF16 convert to float32`,
    )
  }
  const src = bitsView(dtype, view.data)
  const out = new Float32Array(src.length)
  convertBits(src, dtype, new Uint32Array(out.buffer), 'F32')
  return out
}
