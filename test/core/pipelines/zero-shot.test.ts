// zero-shot-classification over an NLI head on bert-tiny: each label is a hypothesis scored against
// the text; the scores follow from the head's logits as in Python transformers.
import { describe, expect, it } from 'vitest'
import type { ZeroShotResult } from '../../../src/core/pipelines/index.js'
import { nliModel } from './heads.js'
import { disposeAfterAll, open } from './helpers.js'

disposeAfterAll()

describe('zero-shot-classification', () => {
  it('one label set: softmax of the entailment logits over the labels; multiLabel: entailment vs contradiction', async () => {
    const classify = await open('zero-shot-classification', nliModel())
    const m = classify.model
    const text = 'this is terrible'
    const labels = ['short', 'revolutionary', 'one']
    const logits = await m.forward(
      labels.map((l) => {
        const e = m.tokenizer.encodeWithOffsets(text, { pair: `This example is ${l}.` })
        return { ids: e.ids, typeIds: e.typeIds }
      }),
      'logits',
      'first',
    )
    const entail = logits.map((r) => Math.exp(r[2]))
    const sum = entail.reduce((a, b) => a + b, 0)
    const got = (await classify(text, labels)) as ZeroShotResult
    expect(got.sequence).toBe(text)
    expect([...got.labels].sort()).toEqual([...labels].sort())
    got.labels.forEach((l, i) => {
      expect(got.scores[i]).toBeCloseTo(entail[labels.indexOf(l)] / sum, 6)
    })
    expect([...got.scores]).toEqual([...got.scores].sort((a, b) => b - a))
    const multi = (await classify(text, labels, { multiLabel: true })) as ZeroShotResult
    multi.labels.forEach((l, i) => {
      const r = logits[labels.indexOf(l)]
      expect(multi.scores[i]).toBeCloseTo(Math.exp(r[2]) / (Math.exp(r[2]) + Math.exp(r[0])), 6)
    })
  })

  it('labels as a comma-separated string, a template, several texts; bad input is one clear error', async () => {
    const classify = await open('zero-shot-classification', nliModel())
    const many = (await classify(['one', 'two'], 'a, b', {
      hypothesisTemplate: 'It is about {}',
    })) as ZeroShotResult[]
    expect(many.map((r) => r.labels.sort())).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ])
    await expect(classify('x', ['a'], { hypothesisTemplate: 'no slot' })).rejects.toThrow('must contain {}')
    await expect(open('zero-shot-classification', nliModel(['yes', 'no', 'maybe']))).rejects.toThrow(
      'needs an NLI model with an "entailment" label',
    )
  })
})
