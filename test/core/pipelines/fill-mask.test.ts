// fill-mask over a masked-LM head on bert-tiny: candidates are the softmax of the head's logits at
// the mask, best first, with the text they make (as Python transformers: one list for one mask,
// a list per mask otherwise, special tokens then kept).
import { describe, expect, it } from 'vitest'
import type { FillMaskCandidate } from '../../../src/core/pipelines/index.js'
import { BERT_TINY } from '../../helpers/encoder-variants.js'
import { maskedLmModel } from './heads.js'
import { disposeAfterAll, open } from './helpers.js'

disposeAfterAll()

describe('fill-mask', () => {
  it('the top k of the softmax at the mask, with the filled-in text', async () => {
    const unmask = await open('fill-mask', maskedLmModel())
    const tok = unmask.model.tokenizer
    const text = 'this is [MASK] short one'
    const got = (await unmask(text, { topK: 3 })) as FillMaskCandidate[]
    const ids = tok.encodeWithOffsets(text).ids
    const at = ids.indexOf(tok.maskTokenId!)
    const [logits] = await unmask.model.forward([{ ids }], 'logits', [[at]])
    const max = Math.max(...logits)
    const exp = Array.from(logits, (x) => Math.exp(x - max))
    const sum = exp.reduce((a, b) => a + b, 0)
    const best = exp
      .map((e, i) => [e / sum, i])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 3)
    expect(got.map((c) => c.token)).toEqual(best.map((b) => b[1]))
    got.forEach((c, i) => {
      expect(c.score).toBeCloseTo(best[i][0], 6)
      expect(c.token_str).toBe(tok.decode([c.token]))
      const filled = ids.map((x) => (x === tok.maskTokenId ? c.token : x))
      expect(c.sequence).toBe(tok.decode(filled, { skipSpecialTokens: true }))
    })
  })

  it('several masks: a list per mask; several texts: one result each; targets limit the candidates', async () => {
    const unmask = await open('fill-mask', maskedLmModel())
    const two = (await unmask('[MASK] is [MASK]', { topK: 2 })) as FillMaskCandidate[][]
    expect(two).toHaveLength(2)
    expect(two[0]).toHaveLength(2)
    expect(two[0][0].sequence).toContain('[MASK]') // the other mask stays, specials shown
    const batch = (await unmask(['a [MASK]', 'the [MASK] one'])) as FillMaskCandidate[][]
    expect(batch).toHaveLength(2)
    expect(batch[0]).toHaveLength(5)
    const targeted = (await unmask('a [MASK]', { targets: ['is', 'short'] })) as FillMaskCandidate[]
    // "short" is not one token of this vocabulary: as in transformers, its first token stands in
    expect(targeted.map((c) => c.token_str).sort()).toEqual(['is', 'sh'])
  })

  it('a text without the mask token, and a model without the head, are one clear error', async () => {
    const unmask = await open('fill-mask', maskedLmModel())
    await expect(unmask('no mask here')).rejects.toThrow('input 0: no mask token ([MASK]) found')
    await expect(open('fill-mask', BERT_TINY)).rejects.toThrow(/fill-mask needs a masked language model/)
  })
})
