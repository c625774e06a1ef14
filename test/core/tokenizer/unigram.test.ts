// The Unigram model (Viterbi, unknown characters, byte fallback) and the Precompiled normalizer,
// against SentencePiece itself (golden.json, written with the fixtures) and on hand-made vocabs.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadTokenizer, Tokenizer, TokenizerError } from '../../../src/core/tokenizer/index.js'
import { tokenizerDir, UNIGRAM_FIXTURES } from './fixtures.js'

interface SpmGolden {
  cases: { text: string; pieces: string[]; ids: number[] }[]
}

/**
 * Where HF's conversion knowingly differs from SentencePiece: ALBERT's NFKD leaves Hangul as jamo
 * that the charsmap (applied per grapheme, not longest-match) does not recompose, and its
 * StripAccents drops Devanagari vowel signs (Mc) that Python's preprocessing keeps.
 */
const HF_DIFFERS: Record<string, string[]> = {
  'albert-unigram': ['한국어 단어 문장', 'हिन्दी भाषा शब्द'],
}

describe('Unigram against SentencePiece', () => {
  for (const name of UNIGRAM_FIXTURES) {
    it(`${name}: encodes the golden texts as SentencePiece does`, () => {
      const tok = loadTokenizer(tokenizerDir(name))
      const golden = JSON.parse(readFileSync(join(tokenizerDir(name), 'golden.json'), 'utf8')) as SpmGolden
      for (const c of golden.cases) {
        if (HF_DIFFERS[name]?.includes(c.text)) continue
        expect(tok.encode(c.text, { addSpecialTokens: false }), c.text).toEqual(c.ids)
      }
    })
  }
})

/** A Unigram tokenizer.json over `vocab` with no normalizer or pre-tokenizer. */
function unigram(
  vocab: [string, number][],
  opts: { unkId?: number | null; byteFallback?: boolean } = {},
): Tokenizer {
  return Tokenizer.fromJSON({
    model: {
      type: 'Unigram',
      vocab,
      unk_id: opts.unkId === undefined ? 0 : opts.unkId,
      byte_fallback: opts.byteFallback ?? false,
    },
  })
}

describe('Unigram model', () => {
  const vocab: [string, number][] = [
    ['<unk>', 0],
    ['a', -2],
    ['b', -2],
    ['ab', -3],
    ['abc', -7],
    ['c', -2.5],
  ]

  it('takes the segmentation with the highest total score', () => {
    const tok = unigram(vocab)
    // "ab" (−3) beats "a"+"b" (−4); "abc" (−7) loses to "ab"+"c" (−5.5).
    expect(tok.encodeWithOffsets('abc').tokens).toEqual(['ab', 'c'])
    expect(tok.encodeWithOffsets('abc').offsets).toEqual([
      [0, 2],
      [2, 3],
    ])
  })

  it('fuses neighbouring unknown characters into one [UNK] covering them all', () => {
    const tok = unigram(vocab)
    const e = tok.encodeWithOffsets('axy😀b')
    expect(e.ids).toEqual([1, 0, 2])
    // Unigram reports the covered text as the token, as the Rust crate does.
    expect(e.tokens).toEqual(['a', 'xy😀', 'b'])
    expect(e.offsets).toEqual([
      [0, 1],
      [1, 5],
      [5, 6],
    ])
  })

  it('spells unknown text as <0xNN> bytes with byte_fallback, each covering the whole stretch', () => {
    const bytes: [string, number][] = Array.from({ length: 256 }, (_, b) => [
      `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
      -10,
    ])
    const tok = unigram([...vocab, ...bytes], { byteFallback: true })
    const e = tok.encodeWithOffsets('aé')
    expect(e.tokens).toEqual(['a', '<0xC3>', '<0xA9>'])
    expect(e.offsets).toEqual([
      [0, 1],
      [1, 2],
      [1, 2],
    ])
  })

  it('fails clearly on unknown text without unk_id', () => {
    const tok = unigram(vocab.slice(1), { unkId: null })
    expect(tok.encode('ab')).toEqual([2])
    expect(() => tok.encode('ax')).toThrow(TokenizerError)
    expect(() => tok.encode('ax')).toThrow(/no piece covers and the model has no unk_id/)
  })

  it('rejects a malformed vocab', () => {
    expect(() => unigram([['a', 'x' as unknown as number]])).toThrow(
      /Unigram vocab entry #0 is not \[piece, score\]/,
    )
  })
})

describe('Precompiled normalizer (the real nmt_nfkc charsmap of xlmr-unigram)', () => {
  const tok = loadTokenizer(tokenizerDir('xlmr-unigram'))

  it('maps compatibility characters and keeps offsets on the original text', () => {
    const text = 'ＡＢＣ ﬁ'
    const e = tok.encodeWithOffsets(text, { addSpecialTokens: false })
    expect(tok.decode(e.ids)).toBe('ABC fi')
    // Every token points into the original fullwidth/ligature characters.
    expect(e.offsets.at(-1)![1]).toBe(text.length)
  })

  it('looks a short grapheme up whole, and drops what follows the shortest matching key', () => {
    // "Ａ" + combining acute is one grapheme under 6 bytes: the key "Ａ" matches, the accent goes.
    expect(tok.decode(tok.encode('Ａ\u0301', { addSpecialTokens: false }))).toBe('A')
  })
})
