// Tokenizer-level behavior: added tokens inside text, BPE/WordPiece options, Metaspace
// tokenizers, tokenizer_config handling and chat template selection.

import { describe, expect, it } from 'vitest'
import { loadTokenizer, Tokenizer } from '../../../src/core/tokenizer/index.js'
import { fixtureDir, type GoldenChat, readFixtureJson } from './fixtures.js'

type Json = Record<string, unknown>
const json = (name: string) => readFixtureJson<Json>(name, 'tokenizer.json')
const noSpecial = { addSpecialTokens: false }

describe('added tokens in text', () => {
  it('matches special tokens inside text, with or without addSpecialTokens', () => {
    const tok = loadTokenizer(fixtureDir('tok-chatml'))
    const body = tok.encode('user\nhi there', noSpecial)
    const ids = [1, ...body, 2, ...tok.encode('\n', noSpecial)]
    expect(tok.encode('<|im_start|>user\nhi there<|im_end|>\n')).toEqual(ids)
    expect(tok.encode('<|im_start|>user\nhi there<|im_end|>\n', noSpecial)).toEqual(ids)
    expect(tok.decode(ids)).toBe('<|im_start|>user\nhi there<|im_end|>\n')
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nhi there\n')
  })

  it('adds BOS even when the text already starts with it, as transformers does', () => {
    const tok = loadTokenizer(fixtureDir('tok-llama3'))
    expect(tok.encode('<|begin_of_text|>Hi')).toEqual([0, 0, ...tok.encode('Hi', noSpecial)])
  })

  it('encodes the rendered chat prompt with its special tokens', () => {
    const tok = loadTokenizer(fixtureDir('tok-chatml'))
    const { chat } = readFixtureJson<{ chat: GoldenChat }>('tok-chatml', 'golden.json')
    const ids = tok.encode(tok.applyChatTemplate(chat.messages, { addGenerationPrompt: true }))
    expect(ids.filter((id) => id === 1)).toHaveLength(5)
    expect(ids.filter((id) => id === 2)).toHaveLength(4)
    expect(tok.decode(ids)).toBe(chat.prompt)
  })

  it('honours lstrip, rstrip, single_word and normalized like the Rust AddedVocabulary', () => {
    const base = loadTokenizer(fixtureDir('tok-wordpiece'))
    const j = json('tok-wordpiece')
    const extra = [
      {
        id: 500,
        content: 'my',
        lstrip: true,
        rstrip: true,
        single_word: false,
        normalized: true,
        special: false,
      },
      {
        id: 501,
        content: 'name',
        lstrip: false,
        rstrip: false,
        single_word: false,
        normalized: true,
        special: false,
      },
      {
        id: 502,
        content: 'ony',
        lstrip: false,
        rstrip: false,
        single_word: true,
        normalized: true,
        special: false,
      },
      {
        id: 503,
        content: '<mask>',
        lstrip: true,
        rstrip: true,
        single_word: true,
        normalized: false,
        special: true,
      },
    ]
    const tok = Tokenizer.fromJSON({ ...j, added_tokens: [...(j.added_tokens as unknown[]), ...extra] })
    const plain = (s: string) => base.encode(s, noSpecial)

    // "My" matches after lowercasing (normalized) and swallows the spaces around it; "ony"
    // inside "Anthony" is not a single word.
    expect(tok.encode('[CLS] My name is Anthony [SEP]')).toEqual([
      2,
      2,
      500,
      501,
      ...plain('is anthony'),
      3,
      3,
    ])
    // "<mask>" glued to a word is left to the model; "ony" after ">" is a single word.
    expect(tok.encode('<mask> My name <mask> A<mask> <mask>ony <mask>')).toEqual([
      2,
      503,
      500,
      501,
      503,
      ...plain('a<mask> <mask>'),
      502,
      503,
      3,
    ])
    expect(tok.encode('Hi <mask> there\t<mask>\t<mask>\u2000', noSpecial)).toEqual([
      ...plain('hi'),
      503,
      ...plain('there'),
      503,
      503,
    ])
    expect(tok.vocabSize).toBe(504)
    expect(tok.tokenToId('<mask>')).toBe(503)
    expect(tok.idToToken(502)).toBe('ony')
    expect(tok.specialIds.has(503)).toBe(true)
    expect(tok.specialIds.has(500)).toBe(false)
  })
})

describe('Metaspace tokenizers (Llama 2 / Mistral conversions)', () => {
  const sp = loadTokenizer(fixtureDir('tok-sentencepiece'))
  const metaspace = (scheme: string, split: boolean) =>
    Tokenizer.fromJSON({
      ...json('tok-sentencepiece'),
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split },
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'ByteFallback' },
          { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split },
        ],
      },
    })

  it('without split equals the Prepend/Replace normalizer form', () => {
    const tok = metaspace('first', false)
    for (const text of ['Hello world', 'a  b\nc', 'x ']) {
      expect(tok.encode(text)).toEqual(sp.encode(text))
      expect(tok.decode(tok.encode(text), { skipSpecialTokens: true })).toBe(text)
    }
    // Unlike Prepend, Metaspace does not add a second ▁ before a leading space.
    expect(tok.encode(' leading')).toEqual(sp.encode('leading'))
  })

  it('with split encodes each ▁-word on its own', () => {
    const tok = metaspace('always', true)
    expect(tok.encode('Hello world')).toEqual([
      1,
      ...sp.encode('Hello', noSpecial),
      ...sp.encode('world', noSpecial),
    ])
  })

  it('prepend_scheme "first" only prepends at the very start of the input', () => {
    const first = metaspace('first', true)
    const always = metaspace('always', true)
    const never = metaspace('never', true)
    expect(first.encode('Hello')).toEqual(always.encode('Hello'))
    expect(first.encode('<s>Hello', noSpecial)).toEqual([1, ...never.encode('Hello', noSpecial)])
    expect(always.encode('<s>Hello', noSpecial)).toEqual([1, ...always.encode('Hello', noSpecial)])
    expect(never.encode('Hello', noSpecial)).not.toEqual(always.encode('Hello', noSpecial))
  })
})

describe('BPE options', () => {
  const bpe = (model: Json, extra: Json = {}) =>
    Tokenizer.fromJSON({ model: { type: 'BPE', merges: [], ...model }, added_tokens: [], ...extra })

  it('falls back to <0xNN> byte tokens, then to a (fused) unk token', () => {
    const vocab: Json = { '<unk>': 0, a: 1 }
    for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 2 + b
    expect(bpe({ vocab, byte_fallback: true, unk_token: '<unk>' }).encode('aé')).toEqual([
      1,
      2 + 0xc3,
      2 + 0xa9,
    ])
    const noBytes = { '<unk>': 0, a: 1 }
    expect(bpe({ vocab: noBytes, unk_token: '<unk>', fuse_unk: true }).encode('a€€a€')).toEqual([1, 0, 1, 0])
    expect(bpe({ vocab: noBytes, unk_token: '<unk>', fuse_unk: false }).encode('a€€a')).toEqual([1, 0, 0, 1])
    // Without an unk token, unknown characters are dropped (the Rust crate does the same).
    expect(bpe({ vocab: noBytes }).encode('a€a')).toEqual([1, 1])
  })

  it('supports continuing_subword_prefix and end_of_word_suffix', () => {
    const vocab = { h: 0, '##e': 1, '##y': 2, he: 3, hey: 4 }
    const tok = bpe({ vocab, merges: ['h ##e', 'he ##y'], continuing_subword_prefix: '##' })
    expect(tok.encode('hey')).toEqual([4])
    const suffixed = bpe({
      vocab: { l: 0, 'o</w>': 1, 'lo</w>': 2, o: 3 },
      merges: ['l o</w>'],
      end_of_word_suffix: '</w>',
    })
    expect(suffixed.encode('lo')).toEqual([2])
    expect(suffixed.encode('ol')).toEqual([3])
  })

  it('ignore_merges takes a whole word from the vocab directly', () => {
    const vocab = { a: 0, b: 1, c: 2, ab: 3, bc: 4, abc: 5 }
    const merges = ['b c', 'a b']
    expect(bpe({ vocab, merges }).encode('abc')).toEqual([0, 4])
    expect(bpe({ vocab, merges, ignore_merges: true }).encode('abc')).toEqual([5])
  })
})

describe('tokenizer_config.json', () => {
  const j = () => json('tok-chatml')

  it('reads special tokens given as strings or as {content} objects', () => {
    const tok = Tokenizer.fromJSON(j(), {
      bos_token: { __type: 'AddedToken', content: '<|im_start|>', lstrip: false },
      eos_token: '<|im_end|>',
    })
    expect(tok.bosToken).toBe('<|im_start|>')
    expect(tok.eosToken).toBe('<|im_end|>')
  })

  it('picks the chat template: .jinja file > config string > config list "default"', () => {
    const messages = [{ role: 'user', content: 'hi' }]
    const list = [
      { name: 'tool_use', template: 'TOOLS' },
      { name: 'default', template: '{{ bos_token }}{{ messages[0].content }}' },
    ]
    expect(
      Tokenizer.fromJSON(j(), { bos_token: '<B>', chat_template: list }).applyChatTemplate(messages),
    ).toBe('<B>hi')
    expect(
      Tokenizer.fromJSON(j(), { chat_template: [{ name: 'rag', template: 'R' }] }).applyChatTemplate(
        messages,
      ),
    ).toBe('R')
    expect(Tokenizer.fromJSON(j(), { chat_template: 'S' }).applyChatTemplate(messages)).toBe('S')
    expect(Tokenizer.fromJSON(j(), { chat_template: 'S' }, 'F').applyChatTemplate(messages)).toBe('F')
    expect(Tokenizer.fromJSON(j(), {}).hasChatTemplate).toBe(false)
  })

  it('passes add_generation_prompt (default false) and eos_token to the template', () => {
    const tok = Tokenizer.fromJSON(
      j(),
      { eos_token: '<E>' },
      '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}>{% endif %}',
    )
    const messages = [{ role: 'user', content: 'a' }]
    expect(tok.applyChatTemplate(messages)).toBe('a<E>')
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe('a<E>>')
  })

  it('applies clean_up_tokenization_spaces only when the config asks for it', () => {
    const wp = json('tok-wordpiece')
    const ids = loadTokenizer(fixtureDir('tok-wordpiece')).encode("don't stop.", noSpecial)
    expect(Tokenizer.fromJSON(wp, {}).decode(ids)).toBe("don ' t stop.")
    expect(Tokenizer.fromJSON(wp, { clean_up_tokenization_spaces: true }).decode(ids)).toBe("don't stop.")
  })

  it('decodes ids outside the vocabulary as nothing', () => {
    const tok = loadTokenizer(fixtureDir('tok-chatml'))
    expect(tok.idToToken(99999)).toBeUndefined()
    expect(tok.decode([99999, ...tok.encode('ok')])).toBe('ok')
    expect(tok.decode([])).toBe('')
  })
})
