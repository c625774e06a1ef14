// token-classification over a token-classifier head on bert-tiny: each token's label and score
// are the softmax of the head's logits; offsets point into the text (UTF-16); the strategies
// group them (their rules: token-aggregation.test.ts).
import { describe, expect, it } from 'vitest'
import type { EntityGroup, TokenEntity } from '../../../src/core/pipelines/index.js'
import { NER_LABELS, nerModel } from './heads.js'
import { disposeAfterAll, open } from './helpers.js'

disposeAfterAll()

describe('token-classification', () => {
  it("none: every token's best label and score from the head, its token and offsets", async () => {
    const ner = await open('token-classification', nerModel())
    const m = ner.model
    const text = 'Transformers v2 — 漢字 is revolutionary!'
    const e = m.tokenizer.encodeWithOffsets(text)
    const [logits] = await m.forward([{ ids: e.ids }], 'logits')
    const got = (await ner(text, { ignoreLabels: [] })) as TokenEntity[]
    const real = e.ids.map((_, i) => i).filter((i) => e.specialTokensMask[i] === 0)
    expect(got.map((x) => x.index)).toEqual(real)
    for (const x of got) {
      const row = Array.from(logits.subarray(x.index * 5, (x.index + 1) * 5))
      const best = row.indexOf(Math.max(...row))
      const sum = row.reduce((a, b) => a + Math.exp(b - row[best]), 0)
      expect(x.entity).toBe(NER_LABELS[best])
      expect(x.score).toBeCloseTo(1 / sum, 6)
      expect([x.start, x.end]).toEqual(e.offsets[x.index])
      // an unknown token reads as the text it stands for, as in transformers
      const unk = e.ids[x.index] === m.tokenizer.unkTokenId
      expect(x.word).toBe(unk ? text.slice(x.start, x.end) : e.tokens[x.index])
    }
    const withoutO = (await ner(text)) as TokenEntity[]
    expect(withoutO).toEqual(got.filter((x) => x.entity !== 'O'))
  })

  it('grouped entities cover whole tokens and read from the text; lists give a list per text', async () => {
    const ner = await open('ner', nerModel())
    const text = 'Sarah lives in London with Jessica Parker'
    for (const strategy of ['simple', 'first', 'average', 'max'] as const) {
      const groups = (await ner(text, { aggregationStrategy: strategy, ignoreLabels: [] })) as EntityGroup[]
      expect(groups.length, strategy).toBeGreaterThan(0)
      for (const g of groups) {
        expect(['O', 'PER', 'LOC']).toContain(g.entity_group)
        // a group that starts inside a word keeps its "##" (the WordPiece decoder's first token)
        expect(g.word.replace(/^##/, '').replaceAll(' ', ''), strategy).toBe(
          text.slice(g.start, g.end).toLowerCase().replaceAll(' ', ''),
        )
      }
      // a word never splits across groups with the word-level strategies
      if (strategy !== 'simple')
        for (const g of groups) expect(/\w/.test(text[g.end] ?? ' ') && g.end < text.length).toBe(false)
    }
    const batch = (await ner([text, 'x'], { aggregationStrategy: 'simple' })) as EntityGroup[][]
    expect(batch).toHaveLength(2)
    await expect(ner(text, { aggregationStrategy: 'bogus' as 'none' })).rejects.toThrow(
      'aggregationStrategy must be one of',
    )
  })
})
