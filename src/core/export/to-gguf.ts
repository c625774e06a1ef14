// Converts a Hugging Face model folder (llama, mistral, qwen2, gpt2) into a GGUF file llama.cpp
// loads: llama.cpp's tensor names, layouts and metadata, as its convert_hf_to_gguf.py writes them.
import { existsSync, statSync } from 'node:fs'
import nodePath from 'node:path'
import { ConfigError, option, UsageError } from '../errors.js'
import { openCheckpoint } from '../formats/checkpoint.js'
import {
  GGML_QUANTIZATION_VERSION,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_FILE_TYPE,
  type GgufValue,
  gguf,
} from '../formats/gguf-types.js'
import { writeGguf } from '../formats/gguf-write.js'
import { loadModelConfig, type ModelConfig } from '../models/config.js'
import { refuseEscapingLinks } from '../util/folder-links.js'
import { generationMetadata } from './gguf-generation.js'
import { type GgufWeightPlan, isQuantizedType, planTensors, toWritable } from './gguf-tensors.js'
import { tokenizerMetadata } from './gguf-tokenizer.js'

export type GgufExportDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k_m' | 'q6_k'

export interface ExportGgufOptions {
  /**
   * Type of the 2-D weights; 1-D tensors (norms, biases) stay F32. For q8_0 / q4_0, weights whose
   * rows are not whole 32-element blocks are F16, and q4_0 keeps `output` / `token_embd` at Q8_0.
   * q4_k_m and q6_k are llama.cpp's K-quant mixes (per-tensor Q4_K / Q6_K, see
   * src/core/quant/mix.ts); rows that are not whole 256-element super-blocks fall back to Q8_0.
   */
  dtype: GgufExportDType
  /** Replace an existing output file. Default false. */
  force?: boolean
  /** `general.name`; defaults to the repo name of an HF cache snapshot, else the folder name. */
  name?: string
}

export type ExportGgufEvent =
  | { type: 'start'; tensors: number; path: string }
  | { type: 'tensor'; index: number; count: number; name: string; bytes: number }
  | { type: 'warning'; message: string }
  | { type: 'done'; path: string; bytes: number }

export interface ExportGgufResult {
  path: string
  bytes: number
  tensors: number
  /** llama.cpp's name for the architecture. */
  architecture: 'llama' | 'qwen2' | 'gpt2'
  warnings: string[]
}

/** Per export dtype: what the 2-D weights become, and the file's `general.file_type`. */
export const GGUF_EXPORT_DTYPES: Record<GgufExportDType, { plan: GgufWeightPlan; fileType: number }> = {
  f32: { plan: 'F32', fileType: GGUF_FILE_TYPE.F32 },
  f16: { plan: 'F16', fileType: GGUF_FILE_TYPE.F16 },
  bf16: { plan: 'BF16', fileType: GGUF_FILE_TYPE.BF16 },
  q8_0: { plan: 'Q8_0', fileType: GGUF_FILE_TYPE.Q8_0 },
  q4_0: { plan: 'Q4_0', fileType: GGUF_FILE_TYPE.Q4_0 },
  q4_k_m: { plan: 'q4_k_m', fileType: GGUF_FILE_TYPE.Q4_K_M },
  q6_k: { plan: 'q6_k', fileType: GGUF_FILE_TYPE.Q6_K },
}

/** The EOS id among written metadata entries. */
function eosOf(entries: [string, GgufValue][]): number | undefined {
  const v = entries.find(([k]) => k === 'tokenizer.ggml.eos_token_id')?.[1]
  return v?.type === 'u32' ? Number(v.value) : undefined
}

/** llama.cpp architecture name: mistral runs as llama. */
function ggufArchitecture(c: ModelConfig): ExportGgufResult['architecture'] {
  return c.architecture === 'mistral' ? 'llama' : c.architecture
}

/** The repo name of an HF cache snapshot folder (models--org--name/snapshots/sha), else the folder's name. */
function defaultName(dir: string): string {
  const abs = nodePath.resolve(dir)
  const repo = nodePath.basename(nodePath.dirname(nodePath.dirname(abs)))
  if (nodePath.basename(nodePath.dirname(abs)) === 'snapshots' && repo.startsWith('models--')) {
    return repo.slice('models--'.length).replace('--', '/')
  }
  return nodePath.basename(abs)
}

/**
 * llama.cpp's llama3 rope scaling: per-frequency divisors in a `rope_freqs.weight` tensor, computed
 * as convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors does.
 */
export function llama3RopeFactors(c: ModelConfig): Float32Array {
  const rope = c.rope!
  const dim = c.headDim
  const factor = rope.factor ?? 8
  const low = rope.lowFreqFactor ?? 1
  const high = rope.highFreqFactor ?? 4
  const oldCtx = rope.originalMaxPositions ?? 8192
  const lowWavelen = oldCtx / low
  const highWavelen = oldCtx / high
  const out = new Float32Array(dim / 2)
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(rope.theta ** Math.fround((2 * i) / dim)))
    const wavelen = (2 * Math.PI) / freq
    if (wavelen < highWavelen) out[i] = 1
    else if (wavelen > lowWavelen) out[i] = factor
    else {
      const smooth = (oldCtx / wavelen - low) / (high - low)
      out[i] = 1 / ((1 - smooth) / factor + smooth)
    }
  }
  return out
}

function modelMetadata(c: ModelConfig, arch: string): [string, GgufValue][] {
  const k = (key: string) => `${arch}.${key}`
  const m: [string, GgufValue][] = [
    [k('vocab_size'), gguf.u32(c.vocabSize)],
    [k('context_length'), gguf.u32(c.maxPositions)],
    [k('embedding_length'), gguf.u32(c.hiddenSize)],
    [k('block_count'), gguf.u32(c.numLayers)],
    [k('feed_forward_length'), gguf.u32(c.intermediateSize)],
    [k('attention.head_count'), gguf.u32(c.numHeads)],
  ]
  if (arch === 'gpt2') {
    m.push([k('attention.layer_norm_epsilon'), gguf.f32(c.norm.eps)])
    return m
  }
  m.push([k('attention.head_count_kv'), gguf.u32(c.numKvHeads)])
  if (c.headDim * c.numHeads !== c.hiddenSize) {
    m.push(
      [k('attention.key_length'), gguf.u32(c.headDim)],
      [k('attention.value_length'), gguf.u32(c.headDim)],
    )
  }
  const rope = c.rope!
  m.push(
    [k('rope.dimension_count'), gguf.u32(c.headDim)],
    [k('rope.freq_base'), gguf.f32(rope.theta)],
    [k('attention.layer_norm_rms_epsilon'), gguf.f32(c.norm.eps)],
  )
  if (rope.type === 'linear') {
    m.push(
      [k('rope.scaling.type'), gguf.string('linear')],
      [k('rope.scaling.factor'), gguf.f32(rope.factor!)],
    )
  }
  return m
}

/**
 * Writes `outPath` (atomically) from the HF folder `modelDir`. Refuses an existing output unless
 * `force`. Progress and warnings arrive as events through `onProgress`.
 */
export function exportGguf(
  modelDir: string,
  outPath: string,
  options: ExportGgufOptions,
  onProgress?: (event: ExportGgufEvent) => void,
): ExportGgufResult {
  const target = Object.hasOwn(GGUF_EXPORT_DTYPES, options.dtype)
    ? GGUF_EXPORT_DTYPES[options.dtype]
    : undefined
  if (target === undefined) {
    throw new UsageError(
      `GGUF export dtype must be one of ${Object.keys(GGUF_EXPORT_DTYPES).join(', ')}, got "${options.dtype}"`,
    )
  }
  if (existsSync(outPath) && options.force !== true) {
    throw new UsageError(`${outPath} already exists (use ${option('force')} to replace it)`)
  }
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new UsageError(`${outPath} is a folder`)
  // A folder from elsewhere (a clone, an archive) may link out of itself: nothing outside is read.
  refuseEscapingLinks(modelDir)
  const config = loadModelConfig(modelDir)
  const arch = ggufArchitecture(config)
  if (config.rope?.type === 'llama3' && arch !== 'llama') {
    throw new ConfigError(`llama3 rope scaling on ${config.architecture} has no llama.cpp equivalent`)
  }
  const tok = tokenizerMetadata(modelDir, config)
  const warnings = [...tok.warnings]
  if (tok.padded > 0) {
    warnings.push(
      `tokenizer has ${config.vocabSize - tok.padded} tokens; padded to vocab_size ${config.vocabSize}`,
    )
  }
  const extra =
    config.rope?.type === 'llama3' ? [{ name: 'rope_freqs.weight', values: llama3RopeFactors(config) }] : []
  const planned = planTensors(openCheckpoint(modelDir), config, target.plan, extra, (m) => warnings.push(m))
  for (const message of warnings) onProgress?.({ type: 'warning', message })
  const quantized = planned.some((p) => isQuantizedType(p.type))
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gguf.string(arch)],
    ['general.name', gguf.string(options.name ?? defaultName(modelDir))],
    ['general.alignment', gguf.u32(GGUF_DEFAULT_ALIGNMENT)],
    ['general.file_type', gguf.u32(target.fileType)],
    ...(quantized
      ? ([['general.quantization_version', gguf.u32(GGML_QUANTIZATION_VERSION)]] as [string, GgufValue][])
      : []),
    ...modelMetadata(config, arch),
    ...tok.entries,
    ...generationMetadata(modelDir, config, eosOf(tok.entries), config.vocabSize, (m) => {
      warnings.push(m)
      onProgress?.({ type: 'warning', message: m })
    }),
  ]
  onProgress?.({ type: 'start', tensors: planned.length, path: outPath })
  const written = writeGguf(
    outPath,
    { metadata, tensors: planned.map(toWritable) },
    {
      overwrite: options.force === true,
      onTensor: (e) => onProgress?.({ type: 'tensor', ...e }),
    },
  )
  onProgress?.({ type: 'done', path: outPath, bytes: written.bytes })
  return { path: outPath, bytes: written.bytes, tensors: planned.length, architecture: arch, warnings }
}
