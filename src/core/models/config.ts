// Normalises a Hugging Face config.json (llama, mistral, qwen2, gpt2; transformers v4 and v5 field
// names) into one typed ModelConfig, and computes rotary inverse frequencies as transformers does.
import { readFileSync } from 'node:fs'
import nodePath from 'node:path'
import { ConfigError, FormatError, UnsupportedArchitectureError } from '../errors.js'

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'gpt2'

const SUPPORTED_ARCHITECTURES: readonly Architecture[] = ['llama', 'mistral', 'qwen2', 'gpt2']

export interface RopeConfig {
  theta: number
  type: 'default' | 'llama3' | 'linear'
  factor?: number
  lowFreqFactor?: number
  highFreqFactor?: number
  originalMaxPositions?: number
}

export interface ModelConfig {
  architecture: Architecture
  vocabSize: number // V
  hiddenSize: number // C
  intermediateSize: number
  numLayers: number // L
  numHeads: number // NH
  numKvHeads: number // NKV
  headDim: number // HS
  maxPositions: number
  norm: { kind: 'rms' | 'layer'; eps: number }
  activation: 'silu' | 'gelu' | 'gelu_tanh'
  /** Absent for gpt2 (learned positions). */
  rope?: RopeConfig
  tieWordEmbeddings: boolean
  /** q/k/v projections have biases (qwen2 always; llama `attention_bias`, which also covers o_proj). */
  attentionBias: boolean
  mlpBias: boolean
  bosTokenId?: number
  eosTokenIds: number[]
  padTokenId?: number
  raw: Record<string, unknown>
}

/** transformers' class defaults for the fields kiln reads, where the JSON leaves one out. */
const DEFAULTS: Record<
  Architecture,
  { maxPositions: number; eps: number; act: string; tie: boolean; slidingWindow: number | null }
> = {
  llama: { maxPositions: 2048, eps: 1e-6, act: 'silu', tie: false, slidingWindow: null },
  mistral: { maxPositions: 4096 * 32, eps: 1e-6, act: 'silu', tie: false, slidingWindow: 4096 },
  qwen2: { maxPositions: 32768, eps: 1e-6, act: 'silu', tie: false, slidingWindow: 4096 },
  gpt2: { maxPositions: 1024, eps: 1e-5, act: 'gelu_new', tie: true, slidingWindow: null },
}

const DEFAULT_ROPE_THETA = 10000

const ACTIVATIONS: Record<string, ModelConfig['activation']> = {
  silu: 'silu',
  swish: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Typed access to one JSON object's fields; every problem is a ConfigError naming file and field. */
class Fields {
  constructor(
    readonly obj: Record<string, unknown>,
    readonly source: string,
    readonly prefix = '',
  ) {}

  fail(message: string): never {
    throw new ConfigError(`${this.source}: ${message}`)
  }

  label(name: string): string {
    return `"${this.prefix}${name}"`
  }

  /** The field's value; null counts as absent, as transformers treats it. */
  get(name: string): unknown {
    const v = this.obj[name]
    return v === null ? undefined : v
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  private check(name: string, want: string, ok: (v: unknown) => boolean, fallback?: unknown): unknown {
    const v = this.get(name)
    if (v === undefined) {
      if (fallback !== undefined) return fallback
      this.fail(`${this.label(name)} must be ${want}, but it is missing`)
    }
    if (!ok(v)) this.fail(`${this.label(name)} must be ${want}, got ${JSON.stringify(v)}`)
    return v
  }

  positiveInt(name: string, fallback?: number): number {
    return this.check(
      name,
      'a positive integer',
      (v) => Number.isSafeInteger(v) && (v as number) > 0,
      fallback,
    ) as number
  }

  positiveNumber(name: string, fallback?: number): number {
    const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0
    return this.check(name, 'a positive number', ok, fallback) as number
  }

  boolean(name: string, fallback?: boolean): boolean {
    return this.check(name, 'true or false', (v) => typeof v === 'boolean', fallback) as boolean
  }

  string(name: string, fallback?: string): string {
    return this.check(name, 'a string', (v) => typeof v === 'string', fallback) as string
  }

  /** A token id: absent, null or negative (some configs use -1 for "none") mean no id. */
  tokenId(name: string): number | undefined {
    const v = this.get(name)
    if (v === undefined) return undefined
    if (!Number.isSafeInteger(v))
      this.fail(`${this.label(name)} must be a token id (an integer), got ${JSON.stringify(v)}`)
    return (v as number) >= 0 ? (v as number) : undefined
  }

  /** A token id or a list of them (eos_token_id). */
  tokenIds(name: string): number[] {
    const v = this.get(name)
    if (v === undefined) return []
    const list = Array.isArray(v) ? v : [v]
    for (const id of list) {
      if (!Number.isSafeInteger(id)) {
        this.fail(`${this.label(name)} must be a token id or a list of token ids, got ${JSON.stringify(v)}`)
      }
    }
    return [...new Set((list as number[]).filter((id) => id >= 0))]
  }
}

/** Normalises a parsed config.json. `source` names the file in error messages. */
export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (!isObject(json)) throw new ConfigError(`${source}: must be a JSON object`)
  const f = new Fields(json, source)
  const modelType = f.get('model_type')
  if (modelType === undefined)
    f.fail(`"model_type" is missing (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`)
  if (typeof modelType !== 'string' || !(SUPPORTED_ARCHITECTURES as readonly string[]).includes(modelType)) {
    const shown = typeof modelType === 'string' ? modelType : JSON.stringify(modelType)
    throw new UnsupportedArchitectureError(
      `unsupported architecture "${shown}" (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    )
  }
  const arch = modelType as Architecture
  const config = arch === 'gpt2' ? parseGpt2(f) : parseLlamaFamily(f, arch)
  checkConsistency(f, config)
  return config
}

/** Reads and normalises `dir/config.json`. */
export function loadModelConfig(dir: string): ModelConfig {
  const file = nodePath.join(dir, 'config.json')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new FormatError(
      code === 'ENOENT' ? `${file}: not found` : `${file}: cannot read: ${(e as Error).message}`,
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`)
  }
  return parseModelConfig(json, file)
}

function activation(f: Fields, name: string, fallback: string): ModelConfig['activation'] {
  const act = f.string(name, fallback)
  const mapped = ACTIVATIONS[act]
  if (!mapped) {
    f.fail(`"${name}" "${act}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`)
  }
  return mapped
}

function tokens(f: Fields): Pick<ModelConfig, 'bosTokenId' | 'eosTokenIds' | 'padTokenId'> {
  return {
    bosTokenId: f.tokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenId('pad_token_id'),
  }
}

function parseLlamaFamily(f: Fields, arch: Exclude<Architecture, 'gpt2'>): ModelConfig {
  const d = DEFAULTS[arch]
  const hiddenSize = f.positiveInt('hidden_size')
  const numHeads = f.positiveInt('num_attention_heads')
  const numKvHeads = f.positiveInt('num_key_value_heads', numHeads)
  let headDim: number
  if (f.has('head_dim')) {
    headDim = f.positiveInt('head_dim')
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
    intermediateSize: f.positiveInt('intermediate_size'),
    numLayers: f.positiveInt('num_hidden_layers'),
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
  return config
}

function parseGpt2(f: Fields): ModelConfig {
  const d = DEFAULTS.gpt2
  // GPT2Config's attribute_map lets the generic names stand in for the n_* ones.
  const pick = (own: string, generic: string) => (f.has(own) || !f.has(generic) ? own : generic)
  const hiddenSize = f.positiveInt(pick('n_embd', 'hidden_size'))
  const numHeads = f.positiveInt(pick('n_head', 'num_attention_heads'))
  if (hiddenSize % numHeads !== 0) f.fail(`"n_embd" ${hiddenSize} is not a multiple of "n_head" ${numHeads}`)
  if (f.has('scale_attn_weights') && !f.boolean('scale_attn_weights')) {
    f.fail('"scale_attn_weights": false is not supported')
  }
  if (f.has('scale_attn_by_inverse_layer_idx') && f.boolean('scale_attn_by_inverse_layer_idx')) {
    f.fail('"scale_attn_by_inverse_layer_idx": true is not supported')
  }
  return {
    architecture: 'gpt2',
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('n_inner', 4 * hiddenSize),
    numLayers: f.positiveInt(pick('n_layer', 'num_hidden_layers')),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: f.positiveInt(pick('n_positions', 'max_position_embeddings'), d.maxPositions),
    norm: { kind: 'layer', eps: f.positiveNumber('layer_norm_epsilon', d.eps) },
    activation: activation(f, 'activation_function', d.act),
    // GPT2LMHeadModel always ties its head to the token embedding.
    tieWordEmbeddings: true,
    attentionBias: true,
    mlpBias: true,
    ...tokens(f),
    raw: f.obj,
  }
}

/**
 * Rotary settings from v5 `rope_parameters` or v4 `rope_theta` + `rope_scaling`. A v5 file may
 * also keep the theta at the top level; `rope_parameters` wins where both are present.
 */
function parseRope(f: Fields): RopeConfig {
  let params: Fields
  const v5 = f.get('rope_parameters')
  if (v5 !== undefined) {
    if (!isObject(v5)) f.fail(`"rope_parameters" must be an object, got ${JSON.stringify(v5)}`)
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
    if (v4 !== undefined && !isObject(v4))
      f.fail(`"rope_scaling" must be an object, got ${JSON.stringify(v4)}`)
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
        `rope type ${JSON.stringify(type)} (${params.label(typeField)}) is not supported (supported: default, linear, llama3)`,
      )
  }
}

/** Sliding-window attention that never slides (window ≥ context) is plain causal attention. */
function checkSlidingWindow(f: Fields, c: ModelConfig): void {
  const refuse = (why: string): never =>
    f.fail(`sliding-window attention is not supported yet (${why}; kiln runs full causal attention only)`)
  const layerTypes = f.get('layer_types')
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention')) {
    refuse(`"layer_types" has ${JSON.stringify(layerTypes.find((t) => t !== 'full_attention'))} layers`)
  }
  const d = DEFAULTS[c.architecture]
  if (c.architecture === 'llama' || c.architecture === 'gpt2') return
  if (c.architecture === 'qwen2') {
    if (!f.boolean('use_sliding_window', false)) return
    // Qwen2 slides only from layer max_window_layers on.
    if (f.positiveInt('max_window_layers', 28) >= c.numLayers) return
  }
  const window = 'sliding_window' in f.obj ? f.get('sliding_window') : d.slidingWindow
  if (window === undefined || window === null) return
  if (!Number.isSafeInteger(window) || (window as number) <= 0) {
    f.fail(`"sliding_window" must be a positive integer or null, got ${JSON.stringify(window)}`)
  }
  if ((window as number) < c.maxPositions) {
    refuse(`"sliding_window" ${window} is smaller than the context of ${c.maxPositions} positions`)
  }
}

function checkConsistency(f: Fields, c: ModelConfig): void {
  if (c.numHeads % c.numKvHeads !== 0) {
    f.fail(`"num_attention_heads" ${c.numHeads} is not a multiple of "num_key_value_heads" ${c.numKvHeads}`)
  }
  if (c.rope && c.headDim % 2 !== 0) {
    f.fail(`head size ${c.headDim} must be even for rotary position embeddings`)
  }
}

/**
 * The HS/2 rotary inverse frequencies, computed as transformers' rope init functions do in float32
 * (each tensor op rounded to float32, Python scalars cast to float32), so the angles match its own.
 */
export function ropeInvFreq(rope: RopeConfig, headDim: number): Float32Array {
  if (!Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new ConfigError(`rotary head size must be a positive even integer, got ${headDim}`)
  }
  const f = Math.fround
  const half = headDim / 2
  const inv = new Float32Array(half)
  // 1.0 / (base ** (arange(0, dim, 2).float() / dim)); `1.0 / t` is reciprocal(t) * 1.0.
  const base = f(rope.theta)
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(base ** f((2 * i) / headDim)))
  if (rope.type === 'default') return inv

  const factor = f(required(rope.factor, 'factor'))
  if (rope.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i] / factor)
    return inv
  }

  // _compute_llama3_parameters
  const low = required(rope.lowFreqFactor, 'lowFreqFactor')
  const high = required(rope.highFreqFactor, 'highFreqFactor')
  const oldCtx = required(rope.originalMaxPositions, 'originalMaxPositions')
  const lowFreqWavelen = f(oldCtx / low)
  const highFreqWavelen = f(oldCtx / high)
  const twoPi = f(2 * Math.PI)
  const out = new Float32Array(half)
  for (let i = 0; i < half; i++) {
    const wavelen = f(f(1 / inv[i]) * twoPi)
    const llama = wavelen > lowFreqWavelen ? f(inv[i] / factor) : inv[i]
    const smooth = f(f(f(f(1 / wavelen) * f(oldCtx)) - f(low)) / f(high - low))
    const smoothed = f(f(f(f(1 - smooth) * llama) / factor) + f(smooth * llama))
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)
    out[i] = medium ? smoothed : llama
  }
  return out
}

function required(v: number | undefined, name: string): number {
  if (v === undefined) throw new ConfigError(`rope config is missing ${name}`)
  return v
}
