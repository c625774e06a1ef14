// Fuzz target addon-api: the native addon's JavaScript API itself (native/addon.cc, addon_quant.cc,
// addon_transpose.cc, addon_int4.cc, mapped_file.cc), every entry point that src/core/native.ts
// lists: mapFile, the Graph constructor and its run/runAsync/dispose/info, runOp, backends,
// sampleToken, applyProcessors, tokenLogprobs, cpuInfo, measureReadBandwidth, quantize, dequantize,
// transposeF32, quantizeInt4Blocks, quantizeInt4Columns and quantizeInt8Columns. A case is a short
// program of calls whose arguments are wrong types (strings, objects, negative, NaN, huge numbers,
// BigInt, symbols, functions, objects whose getters throw),
// missing, detached ArrayBuffers, short, shared or misaligned typed arrays, absurd shapes (2^40
// elements, negative or zero dims) and out-of-range tensor and node indices; graph specs are mutations of two small valid graphs (a decoder over a paged KV cache, an
// encoder through most ops), so that the mutations reach past the first check.
//
// The property: every call returns, or throws a JS Error with a message; the child process that
// runs the cases (in batches: addon-batch.ts) never aborts or faults, and no case runs past its time
// bound or grows the process by more than CASE_RSS_BOUND (a shape of 2^40 elements is refused
// before anything is allocated).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { native } from '../../src/core/native.js'
import { type CaseResult, runAddonBatch } from './addon-batch.js'
import type { AddonCall, ValueDesc } from './addon-values.js'
import {
  budgetMs,
  CASE_RSS_BOUND,
  corpusFiles,
  FuzzFailure,
  jsonCodec,
  report,
  SEED,
  saveCounterexample,
} from './harness.js'
import { hostileString, type Json } from './mutate.js'

const TARGET = 'addon-api'
const CASE_MS = 3_000
const CI_MS = 5_000
const BATCH = 100
const codec = jsonCodec<AddonCall[]>()
/** KILN_FUZZ_SURVEY=1 (npm run fuzz -- --survey): every failure is listed; none stops the run. */
const SURVEY = process.env.KILN_FUZZ_SURVEY === '1'

// --- values -----------------------------------------------------------------------------------

const U: ValueDesc = { $: 'undefined' }
const NUM_TAGS: ValueDesc[] = [
  { $: 'num', v: 'NaN' },
  { $: 'num', v: 'Infinity' },
  { $: 'num', v: '-Infinity' },
  { $: 'negzero' },
]
const ABSURD_INTS = [
  -1,
  -2,
  -(2 ** 31),
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 40,
  2 ** 53,
  2 ** 63,
  2 ** 64,
  1e300,
  -1e300,
  0.5,
  1.5,
]

/** True once in `n + 1` draws. */
// (Not fc.integer: its draws lean to the bounds, so 0 would come far more often than once in n.)
const rarely = (n: number) =>
  fc.oneof({ weight: n, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })

/** The valid values five times in six. */
const mostly = <T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: hostile })

const typedName = fc.constantFrom('i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'f32', 'f64', 'i64')
const fillValues = fc.array(
  fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 1e30, -1e30, 'NaN')),
  { minLength: 1, maxLength: 4 },
)

/** A typed array (or DataView) of any type: short, empty, detached, shared or at an odd offset. */
const typedDesc = (
  type?: fc.Arbitrary<string>,
  n: fc.Arbitrary<number> = fc.nat(64),
): fc.Arbitrary<ValueDesc> =>
  fc
    .record(
      {
        type: type ?? typedName,
        n,
        fill: fillValues,
        offset: mostly(fc.constant(0), fc.constantFrom(1, 2, 4)),
        detached: rarely(6),
        shared: rarely(8),
        view: mostly(fc.constant('ta'), fc.constant('dv')),
      },
      { requiredKeys: ['type', 'n'] },
    )
    .map((d) => ({ $: 'ta', ...d }) as ValueDesc)

const weird: fc.Arbitrary<ValueDesc> = fc.oneof(
  fc.constant(U),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(...NUM_TAGS),
  fc.constantFrom(...ABSURD_INTS),
  fc.integer({ min: -4, max: 64 }),
  hostileString,
  fc.constantFrom('', 'cpu', 'ref', 'f32', 'q8_0', 'embedding', '__proto__'),
  fc.constantFrom<ValueDesc>(
    { $: 'bigint', v: '1' },
    { $: 'bigint', v: '-1' },
    { $: 'bigint', v: '18446744073709551616' },
    { $: 'fn' },
    { $: 'sym' },
    { $: 'throwing' },
    { $: 'object' },
    { $: 'sparse', n: 4294967295 },
    { $: 'sparse', n: 3 },
    { $: 'ab', n: 16 },
    { $: 'ab', n: 16, detached: true },
    { $: 'graph', v: 0 },
    [],
    [1, 2, 3],
  ),
  typedDesc(),
)

const threads = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1e9, 2 ** 31, 2 ** 53, 1e300) },
  { weight: 1, arbitrary: weird },
)

/** Argument lists: the right arguments mostly, some replaced by hostile values, some dropped. */
function argsOf(parts: fc.Arbitrary<ValueDesc>[]): fc.Arbitrary<ValueDesc[]> {
  return fc
    .record({
      args: fc.tuple(
        ...parts.map((p) => fc.oneof({ weight: 5, arbitrary: p }, { weight: 1, arbitrary: weird })),
      ),
      keep: fc.oneof(
        { weight: 6, arbitrary: fc.constant(parts.length) },
        { weight: 1, arbitrary: fc.nat(parts.length + 2) },
      ),
      extra: fc.array(weird, { maxLength: 2 }),
    })
    .map(({ args, keep, extra }) => (keep > parts.length ? [...args, ...extra] : args.slice(0, keep)))
}

// --- graph specs ------------------------------------------------------------------------------

const f32 = (n: number, fill: Json[] = [0.25, -0.5, 1, 0.125]): ValueDesc => ({
  $: 'ta',
  type: 'f32',
  n,
  fill,
})
const ROWS = 4

/** Decoder: embedding → kv_store → attention → select_rows over a paged KV cache (test/native/device.test.ts). */
const DECODER: { [k: string]: Json } = {
  tensors: [
    { name: 'tokens', dtype: 'i32', shape: [ROWS], rows: 1 },
    { name: 'positions', dtype: 'i32', shape: [ROWS], rows: 1 },
    { name: 'slots', dtype: 'i32', shape: [ROWS], rows: 1 },
    { name: 'out_rows', dtype: 'i32', shape: [ROWS], rows: 2 },
    { name: 'table', dtype: 'f32', shape: [11, 8], data: f32(88) },
    { name: 'x', dtype: 'f32', shape: [ROWS, 8], rows: 1 },
    { name: 'kcache', dtype: 'f32', shape: [5, 1, 4, 8] },
    { name: 'vcache', dtype: 'f32', shape: [5, 1, 4, 8] },
    { name: 'attn', dtype: 'f32', shape: [ROWS, 8], rows: 1 },
    { name: 'out', dtype: 'f32', shape: [ROWS, 8], rows: 2 },
    { name: 'blocks', dtype: 'i32', shape: [2, 2] },
  ],
  nodes: [
    { op: 'embedding', inputs: [4, 0], output: 5 },
    { op: 'kv_store', inputs: [5, 5, 1, 2, 6, 7, 10], output: 6 },
    { op: 'attention', inputs: [5, 1, 2, 6, 7, 10], output: 8, i: [1], f: [0.35] },
    { op: 'select_rows', inputs: [8, 3], output: 9 },
  ],
  io: { tokens: 0, positions: 1, slots: 2, outRows: 3, output: 9, blocks: 10 },
}

/** Encoder: three embeddings, add, layernorm, matmul, bidirectional attention, gelu, rope, rmsnorm,
 * softmax, silu_mul, tanh, relu, slice_cols, select_rows; a q8_0 token table. */
const ENCODER: { [k: string]: Json } = {
  backend: 'cpu',
  tensors: [
    { name: 'tokens', dtype: 'i32', shape: [ROWS], rows: 1 }, // 0
    { name: 'positions', dtype: 'i32', shape: [ROWS], rows: 1 }, // 1
    { name: 'slots', dtype: 'i32', shape: [ROWS], rows: 1 }, // 2
    { name: 'out_rows', dtype: 'i32', shape: [ROWS], rows: 2 }, // 3
    { name: 'types', dtype: 'i32', shape: [ROWS], rows: 1 }, // 4
    {
      name: 'wte',
      dtype: 'q8_0',
      shape: [11, 32],
      data: { $: 'ta', type: 'u8', n: 11 * 34, fill: [0, 60, 7, 200] },
    }, // 5
    { name: 'wpe', dtype: 'f32', shape: [6, 32], data: f32(6 * 32) }, // 6
    {
      name: 'tte',
      dtype: 'f16',
      shape: [2, 32],
      data: { $: 'ta', type: 'u16', n: 64, fill: [0x3c00, 0xb800] },
    }, // 7
    { name: 'e0', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 8
    { name: 'e1', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 9
    { name: 'e2', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 10
    { name: 's1', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 11
    { name: 's2', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 12
    { name: 'lnw', dtype: 'f32', shape: [32], data: f32(32) }, // 13
    { name: 'lnb', dtype: 'f32', shape: [32], data: f32(32) }, // 14
    { name: 'h', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 15
    {
      name: 'w',
      dtype: 'bf16',
      shape: [32, 32],
      data: { $: 'ta', type: 'u16', n: 1024, fill: [0x3f80, 0xbe00] },
    }, // 16
    { name: 'b', dtype: 'f32', shape: [32], data: f32(32) }, // 17
    { name: 'q', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 18
    { name: 'att', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 19
    { name: 'g', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 20
    { name: 'invf', dtype: 'f32', shape: [4], data: f32(4) }, // 21
    { name: 'r', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 22
    { name: 'rn', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 23
    { name: 'sm', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 24
    { name: 'sw', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 25
    { name: 'th', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 26
    { name: 're', dtype: 'f32', shape: [ROWS, 32], rows: 1 }, // 27
    { name: 'sl', dtype: 'f32', shape: [ROWS, 5], rows: 1 }, // 28
    { name: 'out', dtype: 'f32', shape: [ROWS, 5], rows: 2 }, // 29
  ],
  nodes: [
    { op: 'embedding', inputs: [5, 0], output: 8 },
    { op: 'embedding', inputs: [6, 1], output: 9 },
    { op: 'embedding', inputs: [7, 4], output: 10 },
    { op: 'add', inputs: [8, 9], output: 11 },
    { op: 'add', inputs: [11, 10], output: 12 },
    { op: 'layernorm', inputs: [12, 13, 14], output: 15, f: [1e-5] },
    { op: 'matmul', inputs: [15, 16, 17], output: 18 },
    { op: 'bidir_attention', inputs: [18, 18, 18, 1], output: 19, i: [4], f: [0.35] },
    { op: 'gelu', inputs: [19], output: 20, i: [1] },
    { op: 'rope', inputs: [20, 1, 21], output: 22, i: [4, 8, 0] },
    { op: 'rmsnorm', inputs: [22, 13], output: 23, f: [1e-6] },
    { op: 'softmax', inputs: [23], output: 24 },
    { op: 'silu_mul', inputs: [24, 22], output: 25 },
    { op: 'tanh', inputs: [25], output: 26 },
    { op: 'relu', inputs: [26], output: 27 },
    { op: 'slice_cols', inputs: [27], output: 28, i: [3, 5] },
    { op: 'select_rows', inputs: [28, 3], output: 29 },
  ],
  io: { tokens: 0, positions: 1, slots: 2, outRows: 3, output: 29, types: 4 },
}
const SEEDS = [DECODER, ENCODER]

// Every op of the build's table (the addon lists them; the parent only reads the list).
const OPS = native().cpuInfo().ops
const DTYPES = ['f32', 'f16', 'bf16', 'i32', 'q4_0', 'q8_0', 'q4_k', 'q6_k', 'q5_0', 'q5_1', 'q5_k']

/**
 * Dimensions past any machine's memory, negative or fractional. Not 2^31 or 2^32 alone: a tensor of
 * 2^32 i32 (16 GiB) fits the memory bound of a large machine, and is then allocated as asked.
 */
const ABSURD_DIMS = ABSURD_INTS.filter((n) => !(n >= 2 ** 24 && n < 2 ** 40))

/** Shapes that break size arithmetic: 2^40 elements, products past 2^63, negative and zero dims. */
const hostileShape: fc.Arbitrary<ValueDesc> = fc.oneof(
  fc.constantFrom<ValueDesc>(
    [],
    [0],
    [0, 8],
    [4, 0],
    [2 ** 40],
    [2 ** 20, 2 ** 20],
    [4, 2 ** 38],
    [2 ** 31, 2 ** 31, 2 ** 31],
    [2 ** 62, 4],
    [-1, 8],
    [4, -8],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [2 ** 53, 2 ** 53],
    [5, 1, 4, 0],
    [5, 0, 4, 8],
    [0, 1, 4, 8],
    [5, 1, 0, 8],
    [5, 1, 2 ** 40, 8],
  ),
  fc.array(
    fc.oneof(
      fc.nat(40),
      fc.constantFrom(...ABSURD_DIMS),
      fc.constantFrom<ValueDesc>(
        U,
        null,
        'x',
        '4',
        true,
        [4],
        { $: 'bigint', v: '4' },
        { $: 'object' },
        ...NUM_TAGS,
      ),
    ),
    { maxLength: 5 },
  ),
)

type SpecEdit =
  | { on: 'tensor'; t: number; key: string; value: ValueDesc | 'delete' }
  | { on: 'node'; n: number; key: string; value: ValueDesc | 'delete' }
  | { on: 'input'; n: number; k: number; value: ValueDesc }
  | { on: 'io'; key: string; value: ValueDesc | 'delete' }
  | { on: 'top'; key: string; value: ValueDesc | 'delete' }
  | { on: 'dup-node'; n: number }
  | { on: 'drop-node'; n: number }

const index = (n: number) =>
  fc.oneof(fc.nat(n), fc.constantFrom(-1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 1e10, 1.5))
const specEdit: fc.Arbitrary<SpecEdit> = fc.oneof(
  fc.record({
    on: fc.constant('tensor' as const),
    t: fc.nat(40),
    key: fc.constant('shape'),
    value: fc.oneof(hostileShape, fc.constant<'delete'>('delete')),
  }),
  fc.record({
    on: fc.constant('tensor' as const),
    t: fc.nat(40),
    key: fc.constant('dtype'),
    value: fc.oneof(fc.constantFrom(...DTYPES), weird),
  }),
  fc.record({
    on: fc.constant('tensor' as const),
    t: fc.nat(40),
    key: fc.constant('rows'),
    value: fc.oneof(fc.constantFrom(0, 1, 2, 3, -1, 1e10), weird),
  }),
  fc.record({
    on: fc.constant('tensor' as const),
    t: fc.nat(40),
    key: fc.constant('data'),
    value: fc.oneof(
      typedDesc(
        fc.constantFrom('f32', 'u8', 'i32', 'u16'),
        fc.oneof(fc.nat(64), fc.constantFrom(88, 374, 1024)),
      ),
      weird,
      fc.constant<'delete'>('delete'),
    ),
  }),
  fc.record({ on: fc.constant('tensor' as const), t: fc.nat(40), key: fc.constant('name'), value: weird }),
  fc.record({
    on: fc.constant('node' as const),
    n: fc.nat(20),
    key: fc.constantFrom('op', 'output', 'i', 'f', 'inputs'),
    value: fc.oneof(
      fc.constantFrom(...OPS),
      index(32),
      fc.array(fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constantFrom(...ABSURD_INTS)), { maxLength: 5 }),
      weird,
      fc.constant<'delete'>('delete'),
    ),
  }),
  fc.record({
    on: fc.constant('input' as const),
    n: fc.nat(20),
    k: fc.nat(7),
    value: fc.oneof(index(32), weird),
  }),
  fc.record({
    on: fc.constant('io' as const),
    key: fc.constantFrom('tokens', 'positions', 'slots', 'outRows', 'output', 'types', 'blocks'),
    value: fc.oneof(index(32), weird, fc.constant<'delete'>('delete')),
  }),
  fc.record({
    on: fc.constant('top' as const),
    key: fc.constantFrom('tensors', 'nodes', 'io', 'device', 'backend'),
    value: fc.oneof(weird, fc.constantFrom('cpu', 'ref', 'cuda'), fc.constant<'delete'>('delete')),
  }),
  fc.record({ on: fc.constant('dup-node' as const), n: fc.nat(20) }),
  fc.record({ on: fc.constant('drop-node' as const), n: fc.nat(20) }),
)

function setKey(o: { [k: string]: Json }, key: string, value: ValueDesc | 'delete'): void {
  if (value === 'delete') delete o[key]
  else o[key] = value
}

function editSpec(seed: { [k: string]: Json }, edits: SpecEdit[]): { [k: string]: Json } {
  const spec = structuredClone(seed) as { [k: string]: Json }
  const tensors = spec.tensors as { [k: string]: Json }[]
  const nodes = spec.nodes as { [k: string]: Json }[]
  for (const e of edits) {
    if (e.on === 'tensor') setKey(tensors[e.t % tensors.length], e.key, e.value)
    else if (e.on === 'node' && nodes.length) setKey(nodes[e.n % nodes.length], e.key, e.value)
    else if (e.on === 'input' && nodes.length) {
      const inputs = nodes[e.n % nodes.length].inputs
      if (Array.isArray(inputs) && inputs.length) inputs[e.k % inputs.length] = e.value
    } else if (e.on === 'io') setKey(spec.io as { [k: string]: Json }, e.key, e.value)
    else if (e.on === 'dup-node' && nodes.length) nodes.push(structuredClone(nodes[e.n % nodes.length]))
    else if (e.on === 'drop-node' && nodes.length) nodes.splice(e.n % nodes.length, 1)
  }
  // Top-level edits last: the others need the arrays.
  for (const e of edits) if (e.on === 'top') setKey(spec, e.key, e.value)
  return spec
}

const graphSpec: fc.Arbitrary<ValueDesc> = fc
  .record({
    seed: fc.nat(SEEDS.length - 1),
    // A third of the graphs are the seeds themselves, so that steps reach a built graph.
    edits: fc.oneof(
      { weight: 1, arbitrary: fc.constant<SpecEdit[]>([]) },
      { weight: 2, arbitrary: fc.array(specEdit, { minLength: 1, maxLength: 4 }) },
    ),
  })
  .map(({ seed, edits }) => editSpec(SEEDS[seed], edits))

const i32 = (values: number[]): ValueDesc => ({ $: 'ta', type: 'i32', n: values.length, fill: values })

/** A step: mostly valid for the seeds (encoder rows are whole sequences from position 0). */
const step: fc.Arbitrary<ValueDesc[]> = fc
  .record({
    n: mostly(fc.integer({ min: 1, max: ROWS }), fc.constantFrom(0, 5, 100)),
    r: mostly(fc.integer({ min: 0, max: ROWS }), fc.constantFrom(5, 100)),
    token: mostly(fc.nat(10), fc.constantFrom(-1, 11, 2 ** 31 - 1, -(2 ** 31))),
    pos: mostly(fc.constant(0), fc.constantFrom(-1, 5, 6, 7, 8, 2 ** 31 - 1, -(2 ** 31))),
    slot: mostly(fc.nat(1), fc.constantFrom(-1, 2, 3, 2 ** 31 - 1)),
    outRow: mostly(fc.constant(0), fc.constantFrom(-1, 4, 2 ** 31 - 1)),
    type: mostly(fc.nat(1), fc.constantFrom(-1, 2, 2 ** 31 - 1)),
    block: mostly(fc.nat(4), fc.constantFrom(-1, 5, 2 ** 31 - 1)),
    threads,
    extra: fc.nat(4),
    // the output array of runAsync (argument 9): its length off the step's outRows × 8 columns by
    // this much, or of another type
    outDelta: mostly(fc.constant(0), fc.constantFrom(-1, 1, 8, -8)),
    outType: mostly(fc.constant('f32'), fc.constantFrom('f64', 'i32')),
  })
  .map((s) => {
    const tokens = Array.from({ length: s.n }, (_, i) => (i === 0 ? s.token : (s.token + i) % 11))
    const positions = Array.from({ length: s.n }, (_, i) => (i === s.n - 1 ? s.pos + i : i))
    const slots = Array.from({ length: s.n }, () => s.slot)
    const outRows = Array.from({ length: s.r }, (_, i) => (i === 0 ? s.outRow : i % Math.max(s.n, 1)))
    const args: ValueDesc[] = [i32(tokens), i32(positions), i32(slots), i32(outRows), s.threads]
    if (s.extra >= 1) args.push(i32(tokens.map(() => s.type)))
    if (s.extra >= 2) args.push(i32([s.block, 1, 2, 3].slice(0, s.extra === 3 ? 3 : 4)))
    if (s.extra === 4) {
      const n = Math.max(0, s.r * 8 + s.outDelta)
      args.push({ $: 'undefined' }, false, { $: 'ta', type: s.outType, n, fill: [0.5] })
    }
    return args
  })

const stepArgs = fc.oneof(
  { weight: 3, arbitrary: step },
  { weight: 1, arbitrary: argsOf([weird, weird, weird, weird, threads]) },
)

/** A graph, then steps and method calls on it (some on a foreign `this`, some runAsync not awaited). */
const graphProgram: fc.Arbitrary<AddonCall[]> = fc
  .record({
    spec: graphSpec,
    plain: rarely(30),
    calls: fc.array(
      fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            fn: fc.constantFrom('run', 'runAsync'),
            args: stepArgs,
            detach: fc.boolean(),
            detachOut: fc.boolean(),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({ fn: fc.constantFrom('info', 'dispose'), args: fc.constant([]) }),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            fn: fc.constantFrom('run', 'info'),
            args: stepArgs,
            self: weird,
            foreign: fc.constant(true),
          }),
        },
      ),
      { maxLength: 5 },
    ),
  })
  .map(({ spec, plain, calls }) => [
    { fn: 'Graph', args: [spec], plain },
    ...calls.map((c): AddonCall => {
      const { foreign, ...call } = c as AddonCall & { foreign?: boolean }
      if (foreign) return call
      const async = call.fn === 'runAsync'
      return {
        ...call,
        graph: 0,
        detach: async ? call.detach : undefined,
        detachOut: async ? call.detachOut : undefined,
      }
    }),
  ])

// --- the other entry points ---------------------------------------------------------------------

const qtype = mostly(
  fc.constantFrom('q8_0', 'q4_0', 'q4_k', 'q6_k', 'q8_k', 'q5_0', 'q5_1', 'q5_k'),
  fc.constantFrom('f32', 'Q8_0', '', 'q8_0\u0000'),
)
/** Elements and bytes of a block of each quantization type (native/quant/quant_types.h). */
const BLOCKS: Record<string, [number, number]> = {
  q8_0: [32, 34],
  q4_0: [32, 18],
  q4_k: [256, 144],
  q6_k: [256, 210],
  q8_k: [256, 292],
  q5_0: [32, 22],
  q5_1: [32, 24],
  q5_k: [256, 176],
}
const dims = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3, 32, 64, 256, 512) },
  { weight: 1, arbitrary: fc.constantFrom(...ABSURD_INTS, 2 ** 40, 2 ** 53 - 1) },
)
const quantCall: fc.Arbitrary<AddonCall> = fc
  .record({
    fn: fc.constantFrom('quantize', 'dequantize'),
    rows: dims,
    cols: dims,
    n: fc.oneof(fc.constantFrom(0, 32, 34, 64, 256, 288, 512, 1024), fc.nat(600)),
    type: qtype,
    data: fc.constantFrom('f32', 'u8', 'i32'),
    match: fc.nat(2),
  })
  .map((q) => {
    // Two times in three the buffer has the length rows and cols ask for (when that is small).
    const [block, bytes] = BLOCKS[q.type] ?? [32, 34]
    const want = q.fn === 'quantize' ? q.rows * q.cols : q.rows * Math.floor(q.cols / block) * bytes
    return q.match > 0 && Number.isInteger(want) && want >= 0 && want <= 1 << 16 ? { ...q, n: want } : q
  })
  .chain((q) =>
    argsOf([
      fc.constant(q.type),
      fc.oneof(
        {
          weight: 3,
          arbitrary: typedDesc(fc.constant(q.fn === 'quantize' ? 'f32' : 'u8'), fc.constant(q.n)),
        },
        { weight: 1, arbitrary: typedDesc(fc.constant(q.data), fc.constant(q.n)) },
      ),
      fc.constant(q.rows),
      fc.constant(q.cols),
      threads,
    ]).map((args) => ({ fn: q.fn, args })),
  )

const sampleParams: fc.Arbitrary<ValueDesc> = fc.oneof(
  { weight: 1, arbitrary: weird },
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          temperature: mostly(fc.constantFrom(0, 0.7, 1, 2, -1, 1e-30), weird),
          topK: mostly(fc.constantFrom(0, 1, 3, 40, -1, 2 ** 31, 2 ** 53, 1e300), weird),
          topP: mostly(fc.constantFrom(0.9, 1, 0, 1.5, 1e-9), weird),
          minP: mostly(fc.constantFrom(0, 0.05, 1, -0.1), weird),
          repetitionPenalty: mostly(fc.constantFrom(1, 1.3, 0, -1), weird),
          frequencyPenalty: mostly(fc.constantFrom(0, 0.5, -2, 1e38), weird),
          presencePenalty: mostly(fc.constantFrom(0, 0.5, -2), weird),
          uniform: mostly(fc.constantFrom(0, 0.5, 0.999, 1, -1, 2), weird),
          history: mostly(typedDesc(fc.constant('i32')), weird),
          generated: mostly(typedDesc(fc.constant('i32')), weird),
          suppress: mostly(typedDesc(fc.constant('i32')), weird),
          allow: mostly(typedDesc(fc.constantFrom('u32', 'i32')), weird),
          biasIds: mostly(typedDesc(fc.constant('i32')), weird),
          biasValues: mostly(typedDesc(fc.constant('f32')), weird),
          logprobs: mostly(typedDesc(fc.constant('f32'), fc.nat(8)), weird),
          logprobIds: mostly(typedDesc(fc.constant('i32'), fc.nat(8)), weird),
        },
        { requiredKeys: [] },
      )
      .map((p) => p as ValueDesc),
  },
)
const sampleCall: fc.Arbitrary<AddonCall> = fc
  .record({
    fn: fc.constantFrom('sampleToken', 'applyProcessors'),
    args: argsOf([typedDesc(fc.constant('f32')), sampleParams]),
  })
  .map((c) => c as AddonCall)

/** tokenLogprobs(logits, id, logprobs, logprobIds): a given token's log-probability and the top k. */
const logprobCall: fc.Arbitrary<AddonCall> = argsOf([
  typedDesc(fc.constant('f32')),
  fc.oneof(fc.integer({ min: -2, max: 70 }), fc.constantFrom(...ABSURD_INTS)),
  typedDesc(fc.constant('f32'), fc.nat(9)),
  typedDesc(fc.constant('i32'), fc.nat(8)),
]).map((args) => ({ fn: 'tokenLogprobs', args }))

/** transposeF32(src, rows, cols, c0, out): a slab of columns, transposed; sizes mostly consistent. */
const transposeCall: fc.Arbitrary<AddonCall> = fc
  .record({ rows: fc.nat(6), cols: fc.nat(6), c0: fc.nat(7), n: fc.nat(7) })
  .chain(({ rows, cols, c0, n }) =>
    argsOf([
      typedDesc(fc.constant('f32'), mostly(fc.constant(rows * cols), fc.nat(48))),
      mostly(fc.constant(rows), fc.constantFrom(...ABSURD_INTS)),
      mostly(fc.constant(cols), fc.constantFrom(...ABSURD_INTS)),
      mostly(fc.constant(Math.min(c0, cols)), fc.constantFrom(...ABSURD_INTS)),
      typedDesc(
        fc.constant('f32'),
        mostly(fc.constant(Math.min(n, cols - Math.min(c0, cols)) * rows), fc.nat(48)),
      ),
    ]),
  )
  .map((args) => ({ fn: 'transposeF32', args }))

/**
 * quantizeInt4Blocks / quantizeInt4Columns(data, K, M, kStride, mStride, packed, scale) and
 * quantizeInt8Columns(data, K, M, kStride, mStride, signed, q, scale, zero): a (K, M) view in
 * either layout. Half the calls are valid (values with NaN and ±1e30 among them), so that the
 * kernels run; the others have data and outputs short, long or hostile, and absurd sizes.
 */
const weightQuantCall: fc.Arbitrary<AddonCall> = fc
  .record({
    fn: fc.constantFrom('quantizeInt4Blocks', 'quantizeInt4Columns', 'quantizeInt8Columns'),
    K: fc.nat(70),
    M: fc.nat(9),
    rows: fc.boolean(),
    signed: fc.boolean(),
    fill: fillValues,
  })
  .chain(({ fn, K, M, rows, signed, fill }) => {
    const blocks = Math.ceil(K / 32)
    // The lengths of the outputs: packed (or q), then scale (and zero).
    const [packed, scales] = {
      quantizeInt4Blocks: [Math.ceil((K * M) / 2), blocks * M],
      quantizeInt4Columns: [M * blocks * 16, M * blocks],
      quantizeInt8Columns: [K * M, M],
    }[fn]
    const [kStride, mStride] = rows ? [1, K] : [M, 1]
    const ta = (type: string, n: number): ValueDesc => ({ $: 'ta', type, n, fill })
    const outs = <T>(t: (type: string, n: number) => T): T[] =>
      fn === 'quantizeInt8Columns'
        ? [t('u8', packed), t('f32', scales), t('u8', scales)]
        : [t('u8', packed), t('f32', scales)]
    const flag = fn === 'quantizeInt8Columns' ? [signed] : []
    const valid: ValueDesc[] = [ta('f32', K * M), K, M, kStride, mStride, ...flag, ...outs(ta)]
    const len = (n: number) => mostly(fc.constant(n), fc.constantFrom(0, Math.max(0, n - 1), n + 1, 2))
    const hostile = argsOf([
      typedDesc(fc.constant('f32'), len(K * M)),
      ...[K, M, kStride, mStride].map((n) => mostly(fc.constant(n), fc.constantFrom(...ABSURD_INTS))),
      ...flag.map((b) => mostly(fc.constant<ValueDesc>(b), weird)),
      ...outs((type, n) => typedDesc(fc.constant(type), len(n))),
    ])
    return fc.oneof(fc.constant(valid), hostile).map((args) => ({ fn, args }))
  })

const bandwidthCall: fc.Arbitrary<AddonCall> = argsOf([
  fc.oneof(fc.constantFrom(0, 1, 3, 4, 64, 4096, 65_536), fc.constantFrom(...ABSURD_INTS, 2 ** 36, 2 ** 45)),
  threads,
  fc.oneof(fc.constantFrom(0, 1, 2), fc.constantFrom(-1, 1e9, 2 ** 31, 2 ** 53)),
]).map((args) => ({ fn: 'measureReadBandwidth', args }))

const mapCall: fc.Arbitrary<AddonCall> = argsOf([
  fc.oneof(
    fc.constantFrom<ValueDesc>(
      { $: 'path', v: 'file' },
      { $: 'path', v: 'empty' },
      { $: 'path', v: 'dir' },
      { $: 'path', v: 'fifo' },
      { $: 'path', v: 'missing' },
      '',
      '/',
      '/dev/null',
      '/dev/zero',
      '/proc/self/status',
      'a\u0000b',
    ),
    hostileString,
  ),
]).map((args) => ({ fn: 'mapFile', args }))

/** runOp(backend, node, tensors, threads): one node over tensors of the seeds, mutated. */
const runOpCall: fc.Arbitrary<AddonCall> = fc
  .record({ spec: graphSpec, node: fc.nat(20), backend: fc.oneof(fc.constantFrom('cpu', 'ref'), weird) })
  .chain(({ spec, node, backend }) => {
    const s = spec as { tensors?: Json; nodes?: Json }
    const nodes = Array.isArray(s.nodes) && s.nodes.length ? s.nodes : [null]
    return argsOf([
      fc.constant(backend),
      fc.constant(nodes[node % nodes.length]),
      fc.constant(s.tensors ?? null),
      threads,
    ]).map((args) => ({ fn: 'runOp', args }))
  })

const anyCall: fc.Arbitrary<AddonCall> = fc.record({
  fn: fc.constantFrom(
    'mapFile',
    'Graph',
    'runOp',
    'backends',
    'sampleToken',
    'applyProcessors',
    'tokenLogprobs',
    'transposeF32',
    'quantizeInt4Blocks',
    'quantizeInt4Columns',
    'quantizeInt8Columns',
    'cpuInfo',
    'measureReadBandwidth',
    'quantize',
    'dequantize',
  ),
  args: fc.array(weird, { maxLength: 5 }),
  self: fc.option(weird, { nil: undefined }),
})

const arbitrary: fc.Arbitrary<AddonCall[]> = fc.oneof(
  { weight: 6, arbitrary: graphProgram },
  { weight: 2, arbitrary: fc.array(runOpCall, { minLength: 1, maxLength: 2 }) },
  { weight: 2, arbitrary: fc.array(quantCall, { minLength: 1, maxLength: 3 }) },
  { weight: 2, arbitrary: fc.array(sampleCall, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(logprobCall, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(transposeCall, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(weightQuantCall, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(bandwidthCall, { minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.array(mapCall, { minLength: 1, maxLength: 3 }) },
  { weight: 2, arbitrary: fc.array(anyCall, { minLength: 1, maxLength: 4 }) },
)

// --- the property ---------------------------------------------------------------------------------

/** The property on one case's result in the child, as FuzzFailure. */
function checkCase(calls: AddonCall[], r: CaseResult): void {
  r.outcomes.forEach((o, i) => {
    const what = `call ${i} (${calls[i]?.fn ?? 'a detached runAsync'})`
    if (o.harness)
      throw new FuzzFailure(`the child failed running the case: ${o.threw}: ${o.message}`, 'exception')
    if (o.ok) return
    if (o.threw === 'non-error') throw new FuzzFailure(`${what} threw a non-Error: ${o.message}`, 'exception')
    if (!o.message) throw new FuzzFailure(`${what} threw ${o.threw} without a message`, 'exception')
  })
  if (r.ms > CASE_MS) throw new FuzzFailure(`took ${r.ms.toFixed(0)} ms (bound ${CASE_MS} ms)`, 'hang')
  if (r.grew > CASE_RSS_BOUND)
    throw new FuzzFailure(
      `resident memory grew by ${(r.grew / 2 ** 20).toFixed(0)} MiB (bound ${CASE_RSS_BOUND / 2 ** 20} MiB)`,
      'memory',
    )
}

const spec = { target: TARGET, corpus: codec }

describe(`fuzz: ${TARGET}`, () => {
  const timeMs = budgetMs(CI_MS)
  it(`addon calls in a child process, batches of ${BATCH} (seed ${SEED})`, {
    timeout: timeMs * 3 + 120_000,
  }, async () => {
    const t0 = performance.now()
    let cases = 0
    const known: Record<string, number> = {}
    const stages: Record<string, number> = {}
    const failures: string[] = []
    // Round 0 replays the corpus (but the files of open bugs, which known-bugs.json lists).
    const corpus = corpusFiles(TARGET, codec.ext)
    for (const f of corpus) if (f.known) known[`${f.known} (corpus, not run)`] = 1
    const replayFiles = corpus.filter((f) => !f.known && !f.crashes).map((f) => f.file)
    const replay = replayFiles.map((f) => codec.decode(readFileSync(f)))
    /** Where case i of round 0 came from, for the failure message. */
    const origin = (round: number, i: number) =>
      round === 0 && i < replay.length
        ? `corpus file ${path.basename(replayFiles[i])}`
        : `fc.sample seed ${SEED + round}, case ${i}`
    for (
      let round = 0;
      (SURVEY || failures.length === 0) && (round === 0 || performance.now() - t0 < timeMs);
      round++
    ) {
      const batch = [
        ...(round === 0 ? replay : []),
        ...fc.sample(arbitrary, { seed: SEED + round, numRuns: BATCH }),
      ]
      // A hang is reported past 5 × the case bound (a survey moves on sooner).
      const result = await runAddonBatch(batch, SURVEY ? CASE_MS * 2 : Math.max(CASE_MS * 5, 30_000))
      const done = 'crashed' in result ? result.crashed : batch.length
      for (let i = 0; i < done; i++) {
        cases++
        const r = result.results[i]
        if (!r) continue
        // How far the calls got, by entry point ("Graph ok" and "run ok" show the mutations reach
        // past the first checks).
        r.outcomes.forEach((o, j) => {
          const k = `${batch[i][j]?.fn ?? 'runAsync'} ${o.ok ? 'ok' : 'threw'}`
          stages[k] = (stages[k] ?? 0) + 1
        })
        try {
          checkCase(batch[i], r)
        } catch (e) {
          failures.push(
            `${TARGET} (child): ${(e as Error).message}\nCase saved to ${saveCounterexample(spec, batch[i])} ` +
              `(${origin(round, i)})`,
          )
          if (!SURVEY) break
        }
      }
      if ('crashed' in result) {
        cases++
        failures.push(
          `${TARGET} (child): case ${result.crashed} of a batch: ${result.why}; saved to ` +
            `${saveCounterexample(spec, batch[result.crashed])} (${origin(round, result.crashed)}). ` +
            `stderr: ${result.stderr.slice(-2000)}`,
        )
      }
    }
    report({ target: TARGET, phase: 'child', cases, ms: performance.now() - t0, failures, known, stages })
    if (SURVEY)
      for (const f of failures) console.log(`[fuzz] ${f.split('\n').slice(0, 2).join(' | ').slice(0, 600)}`)
    if (failures.length) throw new Error(failures[0])
  })
})
