// Fuzz target tokenizer-json: Tokenizer.fromJSON over mutated tokenizer.json (and
// tokenizer_config.json) objects of every fixture (BPE, byte-level BPE, WordPiece, Unigram,
// SentencePiece-style, byte fallback), then encode / encodeWithOffsets / decode of hostile strings
// and ids. Besides the harness's property, every id encode returns must be an integer below
// vocabSize: the embedding lookup trusts it. Pure JavaScript: in-process.

import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { FuzzFailure, fuzzTarget, jsonCodec, type KnownBug, kiln } from './harness.js'
import { EDGE_INTS, hostileString, type Json, mutatedJson, smallJson } from './mutate.js'
import { fixtureDirs } from './seeds.js'

interface Case {
  tokenizer: Json
  config?: Json
  texts: string[]
  pair?: string
  maxLength?: number
  ids: number[]
  skipSpecial: boolean
}

const seeds: { tokenizer: Json; config?: Json }[] = []
for (const dir of fixtureDirs()) {
  const file = path.join(dir, 'tokenizer.json')
  if (!existsSync(file)) continue
  const cfgFile = path.join(dir, 'tokenizer_config.json')
  seeds.push({
    tokenizer: JSON.parse(readFileSync(file, 'utf8')),
    config: existsSync(cfgFile) ? JSON.parse(readFileSync(cfgFile, 'utf8')) : undefined,
  })
}

// Pieces of text the vocabularies know: added tokens, and some of each vocab.
const pieces = new Set<string>()
for (const { tokenizer } of seeds) {
  const t = tokenizer as { added_tokens?: { content: string }[]; model?: { vocab?: unknown } }
  for (const a of t.added_tokens ?? []) pieces.add(a.content)
  const vocab = t.model?.vocab
  const words = Array.isArray(vocab) ? vocab.map((v) => (v as [string])[0]) : Object.keys(vocab ?? {})
  for (const w of words.slice(0, 400)) pieces.add(w)
}
const piece = fc.constantFrom(...pieces)

const text: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .array(fc.oneof(piece, hostileString, fc.constantFrom(' ', '  ', '\n', '\t')), { maxLength: 24 })
      .map((p) => p.join('')),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }) },
  // Long runs that make merge loops and offsets work hard.
  {
    weight: 1,
    arbitrary: fc
      .record({ p: fc.oneof(piece, hostileString), n: fc.constantFrom(100, 1000, 5000) })
      .map(({ p, n }) => (p || 'a').repeat(n).slice(0, 20_000)),
  },
)

const seedDoc = fc.nat(seeds.length - 1).chain((i) =>
  fc.record({
    tokenizer: fc.oneof(
      { weight: 8, arbitrary: mutatedJson([seeds[i].tokenizer]) },
      { weight: 1, arbitrary: fc.constant(seeds[i].tokenizer) },
    ),
    config: fc.oneof(
      fc.constant(seeds[i].config ?? null),
      seeds[i].config ? mutatedJson([seeds[i].config as Json], 2) : smallJson,
    ),
  }),
)

// A tokenizer.json built from scratch: sections of random types.
const randomDoc = fc.record({
  tokenizer: fc.record({
    model: fc.oneof(
      smallJson,
      fc.record({
        type: fc.constantFrom('BPE', 'WordPiece', 'Unigram', 'WordLevel', 'x'),
        vocab: smallJson,
        merges: smallJson,
        unk_token: smallJson,
      }),
    ),
    normalizer: smallJson,
    pre_tokenizer: smallJson,
    post_processor: smallJson,
    decoder: smallJson,
    added_tokens: smallJson,
  }) as fc.Arbitrary<Json>,
  config: smallJson,
})

const arbitrary: fc.Arbitrary<Case> = fc
  .record({
    doc: fc.oneof({ weight: 9, arbitrary: seedDoc }, { weight: 1, arbitrary: randomDoc }),
    texts: fc.array(text, { minLength: 1, maxLength: 4 }),
    pair: fc.option(text, { nil: undefined }),
    maxLength: fc.option(
      fc.oneof(fc.integer({ min: -2, max: 64 }), fc.constantFrom(...EDGE_INTS), fc.double()),
      {
        nil: undefined,
      },
    ),
    ids: fc.array(
      fc.oneof(
        fc.integer({ min: -3, max: 1200 }),
        fc.constantFrom(...EDGE_INTS),
        fc.double({ noNaN: false }),
      ),
      { maxLength: 40 },
    ),
    skipSpecial: fc.boolean(),
  })
  .map(({ doc, ...rest }) => ({ tokenizer: doc.tokenizer, config: doc.config ?? undefined, ...rest }))

// Open bugs this target finds (reproducers in corpus/tokenizer-json, listed in its known-bugs.json):
// none. The ones it found (unchecked shapes, deep nesting in messages, unchecked post-processor ids,
// an added token too long for the matcher, push(...ids) overflowing the stack, pipelines that grow
// their input exponentially, encode amplification) are fixed; their reproducers stay in the corpus.
const KNOWN: KnownBug[] = []

function checkIds(ids: readonly number[], vocabSize: number, what: string): void {
  for (const id of ids)
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize))
      throw new FuzzFailure(`${what} gave id ${id}, outside [0, ${vocabSize})`, 'answer')
}

fuzzTarget<Case>({
  target: 'tokenizer-json',
  arbitrary,
  caseMs: 5_000,
  ciMs: 7_000,
  corpus: jsonCodec<Case>(),
  known: KNOWN,
  run(c) {
    const loaded = kiln(() => Tokenizer.fromJSON(c.tokenizer, c.config))
    if (!loaded.ok) return 'refused'
    const tok = loaded.value
    for (const t of c.texts) {
      const ids = kiln(() => tok.encode(t))
      if (ids.ok) {
        checkIds(ids.value, tok.vocabSize, 'encode')
        kiln(() => tok.decode(ids.value))
      }
      const plain = kiln(() => tok.encode(t, { addSpecialTokens: false }))
      if (plain.ok) checkIds(plain.value, tok.vocabSize, 'encode without special tokens')
      const enc = kiln(() => tok.encodeWithOffsets(t, { pair: c.pair, maxLength: c.maxLength }))
      if (enc.ok) checkIds(enc.value.ids, tok.vocabSize, 'encodeWithOffsets')
    }
    kiln(() => tok.decode(c.ids, { skipSpecialTokens: c.skipSpecial }))
    kiln(() => tok.tokensToString(c.texts))
    return 'loaded'
  },
})
