// A hostile or broken tokenizer.json is refused with a one-line TokenizerError naming the field
// (never a TypeError or a RangeError), and a pipeline that would amplify its input without bound
// stops at a clear limit. Reproducers the tokenizer-json fuzz target found, reduced.

import { describe, expect, it } from 'vitest'
import { appendEncoding, emptyEncoding } from '../../../src/core/tokenizer/encoding.js'
import { MAX_STAGES } from '../../../src/core/tokenizer/fields.js'
import { Tokenizer, TokenizerError } from '../../../src/core/tokenizer/index.js'

type Json = Record<string, unknown>

/** A small WordPiece tokenizer, as BERT's, with sections replaced by `over`. */
function doc(over: Json = {}): Json {
  return {
    version: '1.0',
    added_tokens: [
      { id: 0, content: '[UNK]', special: true, normalized: false },
      { id: 1, content: '[CLS]', special: true, normalized: false },
      { id: 2, content: '[SEP]', special: true, normalized: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, a: 3, b: 4, '##b': 5, aa: 6, é: 7 },
    },
    ...over,
  }
}

function error(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerError)
    const message = (e as TokenizerError).message
    expect(message).not.toMatch(/[\r\n]/)
    expect(message.length).toBeLessThan(400)
    return message
  }
  throw new Error('expected a TokenizerError')
}

const load = (over: Json) => () => Tokenizer.fromJSON(doc(over))

describe('tokenizer.json sections of the wrong shape', () => {
  it('checks that Sequence lists are lists', () => {
    expect(error(load({ normalizer: { type: 'Sequence', normalizers: 5 } }))).toBe(
      'tokenizer.json: normalizer Sequence "normalizers" must be a list, got 5',
    )
    expect(error(load({ pre_tokenizer: { type: 'Sequence', pretokenizers: 1 } }))).toMatch(
      /pre_tokenizer Sequence "pretokenizers" must be a list, got 1/,
    )
    expect(error(load({ decoder: { type: 'Sequence', decoders: {} } }))).toMatch(
      /decoder Sequence "decoders" must be a list, got \{\}/,
    )
    expect(error(load({ post_processor: { type: 'Sequence', processors: 'x' } }))).toMatch(
      /post_processor Sequence "processors" must be a list, got "x"/,
    )
  })

  it('checks that each stage is an object', () => {
    expect(error(load({ normalizer: { type: 'Sequence', normalizers: [3] } }))).toMatch(
      /a normalizer must be an object, got 3/,
    )
    expect(error(load({ decoder: [] }))).toMatch(/a decoder must be an object, got \[\]/)
  })

  it('checks TemplateProcessing templates and special tokens', () => {
    const template = (t: Json) => load({ post_processor: { type: 'TemplateProcessing', ...t } })
    const specials = { '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] } }
    expect(error(template({ single: 5 }))).toMatch(/TemplateProcessing "single" must be a list, got 5/)
    expect(error(template({ single: [null] }))).toMatch(
      /TemplateProcessing "single" piece #0 must be an object, got null/,
    )
    expect(error(template({ single: [{ Sequence: { id: 'C' } }] }))).toMatch(/not a Sequence A or B/)
    expect(
      error(template({ single: [{ SpecialToken: { id: '[CLS]' } }], special_tokens: { '[CLS]': 5 } })),
    ).toMatch(/"special_tokens" "\[CLS\]" must be an object, got 5/)
    expect(
      error(
        template({
          single: [{ SpecialToken: { id: '[CLS]' } }],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [1], tokens: 5 } },
        }),
      ),
    ).toMatch(/"special_tokens" "\[CLS\]" "tokens" must be a list, got 5/)
    expect(
      error(
        template({
          single: [{ SpecialToken: { id: '[CLS]' } }],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [1, 2], tokens: ['[CLS]'] } },
        }),
      ),
    ).toMatch(/has 2 ids but 1 tokens/)
    // A name that only the object's prototype has is not a special token.
    expect(
      error(template({ single: [{ SpecialToken: { id: 'constructor' } }], special_tokens: specials })),
    ).toMatch(/special token "constructor" is undefined/)
    expect(
      error(
        template({ single: [{ SpecialToken: { id: '[CLS]', type_id: 0.5 } }], special_tokens: specials }),
      ),
    ).toMatch(/type_id must be a non-negative integer, got 0.5/)
  })

  it('checks added_tokens entries', () => {
    expect(error(load({ added_tokens: [null] }))).toMatch(
      /added_tokens #0 must be an object with a string "content", got null/,
    )
    expect(error(load({ added_tokens: 5 }))).toMatch(/"added_tokens" must be a list, got 5/)
  })

  it('checks strings that stages insert, and refuses ones longer than a few characters', () => {
    expect(
      error(load({ normalizer: { type: 'Replace', pattern: { String: 'a' }, content: ['b'] } })),
    ).toMatch(/Replace normalizer "content" must be a string, got \["b"\]/)
    expect(
      error(load({ model: { ...(doc().model as Json), continuing_subword_prefix: 'x'.repeat(100_000) } })),
    ).toMatch(
      /WordPiece "continuing_subword_prefix" is 100000 characters long \("x{20}…"\); kiln accepts at most 16/,
    )
    expect(
      error(load({ pre_tokenizer: { type: 'Metaspace', replacement: '__', prepend_scheme: 'always' } })),
    ).toMatch(/Metaspace pre-tokenizer "replacement" must be one character, got "__"/)
  })

  it('echoes deeply nested values bounded, on one line', () => {
    let deep: unknown = 'BPE'
    for (let k = 0; k < 10_000; k++) deep = [deep]
    expect(error(load({ model: { type: deep, vocab: {} } }))).toMatch(
      /^tokenizer\.json: unsupported model type \[\[\[\[.*…/,
    )
    const added = [{ id: deep, content: 'x\ny', special: true }]
    expect(error(load({ added_tokens: added }))).toMatch(/added token "x\\ny" has id \[\[\[.*…/)
  })

  it('counts the stages of nested Sequences, shared ones spelled out', () => {
    let seq: Json = { type: 'Lowercase' }
    for (let k = 0; k < 12; k++) seq = { type: 'Sequence', normalizers: [seq, seq] }
    expect(error(load({ normalizer: seq }))).toBe(
      `tokenizer.json: the normalizer has more than ${MAX_STAGES} stages (nested Sequences counted in)`,
    )
  })
})

describe('post-processor ids', () => {
  it('holds them to the range of token ids', () => {
    const bert = (cls: unknown, sep: unknown) =>
      load({ post_processor: { type: 'BertProcessing', cls: ['[CLS]', cls], sep: ['[SEP]', sep] } })
    expect(error(bert(1, 0.5))).toMatch(
      /BertProcessing "sep" special token "\[SEP\]" has id 0.5; ids must be integers/,
    )
    expect(error(bert(1e9, 2))).toMatch(/BertProcessing "cls" special token "\[CLS\]" has id 1000000000/)
    expect(error(bert(-1, 2))).toMatch(/has id -1/)
    const template = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>' } }, { Sequence: { id: 'A' } }],
      special_tokens: { '<s>': { id: '<s>', ids: [2 ** 40], tokens: ['<s>'] } },
    }
    expect(error(load({ post_processor: template }))).toMatch(
      /"<s>" special token "<s>" has id 1099511627776/,
    )
  })

  it('counts an id past the vocabulary (within its slack) in vocabSize', () => {
    const tok = Tokenizer.fromJSON(
      doc({ post_processor: { type: 'BertProcessing', cls: ['[CLS]', 1], sep: ['[END]', 20] } }),
    )
    expect(tok.vocabSize).toBe(21)
    expect(tok.encode('a')).toEqual([1, 3, 20])
  })
})

describe('added tokens too long to match', () => {
  it('refuses an added token of more than 4096 characters when loading', () => {
    const long = 'x'.repeat(200_000)
    expect(error(load({ added_tokens: [{ id: 8, content: long, special: false }] }))).toMatch(
      /added_tokens #0 "x{40}…" is 200000 characters long; kiln matches added tokens of at most 4096/,
    )
  })

  it('still matches one of 4096', () => {
    const long = 'ab'.repeat(2048)
    const tok = Tokenizer.fromJSON(
      doc({ added_tokens: [{ id: 8, content: long, special: true, normalized: false }] }),
    )
    expect(tok.encode(`a${long}b`, { addSpecialTokens: false })).toEqual([3, 8, 4])
  })
})

describe('growth bounds', () => {
  const replaces = (n: number) => ({
    type: 'Sequence',
    normalizers: Array.from({ length: n }, () => ({
      type: 'Replace',
      pattern: { String: 'a' },
      content: 'aa',
    })),
  })

  it('stops normalizer stages that double the text each', () => {
    const tok = Tokenizer.fromJSON(doc({ normalizer: replaces(40) }))
    expect(error(() => tok.encode('a'))).toMatch(/the normalizer grows the text more than 32-fold/)
    expect(error(() => tok.encodeWithOffsets('a'))).toMatch(/the normalizer grows the text more than 32-fold/)
  })

  it('lets a few doublings through', () => {
    const tok = Tokenizer.fromJSON(doc({ normalizer: replaces(3) }))
    expect(tok.encode('a', { addSpecialTokens: false })).toEqual([0]) // "aaaaaaaa" is no word
    expect(tok.encodeWithOffsets('a', { addSpecialTokens: false }).ids).toEqual([0])
  })

  it('stops a single Replace before it builds a huge text', () => {
    const content = 'b'.repeat(64)
    const tok = Tokenizer.fromJSON(doc({ normalizer: { type: 'Replace', pattern: { String: '' }, content } }))
    expect(error(() => tok.encode('a'.repeat(10_000)))).toMatch(
      /the normalizer grows the text more than 32-fold/,
    )
  })

  it('stops Unicode normalization of a grown text as it decomposes', () => {
    // 30 ligatures for each "a" (within the limit), then NFKD makes each ligature 18 letters.
    const normalizer = {
      type: 'Sequence',
      normalizers: [
        { type: 'Replace', pattern: { String: 'a' }, content: '\uFDFA'.repeat(30) },
        { type: 'NFKD' },
      ],
    }
    const tok = Tokenizer.fromJSON(doc({ normalizer }))
    expect(error(() => tok.encode('a'.repeat(1000)))).toMatch(
      /the normalizer grows the text more than 32-fold/,
    )
    expect(error(() => tok.encodeWithOffsets('a'.repeat(1000)))).toMatch(
      /the normalizer grows the text more than 32-fold/,
    )
    // A real text through NFKD: the ligature's 18 characters (four words) are well within the limit.
    expect(
      Tokenizer.fromJSON(doc({ normalizer: { type: 'NFKD' } })).encode('\uFDFA', { addSpecialTokens: false }),
    ).toEqual([0, 0, 0, 0])
  })

  it('stops stacked ByteLevel pre-tokenizers', () => {
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }
    const tok = Tokenizer.fromJSON(
      doc({
        pre_tokenizer: { type: 'Sequence', pretokenizers: Array.from({ length: 40 }, () => byteLevel) },
      }),
    )
    expect(error(() => tok.encode('é'))).toMatch(/the pre-tokenizer grows the text more than 8-fold/)
    expect(error(() => tok.encodeWithOffsets('é'))).toMatch(
      /the pre-tokenizer grows the text more than 8-fold/,
    )
  })

  it('stops decoder stages that double the text each', () => {
    const replace = { type: 'Replace', pattern: { String: 'a' }, content: 'aa' }
    const tok = Tokenizer.fromJSON(
      doc({ decoder: { type: 'Sequence', decoders: Array.from({ length: 40 }, () => replace) } }),
    )
    expect(error(() => tok.decode([3]))).toMatch(/the decoder grows the text more than 8-fold/)
  })
})

describe('long encodings', () => {
  it('appends hundreds of thousands of tokens without spreading them as arguments', () => {
    const a = emptyEncoding()
    const b = emptyEncoding()
    for (let k = 0; k < 300_000; k++) {
      b.ids.push(k)
      b.tokens.push('a')
      b.typeIds.push(0)
      b.specialTokensMask.push(0)
      b.offsets.push([k, k + 1])
      b.wordIds.push(k)
    }
    appendEncoding(a, b)
    expect(a.ids.length).toBe(300_000)
    expect(a.offsets[299_999]).toEqual([299_999, 300_000])
  })
})
