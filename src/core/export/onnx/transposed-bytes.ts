// A Linear weight as the ONNX export writes it: (M, K) in the checkpoint, (K, M) for MatMul,
// transposed a slab of rows at a time as the writer asks for the bytes, so that an export never
// holds a second copy of its weights (on a VM where a first touch of memory costs microseconds a
// page, that copy was most of an export's time).
import { convertBits } from '../../formats/float.js'
import { native } from '../../native.js'
import { bytesOf, type LazyBytes } from './emitter.js'

/** Floats a transpose slab holds at most. */
const SLAB_FLOATS = 1 << 21

/**
 * The buffers transposed slabs are made in, one pair per export: reused from weight to weight
 * (touched memory is paid for once), let go with the export.
 */
export class SlabScratch {
  private floats?: Float32Array
  private halves?: Uint16Array

  f32(n: number): Float32Array {
    if (!this.floats || this.floats.length < n) this.floats = new Float32Array(n)
    return this.floats.subarray(0, n)
  }

  f16(n: number): Uint16Array {
    if (!this.halves || this.halves.length < n) this.halves = new Uint16Array(n)
    return this.halves.subarray(0, n)
  }
}

/**
 * The bytes of w (M, K) transposed to (K, M), as float32 or float16, made a slab of rows at a
 * time into `scratch` as the writer asks for them.
 */
export function transposedBytes(
  w: Float32Array,
  M: number,
  K: number,
  half: boolean,
  scratch: SlabScratch,
): LazyBytes {
  return {
    byteLength: M * K * (half ? 2 : 4),
    *slabs() {
      const rows = Math.max(1, Math.floor(SLAB_FLOATS / M))
      for (let k0 = 0; k0 < K; k0 += rows) {
        const slab = scratch.f32(Math.min(rows, K - k0) * M)
        native().transposeF32(w, M, K, k0, slab)
        if (!half) {
          yield bytesOf(slab)
          continue
        }
        const bits = scratch.f16(slab.length)
        convertBits(new Uint32Array(slab.buffer, slab.byteOffset, slab.length), 'F32', bits, 'F16')
        yield bytesOf(bits)
      }
    },
  }
}
