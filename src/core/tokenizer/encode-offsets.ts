// encodeWithOffsets: the whole pipeline over NormalizedStrings, as the Rust crate's
// encode_char_offsets — added tokens and normalization, pre-tokenization, the model per word,
// truncation, then the post-processor for one sequence or a pair. Separate from encode() so that
// the generation hot path does not pay for offsets; both must give the same ids.

import { shown } from '../util/shown.js'
import type { AddedVocabulary, AlignedSplit } from './added-tokens.js'
import {
  type Encoding,
  type EncodingOptions,
  emptyEncoding,
  finishEncoding,
  mergeEncodings,
  type RawEncoding,
  setSequenceId,
  setTypeIds,
} from './encoding.js'
import { TokenizerError } from './errors.js'
import type { ModelToken, TokenizerModel } from './model.js'
import type { PostProcessor } from './post-processors.js'
import type { PreTokenizerPlan } from './pre-tokenizers.js'
import { preTokenizeAligned } from './pre-tokenizers-aligned.js'
import { truncatePair } from './truncation.js'

export interface OffsetPipeline {
  added: AddedVocabulary
  preTokenizer?: PreTokenizerPlan
  model: TokenizerModel
  postProcessor?: PostProcessor
}

const SURROGATE = /[\ud800-\udfff]/

/** Rust strings cannot hold a lone surrogate: JavaScript's become U+FFFD (same length), as the binding does. */
export function wellFormed(text: string): string {
  if (!SURROGATE.test(text)) return text
  const n = text.length
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    if (c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++
        continue
      }
    }
    // A lone surrogate: rebuild the string (rare).
    let out = ''
    for (const ch of text)
      out += ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff ? '\ufffd' : ch
    return out
  }
  return text
}

/**
 * The words of one input: added tokens and pre-tokenized pieces, in order, made as they are
 * wanted (memory for the words in flight, not for every word of a long text).
 */
function* words(p: OffsetPipeline, text: string): Generator<AlignedSplit> {
  for (const split of p.added.splitAligned(text)) {
    if (split.token || !p.preTokenizer) yield split
    else for (const n of preTokenizeAligned(p.preTokenizer.stages, split.n)) yield { n }
  }
}

/**
 * One input as an encoding. With `limit`, words stop being tokenized once that many tokens are
 * out (the crate's tokenize_with_limit), which can change how longest_first shares a budget.
 */
function encodeSequence(
  p: OffsetPipeline,
  text: string,
  typeId: number,
  limit: number | undefined,
): RawEncoding {
  const e = emptyEncoding(text)
  let total = 0
  let w = -1
  for (const { n, token } of words(p, text)) {
    w++
    const tokens: ModelToken[] = []
    if (token) tokens.push({ id: token.id, value: token.value, start: 0, end: n.length })
    else p.model.tokenizeWithOffsets(n.normalized, tokens)
    for (const t of tokens) {
      e.ids.push(t.id)
      e.tokens.push(t.value)
      e.offsets.push(n.toOriginal(t.start, t.end))
      e.wordIds.push(w)
      e.typeIds.push(typeId)
      e.specialTokensMask.push(0)
    }
    total += tokens.length
    // The crate checks the budget after model-tokenized words only.
    if (limit !== undefined && !token && total >= limit) break
  }
  return e
}

export function encodeWithOffsets(p: OffsetPipeline, text: string, opts: EncodingOptions = {}): Encoding {
  const addSpecial = opts.addSpecialTokens !== false
  const strategy = opts.truncation ?? 'longest_first'
  const maxLength = opts.maxLength
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 0)) {
    throw new TokenizerError(`maxLength must be a non-negative integer, got ${shown(maxLength)}`)
  }
  if (strategy !== 'longest_first' && strategy !== 'only_first' && strategy !== 'only_second')
    throw new TokenizerError(
      `truncation must be 'longest_first', 'only_first' or 'only_second', got ${shown(strategy)}`,
    )
  const first = encodeSequence(p, wellFormed(text), 0, strategy === 'only_second' ? undefined : maxLength)
  const second = opts.pair === undefined ? undefined : encodeSequence(p, wellFormed(opts.pair), 1, maxLength)
  if (maxLength !== undefined) {
    const added = addSpecial ? (p.postProcessor?.addedTokens(second !== undefined) ?? 0) : 0
    if (maxLength < added) {
      throw new TokenizerError(
        `maxLength ${maxLength} leaves no room: the special tokens alone take ${added}`,
      )
    }
    truncatePair(first, second, maxLength - added, strategy)
  }
  return finishEncoding(postProcess(p.postProcessor, first, second, addSpecial))
}

function postProcess(
  processor: PostProcessor | undefined,
  first: RawEncoding,
  second: RawEncoding | undefined,
  addSpecial: boolean,
): RawEncoding {
  const list = second ? [first, second] : [first]
  if (!processor) {
    // The crate's default_process: a single sequence as it is, a pair marked 0 and 1 and joined.
    if (!second) return first
    list.forEach(setSequenceId)
    return mergeEncodings(list)
  }
  list.forEach((e, i) => {
    setSequenceId(e, i)
    setTypeIds(e, i)
  })
  return mergeEncodings(processor.processEncodings(list, addSpecial))
}
