// token-classification (NER): a …ForTokenClassification model's label scores for each token of
// each text, turned into entities as Python transformers' pipeline does (token-aggregation.ts).
// Offsets are UTF-16 indices into the text, as JavaScript strings index.
import { option, UsageError } from '../errors.js'
import type { EncoderModel } from '../runtime/encoder.js'
import type { Encoding } from '../tokenizer/index.js'
import { asList, encodeText, requireHead } from './load.js'
import { rowOf, softmax } from './scores.js'
import {
  type AggregationStrategy,
  aggregate,
  type EntityGroup,
  type PreEntity,
  STRATEGIES,
  type TokenEntity,
} from './token-aggregation.js'

export type { AggregationStrategy, EntityGroup, TokenEntity } from './token-aggregation.js'

export interface TokenClassificationOptions {
  /** Labels left out of the result (default ['O']). */
  ignoreLabels?: string[]
  /** How tokens become entities (default 'none', as transformers). */
  aggregationStrategy?: AggregationStrategy
}

/** The non-special tokens of one text with their label probabilities. */
function preEntities(model: EncoderModel, text: string, e: Encoding, logits: Float32Array): PreEntity[] {
  const tok = model.tokenizer
  const labels = model.config.labels.length
  const prefix = tok.continuingSubwordPrefix
  const out: PreEntity[] = []
  for (let i = 0; i < e.ids.length; i++) {
    if (e.specialTokensMask[i] === 1) continue
    const [start, end] = e.offsets[i]
    let word = e.tokens[i]
    const source = text.slice(start, end)
    // Python transformers: a word-aware tokenizer (one with a continuing-subword prefix) marks
    // sub-words by the prefix; otherwise a token glued to the text before it is taken for one.
    let isSubword =
      prefix !== undefined
        ? word.length !== source.length
        : start > 0 && !text.slice(start - 1, start + 1).includes(' ')
    if (e.ids[i] === tok.unkTokenId) {
      word = source
      isSubword = false
    }
    out.push({ word, scores: softmax(rowOf(logits, i, labels)), start, end, index: i, isSubword })
  }
  return out
}

export function tokenClassification(model: EncoderModel) {
  requireHead(model, 'token-classification', 'token-classification')
  const vocabulary = {
    labels: model.config.labels,
    tokensToString: (t: string[]) => model.tokenizer.tokensToString(t),
  }
  return async (
    input: string | readonly string[],
    opts: TokenClassificationOptions = {},
  ): Promise<(TokenEntity | EntityGroup)[] | (TokenEntity | EntityGroup)[][]> => {
    const strategy = opts.aggregationStrategy ?? 'none'
    if (!STRATEGIES.includes(strategy))
      throw new UsageError(
        `${option('aggregationStrategy')} must be one of ${STRATEGIES.join(', ')} (got ${strategy})`,
      )
    const ignore = new Set(opts.ignoreLabels ?? ['O'])
    const { items, batched } = asList(input)
    const encoded = items.map((text) => encodeText(model, text))
    const logits = await model.forward(
      encoded.map((e) => ({ ids: e.ids, typeIds: e.typeIds })),
      'logits',
      'all',
    )
    const results = items.map((text, i) =>
      aggregate(vocabulary, preEntities(model, text, encoded[i], logits[i]), strategy, ignore),
    )
    return batched ? results : results[0]
  }
}
