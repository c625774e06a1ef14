// fill-mask: a …ForMaskedLM model's best tokens for each mask token of the text, with the text
// they make, as Python transformers' pipeline: one list for one mask, a list per mask otherwise
// (other masks then stay in the sequence, special tokens shown). `targets` limits the candidates.
import { InputError, option, UsageError } from '../errors.js'
import type { EncoderModel } from '../runtime/encoder.js'
import { asList, encodeText, requireHead } from './load.js'
import { rowOf, softmax, topK } from './scores.js'

export interface FillMaskOptions {
  /** Candidates per mask (default 5). */
  topK?: number
  /** Only these tokens (a word that is not one token counts as its first token). */
  targets?: string[]
}

export interface FillMaskCandidate {
  score: number
  token: number
  token_str: string
  sequence: string
}

/** One mask: its candidates; several masks: a list per mask. A list of texts: one such per text. */
export type FillMaskOutput = FillMaskCandidate[] | FillMaskCandidate[][]

function targetIds(model: EncoderModel, targets: string[]): number[] {
  const tok = model.tokenizer
  const ids = targets.map((t) => {
    const id = tok.tokenToId(t) ?? tok.encode(t, { addSpecialTokens: false })[0]
    if (id === undefined) throw new UsageError(`${option('targets')}: "${t}" is no token of this vocabulary`)
    return id
  })
  return [...new Set(ids)]
}

export function fillMask(model: EncoderModel) {
  requireHead(model, 'masked-lm', 'fill-mask')
  const tok = model.tokenizer
  const maskId = tok.maskTokenId
  return async (
    input: string | readonly string[],
    opts: FillMaskOptions = {},
  ): Promise<FillMaskOutput | FillMaskOutput[]> => {
    if (maskId === undefined) throw new InputError(`${model.dir}: the tokenizer has no mask token`)
    const k = opts.topK ?? 5
    if (!Number.isInteger(k) || k < 1)
      throw new UsageError(`${option('topK')} must be an integer ≥ 1 (got ${k})`)
    const targets = opts.targets ? targetIds(model, opts.targets) : undefined
    const { items, batched } = asList(input)
    const encoded = items.map((text) => encodeText(model, text))
    const masks = encoded.map((e, i) => {
      const at = e.ids.flatMap((id, j) => (id === maskId ? [j] : []))
      if (at.length === 0) throw new InputError(`input ${i}: no mask token (${tok.maskToken}) found`)
      return at
    })
    const logits = await model.forward(
      encoded.map((e) => ({ ids: e.ids, typeIds: e.typeIds })),
      'logits',
      masks,
    )
    const V = model.config.vocabSize
    const results = encoded.map((e, i) => {
      const single = masks[i].length === 1
      const perMask = masks[i].map((at, m) => {
        const probs = softmax(rowOf(logits[i], m, V))
        const candidates = targets
          ? topK(
              Float64Array.from(targets, (id) => probs[id]),
              Math.min(k, targets.length),
            ).map((j) => targets[j])
          : topK(probs, k)
        return candidates.map((id) => {
          const ids = e.ids.map((x, j) => (j === at ? id : x)).filter((x) => x !== tok.padTokenId)
          return {
            score: probs[id],
            token: id,
            token_str: tok.decode([id]),
            sequence: tok.decode(ids, { skipSpecialTokens: single }),
          }
        })
      })
      return single ? perMask[0] : perMask
    })
    return batched ? results : results[0]
  }
}
