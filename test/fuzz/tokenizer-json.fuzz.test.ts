// Fuzz target tokenizer-json: Tokenizer.fromJSON over mutated tokenizer.json (and
// tokenizer_config.json) objects of every fixture (BPE, byte-level BPE, WordPiece, Unigram,
// SentencePiece-style, byte fallback), then encode / encodeWithOffsets / decode of hostile strings
// and ids. Besides the harness's property, every id encode returns must be an integer below
// vocabSize: the embedding lookup trusts it. Pure JavaScript: in-process.

import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import {
  FuzzFailure,
  fuzzTarget,
  jsonCodec,
  type KnownBug,
  kiln,
  MULTILINE_MESSAGE,
  STACK_OVERFLOW,
} from './harness.js'
import { EDGE_INTS, hostileString, type Json, longestString, mutatedJson, smallJson } from './mutate.js'
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

// Open bugs this target finds (reproducers in corpus/tokenizer-json, listed in its known-bugs.json).
const KNOWN: KnownBug[] = [
  STACK_OVERFLOW,
  MULTILINE_MESSAGE,
  {
    // A section of tokenizer.json of the wrong shape (a number where a list goes, null in a list)
    // reaches code that assumes the shape: TypeError instead of a TokenizerError.
    name: 'tokenizer-json-unchecked-shape',
    matches: (f) =>
      f.kind === 'exception' &&
      /^threw TypeError/.test(f.message) &&
      f.message.includes('/src/core/tokenizer/'),
  },
  {
    // encodeWithOffsets appends with push(...ids): past ~120k tokens the spread overflows the stack.
    name: 'encode-offsets-spread-overflow',
    matches: (f) =>
      f.message.includes('Maximum call stack size exceeded') && f.message.includes('at appendEncoding'),
  },
  {
    // Post-processor special token ids (TemplateProcessing special_tokens, Bert/Roberta sep and cls)
    // are not checked: encode hands out 0.5, -1 or 10^9 as token ids.
    name: 'post-processor-ids-unchecked',
    matches: (f) => f.kind === 'answer' && f.message.includes('gave id'),
  },
  {
    // The added tokens' alternation is compiled at the first encode: a huge added token makes an
    // invalid regular expression (SyntaxError, "too large").
    name: 'added-tokens-regex-too-large',
    matches: (f) => /^threw SyntaxError: Invalid regular expression/.test(f.message),
  },
  {
    // Pipeline stages that each grow the text (ByteLevel, which turns a multi-byte character into
    // two or more; a Replace of "a" by "aa") compose exponentially: 30 of them in a Sequence make
    // 2^30 pieces of one character, and V8 dies out of memory (uncatchable). Such inputs are not run.
    name: 'pipeline-exponential-growth',
    matches: (f, input) =>
      (f.kind === 'hang' || f.kind === 'memory') && stageCount((input as Case).tokenizer) > 12,
    skip: (input) => stageCount((input as Case).tokenizer) > 12,
  },
  {
    // A tokenizer.json string of ~10^5 characters or more (a continuing_subword_prefix, a normalizer
    // Replace content) multiplies every encode's work and output: a few characters of text become
    // millions of ids.
    name: 'encode-amplification',
    matches: (f, input) =>
      (f.kind === 'hang' || f.kind === 'memory') &&
      longestString((input as Case).tokenizer, 50_000) >= 50_000,
  },
]

/** Stages in the normalizer and pre-tokenizer Sequences (nested ones counted in). */
function stageCount(tokenizer: Json): number {
  let n = 0
  const stack: unknown[] = [
    (tokenizer as Record<string, Json>)?.normalizer,
    (tokenizer as Record<string, Json>)?.pre_tokenizer,
  ]
  while (stack.length && n <= 1000) {
    const v = stack.pop() as Record<string, unknown> | null | undefined
    if (!v || typeof v !== 'object') continue
    const list = v.normalizers ?? v.pretokenizers
    if (Array.isArray(list)) for (const x of list) stack.push(x)
    else n++
  }
  return n
}

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
