// BPE merges load in both serializations: pairs (tokenizers >= 0.20) and "a b" strings (older).

import { describe, expect, it } from 'vitest'
import { Tokenizer } from '../../../src/core/tokenizer/index.js'
import { type GoldenCase, readFixtureJson } from './fixtures.js'

type TokenizerJson = { model: { merges: unknown[] } } & Record<string, unknown>

describe('merges formats', () => {
  for (const name of ['tok-bytelevel', 'tok-chatml', 'tok-llama3', 'tok-sentencepiece']) {
    it(`${name}: "a b" string merges give the same ids as pair merges`, () => {
      const json = readFixtureJson<TokenizerJson>(name, 'tokenizer.json')
      const config = readFixtureJson(name, 'tokenizer_config.json')
      const pairs = json.model.merges as [string, string][]
      expect(Array.isArray(pairs[0])).toBe(true)
      const stringForm = { ...json, model: { ...json.model, merges: pairs.map(([a, b]) => `${a} ${b}`) } }

      const fromPairs = Tokenizer.fromJSON(json, config)
      const fromStrings = Tokenizer.fromJSON(stringForm, config)
      const { cases } = readFixtureJson<{ cases: GoldenCase[] }>(name, 'golden.json')
      for (const c of cases) {
        expect(fromStrings.encode(c.text)).toEqual(c.ids)
        expect(fromStrings.encode(c.text)).toEqual(fromPairs.encode(c.text))
      }
    })
  }

  it('rejects a malformed merge and a merge outside the vocab', () => {
    const json = readFixtureJson<TokenizerJson>('tok-bytelevel', 'tokenizer.json')
    expect(() => Tokenizer.fromJSON({ ...json, model: { ...json.model, merges: ['nospace'] } })).toThrow(
      /merge #0 is malformed/,
    )
    expect(() => Tokenizer.fromJSON({ ...json, model: { ...json.model, merges: [['zz', 'q']] } })).toThrow(
      /merge "zz q" uses "zz", which is not in the vocab/,
    )
  })

  it('applies the lowest-ranked merge first, leftmost on ties', () => {
    const vocab = { a: 0, b: 1, ab: 2, bb: 3, abb: 4, aa: 5 }
    const tok = (merges: unknown[]) =>
      Tokenizer.fromJSON({ model: { type: 'BPE', vocab, merges }, added_tokens: [] })
    // "abb": (b,b) outranks (a,b), so b+b merges first and a+bb completes it.
    expect(
      tok([
        ['b', 'b'],
        ['a', 'bb'],
        ['a', 'b'],
      ]).encode('abb'),
    ).toEqual([4])
    // With (a,b) first, "ab" + "b" cannot merge further.
    expect(
      tok([
        ['a', 'b'],
        ['b', 'b'],
        ['a', 'bb'],
      ]).encode('abb'),
    ).toEqual([2, 1])
    // "aaa": equal ranks resolve left to right.
    expect(tok([['a', 'a']]).encode('aaa')).toEqual([5, 0])
  })

  it('merges long words (heap path) like short ones (scan path)', () => {
    const vocab: Record<string, number> = { a: 0, b: 1, ab: 2, abab: 3 }
    const tok = Tokenizer.fromJSON({
      model: { type: 'BPE', vocab, merges: ['a b', 'ab ab'] },
    })
    const short = tok.encode('ab'.repeat(5))
    const long = tok.encode('ab'.repeat(200))
    expect(short).toEqual([3, 3, 2])
    expect(long).toEqual(Array(100).fill(3))
    expect(tok.encode(`${'ab'.repeat(201)}a`)).toEqual([...Array(100).fill(3), 2, 0])
  })
})
