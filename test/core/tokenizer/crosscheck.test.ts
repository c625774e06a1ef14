// Encodings beyond the golden cases, checked against @huggingface/tokenizers (a devDependency
// that agrees with the goldens on every encode): special tokens inside text, unusual Unicode,
// long words, and realistic trained vocabularies from the benchmark (including the SentencePiece
// chunking shortcut over a 40 KB single piece). Skipped when the package is not installed.

import { describe, expect, it } from 'vitest'
import { Tokenizer } from '../../../src/core/tokenizer/index.js'
import { readFixtureJson, TOKENIZER_FIXTURES } from './fixtures.js'

type HfTokenizer = new (
  json: unknown,
  config: unknown,
) => { encode(text: string, opts?: { add_special_tokens?: boolean }): { ids: number[] } }

let Reference: HfTokenizer | undefined
try {
  Reference = ((await import('@huggingface/tokenizers' as string)) as { Tokenizer: HfTokenizer }).Tokenizer
} catch {
  Reference = undefined
}

const TEXTS = [
  '<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n',
  '<|begin_of_text|>Hello<|eot_id|> x <|end_of_text|>',
  '<s>Hello</s> world <unk>',
  '[CLS] My name is [MASK] [SEP]',
  '   lots   of    spaces\t\t\n\n\n  end  ',
  "I'M SHOUTING DON'T YOU'LL WE'VE",
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷',
  'mixed 漢字かなカナ한국어 العربية עברית हिन्दी',
  'numbers 1234567890 3.14159e-10 ١٢٣',
  'code: if (x != y) { return a->b; } // done\r\n',
  'ＡＢＣ ｆｕｌｌｗｉｄｔｈ ﬁ ligature',
  '\u0085nel \ufeffbom \u00a0nbsp \u2028ls',
  'Ünïcödé ÀÉÎÕÜ ß ẞ',
  `${'a'.repeat(300)} ${'ab'.repeat(200)}`,
]

describe.skipIf(!Reference)('cross-check with @huggingface/tokenizers', () => {
  for (const name of TOKENIZER_FIXTURES) {
    it(`${name}: extra texts`, () => {
      const json = readFixtureJson(name, 'tokenizer.json')
      const config = readFixtureJson(name, 'tokenizer_config.json')
      const ours = Tokenizer.fromJSON(json, config)
      const ref = new Reference!(json, config)
      for (const text of TEXTS) {
        for (const add of [true, false]) {
          expect(ours.encode(text, { addSpecialTokens: add }), text).toEqual(
            ref.encode(text, { add_special_tokens: add }).ids,
          )
        }
      }
    })
  }

  it('trained vocabularies from the benchmark', async () => {
    // A computed path keeps TypeScript from type-checking the plain .mjs benchmark.
    const bench = await import(new URL('../../../bench/tokenizer.mjs', import.meta.url).href)
    const train = bench.makeCorpus(100 * 1024, 2)
    const text = `${bench.makeCorpus(40 * 1024, 3)} 漢字 😀 ünïcode\n\n  x`
    const specs = [
      bench.buildByteLevelTokenizer(train, 'llama3'),
      bench.buildByteLevelTokenizer(train, 'gpt2'),
      bench.buildSentencePieceTokenizer(train),
    ]
    for (const json of specs) {
      const ours = Tokenizer.fromJSON(json, {})
      const ref = new Reference!(json, {})
      for (const chunk of [...text.split(/(?<=\n\n)/), text]) {
        expect(ours.encode(chunk)).toEqual(ref.encode(chunk).ids)
      }
      expect(ours.decode(ours.encode(text), { skipSpecialTokens: true })).toBe(text)
    }
  })
})
