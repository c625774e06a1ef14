// Python transformers' aggregation strategies on hand-made tokens whose answers are worked out by
// hand: "Enzo works at UN" as WordPiece tokens (En ##zo works at U ##N) with chosen scores.
import { describe, expect, it } from 'vitest'
import { aggregate, type PreEntity } from '../../../src/core/pipelines/token-aggregation.js'

const labels = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
const v = { labels, tokensToString: (t: string[]) => t.join(' ').replaceAll(' ##', '') }
const O = new Set(['O'])

function tok(
  word: string,
  start: number,
  end: number,
  index: number,
  isSubword: boolean,
  scores: number[],
): PreEntity {
  return { word, start, end, index, isSubword, scores }
}
const pre = [
  tok('En', 0, 2, 1, false, [0.025, 0.9, 0.025, 0.025, 0.025]),
  tok('##zo', 2, 4, 2, true, [0.1, 0.2, 0.6, 0.05, 0.05]),
  tok('works', 5, 10, 3, false, [0.9, 0.025, 0.025, 0.025, 0.025]),
  tok('at', 11, 13, 4, false, [0.8, 0.05, 0.05, 0.05, 0.05]),
  tok('U', 14, 15, 5, false, [0.1, 0.05, 0.05, 0.7, 0.1]),
  tok('##N', 15, 16, 6, true, [0.05, 0.05, 0.05, 0.05, 0.8]),
]

describe('token aggregation (as transformers TokenClassificationPipeline)', () => {
  it('none: every token that is not O, with its own label and index', () => {
    expect(aggregate(v, pre, 'none', O)).toEqual([
      { entity: 'B-PER', score: 0.9, index: 1, word: 'En', start: 0, end: 2 },
      { entity: 'I-PER', score: 0.6, index: 2, word: '##zo', start: 2, end: 4 },
      { entity: 'B-LOC', score: 0.7, index: 5, word: 'U', start: 14, end: 15 },
      { entity: 'I-LOC', score: 0.8, index: 6, word: '##N', start: 15, end: 16 },
    ])
  })

  it('simple: B- then I- of one type merge; the score is their mean', () => {
    const got = aggregate(v, pre, 'simple', O)
    expect(got).toEqual([
      { entity_group: 'PER', score: expect.closeTo(0.75, 12), word: 'Enzo', start: 0, end: 4 },
      { entity_group: 'LOC', score: expect.closeTo(0.75, 12), word: 'UN', start: 14, end: 16 },
    ])
  })

  it("first: a word takes its first token's label and score", () => {
    expect(aggregate(v, pre, 'first', O)).toEqual([
      { entity_group: 'PER', score: 0.9, word: 'Enzo', start: 0, end: 4 },
      { entity_group: 'LOC', score: 0.7, word: 'UN', start: 14, end: 16 },
    ])
  })

  it('max: a word takes its most confident token', () => {
    expect(aggregate(v, pre, 'max', O)).toEqual([
      { entity_group: 'PER', score: 0.9, word: 'Enzo', start: 0, end: 4 },
      { entity_group: 'LOC', score: 0.8, word: 'UN', start: 14, end: 16 },
    ])
  })

  it("average: a word takes the best label of its tokens' mean scores", () => {
    const got = aggregate(v, pre, 'average', O)
    expect(got).toEqual([
      { entity_group: 'PER', score: expect.closeTo(0.55, 12), word: 'Enzo', start: 0, end: 4 },
      { entity_group: 'LOC', score: expect.closeTo(0.45, 12), word: 'UN', start: 14, end: 16 },
    ])
  })

  it('a B- tag starts a new entity even after the same type; tags without B-/I- continue; ignore labels', () => {
    const two = [
      tok('Ann', 0, 3, 1, false, [0, 1, 0, 0, 0]),
      tok('Bob', 4, 7, 2, false, [0, 1, 0, 0, 0]),
      tok('Cy', 8, 10, 3, false, [0, 0, 1, 0, 0]),
    ]
    expect(aggregate(v, two, 'simple', O).map((g) => g.word)).toEqual(['Ann', 'Bob Cy'])
    const plain = { labels: ['O', 'PER'], tokensToString: v.tokensToString }
    const words = [tok('Ann', 0, 3, 1, false, [0, 1]), tok('Lee', 4, 7, 2, false, [0, 1])]
    expect(aggregate(plain, words, 'simple', O)).toEqual([
      { entity_group: 'PER', score: 1, word: 'Ann Lee', start: 0, end: 7 },
    ])
    expect(aggregate(plain, words, 'simple', new Set(['PER']))).toEqual([])
  })
})
