// Fuzz target gguf: the GGUF reader and what is rebuilt from a file's metadata (model config,
// generation defaults, tokenizer) over GGUF files kiln exported from the golden models, mutated
// byte-wise (bit flips, truncation, every count / length / type / dimension / offset field set to
// edge values, invalid UTF-8) and structurally (metadata keys retyped, deleted, given edge values
// or hostile strings; tensor infos with huge dimensions, overlapping offsets, unknown types).
//
// In-process: parseGguf is JavaScript over a buffer (the same function openGguf runs on the mapping)
// and so is the model info. The native phase opens mutated files with the real openGguf (the addon
// maps them) in a child process, in batches (native-batch.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { tokenizerMetadata } from '../../src/core/export/gguf-tokenizer.js'
import { exportGguf } from '../../src/core/export/to-gguf.js'
import { GGML_TYPES, type GgufValue, gguf, parseGguf, writeGguf } from '../../src/core/formats/gguf.js'
import type { ModelConfig } from '../../src/core/models/config.js'
import { ggufModelInfo } from '../../src/core/models/gguf-model-info.js'
import { ggufTokenizer } from '../../src/core/tokenizer/from-gguf.js'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { golden } from '../helpers/fixtures.js'
import { encodeGguf, type RawTensorInfo } from './gguf-encode.js'
import { ggufLayout } from './gguf-fields.js'
import { bytesCodec, FuzzFailure, fuzzTarget, kiln } from './harness.js'
import { byteOp, EDGE_U64, hostileString, mutateBytes } from './mutate.js'
import { nativePhase } from './native-batch.js'

// --- seeds: GGUF files kiln wrote ---------------------------------------------------------------

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-gguf-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
const seedFiles: string[] = []
const exportTo = (fixture: string, dtype: 'f32' | 'q8_0') => {
  const out = path.join(tmp, `${fixture}-${dtype}.gguf`)
  exportGguf(golden(fixture), out, { dtype })
  seedFiles.push(out)
}
exportTo('llama-tiny', 'f32')
exportTo('gpt2-tiny', 'q8_0')
exportTo('qwen2-tiny', 'q8_0')
{
  // Tokenizer-only files (no tensors) of the tokenizer fixtures, as the gguf tests make them.
  for (const fixture of ['tok-sentencepiece', 'tok-bytelevel']) {
    const dir = golden(fixture)
    const config = {
      vocabSize: Tokenizer.fromFolder(dir).vocabSize,
      eosTokenIds: [],
    } as unknown as ModelConfig
    const out = path.join(tmp, `${fixture}.gguf`)
    writeGguf(out, {
      metadata: [['general.architecture', gguf.string('llama')], ...tokenizerMetadata(dir, config).entries],
      tensors: [],
    })
    seedFiles.push(out)
  }
  // Every value kind, nested arrays, and tensors of several block types.
  const out = path.join(tmp, 'kinds.gguf')
  writeGguf(out, {
    metadata: [
      ['general.architecture', gguf.string('llama')],
      ['general.alignment', gguf.u32(64)],
      ['k.u8', gguf.u8(255)],
      ['k.i8', gguf.i8(-128)],
      ['k.u16', gguf.u16(65535)],
      ['k.i16', gguf.i16(-1)],
      ['k.i32', gguf.i32(-7)],
      ['k.f32', gguf.f32(1.5)],
      ['k.f64', gguf.f64(-2.25)],
      ['k.u64', gguf.u64(2n ** 60n)],
      ['k.i64', gguf.i64(-(2n ** 60n))],
      ['k.bool', gguf.bool(true)],
      ['k.string', gguf.string('héllo\u0000')],
      ['k.strings', gguf.array('string', ['a', '', 'ü'])],
      [
        'k.nested',
        gguf.array('array', [gguf.array('u32', new Uint32Array([1, 2])), gguf.array('string', ['x'])]),
      ],
      ['k.i64s', gguf.array('i64', new BigInt64Array([1n, -1n]))],
    ],
    tensors: [
      { name: 'a', type: 'F32', shape: [2, 3], data: new Float32Array(6) },
      { name: 'b', type: 'F16', shape: [5], data: new Uint16Array(5) },
      { name: 'c', type: 'Q8_0', shape: [1, 32], data: new Uint8Array(34) },
      { name: 'd', type: 'Q4_K', shape: [1, 256], data: new Uint8Array(144) },
      { name: 'e', type: 'BF16', shape: [0], data: new Uint16Array(0) },
    ],
  })
  seedFiles.push(out)
}

interface Seed {
  bytes: Uint8Array
  fields: ReturnType<typeof ggufLayout>['fields']
  headerEnd: number
  metadata: [string, GgufValue][]
  tensors: RawTensorInfo[]
  data: Uint8Array
  alignment: number
}

const seeds: Seed[] = seedFiles.map((file) => {
  const bytes = new Uint8Array(readFileSync(file))
  const parsed = parseGguf(bytes.slice().buffer, file)
  const { fields, headerEnd } = ggufLayout(bytes)
  return {
    bytes,
    fields,
    headerEnd,
    metadata: [...parsed.metadata.entries()],
    tensors: [...parsed.tensors.values()].map((t) => ({
      name: t.name,
      typeId: GGML_TYPES[t.type].id,
      dims: t.dims,
      offset: t.offset,
    })),
    data: bytes.subarray(parsed.dataOffset),
    alignment: parsed.alignment,
  }
})

// --- mutations ------------------------------------------------------------------------------------

const byteMutated = fc
  .record({ seed: fc.nat(seeds.length - 1), ops: fc.array(byteOp, { minLength: 1, maxLength: 6 }) })
  .map(({ seed, ops }) => mutateBytes(seeds[seed].bytes, ops, seeds[seed].headerEnd, seeds[seed].fields))

const KEYS = [
  'general.architecture',
  'general.alignment',
  'general.name',
  'llama.context_length',
  'llama.embedding_length',
  'llama.block_count',
  'llama.feed_forward_length',
  'llama.attention.head_count',
  'llama.attention.head_count_kv',
  'llama.attention.key_length',
  'llama.attention.layer_norm_rms_epsilon',
  'llama.rope.freq_base',
  'llama.rope.dimension_count',
  'llama.rope.scaling.type',
  'llama.rope.scaling.factor',
  'llama.vocab_size',
  'gpt2.context_length',
  'gpt2.embedding_length',
  'gpt2.block_count',
  'gpt2.attention.head_count',
  'qwen2.attention.head_count_kv',
  'tokenizer.ggml.model',
  'tokenizer.ggml.pre',
  'tokenizer.ggml.tokens',
  'tokenizer.ggml.scores',
  'tokenizer.ggml.token_type',
  'tokenizer.ggml.merges',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
  'tokenizer.ggml.padding_token_id',
  'tokenizer.ggml.unknown_token_id',
  'tokenizer.ggml.eot_token_id',
  'tokenizer.ggml.add_bos_token',
  'tokenizer.chat_template',
  'general.sampling.temp',
  'general.sampling.top_k',
  'general.sampling.top_p',
]

const edgeValue: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 255, 65_535, 2 ** 31 - 1, 2 ** 32 - 1).map((v) => gguf.u32(v)),
  fc.constantFrom(-1, -(2 ** 31), 0, 7).map((v) => gguf.i32(v)),
  fc.constantFrom(...EDGE_U64).map((v) => gguf.u64(v)),
  fc.constantFrom(-1n, -(2n ** 63n)).map((v) => gguf.i64(v)),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 1e-30, 3.4e38, -1, 0.5).map((v) => gguf.f32(v)),
  fc.constantFrom(Number.NaN, Number.NEGATIVE_INFINITY, 1e308).map((v) => gguf.f64(v)),
  fc.boolean().map((v) => gguf.bool(v)),
  hostileString.map((s) => gguf.string(s)),
  fc
    .constantFrom('llama', 'gpt2', 'qwen2', 'mistral', 'bert', 'gemma', 'yarn', 'linear', '')
    .map((s) => gguf.string(s)),
  fc.array(hostileString, { maxLength: 5 }).map((a) => gguf.array('string', a)),
  fc
    .array(fc.integer({ min: -2, max: 2 ** 31 - 1 }), { maxLength: 5 })
    .map((a) => gguf.array('i32', Int32Array.from(a))),
  fc.array(fc.float(), { maxLength: 5 }).map((a) => gguf.array('f32', Float32Array.from(a))),
  fc.constant(gguf.array('array', [gguf.array('u8', new Uint8Array([1]))])),
)

type MetaOp =
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; value: GgufValue }
  | { op: 'add'; key: string; value: GgufValue }
  | { op: 'shrink'; at: number; keep: number }
  | { op: 'item'; at: number; index: number; text: string }
  | { op: 'dup'; at: number }
  | {
      op: 'tensor'
      at: number
      field: 'dims' | 'type' | 'offset' | 'name' | 'drop' | 'dup'
      n: bigint
      text: string
    }

const metaOp: fc.Arbitrary<MetaOp> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: edgeValue }),
  fc.record({
    op: fc.constant('add' as const),
    key: fc.oneof(fc.constantFrom(...KEYS), hostileString),
    value: edgeValue,
  }),
  fc.record({ op: fc.constant('shrink' as const), at: fc.nat(), keep: fc.nat(4) }),
  fc.record({ op: fc.constant('item' as const), at: fc.nat(), index: fc.nat(), text: hostileString }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('tensor' as const),
    at: fc.nat(),
    field: fc.constantFrom(
      'dims' as const,
      'type' as const,
      'offset' as const,
      'name' as const,
      'drop' as const,
      'dup' as const,
    ),
    n: fc.constantFrom(...EDGE_U64, 3n, 5n, 31n, 100n),
    text: hostileString,
  }),
)

function applyMetaOps(seed: Seed, ops: MetaOp[]): Uint8Array {
  const meta = seed.metadata.slice()
  const tensors = seed.tensors.map((t) => ({ ...t, dims: t.dims.slice() }))
  for (const m of ops) {
    const i = meta.length ? ((m as { at?: number }).at ?? 0) : 0
    const k = meta.length ? i % meta.length : 0
    switch (m.op) {
      case 'delete':
        if (meta.length) meta.splice(k, 1)
        break
      case 'set':
        if (meta.length) meta[k] = [meta[k][0], m.value]
        break
      case 'add':
        meta.push([m.key, m.value])
        break
      case 'dup':
        if (meta.length) meta.push(meta[k])
        break
      case 'shrink':
      case 'item': {
        if (!meta.length) break
        const v = meta[k][1]
        if (v.type !== 'array') break
        const items = Array.from(v.value as ArrayLike<unknown>)
        if (m.op === 'shrink') items.length = Math.min(items.length, m.keep)
        else if (items.length && v.itemType === 'string') items[m.index % items.length] = m.text
        else if (items.length) items[m.index % items.length] = items[(m.index >>> 3) % items.length]
        const value =
          v.itemType === 'string' || v.itemType === 'array'
            ? items
            : new (v.value as unknown as { constructor: new (a: unknown[]) => unknown }).constructor(items)
        meta[k] = [meta[k][0], { type: 'array', itemType: v.itemType, value } as GgufValue]
        break
      }
      case 'tensor': {
        if (!tensors.length) break
        const t = tensors[m.at % tensors.length]
        if (m.field === 'dims') t.dims[(m.at >>> 3) % Math.max(1, t.dims.length)] = m.n
        else if (m.field === 'type') t.typeId = Number(m.n % 40n)
        else if (m.field === 'offset') t.offset = m.n
        else if (m.field === 'name') t.name = m.text
        else if (m.field === 'drop') tensors.splice(m.at % tensors.length, 1)
        else tensors.push({ ...t })
        break
      }
    }
  }
  return encodeGguf(meta, tensors, seed.data, seed.alignment)
}

const metaMutated = fc
  .record({ seed: fc.nat(seeds.length - 1), ops: fc.array(metaOp, { minLength: 1, maxLength: 5 }) })
  .map(({ seed, ops }) => applyMetaOps(seeds[seed], ops))

const arbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: byteMutated },
  { weight: 5, arbitrary: metaMutated },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 200 })
      .map((b) => Uint8Array.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, ...b])),
  },
)

const spec = {
  target: 'gguf',
  kind: 'gguf' as const,
  arbitrary,
  caseMs: 3_000,
  ciMs: 5_000,
  corpus: bytesCodec('.gguf'),
  run(bytes: Uint8Array) {
    const copy = bytes.slice()
    const file = kiln(() => parseGguf(copy.buffer, 'fuzz.gguf'))
    if (!file.ok) return 'refused by the reader'
    for (const t of file.value.tensors.values()) {
      if (t.data.byteOffset + t.data.byteLength > copy.byteLength)
        throw new FuzzFailure(`tensor "${t.name}" views past the end of the file`, 'answer')
    }
    const tok = kiln(() => ggufTokenizer(file.value))
    if (tok.ok) kiln(() => tok.value.decode(tok.value.encode('Hello world! 123 <s> é\u0000')))
    const info = kiln(() => ggufModelInfo(file.value))
    return info.ok ? 'model info read' : tok.ok ? 'tokenizer only' : 'refused by the model info'
  },
}

fuzzTarget(spec)
nativePhase(spec, { ciMs: 3_000, batch: 200 })
