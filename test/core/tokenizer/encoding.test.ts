// encodeWithOffsets, pad and the special-token properties on known inputs: the shapes pipelines
// rely on (BERT and RoBERTa pairs, templates, trim_offsets, truncation and its errors, padding).
// The differential tests check the same against the Rust crate on random input.

import { describe, expect, it } from 'vitest'
import { loadTokenizer, type Tokenizer, TokenizerError } from '../../../src/core/tokenizer/index.js'
import { tokenizerDir } from './fixtures.js'

const load = (name: string): Tokenizer => loadTokenizer(tokenizerDir(name))

/** The text each offset points at (for the first or second input). */
function covered(tok: Tokenizer, text: string, pair: string | undefined): string[] {
  const e = tok.encodeWithOffsets(text, { pair })
  return e.offsets.map(([s, end], i) => (e.sequenceIds[i] === 1 ? pair! : text).slice(s, end))
}

describe('encodeWithOffsets', () => {
  it('BERT pair: [CLS] A [SEP] B [SEP], type ids 0 then 1, offsets into each input', () => {
    const tok = load('tok-wordpiece')
    const e = tok.encodeWithOffsets('Hello, world!', { pair: 'How are you?' })
    expect(e.tokens).toEqual([
      '[CLS]',
      'h',
      '##el',
      '##lo',
      ',',
      'wor',
      '##ld',
      '!',
      '[SEP]',
      'h',
      '##ow',
      'are',
      'you',
      '?',
      '[SEP]',
    ])
    expect(e.typeIds).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    expect(e.specialTokensMask).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1])
    expect(e.attentionMask.every((x) => x === 1)).toBe(true)
    expect(e.sequenceIds).toEqual([null, 0, 0, 0, 0, 0, 0, 0, null, 1, 1, 1, 1, 1, null])
    expect(e.wordIds).toEqual([null, 0, 0, 0, 1, 2, 2, 3, null, 0, 0, 1, 2, 3, null])
    expect(covered(tok, 'Hello, world!', 'How are you?')).toEqual([
      '',
      'H',
      'el',
      'lo',
      ',',
      'wor',
      'ld',
      '!',
      '',
      'H',
      'ow',
      'are',
      'you',
      '?',
      '',
    ])
    expect(e.ids).toEqual([...tok.encode('Hello, world!'), ...tok.encode('How are you?').slice(1)])
  })

  it('RoBERTa pair: <s> A </s></s> B </s>, all type ids 0, offsets without the leading space', () => {
    const tok = load('roberta-bpe')
    const e = tok.encodeWithOffsets('Hello world', { pair: 'the end' })
    expect(e.tokens).toEqual(['<s>', 'H', 'ell', 'o', 'Ġworld', '</s>', '</s>', 't', 'he', 'Ġend', '</s>'])
    expect(e.typeIds.every((t) => t === 0)).toBe(true)
    expect(e.sequenceIds).toEqual([null, 0, 0, 0, 0, null, null, 1, 1, 1, null])
    // trim_offsets: "Ġworld" covers "world", not " world".
    expect(covered(tok, 'Hello world', 'the end')).toEqual([
      '',
      'H',
      'ell',
      'o',
      'world',
      '',
      '',
      't',
      'he',
      'end',
      '',
    ])
  })

  it('RoBERTa with add_prefix_space keeps the prefix space it added out of the first offsets', () => {
    const tok = load('roberta-prefix')
    const e = tok.encodeWithOffsets('Hello world')
    expect(e.tokens).toEqual(['<s>', 'ĠH', 'ell', 'o', 'Ġworld', '</s>'])
    expect(e.offsets).toEqual([
      [0, 0],
      [0, 1],
      [1, 4],
      [4, 5],
      [6, 11],
      [0, 0],
    ])
  })

  it('TemplateProcessing pair (XLM-R): <s> A </s> </s> B </s>', () => {
    const tok = load('xlmr-unigram')
    const e = tok.encodeWithOffsets('Hello', { pair: 'world' })
    const specials = e.tokens.filter((_, i) => e.specialTokensMask[i] === 1)
    expect(specials).toEqual(['<s>', '</s>', '</s>', '</s>'])
    expect(e.tokens[0]).toBe('<s>')
    expect(e.tokens.at(-1)).toBe('</s>')
  })

  it('counts offsets in UTF-16 units, and reads a lone surrogate as U+FFFD', () => {
    const tok = load('roberta-bpe')
    const text = '😀 a\ud800b'
    const e = tok.encodeWithOffsets(text, { addSpecialTokens: false })
    for (const [s, end] of e.offsets) {
      expect(s).toBeGreaterThanOrEqual(0)
      expect(end).toBeLessThanOrEqual(text.length)
    }
    expect(e.offsets[0]).toEqual([0, 2])
    expect(tok.encode('a\ud800b')).toEqual(tok.encode('a\ufffdb'))
  })

  it('gives the same ids as encode()', () => {
    for (const name of ['tok-wordpiece', 'tok-llama3', 'roberta-bpe', 'xlmr-unigram', 't5-bytefallback']) {
      const tok = load(name)
      for (const text of ['Hello world', '  ünïcode 漢字 😀 ', '']) {
        for (const addSpecialTokens of [true, false]) {
          expect(tok.encodeWithOffsets(text, { addSpecialTokens }).ids).toEqual(
            tok.encode(text, { addSpecialTokens }),
          )
        }
      }
    }
  })
})

describe('truncation', () => {
  const tok = load('tok-wordpiece')
  const a = 'one two three four five six'
  const b = 'are you'

  it('longest_first takes tokens from the longer sequence first', () => {
    const full = [a, b].map((t) => tok.encode(t, { addSpecialTokens: false }).length)
    expect(full[0]).toBeGreaterThan(7)
    expect(full[1]).toBeLessThan(4)
    const e = tok.encodeWithOffsets(a, { pair: b, maxLength: 10 })
    // 10 − 3 special tokens: the short pair keeps all it has, the first gets the rest.
    expect(e.sequenceIds.filter((x) => x === 1).length).toBe(full[1])
    expect(e.sequenceIds.filter((x) => x === 0).length).toBe(7 - full[1])
    // Both too long: the budget is halved, the odd token going to the second.
    const both = tok.encodeWithOffsets(a, { pair: a, maxLength: 10 })
    expect([0, 1].map((s) => both.sequenceIds.filter((x) => x === s).length)).toEqual([3, 4])
  })

  it('only_first and only_second cut one sequence', () => {
    const full = [a, b].map((t) => tok.encode(t, { addSpecialTokens: false }).length)
    const first = tok.encodeWithOffsets(a, { pair: b, maxLength: 3 + full[1] + 2, truncation: 'only_first' })
    expect(first.sequenceIds.filter((x) => x === 1).length).toBe(full[1])
    expect(first.sequenceIds.filter((x) => x === 0).length).toBe(2)
    const second = tok.encodeWithOffsets(b, {
      pair: a,
      maxLength: 3 + full[1] + 2,
      truncation: 'only_second',
    })
    expect(second.sequenceIds.filter((x) => x === 0).length).toBe(full[1])
    expect(second.sequenceIds.filter((x) => x === 1).length).toBe(2)
  })

  it('a single sequence keeps its special tokens', () => {
    const e = tok.encodeWithOffsets(a, { maxLength: 4 })
    expect(e.tokens[0]).toBe('[CLS]')
    expect(e.tokens.at(-1)).toBe('[SEP]')
    expect(e.ids.length).toBe(4)
    expect(tok.encodeWithOffsets(a, { maxLength: 2 }).tokens).toEqual(['[CLS]', '[SEP]'])
  })

  it('fails as the Rust crate does when the budget cannot be met', () => {
    const fails = (f: () => unknown, pattern: RegExp) => {
      expect(f).toThrow(TokenizerError)
      expect(f).toThrow(pattern)
    }
    fails(
      () => tok.encodeWithOffsets(a, { pair: b, maxLength: 4, truncation: 'only_first' }),
      /the first sequence has \d+ tokens/,
    )
    fails(
      () => tok.encodeWithOffsets(a, { maxLength: 4, truncation: 'only_second' }),
      /'only_second' needs a pair/,
    )
    // Fewer than the special tokens: the Rust crate's usize underflow ignores the limit; kiln refuses.
    fails(() => tok.encodeWithOffsets(a, { pair: b, maxLength: 2 }), /special tokens alone take 3/)
    fails(() => tok.encodeWithOffsets(a, { maxLength: -1 }), /maxLength must be a non-negative integer/)
    // No truncation needed, no error, even for only_second without a pair.
    expect(tok.encodeWithOffsets('x', { maxLength: 8, truncation: 'only_second' }).ids.length).toBe(3)
  })
})

describe('pad', () => {
  const tok = load('tok-wordpiece')

  it('pads to the longest on the right, or to a length on the left', () => {
    const [short, long] = [tok.encodeWithOffsets('hi'), tok.encodeWithOffsets('hello there friend')]
    const [p, q] = tok.pad([short, long])
    expect(p.ids.length).toBe(long.ids.length)
    expect(q).toEqual(long)
    const n = long.ids.length - short.ids.length
    expect(p.ids.slice(-n)).toEqual(new Array(n).fill(tok.padTokenId))
    expect(p.attentionMask.slice(-n)).toEqual(new Array(n).fill(0))
    expect(p.specialTokensMask.slice(-n)).toEqual(new Array(n).fill(1))
    expect(p.typeIds.slice(-n)).toEqual(new Array(n).fill(0))
    expect(p.offsets.slice(-n)).toEqual(new Array(n).fill([0, 0]))
    expect(p.sequenceIds.slice(-n)).toEqual(new Array(n).fill(null))
    expect(p.wordIds.slice(-n)).toEqual(new Array(n).fill(null))
    expect(p.tokens.slice(-n)).toEqual(new Array(n).fill('[PAD]'))
    const [l] = tok.pad([short], { length: 8, side: 'left' })
    expect(l.ids).toEqual([...new Array(8 - short.ids.length).fill(tok.padTokenId), ...short.ids])
    expect(l.attentionMask).toEqual([...new Array(8 - short.ids.length).fill(0), ...short.attentionMask])
    // A length shorter than an encoding leaves it alone.
    expect(tok.pad([long], { length: 2 })[0]).toEqual(long)
  })

  it('needs a pad token', () => {
    const noPad = loadTokenizer(tokenizerDir('tok-llama3'))
    expect(noPad.padTokenId).toBeUndefined()
    expect(() => noPad.pad([noPad.encodeWithOffsets('x')])).toThrow(/no pad token/)
  })
})

describe('special tokens for pipelines', () => {
  it('reads pad, mask and model_max_length from tokenizer_config.json', () => {
    const bert = load('tok-wordpiece')
    expect([bert.padToken, bert.padTokenId, bert.maskToken, bert.maskTokenId, bert.modelMaxLength]).toEqual([
      '[PAD]',
      bert.tokenToId('[PAD]'),
      '[MASK]',
      bert.tokenToId('[MASK]'),
      256,
    ])
    const xlmr = load('xlmr-unigram')
    expect([xlmr.padTokenId, xlmr.maskToken, xlmr.maskTokenId, xlmr.modelMaxLength]).toEqual([
      1,
      '<mask>',
      1001,
      512,
    ])
  })

  it('reads the unknown token and the continuation prefix (NER word grouping)', () => {
    const bert = load('tok-wordpiece')
    expect([bert.unkTokenId, bert.continuingSubwordPrefix]).toEqual([bert.tokenToId('[UNK]'), '##'])
    expect(bert.tokensToString(['h', '##el', '##lo', 'world'])).toBe('hello world')
    const xlmr = load('xlmr-unigram')
    expect([xlmr.unkTokenId, xlmr.continuingSubwordPrefix]).toEqual([3, undefined])
    expect(load('roberta-bpe').unkTokenId).toBe(3)
  })

  it('falls back to tokenizer.json: added tokens, truncation; ignores the "no limit" sentinel', () => {
    const cased = load('bert-cased') // its config names no pad or mask token
    expect([cased.padToken, cased.maskToken, cased.modelMaxLength]).toEqual(['[PAD]', '[MASK]', 128])
    const t5 = load('t5-bytefallback') // model_max_length 1e30, no mask token
    expect([t5.padToken, t5.maskToken, t5.modelMaxLength]).toEqual(['<pad>', undefined, undefined])
  })
})
