// Fuzz target peft: PEFT LoRA adapter folders (adapter_config.json + adapter_model.safetensors) read
// by readLoraAdapter and applied at load: loadModel(llama-tiny, { adapter }) matches the adapter's
// modules to the base's weights and checks their shapes as it builds the graph (applyAdapter,
// LoraGraphBuilder), and loadModel(base, { adapters: { a, b } }) stacks two adapters per matmul.
// Seeded from the golden adapters (test/fixtures/golden/lora); mutated are the config (types,
// missing and extra keys, huge or fractional r and lora_alpha, use_rslora, target_modules,
// peft_type, deep nesting, text that does not parse) and the weights: the safetensors fuzz
// mutations (bytes, header edits) and structure-aware ones that keep the file valid (names that do
// not match the pattern or name modules the base lacks, A without B, other dtypes, shapes, ranks
// and feature counts, huge declared shapes). A model that loads runs one forward step.
//
// Real files in a temp folder, one per case (the adapter's tensors may be views of the mapped file).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll } from 'vitest'
import { readLoraAdapter } from '../../src/core/formats/peft.js'
import { loadModel } from '../../src/core/runtime/model.js'
import { golden } from '../helpers/fixtures.js'
import { caseText, FuzzFailure, fuzzTarget, jsonCodec, kiln, kilnAsync } from './harness.js'
import {
  applyJsonOp,
  byteOp,
  EDGE_INTS,
  EDGE_NUMBERS,
  hostileString,
  type Json,
  jsonOp,
  mutateBytes,
  mutatedJson,
  smallJson,
} from './mutate.js'

/**
 * One adapter folder: the config's text and the weights' bytes (base64, or "seed:N" for the N-th
 * seed adapter's file as it is, which keeps corpus files short); null: the file is absent.
 */
export interface AdapterFiles {
  config: string | null
  weights: string | null
}

interface Case {
  /** read: readLoraAdapter only; load: loadModel with `adapter`; pair: loadModel with `adapters`. */
  mode: 'read' | 'load' | 'pair'
  a: AdapterFiles
  b?: AdapterFiles
}

const BASE = golden('llama-tiny')
const SEED_DIRS = [golden('lora/adapter_after_5_steps'), golden('lora/adapter_init')]

// --- safetensors as tensors, and back ------------------------------------------------------------

interface Tensor {
  name: string
  dtype: string
  shape: number[]
  data: Uint8Array
}

function parseSafetensors(bytes: Uint8Array): { tensors: Tensor[]; metadata?: Json } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, Json>
  const data = bytes.subarray(8 + n)
  const tensors: Tensor[] = []
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const { dtype, shape, data_offsets } = t as { dtype: string; shape: number[]; data_offsets: number[] }
    tensors.push({ name, dtype, shape, data: data.slice(data_offsets[0], data_offsets[1]) })
  }
  return { tensors, metadata: header.__metadata__ }
}

/** A valid safetensors file of `tensors` (data as given, offsets computed). */
function buildSafetensors(tensors: Tensor[], metadata?: Json): Uint8Array {
  const header: Record<string, Json> = {}
  if (metadata !== undefined) header.__metadata__ = metadata
  let offset = 0
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] }
    offset += t.data.length
  }
  let text = JSON.stringify(header)
  // Duplicate names cannot be object keys: later tensors of the same name are spelled in the text.
  const seen = new Set<string>()
  const dups: string[] = []
  for (const t of tensors) {
    if (seen.has(t.name)) dups.push(t.name)
    seen.add(t.name)
  }
  if (dups.length) {
    offset = 0
    const parts: string[] = []
    if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`)
    for (const t of tensors) {
      parts.push(
        `${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] })}`,
      )
      offset += t.data.length
    }
    text = `{${parts.join(',')}}`
  }
  const head = Buffer.from(text, 'utf8')
  const pad = (8 - (head.length % 8)) % 8
  const out = new Uint8Array(8 + head.length + pad + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length + pad), true)
  out.set(head, 8)
  out.fill(0x20, 8 + head.length, 8 + head.length + pad)
  let at = 8 + head.length + pad
  for (const t of tensors) {
    out.set(t.data, at)
    at += t.data.length
  }
  return out
}

const DTYPE_SIZE: Record<string, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I32: 4,
  I64: 8,
  U8: 1,
  I8: 1,
  BOOL: 1,
}

/** Data for `shape` of `dtype`: `fill` repeated (bytes), or none past a million elements. */
function dataFor(shape: number[], dtype: string, fill: Uint8Array): Uint8Array | undefined {
  const n = shape.reduce((p, d) => p * d, 1)
  const bytes = n * (DTYPE_SIZE[dtype] ?? 4)
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > 4_000_000) return undefined
  const out = new Uint8Array(bytes)
  if (fill.length) for (let i = 0; i < bytes; i++) out[i] = fill[i % fill.length]
  return out
}

// --- seeds ---------------------------------------------------------------------------------------

interface Seed {
  config: Json
  weights: Uint8Array
  tensors: Tensor[]
  metadata?: Json
}

const seeds: Seed[] = SEED_DIRS.map((dir) => {
  const weights = new Uint8Array(readFileSync(path.join(dir, 'adapter_model.safetensors')))
  return {
    config: JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Json,
    weights,
    ...parseSafetensors(weights),
  }
})
const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

// --- the config ------------------------------------------------------------------------------------

const CONFIG_KEYS = [
  'r',
  'lora_alpha',
  'use_rslora',
  'peft_type',
  'target_modules',
  'fan_in_fan_out',
  'bias',
  'use_dora',
  'modules_to_save',
  'rank_pattern',
  'alpha_pattern',
  'layers_to_transform',
  'task_type',
  'lora_dropout',
]
const configValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Json>(
      'LORA',
      'lora',
      'LOHA',
      'PREFIX_TUNING',
      'none',
      'all',
      'lora_only',
      'all-linear',
      'q_proj',
      ['q_proj', 'v_proj'],
      [],
      {},
      [1, 2],
      [['q_proj']],
      { q_proj: 8 },
      true,
      false,
      null,
      'NaN',
      'Infinity',
      '4',
      4,
      8,
      1,
      0,
      -4,
      4.5,
      1e-320,
    ),
  },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: smallJson },
)
/** Targeted edits of the config's keys (the generic JSON mutations rarely pick r twice). */
const configEdits = fc.array(fc.tuple(fc.constantFrom(...CONFIG_KEYS), fc.option(configValue)), {
  minLength: 1,
  maxLength: 3,
})

/** The config's text: JSON of a mutated object, or text mutated byte-wise, or one deeply nested. */
const configText: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 5, arbitrary: mutatedJson(seeds.map((s) => s.config)).map((j) => stringify(j)) },
  {
    weight: 5,
    arbitrary: fc.tuple(fc.nat(seeds.length - 1), configEdits).map(([s, edits]) => {
      const cfg = { ...(seeds[s].config as Record<string, Json>) }
      for (const [k, v] of edits) {
        if (v === null) delete cfg[k]
        else cfg[k] = v
      }
      return JSON.stringify(cfg)
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(seeds.length - 1), fc.array(byteOp, { minLength: 1, maxLength: 3 }))
      .map(([s, ops]) => {
        const text = Buffer.from(JSON.stringify(seeds[s].config, null, 2))
        return Buffer.from(mutateBytes(text, ops, text.length, [])).toString('latin1')
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('r', 'peft_type', 'bias', 'target_modules', 'lora_alpha'),
        fc.constantFrom(1000, 100_000),
      )
      .map(
        ([key, depth]) =>
          `{"peft_type":"LORA","r":4,"lora_alpha":8,${JSON.stringify(key)}:${'['.repeat(depth)}${']'.repeat(depth)}}`,
      ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, '', '{}', '[]', 'null', '"LORA"', '{"peft_type":"LORA"}') },
)

function stringify(j: Json): string {
  try {
    return JSON.stringify(j)
  } catch {
    return '{}' // too deep for JSON.stringify: the deep cases are spelled out above
  }
}

// --- the weights -----------------------------------------------------------------------------------

type Edit =
  | { kind: 'rename'; tensor: number; to: number; str: string }
  | { kind: 'drop'; tensor: number }
  | { kind: 'dup'; tensor: number; to: number }
  | { kind: 'shape'; tensor: number; shape: number[]; fill: number[] }
  | { kind: 'dtype'; tensor: number; dtype: string }
  | { kind: 'transpose'; tensor: number }
  | { kind: 'rank'; module: number; rank: number; all: boolean }
  | { kind: 'features'; tensor: number; n: number }
  | { kind: 'values'; tensor: number; value: number }

const RENAMES: ((name: string, str: string) => string)[] = [
  (n) => n.replace('lora_A', 'lora_B'),
  (n) => n.replace('lora_B', 'lora_A'),
  (n) => n.replace('layers.0', 'layers.9'),
  (n) => n.replace('layers.1', 'layers.-1'),
  (n) => n.replace(/self_attn\.\w+_proj|mlp\.\w+_proj/, 'self_attn.o_proj'),
  (n) => n.replace(/self_attn\.\w+_proj|mlp\.\w+_proj/, 'self_attn.k_proj'),
  (n) => n.replace(/self_attn\.\w+_proj|mlp\.\w+_proj/, 'mlp.gate_proj'),
  (n) => n.replace(/self_attn\.\w+_proj|mlp\.\w+_proj/, 'mlp.up_proj'),
  (n) => n.replace(/model\.layers\.\d+\.[\w.]+_proj/, 'lm_head'),
  (n) => n.replace(/model\.layers\.\d+\.[\w.]+_proj/, 'model.embed_tokens'),
  (n) => n.replace(/model\.layers\.\d+\.[\w.]+_proj/, 'model.norm'),
  (n) => n.replace(/model\.layers\.\d+\.[\w.]+_proj/, 'model.layers.0.input_layernorm'),
  (n) => n.replace(/model\.layers\.\d+\.[\w.]+_proj/, 'transformer.h.0.attn.c_attn'),
  (n) => n.replace('.weight', '.default.weight'),
  (n) => n.replace('.weight', '.bias'),
  (n) => n.replace('base_model.model.', ''),
  (n) => n.replace('base_model.model.', 'base_model.model.base_model.model.'),
  (n) => `${n}.weight`,
  (n) => n.replace('lora_A', 'lora_embedding_A'),
  (n) => n.replace('model.layers', 'model.__proto__'),
  (n, s) => n.replace('model.layers', s),
  (_, s) => s,
  (n, s) => `${n}${s}`,
]

const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('rename' as const),
      tensor: fc.nat(),
      to: fc.nat(RENAMES.length - 1),
      str: hostileString,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), tensor: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), tensor: fc.nat(), to: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('shape' as const),
      tensor: fc.nat(),
      shape: fc.array(fc.oneof(fc.constantFrom(...EDGE_INTS), fc.nat(300)), { maxLength: 4 }),
      fill: fc.array(fc.nat(255), { maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('dtype' as const),
      tensor: fc.nat(),
      dtype: fc.constantFrom('F16', 'BF16', 'F64', 'I32', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'I8'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transpose' as const), tensor: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('rank' as const),
      module: fc.nat(),
      rank: fc.oneof(fc.constantFrom(0, 1, 2, 3, 8, 64, 65, 257), fc.nat(16)),
      all: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('features' as const),
      tensor: fc.nat(),
      n: fc.constantFrom(0, 1, 31, 32, 63, 65, 128, 176, 177, 1000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('values' as const),
      tensor: fc.nat(),
      value: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -3.4e38, 3.4e38, 1e-45, 65504),
    }),
  },
)

const moduleOf = (name: string) => name.replace(/\.lora_[AB](\.default)?\.weight$/, '')

/** The seed's tensors with the edits applied, as a valid file; huge shapes declared without data. */
function editedWeights(seed: Seed, edits: Edit[]): Uint8Array {
  let tensors = seed.tensors.map((t) => ({ ...t, shape: [...t.shape] }))
  let invalid = false
  for (const e of edits) {
    if (tensors.length === 0) break
    if (e.kind === 'rank') {
      // Every tensor of one module (or of all) made rank e.rank: a consistent pair of another rank.
      const modules = [...new Set(tensors.map((t) => moduleOf(t.name)))]
      const module = modules[e.module % modules.length]
      tensors = tensors.map((t) => {
        if (!e.all && moduleOf(t.name) !== module) return t
        const isA = /lora_A/.test(t.name)
        const shape = isA ? [e.rank, t.shape[1] ?? 1] : [t.shape[0] ?? 1, e.rank]
        return { ...t, shape, data: dataFor(shape, t.dtype, t.data.subarray(0, 16)) ?? new Uint8Array(0) }
      })
      continue
    }
    const i = e.tensor % tensors.length
    const t = tensors[i]
    switch (e.kind) {
      case 'rename':
        t.name = RENAMES[e.to](t.name, e.str)
        break
      case 'drop':
        tensors.splice(i, 1)
        break
      case 'dup':
        tensors.push({ ...tensors[e.to % tensors.length], name: t.name })
        break
      case 'shape': {
        t.shape = e.shape
        const data = dataFor(e.shape, t.dtype, Uint8Array.from(e.fill))
        if (data) t.data = data
        else invalid = true // a declared size past the data: the safetensors reader refuses it
        break
      }
      case 'dtype': {
        t.dtype = e.dtype
        t.data = dataFor(t.shape, e.dtype, t.data.subarray(0, 16)) ?? new Uint8Array(0)
        break
      }
      case 'transpose':
        t.shape = [...t.shape].reverse()
        break
      case 'features': {
        // A's in-features or B's out-features: a pair that no longer fits the base's weight.
        const isA = /lora_A/.test(t.name)
        t.shape = isA ? [t.shape[0] ?? 1, e.n] : [e.n, t.shape[1] ?? 1]
        t.data = dataFor(t.shape, t.dtype, t.data.subarray(0, 16)) ?? new Uint8Array(0)
        break
      }
      case 'values': {
        if (t.dtype === 'F32' && t.data.length >= 4) {
          const f = new Float32Array(t.data.slice().buffer)
          f[0] = e.value
          f[f.length - 1] = e.value
          t.data = new Uint8Array(f.buffer)
        }
        break
      }
    }
  }
  if (invalid) {
    // Shapes whose data could not be made: declared in the header, with the data the seed had.
    const out = buildSafetensors(tensors, seed.metadata)
    return out
  }
  return buildSafetensors(tensors, seed.metadata)
}

const weightsBytes: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.nat(seeds.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }))
      .map(([s, edits]) => editedWeights(seeds[s], edits)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(seeds.length - 1), fc.array(byteOp, { minLength: 1, maxLength: 4 }))
      .map(([s, ops]) => {
        const w = seeds[s].weights
        const headerEnd = 8 + Number(new DataView(w.buffer, w.byteOffset).getBigUint64(0, true))
        return mutateBytes(w, ops, headerEnd, [{ at: 0, size: 8, role: 'header length' }])
      }),
  },
  {
    // The header's JSON mutated (offsets, shapes, dtypes, names as JSON values).
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(seeds.length - 1), fc.array(jsonOp, { minLength: 1, maxLength: 3 }))
      .map(([s, ops]) => {
        const w = seeds[s].weights
        const n = Number(new DataView(w.buffer, w.byteOffset).getBigUint64(0, true))
        const header = JSON.parse(Buffer.from(w.subarray(8, 8 + n)).toString('utf8')) as Json
        const text = Buffer.from(stringify(ops.reduce<Json>((d, op) => applyJsonOp(d, op), header)))
        const out = new Uint8Array(8 + text.length + (w.length - 8 - n))
        new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true)
        out.set(text, 8)
        out.set(w.subarray(8 + n), 8 + text.length)
        return out
      }),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, new Uint8Array(0), new Uint8Array(8)) },
)

const seedFiles = (s: number): AdapterFiles => ({
  config: JSON.stringify(seeds[s].config),
  weights: `seed:${s}`,
})

/** An adapter folder: the config mutated, the weights mutated, or both. */
const adapterFiles: fc.Arbitrary<AdapterFiles> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.tuple(configText, fc.nat(seeds.length - 1)).map(([config, s]) => ({
      config,
      weights: `seed:${s}`,
    })),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.nat(seeds.length - 1), weightsBytes).map(([s, w]) => ({
      config: JSON.stringify(seeds[s].config),
      weights: w === null ? null : b64(w),
    })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(configText, weightsBytes).map(([config, w]) => ({
      config,
      weights: w === null ? null : b64(w),
    })),
  },
  {
    // A consistent adapter of another rank: the weights' ranks and the config's r agree.
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.nat(seeds.length - 1),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(...EDGE_NUMBERS),
        fc.boolean(),
      )
      .map(([s, rank, alpha, rs]) => ({
        config: JSON.stringify({
          ...(seeds[s].config as object),
          r: rank,
          lora_alpha: alpha,
          use_rslora: rs,
        }),
        weights: b64(editedWeights(seeds[s], [{ kind: 'rank', module: 0, rank, all: true }])),
      })),
  },
)

const arbitrary: fc.Arbitrary<Case> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ mode: fc.constant('read' as const), a: adapterFiles }) },
  { weight: 3, arbitrary: fc.record({ mode: fc.constant('load' as const), a: adapterFiles }) },
  {
    weight: 2,
    arbitrary: fc.record({
      mode: fc.constant('pair' as const),
      a: fc.oneof(adapterFiles, fc.nat(seeds.length - 1).map(seedFiles)),
      b: adapterFiles,
    }),
  },
)

// --- running a case --------------------------------------------------------------------------------

const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-peft-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0

function writeAdapter(files: AdapterFiles, dir: string): void {
  mkdirSync(dir, { recursive: true })
  if (files.config !== null) writeFileSync(path.join(dir, 'adapter_config.json'), files.config)
  if (files.weights !== null) {
    const seed = /^seed:(\d+)$/.exec(files.weights)
    const bytes = seed ? seeds[Number(seed[1]) % seeds.length].weights : Buffer.from(files.weights, 'base64')
    writeFileSync(path.join(dir, 'adapter_model.safetensors'), bytes)
  }
}

fuzzTarget<Case>({
  target: 'peft',
  arbitrary,
  caseMs: 5_000,
  ciMs: 5_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) => caseText({ ...c, a: { ...c.a, weights: null }, b: undefined }, 2_000),
  async run(c) {
    const dir = path.join(root, String(n++))
    const a = path.join(dir, 'a')
    const b = path.join(dir, 'b')
    try {
      writeAdapter(c.a, a)
      if (c.b) writeAdapter(c.b, b)
      if (c.mode === 'read') {
        const r = kiln(() => readLoraAdapter(a))
        if (!r.ok) return 'refused'
        const ad = r.value
        if (!(Number.isFinite(ad.scale) && ad.scale > 0))
          throw new FuzzFailure(`readLoraAdapter gave a scale of ${ad.scale}`, 'answer')
        for (const [module, p] of ad.modules)
          if (p.a.length !== p.rank * p.inFeatures || p.b.length !== p.outFeatures * p.rank)
            throw new FuzzFailure(`module ${module}: A or B does not hold rank × features values`, 'answer')
        return 'read'
      }
      // Whether the adapters read: a refusal at load is then the base's (modules, shapes).
      const read = [a, ...(c.b ? [b] : [])].every((d) => kiln(() => readLoraAdapter(d)).ok)
      const opts = c.mode === 'load' ? { adapter: a } : { adapters: { a, b } }
      const m = kiln(() => loadModel(BASE, { ...opts, threads: 1, contextLength: 8, chunkSize: 4 }))
      if (!m.ok) return read ? 'refused at load' : 'refused'
      if (!read) throw new FuzzFailure('loadModel applied an adapter that readLoraAdapter refuses', 'answer')
      try {
        const logits = await kilnAsync(() => m.value.logits([1, 2, 3]))
        if (!logits.ok) return 'loaded, refused to run'
        return 'ran'
      } finally {
        m.value.dispose()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
})
