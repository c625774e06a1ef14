// kiln's character classes and Unicode normalization against the Rust crate's, which pins older
// Unicode data than JavaScript: the generated tables (unicode-tables.ts) on random code points, and
// NFD/NFKD/NFC/NFKC (with their offsets) on strings dense in combining marks and recent characters.

import fc from 'fast-check'
import * as rust from 'tokenizers'
import { describe, expect, it } from 'vitest'
import { Tokenizer } from '../../../src/core/tokenizer/index.js'
import { createNormalizer } from '../../../src/core/tokenizer/normalizers.js'
import { type NormalizationForm, normalizeUnicode } from '../../../src/core/tokenizer/unicode-normalize.js'
import { RUNS } from './differential.js'
import { RustTokenizer, rustEncode } from './reference.js'

const codePoint = fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff)

/** Code points where the tables and JavaScript disagree, or normalization is busy. */
const interesting = fc.oneof(
  codePoint,
  fc.integer({ min: 0x300, max: 0x36f }), // combining diacritics
  fc.integer({ min: 0x1ab0, max: 0x1aff }), // newer combining marks
  fc.integer({ min: 0x0900, max: 0x0dff }), // Indic two-part vowels
  fc.integer({ min: 0x1100, max: 0x11ff }), // Hangul jamo
  fc.constantFrom(
    0x41,
    0x61,
    0x65,
    0xac00,
    0x0345,
    0x0334,
    0x0f73,
    0x11930,
    0x11935,
    0x105d2,
    0x88f,
    0xfb01,
    0x2126,
  ),
)
const markHeavy = fc.array(interesting, { maxLength: 10 }).map((cps) => String.fromCodePoint(...cps))

const FORMS: [NormalizationForm, rust.Normalizer][] = [
  ['NFD', rust.nfdNormalizer()],
  ['NFKD', rust.nfkdNormalizer()],
  ['NFC', rust.nfcNormalizer()],
  ['NFKC', rust.nfkcNormalizer()],
]

/** A tokenizer that keeps every character as an [UNK] token, so offsets show each one's source. */
function charTokenizer(normalizer: unknown): { kiln: Tokenizer; rust: RustTokenizer } {
  const json = {
    version: '1.0',
    added_tokens: [],
    normalizer,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '.' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: null,
    model: {
      type: 'WordPiece',
      vocab: { '[UNK]': 0 },
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
    },
  }
  return { kiln: Tokenizer.fromJSON(json), rust: RustTokenizer.fromString(JSON.stringify(json)) }
}

describe('Unicode normalization as the Rust crate', () => {
  it('NFD, NFKD, NFC and NFKC give the same text', () => {
    fc.assert(
      fc.property(markHeavy, (s) => {
        for (const [form, normalizer] of FORMS)
          expect(normalizeUnicode(s, form), form).toBe(normalizer.normalizeString(s))
      }),
      { numRuns: RUNS * 5 },
    )
  })

  it('and the same offsets (each character of the output points at its source)', async () => {
    for (const [form] of FORMS) {
      const pair = charTokenizer({ type: form })
      await fc.assert(
        fc.asyncProperty(markHeavy, async (s) => {
          expect(pair.kiln.encodeWithOffsets(s).offsets, `${form} ${s}`).toEqual(
            (await rustEncode(pair.rust, s)).offsets,
          )
        }),
        { numRuns: RUNS },
      )
    }
  })
})

describe('character classes as the Rust crate', () => {
  it('BertNormalizer (controls, whitespace, CJK, accents, lowercase): same text and offsets', async () => {
    const configs = [
      { clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      { clean_text: true, handle_chinese_chars: false, strip_accents: true, lowercase: false },
    ]
    for (const cfg of configs) {
      const normalizer = { type: 'BertNormalizer', ...cfg }
      const ours = createNormalizer(normalizer)!
      const pair = charTokenizer(normalizer)
      const theirs = pair.rust.getNormalizer()!
      await fc.assert(
        fc.asyncProperty(markHeavy, async (s) => {
          expect(ours(s), s).toBe(theirs.normalizeString(s))
          expect(pair.kiln.encodeWithOffsets(s).offsets, s).toEqual((await rustEncode(pair.rust, s)).offsets)
        }),
        { numRuns: RUNS * 2 },
      )
    }
  })

  it('BertPreTokenizer, Whitespace, Punctuation and ByteLevel split where the Rust crate does', async () => {
    for (const type of ['BertPreTokenizer', 'Whitespace', 'Punctuation', 'ByteLevel']) {
      const json = {
        version: '1.0',
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: { type, add_prefix_space: false, trim_offsets: false, use_regex: true },
        post_processor: null,
        decoder: null,
        model: {
          type: 'WordPiece',
          vocab: { '[UNK]': 0 },
          unk_token: '[UNK]',
          continuing_subword_prefix: '##',
          max_input_chars_per_word: 100,
        },
      }
      const kiln = Tokenizer.fromJSON(json)
      const theirs = RustTokenizer.fromString(JSON.stringify(json))
      await fc.assert(
        fc.asyncProperty(markHeavy, async (s) => {
          const [a, b] = [kiln.encodeWithOffsets(s), await rustEncode(theirs, s)]
          expect([a.offsets, a.wordIds], `${type} ${s}`).toEqual([b.offsets, b.wordIds])
        }),
        { numRuns: RUNS * 2 },
      )
    }
  })
})
