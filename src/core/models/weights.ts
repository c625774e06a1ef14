// Checkpoint tensors as graph inputs. Matrices are used in place from the mapped file (F32, F16,
// BF16, or ggml blocks from a GGUF file); vectors (norm weights, biases) are small and converted to
// f32 once at load. A requested compute dtype converts float matrices once, at load.
import { FormatError } from '../errors.js'
import { allocBits, bitsView, convertBits, type FloatDType, toFloat32 } from '../formats/float.js'
import { type NativeDType, native } from '../native.js'
import { GGUF_BLOCK_TYPES } from '../quant/block-quant.js'
import type { GraphBuilder, TensorId } from '../runtime/graph-builder.js'

/** One stored tensor: a safetensors view, or a GGUF tensor under its Hugging Face name. */
export interface WeightView {
  name: string
  /** Safetensors / GGUF type name: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, … */
  dtype: string
  /** Row-major shape. */
  shape: number[]
  data: Uint8Array
  file: string
}

/** How a source lays weights out, where that differs between Hugging Face folders and GGUF files. */
export interface WeightLayout {
  /** GPT-2 Conv1D weights are stored (out, in) (GGUF) rather than (in, out) (transformers). */
  conv1dTransposed: boolean
  /** llama q/k rows are permuted for interleaved rope pairs (llama.cpp's llama GGUF files). */
  ropeInterleaved: boolean
}

export const HF_LAYOUT: WeightLayout = { conv1dTransposed: false, ropeInterleaved: false }

/**
 * Row `o` of a q or k matrix as llama.cpp's converter stores it (ropeInterleaved) is row
 * ggufRopeSourceRow(o, headSize) of the transformers matrix: within each head, the rotate-half
 * pairs (j, j + HS/2) become adjacent rows (2j, 2j + 1).
 */
export function ggufRopeSourceRow(o: number, headSize: number): number {
  const h = Math.floor(o / headSize)
  const r = o - h * headSize
  return h * headSize + (r & 1) * (headSize / 2) + (r >> 1)
}

/**
 * The heads whose rows llama.cpp permuted in a q or k tensor, or in anything laid out by their rows
 * (a bias, a LoRA B): `name` is a checkpoint tensor or module name (…self_attn.q_proj…). 0: none.
 */
export function ropePermutedHeads(
  name: string,
  config: { numHeads: number; numKvHeads: number },
  layout: WeightLayout,
): number {
  if (!layout.ropeInterleaved) return 0
  const m = /(?:^|\.)self_attn\.(q|k)_proj(?:\.|$)/.exec(name)
  return m === null ? 0 : m[1] === 'q' ? config.numHeads : config.numKvHeads
}

/**
 * The rows of a matrix (any element type, `m.length / rows` elements a row) from transformers'
 * order into llama.cpp's interleaved one (`to` 'gguf'), or back ('hf').
 */
export function permuteRopeRows<T extends Float32Array | Uint8Array>(
  m: T,
  rows: number,
  headSize: number,
  to: 'gguf' | 'hf',
): T {
  const len = m.length / rows
  const out = new (m.constructor as new (n: number) => T)(m.length)
  for (let o = 0; o < rows; o++) {
    const src = ggufRopeSourceRow(o, headSize) * len
    if (to === 'gguf') out.set(m.subarray(src, src + len), o * len)
    else out.set(m.subarray(o * len, (o + 1) * len), src)
  }
  return out
}

/** Weight dtype to compute in: 'auto' keeps each tensor as stored. */
export type ComputeDType = 'auto' | 'f32' | 'f16' | 'bf16'

const NATIVE_DTYPES: Record<string, NativeDType> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  ...GGUF_BLOCK_TYPES,
}
const FLOAT_NAMES: Record<string, FloatDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16' }
const KILN_TYPES = Object.keys(NATIVE_DTYPES).join(', ')

export class WeightSet {
  private readonly ids = new Map<string, TensorId>()

  constructor(
    private readonly views: Map<string, WeightView>,
    private readonly g: GraphBuilder,
    readonly layout: WeightLayout = HF_LAYOUT,
    private readonly computeDType: ComputeDType = 'auto',
  ) {}

  has(name: string): boolean {
    return this.views.has(name)
  }

  private view(name: string, shape: number[]): WeightView {
    const v = this.views.get(name)
    if (!v) throw new FormatError(`checkpoint is missing tensor "${name}"`)
    const same = v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i])
    if (!same) {
      throw new FormatError(
        `${v.file}: tensor "${name}" has shape [${v.shape.join(', ')}], the config implies [${shape.join(', ')}]`,
      )
    }
    return v
  }

  /** A 2-D weight, read in place by the kernels (or converted once to the compute dtype). */
  matrix(name: string, shape: [number, number]): TensorId {
    const known = this.ids.get(name)
    if (known !== undefined) return known
    const v = this.view(name, shape)
    const dtype = NATIVE_DTYPES[v.dtype]
    if (!dtype)
      throw new FormatError(`${v.file}: tensor "${name}" is ${v.dtype}; kiln runs ${KILN_TYPES} weights`)
    const id =
      this.computeDType === 'auto' || this.computeDType === dtype
        ? this.g.external(name, dtype, shape, v.data)
        : this.g.external(name, this.computeDType, shape, convertMatrix(v, dtype, this.computeDType))
    this.ids.set(name, id)
    return id
  }

  /**
   * Rows [from, rows) of a 2-D weight of `shape`, in place: RoBERTa's position table, whose
   * first padding_idx + 1 rows no position reads. A whole-table request is matrix() itself.
   */
  rows(name: string, shape: [number, number], from: number): TensorId {
    if (from === 0) return this.matrix(name, shape)
    const key = `${name}[${from}:]`
    const known = this.ids.get(key)
    if (known !== undefined) return known
    const v = this.view(name, shape)
    const dtype = NATIVE_DTYPES[v.dtype]
    if (!dtype || !FLOAT_NAMES[dtype])
      throw new FormatError(`${v.file}: tensor "${name}" is ${v.dtype}; expected a float type`)
    const rowBytes = v.data.byteLength / shape[0]
    const part = v.data.subarray(from * rowBytes)
    const rest: [number, number] = [shape[0] - from, shape[1]]
    const id =
      this.computeDType === 'auto' || this.computeDType === dtype
        ? this.g.external(key, dtype, rest, part)
        : this.g.external(
            key,
            this.computeDType,
            rest,
            convertMatrix({ ...v, shape: rest, data: part }, dtype, this.computeDType),
          )
    this.ids.set(key, id)
    return id
  }

  /**
   * A GPT-2 Conv1D weight of `inF` → `outF` features and whether the matmul reads it (in, out):
   * transformers stores it so, llama.cpp's GGUF files transposed.
   */
  conv1d(name: string, inF: number, outF: number): { id: TensorId; kxm: boolean } {
    if (this.layout.conv1dTransposed) return { id: this.matrix(name, [outF, inF]), kxm: false }
    return { id: this.matrix(name, [inF, outF]), kxm: true }
  }

  /** A 1-D weight converted to f32 (norm scales, biases). */
  vector(name: string, length: number): TensorId {
    const known = this.ids.get(name)
    if (known !== undefined) return known
    const v = this.view(name, [length])
    if (!FLOAT_STORED.includes(v.dtype))
      throw new FormatError(`${v.file}: tensor "${name}" is ${v.dtype}; expected a float type`)
    const id = this.g.external(name, 'f32', [length], toFloat32(v))
    this.ids.set(name, id)
    return id
  }

  optionalVector(name: string, length: number): TensorId | undefined {
    return this.has(name) ? this.vector(name, length) : undefined
  }
}

const FLOAT_STORED: readonly string[] = ['F32', 'F16', 'BF16']

/** A matrix's values in another float dtype (block types are dequantized first). */
function convertMatrix(v: WeightView, from: NativeDType, to: 'f32' | 'f16' | 'bf16'): Uint8Array {
  const [rows, cols] = v.shape
  let src: Uint32Array | Uint16Array
  let srcType: FloatDType
  if (FLOAT_NAMES[from]) {
    srcType = FLOAT_NAMES[from]
    src = bitsView(srcType, v.data)
  } else {
    const f = native().dequantize(from as 'q8_0', v.data, rows, cols)
    src = new Uint32Array(f.buffer, f.byteOffset, f.length)
    srcType = 'F32'
  }
  const dst = allocBits(FLOAT_NAMES[to], rows * cols)
  convertBits(src, srcType, dst, FLOAT_NAMES[to])
  return new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength)
}
