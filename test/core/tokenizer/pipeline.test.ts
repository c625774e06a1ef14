// Normalizers, pre-tokenizers, decoders and post-processors one by one, with the behavior of
// the Rust `tokenizers` crate that the golden fixtures do not reach.

import { describe, expect, it } from 'vitest'
import { createDecoder } from '../../../src/core/tokenizer/decoders.js'
import { createNormalizer } from '../../../src/core/tokenizer/normalizers.js'
import { createPostProcessor } from '../../../src/core/tokenizer/post-processors.js'
import { createPreTokenizer } from '../../../src/core/tokenizer/pre-tokenizers.js'

const normalize = (cfg: unknown, s: string) => createNormalizer(cfg)!(s)
const pretokenize = (cfg: unknown, s: string, atStart = true) => {
  const plan = createPreTokenizer(cfg)!
  const pieces = plan.split ? plan.split([s], atStart).pieces : [s]
  return plan.map ? pieces.map(plan.map) : pieces
}
const decode = (cfg: unknown, tokens: string[]) => createDecoder(cfg)!(tokens).join('')

describe('normalizers', () => {
  it('BertNormalizer cleans, pads CJK, strips accents and lowercases', () => {
    const bert = {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    }
    expect(normalize(bert, 'Café\tZÜRICH\u0000\u200b 漢字 かな')).toBe('cafe zurich  漢  字  かな')
    const keepCase = { ...bert, lowercase: false, strip_accents: true, handle_chinese_chars: false }
    expect(normalize(keepCase, 'Café 漢字')).toBe('Cafe 漢字')
    const keepAccents = { ...bert, strip_accents: false }
    expect(normalize(keepAccents, 'Café')).toBe('café')
  })

  it('Lowercase is per character (no final-sigma rule, like Rust char::to_lowercase)', () => {
    expect(normalize({ type: 'Lowercase' }, 'ΟΔΟΣ ABC')).toBe('οδοσ abc')
  })

  it('Sequence of NFKC, Strip, Replace (regex), Prepend', () => {
    const cfg = {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKC' },
        { type: 'Strip', strip_left: true, strip_right: true },
        { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '$ ' },
        { type: 'Prepend', prepend: '\u2581' },
      ],
    }
    expect(normalize(cfg, '  ｆｉ   ﬁ  ')).toBe('\u2581fi$ fi')
    expect(normalize(cfg, '   ')).toBe('')
  })

  it('StripAccents removes combining marks after NFD', () => {
    const cfg = { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }] }
    expect(normalize(cfg, 'Ångström naïve')).toBe('Angstrom naive')
  })
})

describe('pre-tokenizers', () => {
  const split = (behavior: string, invert = false) => ({
    type: 'Split',
    pattern: { Regex: '\\s+' },
    behavior,
    invert,
  })

  it('Split honours every delimiter behavior', () => {
    const s = 'Hello  world !'
    expect(pretokenize(split('Isolated'), s)).toEqual(['Hello', '  ', 'world', ' ', '!'])
    expect(pretokenize(split('Removed'), s)).toEqual(['Hello', 'world', '!'])
    expect(pretokenize(split('MergedWithPrevious'), s)).toEqual(['Hello  ', 'world ', '!'])
    expect(pretokenize(split('MergedWithNext'), s)).toEqual(['Hello', '  world', ' !'])
    expect(pretokenize(split('Contiguous'), 'a  b')).toEqual(['a', '  ', 'b'])
    // invert: the pattern describes what to keep; Removed then drops the rest.
    expect(pretokenize({ ...split('Removed', true), pattern: { Regex: '\\p{L}+' } }, 'ab, cd!')).toEqual([
      'ab',
      'cd',
    ])
    expect(pretokenize({ ...split('Contiguous', true), pattern: { Regex: '\\p{L}' } }, 'ab, cd')).toEqual([
      'ab',
      ', ',
      'cd',
    ])
    expect(pretokenize({ type: 'Split', pattern: { String: ' ' }, behavior: 'Removed' }, 'a b  c')).toEqual([
      'a',
      'b',
      'c',
    ])
  })

  it('ByteLevel maps bytes to the GPT-2 alphabet, with optional prefix space and regex', () => {
    expect(
      pretokenize({ type: 'ByteLevel', add_prefix_space: false, use_regex: true }, "Hi, it's é"),
    ).toEqual(['Hi', ',', 'Ġit', "'s", 'ĠÃ©'])
    expect(pretokenize({ type: 'ByteLevel', add_prefix_space: true, use_regex: false }, 'a b\n')).toEqual([
      'ĠaĠbĊ',
    ])
    expect(pretokenize({ type: 'ByteLevel', add_prefix_space: true, use_regex: true }, ' x')).toEqual(['Ġx'])
  })

  it('Metaspace replaces spaces, prepends by scheme and splits before each ▁', () => {
    const ms = (extra: object) => ({ type: 'Metaspace', replacement: '\u2581', ...extra })
    expect(pretokenize(ms({ prepend_scheme: 'always' }), 'Hello  world')).toEqual(['▁Hello', '▁', '▁world'])
    expect(pretokenize(ms({ prepend_scheme: 'first' }), 'Hello', false)).toEqual(['Hello'])
    expect(pretokenize(ms({ prepend_scheme: 'first' }), 'Hello', true)).toEqual(['▁Hello'])
    expect(pretokenize(ms({ prepend_scheme: 'never' }), 'Hello world')).toEqual(['Hello', '▁world'])
    expect(pretokenize(ms({ prepend_scheme: 'always', split: false }), 'Hello world')).toEqual([
      '▁Hello▁world',
    ])
    expect(pretokenize(ms({ add_prefix_space: true }), 'a b')).toEqual(['▁a', '▁b'])
  })

  it('BertPreTokenizer splits whitespace and isolates ASCII and Unicode punctuation', () => {
    expect(pretokenize({ type: 'BertPreTokenizer' }, "don't $5,\tok¿ «x»")).toEqual([
      'don',
      "'",
      't',
      '$',
      '5',
      ',',
      'ok',
      '¿',
      '«',
      'x',
      '»',
    ])
  })

  it('Whitespace, WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit', () => {
    expect(pretokenize({ type: 'Whitespace' }, 'Hey friend!  How are_you?')).toEqual([
      'Hey',
      'friend',
      '!',
      'How',
      'are_you',
      '?',
    ])
    expect(pretokenize({ type: 'WhitespaceSplit' }, ' a\u00a0b\tc ')).toEqual(['a', 'b', 'c'])
    expect(pretokenize({ type: 'Punctuation', behavior: 'Isolated' }, 'a</s>')).toEqual([
      'a',
      '<',
      '/',
      's',
      '>',
    ])
    expect(pretokenize({ type: 'Punctuation', behavior: 'MergedWithPrevious' }, 'Hey! you')).toEqual([
      'Hey!',
      ' you',
    ])
    expect(pretokenize({ type: 'Digits', individual_digits: true }, 'a123b')).toEqual([
      'a',
      '1',
      '2',
      '3',
      'b',
    ])
    expect(pretokenize({ type: 'Digits', individual_digits: false }, 'a123b45')).toEqual([
      'a',
      '123',
      'b',
      '45',
    ])
    expect(pretokenize({ type: 'CharDelimiterSplit', delimiter: '|' }, 'a|b||c')).toEqual(['a', 'b', 'c'])
  })

  it('Sequence applies stages in order and defers the final byte mapping', () => {
    const plan = createPreTokenizer({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
      ],
    })!
    expect(plan.split!(['ab12345 c'], true).pieces).toEqual(['ab', '123', '45', ' c'])
    expect(plan.map!(' c')).toBe('Ġc')
  })
})

describe('decoders', () => {
  it('WordPiece joins continuations and cleans up each token, not the whole text', () => {
    const wp = { type: 'WordPiece', prefix: '##', cleanup: true }
    expect(decode(wp, ['don', "'", 't', 'run', '##ning', '.', 'it', "'s", '?'])).toBe(
      "don ' t running. it's?",
    )
    expect(decode(wp, ['##a', 'b'])).toBe('##a b')
    expect(decode({ ...wp, cleanup: false }, ['a', '.'])).toBe('a .')
  })

  it('ByteFallback decodes byte runs and replaces each byte of an invalid run', () => {
    expect(decode({ type: 'ByteFallback' }, ['a', '<0xE4>', '<0xBD>', '<0xA0>', 'b'])).toBe('a你b')
    expect(decode({ type: 'ByteFallback' }, ['<0xE4>', '<0xBD>', 'b'])).toBe('\ufffd\ufffdb')
    expect(decode({ type: 'ByteFallback' }, ['<0xZZ>', '<0x41>'])).toBe('<0xZZ>A')
  })

  it('Strip, Replace, Fuse and Sequence (the Llama 2 decoder)', () => {
    const llama2 = {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    }
    expect(decode(llama2, ['▁Hello', '▁', '<0xF0>', '<0x9F>', '<0x98>', '<0x80>', '▁▁x'])).toBe('Hello 😀  x')
    // Strip works per token: without Fuse every token loses its leading space.
    expect(decode({ type: 'Strip', content: ' ', start: 1, stop: 1 }, [' a ', ' b '])).toBe('ab')
  })

  it('Metaspace drops the first token replacement characters and spaces the rest', () => {
    const ms = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }
    expect(decode(ms, ['▁Hey', '▁friend', '!'])).toBe('Hey friend!')
    expect(decode({ ...ms, prepend_scheme: 'never' }, ['▁Hey', '▁friend'])).toBe(' Hey friend')
  })

  it('ByteLevel decodes byte characters and passes other text through as UTF-8', () => {
    expect(decode({ type: 'ByteLevel' }, ['Hello', 'Ġw', 'Ã©', '<|im_end|>', 'ĊĠ'])).toBe(
      'Hello wé<|im_end|>\n ',
    )
    expect(decode({ type: 'ByteLevel' }, ['ä', '½'])).toBe('\ufffd')
    expect(decode({ type: 'ByteLevel' }, ['日本'])).toBe('日本')
  })

  it('BPEDecoder and CTC', () => {
    expect(decode({ type: 'BPEDecoder', suffix: '</w>' }, ['hel', 'lo</w>', 'world</w>'])).toBe('hello world')
    const ctc = { type: 'CTC', pad_token: '<pad>', word_delimiter_token: '|', cleanup: true }
    expect(decode(ctc, ['h', 'h', '<pad>', 'e', 'l', 'l', '<pad>', 'l', 'o', '|', 'w'])).toBe('hello w')
  })
})

describe('post-processors', () => {
  it('TemplateProcessing places special ids around the sequence', () => {
    const post = createPostProcessor({
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] },
      },
    })!
    expect(post.single([7, 8])).toEqual([101, 7, 8, 102])
  })

  it('BertProcessing, RobertaProcessing, ByteLevel and Sequence', () => {
    expect(
      createPostProcessor({ type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] })!.single([5]),
    ).toEqual([101, 5, 102])
    const roberta = { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true }
    expect(createPostProcessor(roberta)!.single([5])).toEqual([0, 5, 2])
    const seq = { type: 'Sequence', processors: [{ type: 'ByteLevel', trim_offsets: false }, roberta] }
    expect(createPostProcessor(seq)!.single([])).toEqual([0, 2])
  })
})
