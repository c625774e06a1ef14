// StreamDecoder: printing tokens one at a time must never show half a character, and the
// pieces must add up to the full decode.

import { describe, expect, it } from 'vitest'
import { loadTokenizer, StreamDecoder } from '../../../src/core/tokenizer/index.js'
import { fixtureDir } from './fixtures.js'

const TEXTS = [
  '🤗 Transformers 🚀 fast ⚡',
  '你好，世界！机器学习 こんにちは世界',
  'Привет, мир! Café naïve 😀👍🏽 한국어 漢字',
  'Hello world\n\n  indented   code()',
]

function isWholeText(s: string): boolean {
  // No lone surrogate and no replacement character.
  return (
    !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s) && !s.includes('\ufffd')
  )
}

for (const name of ['tok-chatml', 'tok-llama3', 'tok-sentencepiece', 'tok-wordpiece']) {
  describe(`StreamDecoder on ${name}`, () => {
    const tok = loadTokenizer(fixtureDir(name))

    for (const text of TEXTS) {
      for (const skipSpecialTokens of [false, true]) {
        it(`${JSON.stringify(text).slice(0, 30)} (skipSpecialTokens=${skipSpecialTokens})`, () => {
          const ids = tok.encode(text)
          const full = tok.decode(ids, { skipSpecialTokens })
          const stream = new StreamDecoder(tok, { skipSpecialTokens })
          const pieces: string[] = []
          for (const id of ids) {
            const piece = stream.push(id)
            if (!full.includes('\ufffd')) expect(isWholeText(piece), JSON.stringify(piece)).toBe(true)
            pieces.push(piece)
          }
          pieces.push(stream.flush())
          expect(pieces.join('')).toBe(full)
        })
      }
    }
  })
}

describe('StreamDecoder holding back', () => {
  it('holds an incomplete byte-level character until its last byte arrives', () => {
    const tok = loadTokenizer(fixtureDir('tok-chatml'))
    const ids = tok.encode('🤗', { addSpecialTokens: false })
    expect(ids.length).toBeGreaterThan(1) // the emoji is split across byte tokens
    const stream = new StreamDecoder(tok)
    const out = ids.map((id) => stream.push(id))
    expect(out.slice(0, -1).every((s) => s === '')).toBe(true)
    expect(out.at(-1)).toBe('🤗')
  })

  it('holds byte-fallback bytes and flushes an invalid sequence as U+FFFD', () => {
    const tok = loadTokenizer(fixtureDir('tok-sentencepiece'))
    const e4 = tok.tokenToId('<0xE4>')!
    const bd = tok.tokenToId('<0xBD>')!
    const a0 = tok.tokenToId('<0xA0>')!
    const stream = new StreamDecoder(tok)
    expect(stream.push(e4)).toBe('')
    expect(stream.push(bd)).toBe('')
    expect(stream.push(a0)).toBe('你')
    expect(stream.push(e4)).toBe('')
    expect(stream.flush()).toBe('\ufffd')
    expect(stream.flush()).toBe('')
  })

  it('keeps SentencePiece spaces between words', () => {
    const tok = loadTokenizer(fixtureDir('tok-sentencepiece'))
    const ids = tok.encode('The license is free', { addSpecialTokens: false })
    const stream = new StreamDecoder(tok)
    const text = ids.map((id) => stream.push(id)).join('') + stream.flush()
    expect(text).toBe('The license is free')
  })

  it('stays linear: a long generation only decodes a small window per token', () => {
    const tok = loadTokenizer(fixtureDir('tok-llama3'))
    const ids = tok.encode('The GNU General Public License is a free, copyleft license. '.repeat(400), {
      addSpecialTokens: false,
    })
    const stream = new StreamDecoder(tok)
    let decodedTokens = 0
    const decode = tok.decode.bind(tok)
    tok.decode = (window, opts) => {
      decodedTokens += window.length
      return decode(window, opts)
    }
    try {
      let text = ''
      for (const id of ids) text += stream.push(id)
      text += stream.flush()
      expect(text).toBe(decode(ids))
    } finally {
      tok.decode = decode
    }
    expect(decodedTokens).toBeLessThan(ids.length * 8)
  })
})
