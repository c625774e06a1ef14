// Llama, Mistral and Qwen2 config.json (LlamaConfig, MistralConfig, Qwen2Config; transformers v4 and
// v5 field names): sizes, RMSNorm, rotary settings, biases, and the sliding window that kiln can
// run only when it never slides.

import { shown } from '../../util/shown.js'
import type { Architecture, ModelConfig, RopeConfig } from '../config.js'
import { activation, Fields, isObject, MAX_WIDTH, tokens } from '../config-fields.js'

export type LlamaArchitecture = Exclude<Architecture, 'gpt2'>

/** transformers' class defaults for the fields kiln reads, where the JSON leaves one out. */
const DEFAULTS: Record<
  LlamaArchitecture,
  { maxPositions: number; eps: number; act: string; tie: boolean; slidingWindow: number | null }
> = {
  llama: { maxPositions: 2048, eps: 1e-6, act: 'silu', tie: false, slidingWindow: null },
  mistral: { maxPositions: 4096 * 32, eps: 1e-6, act: 'silu', tie: false, slidingWindow: 4096 },
  qwen2: { maxPositions: 32768, eps: 1e-6, act: 'silu', tie: false, slidingWindow: 4096 },
}

const DEFAULT_ROPE_THETA = 10000

export function parseLlamaConfig(f: Fields, arch: LlamaArchitecture): ModelConfig {
  const d = DEFAULTS[arch]
  const hiddenSize = f.positiveInt('hidden_size', undefined, MAX_WIDTH)
  const numHeads = f.positiveInt('num_attention_heads', undefined, MAX_WIDTH)
  const numKvHeads = f.positiveInt('num_key_value_heads', numHeads, MAX_WIDTH)
  let headDim: number
  if (f.has('head_dim')) {
    headDim = f.positiveInt('head_dim', undefined, MAX_WIDTH)
  } else {
    if (hiddenSize % numHeads !== 0) {
      f.fail(
        `"hidden_size" ${hiddenSize} is not a multiple of "num_attention_heads" ${numHeads} (and there is no "head_dim")`,
      )
    }
    headDim = hiddenSize / numHeads
  }
  const maxPositions = f.positiveInt('max_position_embeddings', d.maxPositions)
  // Mistral has no attention_bias field; its projections never have biases.
  const attentionBias =
    arch === 'qwen2' ? true : arch === 'llama' ? f.boolean('attention_bias', false) : false
  const mlpBias = arch === 'llama' ? f.boolean('mlp_bias', false) : false
  const config: ModelConfig = {
    architecture: arch,
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('intermediate_size', undefined, MAX_WIDTH),
    numLayers: f.positiveInt('num_hidden_layers', undefined, MAX_WIDTH),
    numHeads,
    numKvHeads,
    headDim,
    maxPositions,
    norm: { kind: 'rms', eps: f.positiveNumber('rms_norm_eps', d.eps) },
    activation: activation(f, 'hidden_act', d.act),
    rope: parseRope(f),
    tieWordEmbeddings: f.boolean('tie_word_embeddings', d.tie),
    attentionBias,
    mlpBias,
    ...tokens(f),
    raw: f.obj,
  }
  checkSlidingWindow(f, config)
  if (numHeads % numKvHeads !== 0) {
    f.fail(`"num_attention_heads" ${numHeads} is not a multiple of "num_key_value_heads" ${numKvHeads}`)
  }
  if (headDim % 2 !== 0) f.fail(`head size ${headDim} must be even for rotary position embeddings`)
  return config
}

/**
 * Rotary settings from v5 `rope_parameters` or v4 `rope_theta` + `rope_scaling`. A v5 file may
 * also keep the theta at the top level; `rope_parameters` wins where both are present.
 */
function parseRope(f: Fields): RopeConfig {
  let params: Fields
  const v5 = f.get('rope_parameters')
  if (v5 !== undefined) {
    if (!isObject(v5)) f.fail(`"rope_parameters" must be an object, got ${shown(v5)}`)
    // Models with several attention kinds key the parameters by layer type.
    const nested = !('rope_type' in v5) && !('rope_theta' in v5) && isObject(v5['full_attention'])
    params = nested
      ? new Fields(
          v5['full_attention'] as Record<string, unknown>,
          f.source,
          'rope_parameters.full_attention.',
        )
      : new Fields(v5, f.source, 'rope_parameters.')
  } else {
    const v4 = f.get('rope_scaling')
    if (v4 !== undefined && !isObject(v4)) f.fail(`"rope_scaling" must be an object, got ${shown(v4)}`)
    params = new Fields((v4 as Record<string, unknown>) ?? {}, f.source, 'rope_scaling.')
  }
  const theta = params.has('rope_theta')
    ? params.positiveNumber('rope_theta')
    : f.positiveNumber('rope_theta', DEFAULT_ROPE_THETA)
  const typeField = params.has('rope_type') ? 'rope_type' : 'type'
  const type = params.string(typeField, 'default')
  const partial = params.has('partial_rotary_factor') ? params : f
  if (partial.positiveNumber('partial_rotary_factor', 1) !== 1) {
    partial.fail(`${partial.label('partial_rotary_factor')} other than 1 is not supported`)
  }
  switch (type) {
    case 'default':
      return { theta, type: 'default' }
    case 'linear':
      return { theta, type: 'linear', factor: params.positiveNumber('factor') }
    case 'llama3': {
      const rope: RopeConfig = {
        theta,
        type: 'llama3',
        factor: params.positiveNumber('factor'),
        lowFreqFactor: params.positiveNumber('low_freq_factor'),
        highFreqFactor: params.positiveNumber('high_freq_factor'),
        originalMaxPositions: params.positiveInt('original_max_position_embeddings'),
      }
      if (rope.highFreqFactor! <= rope.lowFreqFactor!) {
        params.fail(
          `${params.label('high_freq_factor')} must be larger than ${params.label('low_freq_factor')}`,
        )
      }
      return rope
    }
    default:
      return params.fail(
        `rope type ${shown(type)} (${params.label(typeField)}) is not supported (supported: default, linear, llama3)`,
      )
  }
}

/** Sliding-window attention that never slides (window ≥ context) is plain causal attention. */
function checkSlidingWindow(f: Fields, c: ModelConfig): void {
  const refuse = (why: string): never =>
    f.fail(`sliding-window attention is not supported yet (${why}; kiln runs full causal attention only)`)
  const layerTypes = f.get('layer_types')
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention')) {
    refuse(`"layer_types" has ${shown(layerTypes.find((t) => t !== 'full_attention'))} layers`)
  }
  const d = DEFAULTS[c.architecture as LlamaArchitecture]
  if (c.architecture === 'llama') return
  if (c.architecture === 'qwen2') {
    if (!f.boolean('use_sliding_window', false)) return
    // Qwen2 slides only from layer max_window_layers on.
    if (f.positiveInt('max_window_layers', 28) >= c.numLayers) return
  }
  const window = 'sliding_window' in f.obj ? f.get('sliding_window') : d.slidingWindow
  if (window === undefined || window === null) return
  if (!Number.isSafeInteger(window) || (window as number) <= 0) {
    f.fail(`"sliding_window" must be a positive integer or null, got ${shown(window)}`)
  }
  if ((window as number) < c.maxPositions) {
    refuse(`"sliding_window" ${window} is smaller than the context of ${c.maxPositions} positions`)
  }
}
