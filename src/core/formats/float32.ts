// Float32 access to safetensors tensors: an in-place view where the bytes allow it, otherwise a
// conversion. Load-time helpers for small tensors (norm scales, biases); the kernels read weights in place.
// Safetensors is little-endian; like the native addon, this assumes a little-endian host.
import { FormatError } from '../errors.js'
import type { TensorView } from './safetensors-types.js'

/**
 * An F32 tensor as a Float32Array: a view into the mapped file when its bytes are 4-byte aligned
 * (read-only memory: never write to it), a copy otherwise.
 */
export function asFloat32(view: TensorView): Float32Array {
  if (view.dtype !== 'F32') {
    throw new FormatError(`${view.file}: tensor "${view.name}" is ${view.dtype}, not F32`)
  }
  const { data } = view
  const n = data.byteLength / 4
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, n)
  const out = new Float32Array(n)
  new Uint8Array(out.buffer).set(data)
  return out
}

/** A new Float32Array holding an F32, F16 or BF16 tensor's values (from safetensors or GGUF). */
export function toFloat32(
  view: Pick<TensorView, 'name' | 'data' | 'file'> & { dtype: string },
): Float32Array {
  const { data } = view
  switch (view.dtype) {
    case 'F32': {
      const out = new Float32Array(data.byteLength / 4)
      new Uint8Array(out.buffer).set(data)
      return out
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const src = aligned16(data)
      const out = new Float32Array(src.length)
      const bits = new Uint32Array(out.buffer)
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16
      return out
    }
    case 'F16': {
      const src = aligned16(data)
      const table = f16Table()
      const out = new Float32Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]]
      return out
    }
    default:
      throw new FormatError(
        `${view.file}: tensor "${view.name}" is ${view.dtype}; only F32, F16 and BF16 convert to float32`,
      )
  }
}

function aligned16(data: Uint8Array): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
  return new Uint16Array(data.slice().buffer)
}

let F16_TABLE: Float32Array | undefined

/** float16 bit pattern → value, for all 65536 patterns (256 KiB, built on first use). */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE
  const t = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) t[h] = sign * mant * 2 ** -24
    else if (exp === 31) t[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15)
  }
  F16_TABLE = t
  return t
}
