// ggml block quantization (Q8_0, Q4_0) of row-major float rows: the block table and typed wrappers
// over the addon's kernels, which reproduce ggml's reference quantizers bit for bit.
import { UsageError } from '../errors.js'
import { type NativeQuantType, native } from '../native.js'

export type BlockQuantType = NativeQuantType

/** Per type: elements per block, bytes per block, ggml type id (FORMATS.md, "ggml block quantization"). */
export const BLOCK_QUANT_TYPES: Readonly<
  Record<BlockQuantType, { blockElements: number; blockBytes: number; ggmlId: number }>
> = {
  q8_0: { blockElements: 32, blockBytes: 34, ggmlId: 8 },
  q4_0: { blockElements: 32, blockBytes: 18, ggmlId: 2 },
}

/** Whether rows of `cols` elements split into whole blocks of `type`. */
export function canQuantizeRows(type: BlockQuantType, cols: number): boolean {
  return cols > 0 && cols % BLOCK_QUANT_TYPES[type].blockElements === 0
}

/** Bytes of `rows` quantized rows of `cols` elements. */
export function quantizedBytes(type: BlockQuantType, rows: number, cols: number): number {
  const t = BLOCK_QUANT_TYPES[type]
  return rows * (cols / t.blockElements) * t.blockBytes
}

function checkType(type: string): asserts type is BlockQuantType {
  if (!Object.hasOwn(BLOCK_QUANT_TYPES, type)) {
    throw new UsageError(
      `quantization type must be one of ${Object.keys(BLOCK_QUANT_TYPES).join(', ')}, got "${type}"`,
    )
  }
}

/** Quantizes `src` (rows, cols) into ggml blocks, on `threads` threads (the bytes do not depend on it). */
export function quantizeRows(
  type: BlockQuantType,
  src: Float32Array, // (rows, cols)
  rows: number,
  cols: number,
  threads = 1,
): Uint8Array {
  checkType(type)
  return native().quantize(type, src, rows, cols, threads)
}

/** Expands ggml blocks back to (rows, cols) floats. */
export function dequantizeRows(
  type: BlockQuantType,
  bytes: Uint8Array,
  rows: number,
  cols: number,
  threads = 1,
): Float32Array {
  checkType(type)
  return native().dequantize(type, bytes, rows, cols, threads)
}
