// One vector per input, for embedding APIs (kiln serve's /v1/embeddings) that bring their own
// batching and token ids: a sentence-transformers folder's settings (pooling, Normalize, default
// prompt, max_seq_length), so vectors are SentenceTransformer.encode's; any other encoder gets mean
// pooling and L2 normalisation, as `kiln embed` gives it, because embedding clients compare vectors
// by cosine or dot product and expect unit vectors (OpenAI's are). Inputs are never truncated: what
// an input longer than `maxLength` means (an error, a cut) is the caller's choice.
import type { EncoderInput, EncoderModel } from '../runtime/encoder.js'
import { maxInputLength } from './load.js'
import { normalizeL2, poolAll } from './pooling.js'
import { type PoolingMode, readSentenceTransformerConfig } from './sentence-transformers.js'

/** An input as the model takes it, with the prompt tokens the pooling leaves out. */
export interface EmbeddingInput extends EncoderInput {
  promptTokens?: number
}

export interface SentenceEmbedder {
  /** Length of each vector: the hidden size × the pooling modes. */
  readonly dims: number
  /** Whether the vectors are L2-normalised (a caller that shortens them re-normalises only then). */
  readonly normalized: boolean
  readonly pooling: readonly PoolingMode[]
  /** Longest input in tokens, special tokens and prompt included. */
  readonly maxLength: number
  /** A text as the model takes it: the folder's default prompt in front, special tokens added. */
  encode(text: string): EmbeddingInput
  /** An input's vector from its hidden states (T, C), as forward(…, 'hidden', 'all') gives them. */
  pool(hidden: Float32Array, input: EmbeddingInput): Float32Array
}

/** `limit` lowers the longest input below the model's (and the folder's max_seq_length). */
export function sentenceEmbedder(model: EncoderModel, opts: { limit?: number } = {}): SentenceEmbedder {
  const st = readSentenceTransformerConfig(model.dir)
  const pooling = st?.pooling ?? ['mean']
  const normalized = st ? st.normalize : true
  const prompt = st?.defaultPromptName === undefined ? '' : (st.prompts[st.defaultPromptName] ?? '')
  // sentence-transformers leaves the prompt out of the pooling as its tokens less the closing one.
  const promptTokens =
    prompt && st && !st.includePrompt ? model.tokenizer.encodeWithOffsets(prompt).ids.length - 1 : 0
  const C = model.config.hiddenSize
  const maxLength = Math.min(maxInputLength(model, st?.maxSeqLength), opts.limit ?? Number.POSITIVE_INFINITY)
  return {
    dims: C * pooling.length,
    normalized,
    pooling,
    maxLength,
    encode(text) {
      const e = model.tokenizer.encodeWithOffsets(prompt + text)
      return { ids: e.ids, typeIds: e.typeIds, promptTokens }
    },
    pool(hidden, input) {
      const v = poolAll(hidden, input.ids.length, C, pooling, input.promptTokens ?? 0)
      return normalized ? normalizeL2(v) : v
    },
  }
}
