// Fuzz target finetune-data: the training data pipeline, loadTrainData (src/core/train/data: the
// JSONL, JSON, Parquet and plain-text readers, then records turned into examples: text,
// prompt/completion, and messages rendered with the chat template) over mutated files. Records are
// mutated as JSON (wrong types, deep nesting, huge strings, missing fields, mixed shapes), messages
// get odd roles and content of every type, files are assembled with BOMs, CRLF, blank and
// whitespace lines, lines that are not JSON, and mutated byte-wise (invalid UTF-8, truncation);
// Parquet files written by hyparquet-writer (text, prompt/completion, messages as a list of
// structs, columns of the wrong types) are truncated and mutated, the footer most. Also: a single
// 10 MB line. The property: loadTrainData returns examples (ids in the vocabulary, labels aligned,
// at most seqLen tokens; a text record's windows hold each of its tokens once), or throws a
// one-line KilnError that names the file.
//
// Real files in a temp folder, one per case; tokenizers of test/fixtures/golden with chat templates.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { afterAll } from 'vitest'
import { UsageError } from '../../src/core/errors.js'
import { loadTokenizer } from '../../src/core/tokenizer/index.js'
import { loadTrainData } from '../../src/core/train/data/index.js'
import { golden } from '../helpers/fixtures.js'
import { caseText, FuzzFailure, fuzzTarget, jsonCodec, kilnAsync } from './harness.js'
import {
  byteOp,
  EDGE_NUMBERS,
  hostileString,
  type Json,
  mutateBytes,
  mutatedJson,
  smallJson,
} from './mutate.js'

type Ext = 'jsonl' | 'json' | 'parquet' | 'txt'

interface Case {
  ext: Ext
  /** The file: text (JSONL, JSON, plain text that is valid UTF-16), or bytes in base64. */
  text?: string
  b64?: string
  /** Lines of filler appended: a single line of `long` characters (the 10 MB line). */
  long?: { bytes: number; as: 'text' | 'raw' | 'prompt' | 'message' | 'conversation'; turns?: number }
  tokenizer: number
  seqLen: number
  evalSplit?: number
}

const TOKENIZERS = ['tok-chatml', 'llama-tiny'].map((n) => loadTokenizer(golden(n)))
const vocab = TOKENIZERS.map((t) => t.vocabSize ?? Number.POSITIVE_INFINITY)

// --- records -------------------------------------------------------------------------------------

const SEED_RECORDS: Json[] = [
  { text: 'The quick brown fox jumps over the lazy dog.' },
  { text: 'Line one.\nLine two.\n\nA new paragraph.' },
  { prompt: 'What is 2 + 2?', completion: ' 4' },
  { prompt: '', completion: 'An answer with no prompt.' },
  {
    messages: [
      { role: 'user', content: 'Hello!' },
      { role: 'assistant', content: 'Hi there.' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name a colour.' },
      { role: 'assistant', content: 'Blue.' },
      { role: 'user', content: 'Another?' },
      { role: 'assistant', content: 'Red.' },
    ],
  },
  { id: 7, text: 'A record with other fields.', meta: { source: 'web', tags: ['a', 'b'] } },
]

const ROLES = [
  'user',
  'assistant',
  'system',
  'tool',
  'function',
  'developer',
  '',
  'Assistant',
  'USER',
  'ipython',
]
const content: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.constantFrom('ok', 'Hi.', '', ' ', '\n'), hostileString) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Json>(
      null,
      0,
      true,
      [],
      {},
      [{ type: 'text', text: 'parts' }],
      [{ type: 'image_url', image_url: { url: 'x' } }],
      { text: 'x' },
      ['a', 'b'],
    ),
  },
  { weight: 1, arbitrary: smallJson },
)
const message: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ role: fc.oneof(fc.constantFrom(...ROLES), hostileString), content }) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        role: fc.oneof(fc.constantFrom<Json>(...ROLES), smallJson),
        content,
        name: hostileString,
        tool_calls: smallJson,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: smallJson },
)
const messagesRecord: fc.Arbitrary<Json> = fc.oneof(
  fc.array(message, { maxLength: 6 }).map((messages) => ({ messages })),
  // The usual shape, one part odd.
  fc
    .tuple(fc.array(fc.constantFrom('user', 'assistant', 'system'), { minLength: 1, maxLength: 6 }), content)
    .map(([roles, c]) => ({
      messages: roles.map((role, i) => ({ role, content: i === roles.length - 1 ? c : `turn ${i}` })),
    })),
)
const record: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SEED_RECORDS) },
  { weight: 5, arbitrary: mutatedJson(SEED_RECORDS, 3) },
  { weight: 3, arbitrary: messagesRecord },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        text: fc.oneof(hostileString, fc.constantFrom(...EDGE_NUMBERS), smallJson),
        prompt: fc.oneof(hostileString, smallJson),
        completion: fc.oneof(hostileString, smallJson),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: smallJson },
)

function stringify(j: Json): string {
  try {
    return JSON.stringify(j) ?? 'null'
  } catch {
    return '{"text":"too deep to write"}' // too deep for JSON.stringify: deep lines are spelled out below
  }
}

// --- JSONL, JSON and plain text files --------------------------------------------------------------

/** A line of JSONL: a record's JSON, or something else a file may hold. */
const jsonlLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: record.map(stringify) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '   ',
      '\t',
      '\r',
      '[]',
      'null',
      '"text"',
      '{',
      '{"text": "unterminated',
      '{"text": "a"} {"text": "b"}',
      '{"text": "a"},',
      '// a comment',
      '\ufeff{"text": "a BOM inside the file"}',
      '{"text": "nul\u0000inside"}',
      '{"text": "raw\rcarriage return"}',
      '{"text":"x"}\u2028',
      `{"text":${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
      `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`,
      `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":${'['.repeat(30_000)}${']'.repeat(30_000)}}]}`,
      '{"text":"a","text":"b"}',
      '{"__proto__":{"text":"x"}}',
      '{"constructor":"x","text":"y"}',
    ),
  },
)
const SEPARATORS = ['\n', '\n', '\n', '\r\n', '\n\n', '\r\n\r\n', '\n  \n', '\r', '\n\t\n']

/** Lines of valid records with one of any kind among them (one bad record refuses a whole file). */
const mostlyValidLines = fc
  .tuple(fc.array(fc.constantFrom(...SEED_RECORDS).map(stringify), { maxLength: 5 }), jsonlLine, fc.nat())
  .map(([good, odd, at]) => [
    ...good.slice(0, at % (good.length + 1)),
    odd,
    ...good.slice(at % (good.length + 1)),
  ])

const jsonlFile = fc
  .record({
    lines: fc.oneof(fc.array(jsonlLine, { minLength: 0, maxLength: 8 }), mostlyValidLines),
    sep: fc.array(fc.constantFrom(...SEPARATORS), { minLength: 1, maxLength: 8 }),
    bom: fc.boolean(),
    trailing: fc.boolean(),
  })
  .map(({ lines, sep, bom, trailing }) => {
    const text = lines
      .map((l, i) => l + (i < lines.length - 1 || trailing ? sep[i % sep.length] : ''))
      .join('')
    return bom ? `\ufeff${text}` : text
  })

const jsonFile = fc
  .record({ records: fc.array(record, { maxLength: 6 }), pretty: fc.boolean(), bom: fc.boolean() })
  .map(({ records, pretty, bom }) => {
    let text: string
    try {
      text = JSON.stringify(records, null, pretty ? 2 : undefined)
    } catch {
      text = '[]'
    }
    return bom ? `\ufeff${text}` : text
  })
const jsonOther = fc.oneof(
  fc.constantFrom('{}', '{"text":"an object, not an array"}', '"x"', '', 'null', '[[]]', '[1,2]', '[null]'),
  smallJson.map(stringify),
  fc.constantFrom(1000, 100_000).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
)

const textFile = fc
  .record({
    docs: fc.array(fc.oneof(hostileString, fc.constantFrom('A document.', 'two\nlines', '  indented')), {
      maxLength: 6,
    }),
    sep: fc.constantFrom('\n\n', '\r\n\r\n', '\n \n', '\n\t\n\n', '\n'),
    bom: fc.boolean(),
  })
  .map(({ docs, sep, bom }) => (bom ? '\ufeff' : '') + docs.join(sep))

// --- Parquet ---------------------------------------------------------------------------------------

const utf8 = (name: string) => ({
  name,
  type: 'BYTE_ARRAY' as const,
  converted_type: 'UTF8' as const,
  repetition_type: 'OPTIONAL' as const,
})
const MESSAGES = [
  { role: 'user', content: 'hi' },
  { role: 'assistant', content: 'yo' },
]
const messagesSchema = [
  {
    name: 'messages',
    repetition_type: 'OPTIONAL' as const,
    converted_type: 'LIST' as const,
    num_children: 1,
  },
  { name: 'list', repetition_type: 'REPEATED' as const, num_children: 1 },
  { name: 'element', repetition_type: 'OPTIONAL' as const, num_children: 2 },
  utf8('role'),
  utf8('content'),
]
function parquet(opts: Parameters<typeof parquetWriteBuffer>[0]): Uint8Array {
  return new Uint8Array(parquetWriteBuffer(opts))
}
const PARQUET_SEEDS: Uint8Array[] = [
  parquet({
    columnData: [
      { name: 'id', data: [7, 8, 9] },
      { name: 'text', data: ['a document', null, null] },
      { name: 'prompt', data: [null, 'Q', null] },
      { name: 'completion', data: [null, 'A', null] },
      { name: 'messages', data: [null, null, MESSAGES] },
    ],
    schema: [
      { name: 'root', num_children: 5 },
      { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
      utf8('text'),
      utf8('prompt'),
      utf8('completion'),
      ...messagesSchema,
    ],
  }),
  parquet({ columnData: [{ name: 'text', data: ['one', 'two', 'three', ''], type: 'STRING' }] }),
  // Columns of the wrong types: numbers, booleans, a list of strings, a struct.
  parquet({ columnData: [{ name: 'text', data: [1, 2, 3], type: 'INT32' }] }),
  parquet({ columnData: [{ name: 'text', data: [1n, 2n], type: 'INT64' }] }),
  parquet({
    columnData: [
      { name: 'prompt', data: [true, false], type: 'BOOLEAN' },
      { name: 'completion', data: [1.5, 2.5], type: 'DOUBLE' },
    ],
  }),
  parquet({ columnData: [{ name: 'messages', data: ['not a list', 'x'], type: 'STRING' }] }),
  parquet({
    columnData: [{ name: 'text', data: [['a', 'b'], ['c']] }],
    schema: [
      { name: 'root', num_children: 1 },
      { name: 'text', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      utf8('element'),
    ],
  }),
  parquet({
    columnData: [{ name: 'messages', data: [MESSAGES, [], [{ role: 'assistant', content: null }]] }],
    schema: [{ name: 'root', num_children: 1 }, ...messagesSchema],
  }),
  parquet({ columnData: [{ name: 'question', data: ['q'], type: 'STRING' }] }),
  parquet({ columnData: [{ name: 'text', data: ['x'.repeat(5000), 'y'], type: 'STRING' }] }),
]

/** A Parquet file mutated: anywhere, or in the footer (the metadata and its length) most. */
const parquetFile: fc.Arbitrary<Uint8Array> = fc
  .record({
    seed: fc.nat(PARQUET_SEEDS.length - 1),
    ops: fc.array(byteOp, { minLength: 0, maxLength: 4 }),
    footer: fc.boolean(),
  })
  .map(({ seed, ops, footer }) => {
    const b = PARQUET_SEEDS[seed]
    if (!footer) return mutateBytes(b, ops, b.length, [{ at: b.length - 8, size: 4, role: 'footer length' }])
    const metaLength = new DataView(b.buffer, b.byteOffset).getUint32(b.length - 8, true)
    const start = Math.max(0, b.length - 8 - metaLength)
    const tail = mutateBytes(b.subarray(start), ops, b.length - start - 8, [
      { at: b.length - start - 8, size: 4, role: 'footer length' },
    ])
    const out = new Uint8Array(start + tail.length)
    out.set(b.subarray(0, start))
    out.set(tail, start)
    return out
  })

// --- cases ---------------------------------------------------------------------------------------

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/** Text made bytes and mutated byte-wise (invalid UTF-8, truncation…): the case holds base64. */
const bytesOf = (text: fc.Arbitrary<string>) =>
  fc.tuple(text, fc.array(byteOp, { minLength: 1, maxLength: 3 })).map(([t, ops]) => {
    const b = Buffer.from(t, 'utf8')
    return b64(mutateBytes(b, ops, b.length, []))
  })

const common = {
  tokenizer: fc.nat(TOKENIZERS.length - 1),
  seqLen: fc.constantFrom(1, 2, 8, 64, 512),
  evalSplit: fc.option(fc.constantFrom(0.1, 0.5, 0.99), { nil: undefined }),
}
const arbitrary: fc.Arbitrary<Case> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ ext: fc.constant('jsonl' as const), text: jsonlFile, ...common }) },
  {
    weight: 2,
    arbitrary: fc.record({ ext: fc.constant('jsonl' as const), b64: bytesOf(jsonlFile), ...common }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      ext: fc.constant('json' as const),
      text: fc.oneof(jsonFile, jsonOther),
      ...common,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ ext: fc.constant('json' as const), b64: bytesOf(jsonFile), ...common }),
  },
  { weight: 2, arbitrary: fc.record({ ext: fc.constant('txt' as const), text: textFile, ...common }) },
  {
    weight: 1,
    arbitrary: fc.record({ ext: fc.constant('txt' as const), b64: bytesOf(textFile), ...common }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ ext: fc.constant('parquet' as const), b64: parquetFile.map(b64), ...common }),
  },
  {
    // One long line (10 MB at most, in the chat tokenizer's time: the fuzz budget is for many cases).
    weight: 1,
    arbitrary: fc.record({
      ext: fc.constantFrom('jsonl' as const, 'txt' as const),
      text: jsonlFile,
      long: fc.record({
        // 10 MB rarely: it takes seconds.
        bytes: fc.oneof(
          { weight: 3, arbitrary: fc.constant(100_000) },
          { weight: 2, arbitrary: fc.constant(1_000_000) },
          { weight: 1, arbitrary: fc.constant(10_000_000) },
        ),
        as: fc.constantFrom('text', 'raw', 'prompt', 'message'),
      }),
      tokenizer: fc.constant(0),
      seqLen: fc.constant(64),
    }),
  },
  {
    // A conversation of many turns (each assistant turn renders the conversation up to it).
    weight: 1,
    arbitrary: fc.record({
      ext: fc.constant('jsonl' as const),
      text: fc.constant(''),
      long: fc.record({
        bytes: fc.constantFrom(10_000, 100_000, 300_000),
        as: fc.constant('conversation' as const),
        turns: fc.constantFrom(2, 20, 200, 2_000, 20_000),
      }),
      tokenizer: fc.nat(TOKENIZERS.length - 1),
      seqLen: fc.constant(64),
    }),
  },
)

function fileBytes(c: Case): Buffer {
  let b = c.b64 !== undefined ? Buffer.from(c.b64, 'base64') : Buffer.from(c.text ?? '', 'utf8')
  if (c.long) {
    const turns = c.long.turns ?? 2
    const size = c.long.as === 'conversation' ? Math.ceil(c.long.bytes / turns) : c.long.bytes
    const filler = 'All work and no play. '.repeat(Math.ceil(size / 22)).slice(0, size)
    const line =
      c.long.as === 'conversation'
        ? JSON.stringify({
            messages: Array.from({ length: turns }, (_, i) => ({
              role: i % 2 ? 'assistant' : 'user',
              content: filler,
            })),
          })
        : c.long.as === 'raw'
          ? filler
          : c.long.as === 'text'
            ? JSON.stringify({ text: filler })
            : c.long.as === 'prompt'
              ? JSON.stringify({ prompt: filler, completion: 'end' })
              : JSON.stringify({
                  messages: [
                    { role: 'user', content: 'Summarize.' },
                    { role: 'assistant', content: filler },
                  ],
                })
    b = Buffer.concat([b, Buffer.from(`\n${line}\n`)])
  }
  return b
}

// --- running a case --------------------------------------------------------------------------------

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-data-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0

// Once known bugs, now replayed from the corpus (chat-message-10mb.json, text-record-10mb.json,
// text-spaceless-1.6mb.json): a 10 MB chat message cost ~2.6 GiB and a minute (an alignment per
// character in encodeWithOffsets), a 10 MB record ~400 MiB (tokenized whole before truncation). A
// chat or prompt/completion record is now tokenized only up to seqLen; a text one in chunks, into
// windows. A 1.6 MB line without a space under llama-tiny's tokenizer (no pre-tokenizer, as Llama
// 2's: one BPE word of millions of byte-fallback symbols) in windows of 2 tokens grew RSS by ~470
// MiB: BPE now works on typed arrays and keeps no long chunk in its cache, and a window makes its
// `where` only when asked (~170 MiB).
fuzzTarget<Case>({
  target: 'finetune-data',
  arbitrary,
  caseMs: 10_000,
  ciMs: 6_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) =>
    caseText({ ...c, b64: c.b64 && c.b64.length > 12_000 ? `${c.b64.slice(0, 1000)}…` : c.b64 }, 16_000),
  async run(c) {
    const file = path.join(root, `data-${n++}.${c.ext}`)
    writeFileSync(file, fileBytes(c))
    try {
      const tokenizer = TOKENIZERS[c.tokenizer % TOKENIZERS.length]
      const r = await kilnAsync(() =>
        loadTrainData(file, tokenizer, { seqLen: c.seqLen, evalSplit: c.evalSplit }),
      )
      if (!r.ok) {
        // A UsageError is about the options (evalSplit needs 2 examples); the others, the data.
        if (!(r.error instanceof UsageError) && !r.error.message.includes(file))
          throw new FuzzFailure(
            `${r.error.constructor.name} does not name the file: ${JSON.stringify(r.error.message.slice(0, 300))}`,
            'answer',
          )
        return `refused (${c.ext})`
      }
      const V = vocab[c.tokenizer % TOKENIZERS.length]
      for (const e of [...r.value.examples, ...(r.value.eval ?? [])]) {
        if (e.ids.length === 0 || e.ids.length > c.seqLen || e.labels.length !== e.ids.length)
          throw new FuzzFailure(
            `${e.where}: ${e.ids.length} ids, ${e.labels.length} labels (seqLen ${c.seqLen})`,
            'answer',
          )
        for (let i = 0; i < e.ids.length; i++) {
          const id = e.ids[i]
          const l = e.labels[i]
          if (!Number.isInteger(id) || id < 0 || id >= V)
            throw new FuzzFailure(`${e.where}: id ${id} outside the vocabulary of ${V}`, 'answer')
          if (l !== -100 && l !== id)
            throw new FuzzFailure(`${e.where}: label ${l} at a position whose id is ${id}`, 'answer')
        }
        if (!e.where.includes(file))
          throw new FuzzFailure(`an example's where ${e.where} does not name the file`, 'answer')
      }
      // A text's windows, in order: tokens 0…, seqLen…, each window as long as the tokens it names.
      const next = new Map<string, number>()
      for (const e of r.value.examples) {
        const w = / \(tokens (\d+)-(\d+)\)$/.exec(e.where)
        if (!w) continue
        const record = e.where.slice(0, w.index)
        const [a, b] = [Number(w[1]), Number(w[2])]
        if (
          a !== (next.get(record) ?? 0) ||
          b - a + 1 !== e.ids.length ||
          (e.ids.length !== c.seqLen && a === 0)
        )
          throw new FuzzFailure(
            `${e.where}: ${e.ids.length} ids out of the window order (seqLen ${c.seqLen})`,
            'answer',
          )
        next.set(record, b + 1)
      }
      return `loaded (${c.ext})`
    } finally {
      rmSync(file, { force: true })
    }
  },
})
