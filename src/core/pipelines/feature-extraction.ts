// feature-extraction: token vectors or one pooled vector per text. On a sentence-transformers
// folder the defaults are the folder's own (pooling, normalisation, max_seq_length, prompts), so
// the vectors are SentenceTransformer.encode's; elsewhere the defaults are transformers.js'
// (no pooling, no normalisation). Results are row-major float32 tensors with their dims.
import { option, UsageError } from '../errors.js'
import type { EncoderModel } from '../runtime/encoder.js'
import { asList, encodeText, maxInputLength } from './load.js'
import { normalizeL2, poolAll } from './pooling.js'
import { POOLING_MODES, type PoolingMode, readSentenceTransformerConfig } from './sentence-transformers.js'

export interface FeatureExtractionOptions {
  /** 'none': every token's vector; else one vector per text. Default: the folder's, else 'none'. */
  pooling?: 'none' | PoolingMode
  /** L2-normalise each pooled vector. Default: the folder's (a Normalize module), else false. */
  normalize?: boolean
  /** Text put before each input ("query: "). */
  prompt?: string
  /** A prompt of config_sentence_transformers.json by name ("query"); default: its default_prompt_name. */
  promptName?: string
}

/** A dense float32 tensor: (B, C) pooled, or (B, T, C) token vectors (zero rows past a text's end). */
export interface FeatureTensor {
  dims: number[]
  data: Float32Array
  tolist(): number[][] | number[][][]
}

function tensor(dims: number[], data: Float32Array): FeatureTensor {
  return {
    dims,
    data,
    tolist() {
      const [B, T, C] = dims
      const row = (at: number, n: number) => Array.from(data.subarray(at, at + n))
      if (dims.length === 2) return Array.from({ length: B }, (_, b) => row(b * T, T))
      return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => row((b * T + t) * C, C)))
    },
  }
}

export function featureExtraction(model: EncoderModel) {
  const st = readSentenceTransformerConfig(model.dir)
  const C = model.config.hiddenSize
  return async (
    input: string | readonly string[],
    opts: FeatureExtractionOptions = {},
  ): Promise<FeatureTensor> => {
    const pooling = opts.pooling ?? (st ? st.pooling : 'none')
    const modes = Array.isArray(pooling) ? pooling : [pooling]
    for (const m of modes)
      if (m !== 'none' && !POOLING_MODES.includes(m))
        throw new UsageError(
          `${option('pooling')} must be none or one of ${POOLING_MODES.join(', ')} (got ${m})`,
        )
    const normalize = opts.normalize ?? st?.normalize ?? false
    const promptName = opts.promptName ?? (opts.prompt === undefined ? st?.defaultPromptName : undefined)
    let prompt = opts.prompt ?? ''
    if (promptName !== undefined) {
      const named = st?.prompts[promptName]
      if (named === undefined)
        throw new UsageError(
          `${option('promptName')}: no prompt "${promptName}" in ${model.dir} (has: ${Object.keys(st?.prompts ?? {}).join(', ') || 'none'})`,
        )
      prompt = named
    }
    // sentence-transformers leaves the prompt out of the pooling as its tokens less the closing one.
    const promptTokens =
      prompt && st && !st.includePrompt ? model.tokenizer.encodeWithOffsets(prompt).ids.length - 1 : 0
    const { items } = asList(input)
    const maxLength = maxInputLength(model, st?.maxSeqLength)
    const encoded = items.map((text) => encodeText(model, prompt + text, { maxLength }))
    const hidden = await model.forward(
      encoded.map((e) => ({ ids: e.ids, typeIds: e.typeIds })),
      'hidden',
      'all',
    )
    if (modes.length === 1 && modes[0] === 'none') {
      const T = encoded.reduce((m, e) => Math.max(m, e.ids.length), 0)
      const data = new Float32Array(items.length * T * C)
      hidden.forEach((h, b) => {
        data.set(h, b * T * C)
      })
      return tensor([items.length, T, C], data)
    }
    const pooled = hidden.map((h, b) => {
      const v = poolAll(h, encoded[b].ids.length, C, modes as PoolingMode[], promptTokens)
      return normalize ? normalizeL2(v) : v
    })
    const D = pooled[0]?.length ?? C * modes.length
    const data = new Float32Array(items.length * D)
    pooled.forEach((v, b) => {
      data.set(v, b * D)
    })
    return tensor([items.length, D], data)
  }
}
