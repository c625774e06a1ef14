// Fuzz target safetensors: the safetensors reader (header length, JSON header, dtypes, shapes,
// data_offsets against the data section: overlaps, holes, ends past the file) over the fixtures'
// files (models, adapters, goldens), mutated byte-wise (the 8-byte length set to edge values, bit
// flips, truncation, invalid UTF-8 in the header) and through the header's JSON (offsets huge,
// negative, fractional or overlapping; shapes whose product overflows; unknown dtypes; duplicate
// names; deep nesting), plus random headers.
//
// In-process: openSafetensors validates a buffer in JavaScript; here the addon's mapFile is replaced
// by a lookup of in-memory buffers (vi.mock below), so every case costs no file. The native phase
// opens the same kind of cases as real files, mapped by the addon, in a child process in batches.

import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { vi } from 'vitest'
import { openSafetensors } from '../../src/core/formats/safetensors-read.js'
import { bytesCodec, FuzzFailure, fuzzTarget, kiln } from './harness.js'
import { byteOp, concat, EDGE_INTS, hostileString, type Json, mutateBytes, mutatedJson } from './mutate.js'
import { nativePhase } from './native-batch.js'
import { safetensorsFixtures } from './seeds.js'

// In-memory files for openSafetensors: `mem:<n>` paths map to buffers; any other path is mapped for real.
const memory = vi.hoisted(() => new Map<string, ArrayBuffer>())
vi.mock('../../src/core/util/files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/util/files.js')>()
  return { ...real, mapFileOrThrow: (p: string) => memory.get(p) ?? real.mapFileOrThrow(p) }
})

interface Seed {
  bytes: Uint8Array
  header: Json
  dataLength: number
  headerEnd: number
}

const seeds: Seed[] = safetensorsFixtures(1 << 20).map((file) => {
  const bytes = new Uint8Array(readFileSync(file))
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true))
  return {
    bytes,
    header: JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')),
    dataLength: bytes.length - 8 - n,
    headerEnd: 8 + n,
  }
})

/** A file of header text and `dataLength` bytes of data; the 8-byte length is `declared` or the true one. */
function file(headerText: string, dataLength: number, declared?: bigint): Uint8Array {
  const header = Buffer.from(headerText, 'utf8')
  const out = new Uint8Array(8 + header.length + dataLength)
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(header.length), true)
  out.set(header, 8)
  return out
}

const byteMutated = fc
  .record({ seed: fc.nat(seeds.length - 1), ops: fc.array(byteOp, { minLength: 1, maxLength: 5 }) })
  .map(({ seed, ops }) =>
    mutateBytes(seeds[seed].bytes, ops, seeds[seed].headerEnd, [{ at: 0, size: 8, role: 'header length' }]),
  )

// Header-level edits that aim at the offsets arithmetic.
type Edit =
  | { kind: 'offsets'; tensor: number; begin: number; end: number }
  | { kind: 'shape'; tensor: number; shape: number[] }
  | { kind: 'dtype'; tensor: number; dtype: string }
  | { kind: 'rename'; tensor: number; to: number } // a duplicate name, spelled out in the JSON text
  | { kind: 'data'; delta: number }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('offsets' as const),
    tensor: fc.nat(),
    begin: fc.oneof(fc.constantFrom(...EDGE_INTS), fc.nat(100_000)),
    end: fc.oneof(fc.constantFrom(...EDGE_INTS), fc.nat(100_000)),
  }),
  fc.record({
    kind: fc.constant('shape' as const),
    tensor: fc.nat(),
    shape: fc.array(fc.oneof(fc.constantFrom(...EDGE_INTS), fc.nat(64)), { maxLength: 9 }),
  }),
  fc.record({
    kind: fc.constant('dtype' as const),
    tensor: fc.nat(),
    dtype: fc.oneof(
      fc.constantFrom(
        'F32',
        'F16',
        'BF16',
        'F64',
        'I64',
        'U8',
        'BOOL',
        'F8_E4M3',
        'U64',
        'Q4_0',
        'f32',
        '',
        '__proto__',
        'toString',
      ),
      hostileString,
    ),
  }),
  fc.record({ kind: fc.constant('rename' as const), tensor: fc.nat(), to: fc.nat() }),
  fc.record({
    kind: fc.constant('data' as const),
    delta: fc.constantFrom(-1_000_000, -4096, -8, -1, 1, 4, 1024),
  }),
)

const headerEdited = fc
  .record({ seed: fc.nat(seeds.length - 1), edits: fc.array(edit, { minLength: 1, maxLength: 4 }) })
  .map(({ seed, edits }) => {
    const s = seeds[seed]
    const header = { ...(s.header as Record<string, Json>) }
    const names = Object.keys(header).filter((k) => k !== '__metadata__')
    let dataLength = s.dataLength
    const renames: [string, string][] = []
    for (const e of edits) {
      if (e.kind === 'data') {
        dataLength = Math.max(0, dataLength + e.delta)
        continue
      }
      if (names.length === 0) continue
      const name = names[e.tensor % names.length]
      const t = { ...(header[name] as Record<string, Json>) }
      if (e.kind === 'offsets') t.data_offsets = [e.begin, e.end]
      else if (e.kind === 'shape') t.shape = e.shape
      else if (e.kind === 'dtype') t.dtype = e.dtype
      else renames.push([name, names[e.to % names.length]])
      header[name] = t
    }
    let text = JSON.stringify(header)
    // A duplicate key cannot be made in an object: rename it in the text.
    for (const [from, to] of renames) text = text.replace(JSON.stringify(from), JSON.stringify(to))
    return file(text, dataLength)
  })

const jsonMutated = fc
  .record({ seed: fc.nat(seeds.length - 1), header: fc.constant(null) })
  .chain(({ seed }) =>
    mutatedJson([seeds[seed].header]).map((h) => {
      let text: string
      try {
        text = JSON.stringify(h)
      } catch {
        text = '{}' // too deep for JSON.stringify: the deep cases come from the byte-level ones
      }
      return file(text, seeds[seed].dataLength)
    }),
  )

const randomFile = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .record({
      header: fc.jsonValue({ maxDepth: 3 }),
      data: fc.nat(256),
      declared: fc.option(fc.constantFrom(...EDGE_INTS.map((n) => BigInt.asUintN(64, BigInt(n))))),
    })
    .map(({ header, data, declared }) => file(JSON.stringify(header), data, declared ?? undefined)),
  // Deep nesting in the header, spelled out (JSON.parse takes any depth).
  fc
    .record({ depth: fc.constantFrom(10, 1000, 10_000, 100_000), where: fc.nat(2) })
    .map(({ depth, where }) => {
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`
      const header = [
        `{"t":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`,
        `{"__metadata__":{"a":${deep}}}`,
        `{"t":{"dtype":${deep},"shape":[],"data_offsets":[0,4]}}`,
      ][where]
      return file(header, 4)
    }),
)

const arbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: byteMutated },
  { weight: 3, arbitrary: headerEdited },
  { weight: 2, arbitrary: jsonMutated },
  { weight: 1, arbitrary: randomFile },
)

let cases = 0
const spec = {
  target: 'safetensors',
  kind: 'safetensors' as const,
  arbitrary,
  caseMs: 3_000,
  ciMs: 5_000,
  corpus: bytesCodec('.safetensors'),
  run(bytes: Uint8Array) {
    const path = `mem:${cases++}`
    memory.set(path, concat(bytes).buffer as ArrayBuffer)
    try {
      const f = kiln(() => openSafetensors(path))
      if (!f.ok) return 'refused'
      let end = 0
      for (const t of f.value.tensors.values()) {
        end = Math.max(end, t.data.byteOffset + t.data.byteLength)
        if (t.data.byteLength > 0) void (t.data[0] + t.data[t.data.byteLength - 1])
      }
      if (end > bytes.byteLength)
        throw new FuzzFailure(`a tensor views past the end of the file (${end})`, 'answer')
      return 'opened'
    } finally {
      memory.delete(path)
    }
  },
}

fuzzTarget(spec)
nativePhase(spec, { ciMs: 3_000, batch: 200 })
