// GGUF → GGUF at another type: the file's metadata, tensor names, order and layout are kept (a
// llama file stays permuted for interleaved rope); each 2-D weight is dequantized to f32 in chunks
// of rows and re-encoded with the same per-tensor policy as export, or copied byte for byte when
// its type does not change. 1-D tensors stay as they are.
import { existsSync, statSync } from 'node:fs'
import { FormatError, option, UsageError } from '../errors.js'
import { ggufWeightType, isQuantizedType } from '../export/gguf-tensors.js'
import { GGUF_EXPORT_DTYPES, type GgufExportDType } from '../export/to-gguf.js'
import { allocBits, bitsView, convertBits, FLOAT_SIZE, type FloatDType } from '../formats/float.js'
import { type GgufFile, ggufValue, openGguf } from '../formats/gguf-read.js'
import {
  GGML_QUANTIZATION_VERSION,
  type GgufValue,
  type GgufWritableType,
  gguf,
} from '../formats/gguf-types.js'
import { type GgufTensorToWrite, writeGguf } from '../formats/gguf-write.js'
import { native } from '../native.js'
import {
  dequantizeRows,
  GGUF_BLOCK_TYPES,
  type QuantType,
  quantizedBytes,
  quantizeRows,
} from '../quant/block-quant.js'

export interface RequantizeResult {
  path: string
  bytes: number
  tensors: number
  warnings: string[]
}

export type RequantizeEvent =
  | { type: 'tensor'; index: number; count: number; name: string; bytes: number }
  | { type: 'warning'; message: string }

const FLOAT: Record<string, FloatDType> = { F32: 'F32', F16: 'F16', BF16: 'BF16' }
/** Block types read from the source (the 5-bit ones llama.cpp writes are read, not written). */
const BLOCKS: Readonly<Record<string, QuantType>> = GGUF_BLOCK_TYPES
/** f32 elements staged per chunk: bounded memory whatever the tensor. */
const CHUNK_ELEMENTS = 1 << 20

/** Bytes of one row of `cols` elements stored as `type`. */
function rowBytes(type: string, cols: number): number {
  return BLOCKS[type] ? quantizedBytes(BLOCKS[type], 1, cols) : cols * FLOAT_SIZE[FLOAT[type]]
}

/** Rows [r0, r1) of a stored tensor as f32. */
function rowsToF32(type: string, data: Uint8Array, cols: number, r0: number, r1: number): Float32Array {
  const slice = data.subarray(r0 * rowBytes(type, cols), r1 * rowBytes(type, cols))
  if (BLOCKS[type]) return dequantizeRows(BLOCKS[type], slice, r1 - r0, cols)
  const out = new Float32Array((r1 - r0) * cols)
  convertBits(bitsView(FLOAT[type], slice), FLOAT[type], new Uint32Array(out.buffer), 'F32')
  return out
}

/** One tensor re-encoded as `to`, streamed in whole-row chunks. */
function* reencode(
  type: string,
  to: GgufWritableType,
  data: Uint8Array,
  shape: number[],
): Generator<Uint8Array> {
  const cols = shape[shape.length - 1]
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1)
  const step = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols))
  const threads = native().cpuInfo().hardwareThreads
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r1 = Math.min(rows, r0 + step)
    const f = rowsToF32(type, data, cols, r0, r1)
    if (BLOCKS[to]) {
      yield quantizeRows(BLOCKS[to], f, r1 - r0, cols, threads)
    } else {
      const dst = allocBits(FLOAT[to], f.length)
      convertBits(new Uint32Array(f.buffer, f.byteOffset, f.length), 'F32', dst, FLOAT[to])
      yield new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength)
    }
  }
}

function blockCount(src: GgufFile): number {
  const arch = ggufValue(src, 'general.architecture')
  const n = ggufValue(src, `${String(arch)}.block_count`)
  if (typeof n !== 'number') throw new FormatError(`${src.path}: "${String(arch)}.block_count" is missing`)
  return n
}

export function requantizeGguf(
  srcPath: string,
  outPath: string,
  options: { dtype: GgufExportDType; force?: boolean },
  onProgress?: (event: RequantizeEvent) => void,
): RequantizeResult {
  const target = Object.hasOwn(GGUF_EXPORT_DTYPES, options.dtype)
    ? GGUF_EXPORT_DTYPES[options.dtype]
    : undefined
  if (!target)
    throw new UsageError(
      `type must be one of ${Object.keys(GGUF_EXPORT_DTYPES).join(', ')}, got "${options.dtype}"`,
    )
  if (existsSync(outPath) && options.force !== true)
    throw new UsageError(`${outPath} already exists (use ${option('force')} to replace it)`)
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new UsageError(`${outPath} is a folder`)
  const src = openGguf(srcPath)
  const warnings: string[] = []
  const warn = (m: string) => {
    warnings.push(m)
    onProgress?.({ type: 'warning', message: m })
  }
  const mix = { numLayers: blockCount(src), hasOutput: src.tensors.has('output.weight') }
  const tensors: GgufTensorToWrite[] = []
  for (const t of src.tensors.values()) {
    if (!FLOAT[t.type] && !BLOCKS[t.type])
      throw new FormatError(
        `${srcPath}: tensor "${t.name}" is ${t.type}; kiln re-quantizes F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K`,
      )
    const weight = t.shape.length === 2 && t.name.endsWith('.weight')
    const to: GgufWritableType = weight
      ? ggufWeightType(t.name, t.shape, target.plan, mix, warn)
      : (t.type as GgufWritableType)
    tensors.push({
      name: t.name,
      type: to,
      shape: t.shape,
      data: to === t.type ? t.data : () => reencode(t.type, to, t.data, t.shape),
    })
  }
  // Every key kept in place but the file type, which follows the general.* keys (with the
  // quantization version when blocks are written).
  const metadata: [string, GgufValue][] = [...src.metadata].filter(
    ([k]) => k !== 'general.file_type' && k !== 'general.quantization_version',
  )
  const quantized = tensors.some((t) => isQuantizedType(t.type))
  let at = 0
  while (at < metadata.length && metadata[at][0].startsWith('general.')) at++
  metadata.splice(at, 0, ['general.file_type', gguf.u32(target.fileType)])
  if (quantized)
    metadata.splice(at + 1, 0, ['general.quantization_version', gguf.u32(GGML_QUANTIZATION_VERSION)])
  const written = writeGguf(
    outPath,
    { metadata, tensors },
    { overwrite: options.force === true, onTensor: (e) => onProgress?.({ type: 'tensor', ...e }) },
  )
  return { path: outPath, bytes: written.bytes, tensors: tensors.length, warnings }
}
