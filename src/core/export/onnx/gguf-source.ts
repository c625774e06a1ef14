// A GGUF file as the source of an ONNX export: its tensors as the folder export reads them, and
// the Hugging Face files written beside the graph rebuilt from its metadata. ggml block types
// (Q8_0, Q4_K, …) have no ONNX form, so they are dequantized to float32 (the export's dtype then
// converts or requantizes them as it does a folder's weights); llama q/k rows go back from
// llama.cpp's interleaved-pair order to transformers' rotate-half order, so the graph is the one a
// folder export writes. GPT-2's Conv1D weights stay (out, in): the graph translator stores every
// matmul weight (in, out), so they come out as a folder's do; GPT-2 tensors take GPT2LMHeadModel's
// "transformer." prefix, so even the initializer names are a folder export's.
import { writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { FormatError } from '../../errors.js'
import type { GgufFile } from '../../formats/gguf-read.js'
import type { ModelConfig } from '../../models/config.js'
import type { GenerationDefaults } from '../../models/generation-config.js'
import {
  permuteRopeRows,
  ropePermutedHeads,
  type WeightLayout,
  type WeightView,
} from '../../models/weights.js'
import { native } from '../../native.js'
import { GGUF_BLOCK_TYPES } from '../../quant/block-quant.js'
import type { ModelSource } from '../../runtime/model-source.js'
import { ggufTokenizerFiles } from '../../tokenizer/gguf-tokenizer-json.js'

type Json = Record<string, unknown>

export interface GgufExportWeights {
  /** HF-named tensors: float types as stored (q/k rows reordered), block types as F32. */
  weights: Map<string, WeightView>
  layout: WeightLayout
  /** Tensors dequantized, per GGUF type. */
  dequantized: Map<string, number>
}

/** The tensors of a GGUF source as the ONNX graph reads them (see the top of the file). */
export function ggufExportWeights(source: ModelSource): GgufExportWeights {
  const cfg = source.config
  const dequantized = new Map<string, number>()
  const weights = new Map<string, WeightView>()
  for (const [name, view] of source.weights) {
    let v = view
    const block = Object.hasOwn(GGUF_BLOCK_TYPES, v.dtype) ? GGUF_BLOCK_TYPES[v.dtype] : undefined
    if (block && v.shape.length === 2) {
      const [rows, cols] = v.shape
      const f = native().dequantize(block, v.data, rows, cols)
      v = { ...v, dtype: 'F32', data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) }
      dequantized.set(view.dtype, (dequantized.get(view.dtype) ?? 0) + 1)
    }
    const heads = /\.(weight|bias)$/.test(name) ? ropePermutedHeads(name, cfg, source.layout) : 0
    if (heads > 0) v = unpermuteRows(v, heads, cfg.headDim)
    const hfName = cfg.architecture === 'gpt2' && !name.startsWith('lm_head.') ? `transformer.${name}` : name
    weights.set(hfName, { ...v, name: hfName })
  }
  return { weights, layout: { ...source.layout, ropeInterleaved: false }, dequantized }
}

/** Rows of a q or k weight (or bias) of llama.cpp's interleaved order back in transformers' order. */
function unpermuteRows(v: WeightView, heads: number, headSize: number): WeightView {
  const rows = v.shape[0]
  if (rows !== heads * headSize)
    throw new FormatError(
      `${v.file}: "${v.name}" has ${rows} rows, expected ${heads} heads × ${headSize} = ${heads * headSize}`,
    )
  return { ...v, data: permuteRopeRows(v.data, rows, headSize, 'hf') }
}

/** The one warning line for dequantized tensors (counted per GGUF type), or undefined when none were. */
export function dequantizedWarning(
  file: string,
  counts: Map<string, number>,
  dtype: string,
): string | undefined {
  if (counts.size === 0) return undefined
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  const per = [...counts].map(([type, n]) => `${type}: ${n}`).join(', ')
  const then =
    dtype === 'fp32' ? '' : dtype === 'fp16' ? ', then to float16' : `, then quantized again for ${dtype}`
  return `${nodePath.basename(file)}: ${total} tensor${total === 1 ? '' : 's'} dequantized from ggml block types ONNX cannot hold (${per}) to float32${then}`
}

/** config.json (transformers' LlamaConfig / Qwen2Config / GPT2Config names) of a GGUF's config. */
export function hfConfigJson(cfg: ModelConfig): Json {
  const tokens: Json = {}
  if (cfg.bosTokenId !== undefined) tokens.bos_token_id = cfg.bosTokenId
  if (cfg.eosTokenIds.length > 0)
    tokens.eos_token_id = cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : cfg.eosTokenIds.slice()
  if (cfg.padTokenId !== undefined) tokens.pad_token_id = cfg.padTokenId
  if (cfg.architecture === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: cfg.vocabSize,
      n_embd: cfg.hiddenSize,
      n_head: cfg.numHeads,
      n_layer: cfg.numLayers,
      n_inner: cfg.intermediateSize,
      n_positions: cfg.maxPositions,
      layer_norm_epsilon: shortestF32(cfg.norm.eps),
      activation_function: cfg.activation === 'gelu' ? 'gelu' : 'gelu_new',
      tie_word_embeddings: true,
      ...tokens,
    }
  }
  const classes = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' }
  const json: Json = {
    architectures: [classes[cfg.architecture]],
    model_type: cfg.architecture,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositions,
    rms_norm_eps: shortestF32(cfg.norm.eps),
    hidden_act: cfg.activation === 'silu' ? 'silu' : cfg.activation === 'gelu' ? 'gelu' : 'gelu_pytorch_tanh',
    tie_word_embeddings: cfg.tieWordEmbeddings,
    ...tokens,
  }
  if (cfg.architecture === 'llama') {
    json.attention_bias = cfg.attentionBias
    json.mlp_bias = cfg.mlpBias
  }
  if (cfg.architecture === 'qwen2') json.use_sliding_window = false
  const rope = cfg.rope
  if (rope) {
    json.rope_theta = shortestF32(rope.theta)
    if (rope.type === 'linear') json.rope_scaling = { rope_type: 'linear', factor: rope.factor }
    if (rope.type === 'llama3')
      json.rope_scaling = {
        rope_type: 'llama3',
        factor: rope.factor,
        low_freq_factor: rope.lowFreqFactor,
        high_freq_factor: rope.highFreqFactor,
        original_max_position_embeddings: rope.originalMaxPositions,
      }
  }
  return json
}

/**
 * The shortest decimal that rounds to the same float32 as `x`: GGUF stores these floats as f32, so
 * a config's 1e-6 comes back as 9.99999997e-7; config.json says 1e-6 again.
 */
function shortestF32(x: number): number {
  const f = Math.fround(x)
  for (let digits = 1; digits < 17; digits++) {
    const d = Number(x.toPrecision(digits))
    if (Math.fround(d) === f) return d
  }
  return x
}

/** generation_config.json of a GGUF's generation defaults. */
export function generationConfigJson(gen: GenerationDefaults): Json {
  const json: Json = {}
  if (gen.bosTokenId !== undefined) json.bos_token_id = gen.bosTokenId
  if (gen.eosTokenIds.length > 0)
    json.eos_token_id = gen.eosTokenIds.length === 1 ? gen.eosTokenIds[0] : gen.eosTokenIds.slice()
  if (gen.padTokenId !== undefined) json.pad_token_id = gen.padTokenId
  if (gen.doSample !== undefined) json.do_sample = gen.doSample
  if (gen.temperature !== undefined) json.temperature = gen.temperature
  if (gen.topK !== undefined) json.top_k = gen.topK
  if (gen.topP !== undefined) json.top_p = gen.topP
  if (gen.minP !== undefined) json.min_p = gen.minP
  if (gen.repetitionPenalty !== undefined) json.repetition_penalty = gen.repetitionPenalty
  if (gen.maxNewTokens !== undefined) json.max_new_tokens = gen.maxNewTokens
  return json
}

/**
 * Writes config.json, generation_config.json, tokenizer.json and tokenizer_config.json (with the
 * chat template) of a GGUF source into `dst`; returns their names.
 */
export function writeGgufSidecars(
  source: ModelSource,
  file: GgufFile,
  dst: string,
  configExtra: Json = {},
): string[] {
  const { tokenizer, config } = ggufTokenizerFiles(file, { modelMaxLength: source.config.maxPositions })
  const files: [string, Json][] = [
    ['config.json', { ...hfConfigJson(source.config), ...configExtra }],
    ['generation_config.json', generationConfigJson(source.generation)],
    ['tokenizer.json', tokenizer],
    ['tokenizer_config.json', config],
  ]
  for (const [name, json] of files)
    writeFileSync(nodePath.join(dst, name), `${JSON.stringify(json, null, 2)}\n`)
  return files.map(([name]) => name)
}
