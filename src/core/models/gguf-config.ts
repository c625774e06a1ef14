// A GGUF file's model config: `general.architecture` and the `<arch>.*` keys llama.cpp reads,
// normalised into the same ModelConfig that config.json gives. Where GGUF has no key (tied
// embeddings, biases) the tensors present decide, as they do in llama.cpp.
import { UnsupportedArchitectureError } from '../errors.js'
import type { GgufFile } from '../formats/gguf-read.js'
import { shown } from '../util/shown.js'
import type { Architecture, ModelConfig } from './config.js'
import { GgufMetadata } from './gguf-metadata.js'
import { ggufRope } from './gguf-rope.js'

/** llama.cpp architecture → kiln's (mistral files say llama). */
const ARCHITECTURES: Record<string, Architecture> = { llama: 'llama', qwen2: 'qwen2', gpt2: 'gpt2' }

/** Token ids the config carries; GGUF keeps them with the tokenizer (tokenizer.ggml.*_token_id). */
export interface GgufConfigTokens {
  bosTokenId?: number
  eosTokenIds: number[]
  padTokenId?: number
}

/** `general.architecture`, checked. */
export function ggufArchitecture(meta: GgufMetadata): Architecture {
  const key = 'general.architecture'
  const arch = meta.string(key)
  const mapped = Object.hasOwn(ARCHITECTURES, arch) ? ARCHITECTURES[arch] : undefined
  if (mapped === undefined) {
    throw new UnsupportedArchitectureError(
      `${meta.path}: "${key}" is ${shown(arch)}, which kiln cannot run (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
    )
  }
  return mapped
}

/** The ModelConfig of a GGUF file; `tokens` are its special ids (from ggufSpecialIds). */
export function ggufModelConfig(file: GgufFile, tokens: GgufConfigTokens): ModelConfig {
  const meta = new GgufMetadata(file)
  const architecture = ggufArchitecture(meta)
  const arch = meta.string('general.architecture')
  const k = (key: string) => `${arch}.${key}`

  // Mixtral and other mixture-of-experts files say "llama" too.
  const experts = meta.count(k('expert_count'), 0)
  if (experts > 0) {
    throw new UnsupportedArchitectureError(
      `${meta.path}: "${k('expert_count')}" is ${experts}: mixture-of-experts models are not supported`,
    )
  }
  const hiddenSize = meta.positive(k('embedding_length'))
  const numHeads = meta.positive(k('attention.head_count'))
  const numKvHeads =
    architecture === 'gpt2' ? numHeads : meta.positive(k('attention.head_count_kv'), numHeads)
  if (numHeads % numKvHeads !== 0) {
    meta.fail(
      k('attention.head_count_kv'),
      `${numKvHeads} does not divide ${k('attention.head_count')} ${numHeads}`,
    )
  }
  let headDim: number
  if (meta.has(k('attention.key_length'))) {
    headDim = meta.positive(k('attention.key_length'))
  } else {
    if (hiddenSize % numHeads !== 0) {
      meta.fail(
        k('attention.head_count'),
        `${numHeads} does not divide ${k('embedding_length')} ${hiddenSize} (and there is no ${k('attention.key_length')})`,
      )
    }
    headDim = hiddenSize / numHeads
  }
  const valueLength = meta.positive(k('attention.value_length'), headDim)
  if (valueLength !== headDim) {
    meta.fail(
      k('attention.value_length'),
      `${valueLength} differs from the key length ${headDim}, which kiln does not support`,
    )
  }

  const config: ModelConfig = {
    architecture,
    vocabSize: vocabSize(meta, k('vocab_size')),
    hiddenSize,
    intermediateSize: meta.positive(k('feed_forward_length')),
    numLayers: meta.positive(k('block_count')),
    numHeads,
    numKvHeads,
    headDim,
    maxPositions: meta.positive(k('context_length')),
    norm:
      architecture === 'gpt2'
        ? { kind: 'layer', eps: epsilon(meta, k('attention.layer_norm_epsilon')) }
        : { kind: 'rms', eps: epsilon(meta, k('attention.layer_norm_rms_epsilon')) },
    activation: architecture === 'gpt2' ? 'gelu_tanh' : 'silu',
    // No `output` tensor: llama.cpp reuses token_embd as the head.
    tieWordEmbeddings: !file.tensors.has('output.weight'),
    attentionBias: file.tensors.has(architecture === 'gpt2' ? 'blk.0.attn_qkv.bias' : 'blk.0.attn_q.bias'),
    mlpBias: file.tensors.has('blk.0.ffn_up.bias'),
    bosTokenId: tokens.bosTokenId,
    eosTokenIds: tokens.eosTokenIds.slice(),
    padTokenId: tokens.padTokenId,
    raw: scalarMetadata(file),
  }
  if (architecture !== 'gpt2') {
    if (headDim % 2 !== 0)
      meta.fail(k('attention.key_length'), `head size ${headDim} must be even for rotary embeddings`)
    const rotary = meta.positive(k('rope.dimension_count'), headDim)
    if (rotary !== headDim) {
      meta.fail(
        k('rope.dimension_count'),
        `is ${rotary}, but kiln rotates whole heads of ${headDim} (partial rotary is not supported)`,
      )
    }
    config.rope = ggufRope(meta, arch, headDim)
  }
  return config
}

/** The token count, which `<arch>.vocab_size` repeats when present. */
function vocabSize(meta: GgufMetadata, key: string): number {
  const tokensKey = 'tokenizer.ggml.tokens'
  if (!meta.has(tokensKey)) return meta.positive(key)
  const n = meta.stringArray(tokensKey).length
  if (meta.has(key) && meta.positive(key) !== n) {
    meta.fail(key, `is ${meta.positive(key)}, but "${tokensKey}" has ${n} tokens`)
  }
  if (n === 0) meta.fail(tokensKey, 'is empty')
  return n
}

function epsilon(meta: GgufMetadata, key: string): number {
  const eps = meta.number(key)
  if (!(eps > 0)) meta.fail(key, `must be positive, got ${eps}`)
  return eps
}

/** The file's scalar metadata (not the token arrays), for `ModelConfig.raw`. */
function scalarMetadata(file: GgufFile): Record<string, unknown> {
  const raw: Record<string, unknown> = {}
  for (const [key, v] of file.metadata) if (v.type !== 'array') raw[key] = v.value
  return raw
}
