// Long texts tokenized a part at a time (src/core/train/data/long-text.ts) must give exactly what
// tokenizing them whole gives, on every tokenizer fixture, and the Rust `tokenizers` oracle agrees.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Tokenizer } from '../../../../src/core/tokenizer/index.js'
import {
  encodeChunked,
  encodePrefix,
  encodeWithOffsetsPrefix,
  specialsOf,
} from '../../../../src/core/train/data/long-text.js'
import { EXTRA_FIXTURES, MODEL_FIXTURES, TOKENIZER_FIXTURES, tokenizerDir } from '../../tokenizer/fixtures.js'
import { RustTokenizer } from '../../tokenizer/reference.js'
import { ADVERSARIAL, mixedText } from '../../tokenizer/texts.js'

const NAMES = [
  ...TOKENIZER_FIXTURES,
  ...EXTRA_FIXTURES,
  ...MODEL_FIXTURES.filter((n) => n !== 'llama-tiny-bf16'),
]
const json = (name: string) => readFileSync(join(tokenizerDir(name), 'tokenizer.json'), 'utf8')
const tokenizers = new Map(NAMES.map((n) => [n, Tokenizer.fromJSON(JSON.parse(json(n)), {})]))

/** Many fragments (words, spaces of every kind, adversarial Unicode, special-token strings) joined. */
const longText = fc
  .array(mixedText, { minLength: 4, maxLength: 40 })
  .chain((parts) => fc.constantFrom(' ', '\n', '  ', '').map((sep) => parts.join(sep)))

const book = (words: number): string => {
  const out: string[] = []
  for (let i = 0; i < words; i++) {
    out.push(ADVERSARIAL[i % ADVERSARIAL.length].slice(0, 8), ['the', 'Hello,', 'naïve', '3.14'][i % 4])
    if (i % 50 === 49) out.push('\n\n')
  }
  return out.join(' ')
}

describe('long texts tokenized in parts', () => {
  for (const name of NAMES) {
    const tok = tokenizers.get(name) as Tokenizer

    it(`${name}: a prefix's first n tokens and chunks equal the whole text's`, () => {
      fc.assert(
        fc.property(longText, fc.integer({ min: 1, max: 40 }), fc.boolean(), (text, n, special) => {
          const whole = tok.encode(text, { addSpecialTokens: special })
          // Small chunks and a small first prefix, so that texts of a few hundred characters cut often.
          expect(encodeChunked(tok, text, special, 24)).toEqual(whole)
          const p = encodePrefix(tok, text, n, special, 8)
          expect(p.ids).toEqual(whole.slice(0, n))
          expect(p.complete).toBe(whole.length <= n)
          // With offsets (the chat path: no special tokens).
          const w = tok.encodeWithOffsets(text, { addSpecialTokens: false })
          const o = encodeWithOffsetsPrefix(tok, text, n, 8)
          expect(o.ids).toEqual(w.ids.slice(0, n))
          expect(o.offsets).toEqual(w.offsets.slice(0, n))
        }),
        { numRuns: 60, seed: 7 },
      )
    })
  }

  it('finds the special tokens the post-processor adds around a text', () => {
    const llama = tokenizers.get('tok-sentencepiece') as Tokenizer
    expect(specialsOf(llama)).toEqual({ before: [llama.tokenToId('<s>')], after: [] })
    const bert = tokenizers.get('tok-wordpiece') as Tokenizer
    expect(specialsOf(bert)).toEqual({ before: [bert.tokenToId('[CLS]')], after: [bert.tokenToId('[SEP]')] })
    expect(specialsOf(tokenizers.get('tok-chatml') as Tokenizer)).toEqual({ before: [], after: [] })
  })

  it('gives the Rust tokenizers ids for a long text, chunk by chunk', async () => {
    const text = book(6000)
    for (const name of ['tok-chatml', 'tok-llama3', 'tok-sentencepiece', 'tok-wordpiece', 'gpt2-tiny']) {
      const rust = RustTokenizer.fromString(json(name))
      rust.disableTruncation()
      const theirs = (await rust.encode(text, null, { addSpecialTokens: true })).getIds()
      const tok = tokenizers.get(name) as Tokenizer
      expect(encodeChunked(tok, text, true, 4096), name).toEqual(theirs)
      expect(encodePrefix(tok, text, 300).ids, name).toEqual(theirs.slice(0, 300))
    }
  })
})
