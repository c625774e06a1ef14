// Text generators for the differential tests: random Unicode (any code point, and graphemes)
// mixed with the fragments that break tokenizers — combining marks, CJK, emoji ZWJ sequences,
// lone surrogates at the edges, control characters, long words, special-token strings.

import fc from 'fast-check'

export const ADVERSARIAL = [
  'e\u0301\u0323\u0300', // stacked combining marks, out of canonical order
  'A\u030a\u212b', // Å three ways
  '\u1100\u1161\u11a8\uac00', // Hangul jamo and a syllable
  '漢字かなカナ한국어', // CJK ideographs, kana, hangul
  '👨\u200d👩\u200d👧\u200d👦', // emoji ZWJ family
  '🇫🇷🇩🇪', // regional indicators
  '👍🏽', // skin tone modifier
  '\ud83d', // lone high surrogate
  '\ude00', // lone low surrogate
  '\u0000\u0001\u001f\u007f\u0085\u00ad\u200b\ufeff\ufffd', // controls, format chars, U+FFFD
  '\t\n\r\n \u00a0\u2028\u3000', // whitespace of every kind
  'ＡＢＣ１２３ﬁ①㍿', // compatibility forms
  '\u0958\u0915\u093c\u0bca\u0b4b', // Indic composition exclusions and two-part vowels
  'İstanbul ΣΑΣ ß ẞ', // case mappings that change length
  '\u0600\u0661a', // prepend character, Arabic-Indic digit
  "don't I'M we'LL 3.14 1,000,000", // contractions and numbers
  'x'.repeat(120), // a word longer than WordPiece's max_input_chars_per_word
  'ab'.repeat(70),
  '  leading',
  'trailing  ',
  '   ', // spaces at the edges
  '[CLS] [SEP] [MASK] [UNK] [PAD]',
  '<s> </s> <pad> <unk> <mask>',
  '<|im_start|>user<|im_end|><|begin_of_text|><|eot_id|>',
  '\u2581 \u2581\u2581x', // the metaspace character itself
  'Hello, world! How are you?',
]

const WORDS = [
  'the',
  'tokenizer',
  'Hello',
  'world',
  'naïve',
  'café',
  'Über',
  'running',
  'un',
  'believable',
  '123',
  '.',
]

/** Any code point (binary) or any grapheme, as fast-check generates them. */
export const randomUnicode = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
)

/** Words, spaces, punctuation and adversarial fragments glued together, with random Unicode. */
export const mixedText = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(...WORDS), weight: 4 },
      { arbitrary: fc.constantFrom(' ', '  ', '\n', ', ', '. '), weight: 4 },
      { arbitrary: fc.constantFrom(...ADVERSARIAL), weight: 2 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 1 },
      { arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }), weight: 1 },
    ),
    { maxLength: 14 },
  )
  .map((parts) => parts.join(''))

export const anyText = fc.oneof(randomUnicode, mixedText)
