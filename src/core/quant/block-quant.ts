// ggml block quantization of row-major float rows: the block table and typed wrappers over the
// addon's kernels, which reproduce ggml's reference quantizers bit for bit. Two families: the
// 32-element blocks (Q8_0, Q4_0, Q5_0, Q5_1) and the K-quants on 256-element super-blocks (Q4_K,
// Q5_K, Q6_K, and Q8_K, which quantizes activations for the K-quant dot products and is never
// written to files).
import { UsageError } from '../errors.js'
import { type NativeQuantType, native } from '../native.js'

/** Every type the addon quantizes. */
export type QuantType = NativeQuantType
/** ggml's 32-element block types. */
export type BlockQuantType = Extract<QuantType, 'q8_0' | 'q4_0' | 'q5_0' | 'q5_1'>
/** ggml's K-quants: super-blocks of 256 elements. */
export type KQuantType = Exclude<QuantType, BlockQuantType>
/** The K-quants GGUF files hold (Q8_K is for activations only). */
export type KQuantWeightType = Exclude<KQuantType, 'q8_k'>

/** Per type: elements per block, bytes per block, ggml type id (FORMATS.md, "ggml block quantization"). */
export const BLOCK_QUANT_TYPES: Readonly<
  Record<QuantType, { blockElements: number; blockBytes: number; ggmlId: number }>
> = {
  q8_0: { blockElements: 32, blockBytes: 34, ggmlId: 8 },
  q4_0: { blockElements: 32, blockBytes: 18, ggmlId: 2 },
  q4_k: { blockElements: 256, blockBytes: 144, ggmlId: 12 },
  q6_k: { blockElements: 256, blockBytes: 210, ggmlId: 14 },
  q8_k: { blockElements: 256, blockBytes: 292, ggmlId: 15 },
  q5_0: { blockElements: 32, blockBytes: 22, ggmlId: 6 },
  q5_1: { blockElements: 32, blockBytes: 24, ggmlId: 7 },
  q5_k: { blockElements: 256, blockBytes: 176, ggmlId: 13 },
}

/** The block types GGUF files hold, by ggml's name (Q8_0, Q5_K…): every type but Q8_K. */
export const GGUF_BLOCK_TYPES: Readonly<Record<string, Exclude<QuantType, 'q8_k'>>> = Object.fromEntries(
  (Object.keys(BLOCK_QUANT_TYPES) as QuantType[])
    .filter((t) => t !== 'q8_k')
    .map((t) => [t.toUpperCase(), t]),
)

/** Whether rows of `cols` elements split into whole blocks of `type`. */
export function canQuantizeRows(type: QuantType, cols: number): boolean {
  return cols > 0 && cols % BLOCK_QUANT_TYPES[type].blockElements === 0
}

/** Bytes of `rows` quantized rows of `cols` elements. */
export function quantizedBytes(type: QuantType, rows: number, cols: number): number {
  const t = BLOCK_QUANT_TYPES[type]
  return rows * (cols / t.blockElements) * t.blockBytes
}

function checkType(type: string): asserts type is QuantType {
  if (!Object.hasOwn(BLOCK_QUANT_TYPES, type)) {
    throw new UsageError(
      `quantization type must be one of ${Object.keys(BLOCK_QUANT_TYPES).join(', ')}, got "${type}"`,
    )
  }
}

/** Quantizes `src` (rows, cols) into ggml blocks, on `threads` threads (the bytes do not depend on it). */
export function quantizeRows(
  type: QuantType,
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
  type: QuantType,
  bytes: Uint8Array,
  rows: number,
  cols: number,
  threads = 1,
): Float32Array {
  checkType(type)
  return native().dequantize(type, bytes, rows, cols, threads)
}
