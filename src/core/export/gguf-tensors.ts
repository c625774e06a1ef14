// Maps a Hugging Face checkpoint's tensors to llama.cpp's GGUF tensors: names and layout changes
// from the shared table (models/gguf-names.ts) applied (Q/K row permutation for llama rope, GPT-2
// Conv1D transpose), the output dtype, and a streaming producer for each tensor's bytes.
import { FormatError } from '../errors.js'
import { allocBits, bitsView, convertBits, type FloatBits, type FloatDType } from '../formats/float.js'
import type { GgufWritableType } from '../formats/gguf-types.js'
import type { GgufTensorToWrite } from '../formats/gguf-write.js'
import type { TensorView } from '../formats/safetensors-types.js'
import type { ModelConfig } from '../models/config.js'
import { ggufNameOfHf, ggufPermutesQK, requiredGgufNames } from '../models/gguf-names.js'
import { ggufRopeSourceRow } from '../models/weights.js'
import { native } from '../native.js'
import { canQuantizeRows, type QuantType, quantizeRows } from '../quant/block-quant.js'
import { type GgufQuantMix, type MixModel, mixTensorType } from '../quant/mix.js'

/** How a tensor's rows are rearranged on the way out. */
export type TensorLayout =
  | { kind: 'copy' }
  /** llama.cpp's `permute`: within each of `heads` heads, rows (2, HS/2) become (HS/2, 2). */
  | { kind: 'permute'; heads: number }
  /** A 2-D (in, out) Conv1D weight stored as (out, in). */
  | { kind: 'transpose' }

export interface PlannedTensor {
  /** GGUF name. */
  name: string
  /** HF name, or undefined for a tensor computed here (rope_freqs). */
  source?: string
  type: GgufWritableType
  /** Output row-major shape. */
  shape: number[]
  layout: TensorLayout
  /** The source data (for computed tensors, F32 values). */
  view: TensorView
}

const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16']

/** Elements converted per chunk: bounded scratch memory whatever the tensor size. */
const CHUNK_ELEMENTS = 1 << 18

/** Where a GGUF tensor sorts in the file: globals, then blocks in order, then the head. */
function sortKey(name: string): [number, number, string] {
  const m = /^blk\.(\d+)\./.exec(name)
  if (m) return [1, Number(m[1]), name]
  const head = ['output_norm.weight', 'output_norm.bias', 'output.weight', 'output.bias']
  const i = head.indexOf(name)
  if (i >= 0) return [2, i, name]
  const first = ['token_embd.weight', 'position_embd.weight', 'rope_freqs.weight']
  return [0, first.indexOf(name), name]
}

const QUANT: Partial<Record<GgufWritableType, QuantType>> = {
  Q8_0: 'q8_0',
  Q4_0: 'q4_0',
  Q4_K: 'q4_k',
  Q6_K: 'q6_k',
}

/** Whether the writer packs `type` into ggml blocks (and the file declares a quantization version). */
export function isQuantizedType(type: GgufWritableType): boolean {
  return QUANT[type] !== undefined
}

/** What the 2-D weights become: one type for all, or a K-quant mix choosing per tensor. */
export type GgufWeightPlan = GgufWritableType | GgufQuantMix

function isMix(plan: GgufWeightPlan): plan is GgufQuantMix {
  return plan === 'q4_k_m' || plan === 'q6_k'
}

/**
 * The type of a 2-D weight under `plan`, as llama.cpp's converter and quantizer choose it:
 * `position_embd` stays F32 whatever the plan (never quantized, never narrowed); a weight whose
 * rows are not whole 32-element blocks falls back to F16 (with a warning); in Q4_0 files the head
 * (`output`, or `token_embd` when tied) is Q6_K, or Q8_0 when its rows are not whole 256-element
 * super-blocks, and an untied `token_embd` is Q4_0 like the rest. The K-quant mixes follow
 * src/core/quant/mix.ts.
 */
export function ggufWeightType(
  name: string,
  shape: number[],
  plan: GgufWeightPlan,
  model: MixModel,
  warn: (message: string) => void,
): GgufWritableType {
  const cols = shape.slice(1).reduce((a, b) => a * b, 1)
  if (name === 'position_embd.weight') return 'F32'
  if (isMix(plan)) {
    const choice = mixTensorType(plan, name, cols, model)
    if (choice.wanted !== undefined) {
      warn(`${name}: rows of ${cols} are not whole ${choice.wanted} blocks of 256; written as ${choice.type}`)
    }
    return choice.type
  }
  const dtype = plan
  const q = QUANT[dtype]
  if (q === undefined) return dtype
  if (!canQuantizeRows(q, cols)) {
    warn(`${name}: rows of ${cols} are not whole ${dtype} blocks of 32; written as F16`)
    return 'F16'
  }
  const head = name === 'output.weight' || (!model.hasOutput && name === 'token_embd.weight')
  if (dtype === 'Q4_0' && head) return cols % 256 === 0 ? 'Q6_K' : 'Q8_0'
  return dtype
}

/**
 * Plans the GGUF tensors of a checkpoint. `plan` applies to 2-D weights; 1-D tensors (norms,
 * biases) stay F32, as in llama.cpp's converter. `onWarning` hears of weights kept at another type.
 */
export function planTensors(
  tensors: ReadonlyMap<string, TensorView>,
  config: ModelConfig,
  plan: GgufWeightPlan,
  extra: { name: string; values: Float32Array }[] = [],
  onWarning: (message: string) => void = () => {},
): PlannedTensor[] {
  const arch = config.architecture
  const permute = ggufPermutesQK(arch)
  // GPT-2 always ties its head to wte; the others write output.weight unless tied.
  const tiedHead = arch === 'gpt2' || config.tieWordEmbeddings
  const mixModel: MixModel = { numLayers: config.numLayers, hasOutput: !tiedHead }
  const planned: PlannedTensor[] = []
  const unknown: string[] = []
  for (const [name, view] of tensors) {
    const named = ggufNameOfHf(arch, name)
    if (named === 'buffer' || (named?.gguf === 'output.weight' && tiedHead)) continue
    if (named === undefined) {
      unknown.push(name)
      continue
    }
    const { gguf, pair } = named
    if (!FLOAT_DTYPES.includes(view.dtype)) {
      throw new FormatError(
        `${view.file}: tensor "${name}" is ${view.dtype}; only F32, F16 and BF16 export to GGUF`,
      )
    }
    let layout: TensorLayout = { kind: 'copy' }
    let shape = [...view.shape]
    if (pair.layout === 'transpose') {
      if (shape.length !== 2) {
        throw new FormatError(`${view.file}: Conv1D weight "${name}" must be 2-D, got [${shape.join(', ')}]`)
      }
      layout = { kind: 'transpose' }
      shape = [shape[1], shape[0]]
    } else if (pair.layout !== undefined && permute) {
      const heads = pair.layout === 'permute-q' ? config.numHeads : config.numKvHeads
      const rows = shape[0]
      if (rows !== heads * config.headDim) {
        throw new FormatError(
          `${view.file}: "${name}" has ${rows} rows, expected ${heads} heads × ${config.headDim} = ${heads * config.headDim}`,
        )
      }
      layout = { kind: 'permute', heads }
    }
    const type: GgufWritableType =
      shape.length <= 1 || gguf.endsWith('_norm.weight')
        ? 'F32'
        : ggufWeightType(gguf, shape, plan, mixModel, onWarning)
    planned.push({ name: gguf, source: name, type, shape, layout, view })
  }
  if (unknown.length > 0) {
    throw new FormatError(
      `${config.architecture} checkpoint has tensors with no llama.cpp equivalent: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? `, … (${unknown.length})` : ''}`,
    )
  }
  for (const e of extra) {
    const data = new Uint8Array(e.values.buffer, e.values.byteOffset, e.values.byteLength)
    const view: TensorView = {
      name: e.name,
      dtype: 'F32',
      shape: [e.values.length],
      data,
      file: '(computed)',
    }
    planned.push({ name: e.name, type: 'F32', shape: [e.values.length], layout: { kind: 'copy' }, view })
  }

  const seen = new Map<string, PlannedTensor>()
  for (const p of planned) {
    const other = seen.get(p.name)
    if (other) throw new FormatError(`tensors "${other.source}" and "${p.source}" both map to "${p.name}"`)
    seen.set(p.name, p)
  }
  checkRequired(seen, config, tiedHead)
  return planned.sort((a, b) => {
    const ka = sortKey(a.name)
    const kb = sortKey(b.name)
    return ka[0] - kb[0] || ka[1] - kb[1] || (ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0)
  })
}

/** The tensors llama.cpp requires, so that a checkpoint missing one fails here, by name. */
function checkRequired(byName: Map<string, PlannedTensor>, c: ModelConfig, tiedHead: boolean): void {
  const need = requiredGgufNames(c.architecture, c.numLayers, tiedHead)
  const missing = need.filter((n) => !byName.has(n))
  if (missing.length > 0) {
    throw new FormatError(
      `checkpoint is missing tensors llama.cpp needs (GGUF names): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, … (${missing.length})` : ''}`,
    )
  }
  const embd = byName.get('token_embd.weight')!
  if (embd.shape.length !== 2 || embd.shape[0] !== c.vocabSize || embd.shape[1] !== c.hiddenSize) {
    throw new FormatError(
      `token embedding "${embd.source}" is [${embd.shape.join(', ')}], expected [${c.vocabSize}, ${c.hiddenSize}] from config.json`,
    )
  }
}

/** The planned tensor as the writer wants it: shape, type, and a producer streaming its bytes. */
export function toWritable(p: PlannedTensor): GgufTensorToWrite {
  return { name: p.name, type: p.type, shape: p.shape, data: () => tensorChunks(p) }
}

function asBytes(bits: FloatBits, n = bits.length): Uint8Array {
  return new Uint8Array(bits.buffer, bits.byteOffset, n * bits.BYTES_PER_ELEMENT)
}

/** Streams the output bytes of one planned tensor in bounded chunks, reusing one scratch buffer. */
function* tensorChunks(p: PlannedTensor): Generator<Uint8Array> {
  const from = p.view.dtype as FloatDType
  const quant = QUANT[p.type]
  // A quantized tensor is staged as F32 rows, then packed into blocks natively.
  const to: FloatDType = quant === undefined ? (p.type as FloatDType) : 'F32'
  const src = bitsView(from, p.view.data)
  const total = src.length
  if (total === 0) return
  const cols = p.shape.length >= 2 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 1
  const rows = total / cols
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols))
  const chunkElements = Math.min(total, rowsPerChunk * cols)
  const out = from === to ? undefined : allocBits(to, chunkElements)
  // Every hardware thread shares each chunk's rows: the K-quant searches (Q4_K ≈ 8M values/s per
  // thread) dominate an export, and the bytes do not depend on the thread count.
  const threads = quant === undefined ? 1 : native().cpuInfo().hardwareThreads

  // Every chunk below is whole rows, so it is whole blocks.
  const emit = (bits: FloatBits): Uint8Array => {
    let f = bits
    if (out) {
      convertBits(bits, from, out, to)
      f = out.subarray(0, bits.length)
    }
    if (quant === undefined) return asBytes(f)
    const f32 = new Float32Array(f.buffer, f.byteOffset, f.length)
    return quantizeRows(quant, f32, f.length / cols, cols, threads)
  }

  const { layout } = p
  if (layout.kind === 'copy') {
    for (let i = 0; i < total; i += chunkElements)
      yield emit(src.subarray(i, Math.min(total, i + chunkElements)))
    return
  }
  const stage = allocBits(from, chunkElements)
  if (layout.kind === 'permute') {
    // Rotate-half pairs become adjacent rows, as llama.cpp's converter stores q and k.
    const hs = rows / layout.heads
    for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
      const r1 = Math.min(rows, r0 + rowsPerChunk)
      for (let o = r0; o < r1; o++) {
        const src0 = ggufRopeSourceRow(o, hs) * cols
        stage.set(src.subarray(src0, src0 + cols), (o - r0) * cols)
      }
      yield emit(stage.subarray(0, (r1 - r0) * cols))
    }
    return
  }
  // transpose: source (inDim, outDim) → output (outDim, inDim); output row o is source column o.
  const inDim = p.shape[1]
  const outDim = p.shape[0]
  for (let r0 = 0; r0 < outDim; r0 += rowsPerChunk) {
    const r1 = Math.min(outDim, r0 + rowsPerChunk)
    const width = r1 - r0
    for (let k = 0; k < inDim; k++) {
      const base = k * outDim
      for (let o = 0; o < width; o++) stage[o * inDim + k] = src[base + r0 + o]
    }
    yield emit(stage.subarray(0, width * inDim))
  }
}
