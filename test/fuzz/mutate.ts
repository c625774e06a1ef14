// Mutations of valid inputs for the fuzz targets: byte-level (bit flips, truncation, integer fields
// set to edge values, invalid UTF-8, spliced ranges) and JSON-level (a random walk into the
// document picks a node, which is replaced, deleted, duplicated, nested deeply, swapped with another
// node of the same document, or given edge values). Mutations are lists of small records, so
// fast-check shrinks a failure to the fewest, simplest operations.
import fc from 'fast-check'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Integers that break size and offset arithmetic. */
export const EDGE_INTS: readonly number[] = [
  0,
  1,
  2,
  7,
  8,
  31,
  32,
  63,
  64,
  127,
  128,
  255,
  256,
  4095,
  4096,
  65_535,
  65_536,
  2 ** 24,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 48,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 60,
  2 ** 63,
  2 ** 64,
  -1,
  -2,
  -(2 ** 31),
  -(2 ** 53),
]

/** Numbers for JSON fields (JSON has no NaN or Infinity; 1e308 * 10 is what a parser would give for 1e309). */
export const EDGE_NUMBERS: readonly number[] = [
  ...EDGE_INTS,
  -0,
  0.5,
  1.5,
  -0.5,
  1e-300,
  1e-7,
  3.4e38,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
]

/** u64 values as a GGUF or safetensors field would hold them. */
export const EDGE_U64: readonly bigint[] = [
  0n,
  1n,
  2n,
  8n,
  31n,
  32n,
  255n,
  4096n,
  65_535n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 60n,
  2n ** 62n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n, // -1
  2n ** 64n - 8n, // -8
]

/** Strings that trouble tokenizers, regexes, templates and key lookups. */
export const EDGE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  '\n',
  '\r\n',
  '\t',
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\udc00\ud800',
  '\ud83d\ude00',
  '👨‍👩‍👧‍👦',
  'e\u0301',
  '\u0301',
  '\ufeff',
  '\u200d',
  '\u2028',
  'ﬀ',
  'İ',
  'ǅ',
  'ß',
  '\uffff',
  '\u{10ffff}',
  '(',
  '[',
  ')',
  '\\',
  '\\p{L}',
  '(?<',
  '.*',
  '(a+)+$',
  '[^\\s\\S]',
  '$',
  '^',
  '"',
  "'",
  '{{',
  '{%',
  '}}',
  '<s>',
  '</s>',
  '<unk>',
  '<pad>',
  '[UNK]',
  '[CLS]',
  '<|endoftext|>',
  '<|im_start|>',
  '▁',
  'Ġ',
  '##',
  '<0x00>',
  '<0xFF>',
  '<0xZZ>',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'NaN',
  '-1',
  '1e309',
  'x'.repeat(300),
  'ab'.repeat(5000),
]

/** A JSON value from fast-check's generators, small. */
export const smallJson: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>

/** Strings a hostile input would use: edge strings, random text of every plane, lone surrogates. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.constantFrom(...EDGE_STRINGS.slice(0, 60)),
          fc.string({ unit: 'grapheme', maxLength: 4 }),
          fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join('')),
  },
)

// --- bytes -------------------------------------------------------------------------------------

export type ByteOp =
  | { op: 'flip'; at: number; bit: number; hot: boolean }
  | { op: 'set'; at: number; value: number; hot: boolean }
  | { op: 'u32'; at: number; value: number; hot: boolean }
  | { op: 'u64'; at: number; value: bigint; hot: boolean }
  | { op: 'field'; field: number; value: bigint }
  | { op: 'truncate'; at: number; hot: boolean }
  | { op: 'delete'; at: number; n: number; hot: boolean }
  | { op: 'insert'; at: number; bytes: number[]; hot: boolean }
  | { op: 'copy'; from: number; to: number; n: number }
  | { op: 'append'; bytes: number[] }
  | { op: 'badUtf8'; at: number; hot: boolean }

/** An integer field of a binary format: where it is and how wide (for structure-aware mutations). */
export interface Field {
  at: number
  size: 4 | 8
  role: string
}

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xc0, 0x80], // overlong NUL
  [0xed, 0xa0, 0x80], // a surrogate in UTF-8
  [0xe2, 0x82], // truncated
  [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  [0x80],
]

const u64Edge = fc.oneof(fc.constantFrom(...EDGE_U64), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))

export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('flip' as const),
      at: fc.nat(),
      bit: fc.nat(7),
      hot: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d),
      hot: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('u32' as const),
      at: fc.nat(),
      value: fc.constantFrom(...EDGE_INTS.map((v) => v >>> 0)),
      hot: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('u64' as const),
      at: fc.nat(),
      value: u64Edge,
      hot: fc.boolean(),
    }),
  },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('field' as const), field: fc.nat(), value: u64Edge }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), hot: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 64 }),
      hot: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 16 }),
      hot: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('copy' as const),
      from: fc.nat(),
      to: fc.nat(),
      n: fc.integer({ min: 1, max: 256 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      bytes: fc.array(fc.nat(255), { maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('badUtf8' as const), at: fc.nat(), hot: fc.boolean() }),
  },
)

/**
 * Applies byte mutations to a copy of `seed`. `hotEnd`: the end of the part that matters most (the
 * header), where `hot` positions land; `fields`: known integer fields for 'field' mutations.
 */
export function mutateBytes(
  seed: Uint8Array,
  ops: readonly ByteOp[],
  hotEnd: number,
  fields: readonly Field[],
): Uint8Array {
  let b: Uint8Array = seed.slice()
  const pos = (at: number, hot: boolean, len = b.length) =>
    len === 0 ? 0 : at % (hot ? Math.max(1, Math.min(hotEnd, len)) : len)
  const view = () => new DataView(b.buffer, b.byteOffset, b.byteLength)
  for (const m of ops) {
    switch (m.op) {
      case 'flip':
        if (b.length) b[pos(m.at, m.hot)] ^= 1 << m.bit
        break
      case 'set':
        if (b.length) b[pos(m.at, m.hot)] = m.value
        break
      case 'u32': {
        if (b.length < 4) break
        view().setUint32(pos(m.at, m.hot, b.length - 3), m.value, true)
        break
      }
      case 'u64': {
        if (b.length < 8) break
        view().setBigUint64(pos(m.at, m.hot, b.length - 7), m.value, true)
        break
      }
      case 'field': {
        if (fields.length === 0) break
        const f = fields[m.field % fields.length]
        if (f.at + f.size > b.length) break
        if (f.size === 8) view().setBigUint64(f.at, m.value, true)
        else view().setUint32(f.at, Number(m.value & 0xffff_ffffn), true)
        break
      }
      case 'truncate':
        b = b.slice(0, pos(m.at, m.hot))
        break
      case 'delete': {
        const at = pos(m.at, m.hot)
        b = concat(b.subarray(0, at), b.subarray(at + m.n))
        break
      }
      case 'insert': {
        const at = pos(m.at, m.hot, b.length + 1)
        b = concat(b.subarray(0, at), Uint8Array.from(m.bytes), b.subarray(at))
        break
      }
      case 'copy': {
        if (b.length === 0) break
        const from = m.from % b.length
        const to = m.to % b.length
        const n = Math.min(m.n, b.length - from, b.length - to)
        b.copyWithin(to, from, from + n)
        break
      }
      case 'append':
        b = concat(b, Uint8Array.from(m.bytes))
        break
      case 'badUtf8': {
        const bad = INVALID_UTF8[m.at % INVALID_UTF8.length]
        const at = pos(m.at >>> 3, m.hot, Math.max(1, b.length - bad.length))
        if (at + bad.length <= b.length) b.set(bad, at)
        break
      }
    }
  }
  return b
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

// --- JSON --------------------------------------------------------------------------------------

export interface JsonOp {
  /** Choices of a random walk from the root: each either stops (1 in 4) or picks a child. */
  walk: number[]
  action: number
  /** Picks among edge values, depths, counts. */
  pick: number
  /** A second walk: the donor of a splice. */
  donor: number[]
  value: Json
  str: string
}

const walkArb = fc.array(fc.nat(), { maxLength: 10 })

export const jsonOp: fc.Arbitrary<JsonOp> = fc.record({
  walk: walkArb,
  action: fc.nat(),
  pick: fc.nat(),
  donor: walkArb,
  value: smallJson,
  str: hostileString,
})

function children(node: Json): (string | number)[] {
  if (Array.isArray(node)) return node.map((_, i) => i)
  if (node !== null && typeof node === 'object') return Object.keys(node)
  return []
}

/** The path a walk reaches: descend while choices say so and the node has children. */
export function walkPath(root: Json, walk: readonly number[]): (string | number)[] {
  const path: (string | number)[] = []
  let node = root
  for (const c of walk) {
    const keys = children(node)
    if (keys.length === 0 || c % 4 === 0) break
    const k = keys[(c >>> 2) % keys.length]
    path.push(k)
    node = (node as Record<string | number, Json>)[k]
  }
  return path
}

export function getAt(root: Json, path: readonly (string | number)[]): Json {
  let node = root
  for (const k of path) node = (node as Record<string | number, Json>)[k]
  return node
}

const DELETE = Symbol('delete')

/** A copy of `root` with the node at `path` replaced by `fn(node)` (or removed); only the path is copied. */
export function updateAt(
  root: Json,
  path: readonly (string | number)[],
  fn: (node: Json) => Json | typeof DELETE,
): Json {
  if (path.length === 0) {
    const v = fn(root)
    return v === DELETE ? null : v
  }
  const [k, ...rest] = path
  if (Array.isArray(root)) {
    const copy = root.slice()
    const i = k as number
    if (rest.length === 0) {
      const v = fn(root[i])
      if (v === DELETE) copy.splice(i, 1)
      else copy[i] = v
    } else copy[i] = updateAt(root[i], rest, fn)
    return copy
  }
  const obj = root as Record<string, Json>
  const entries: [string, Json][] = []
  for (const key of Object.keys(obj)) {
    if (key !== k) entries.push([key, obj[key]])
    else if (rest.length > 0) entries.push([key, updateAt(obj[key], rest, fn)])
    else {
      const v = fn(obj[key])
      if (v !== DELETE) entries.push([key, v])
    }
  }
  // fromEntries defines own properties, so a key "__proto__" stays a key as JSON.parse makes it.
  return Object.fromEntries(entries)
}

function nest(v: Json, depth: number, inObject: boolean): Json {
  let out = v
  for (let i = 0; i < depth; i++) out = inObject ? { a: out } : [out]
  return out
}

const DEPTHS = [2, 16, 100, 1000, 5000, 100_000]
const REPEATS = [2, 10, 1000, 100_000]

/** The length of the longest string in `root` (keys too), stopping at `cap`. */
export function longestString(root: unknown, cap: number): number {
  let max = 0
  const stack: unknown[] = [root]
  while (stack.length && max < cap) {
    const v = stack.pop()
    if (typeof v === 'string') max = Math.max(max, v.length)
    else if (Array.isArray(v)) for (const x of v) stack.push(x)
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        max = Math.max(max, k.length)
        stack.push(x)
      }
  }
  return max
}

/**
 * The size of `root` spelled out as JSON text, roughly, in nodes (shared subtrees once per use;
 * a string counts a node per 8 characters), up to `cap`.
 */
export function treeSize(root: Json, cap: number): number {
  let n = 0
  const stack: Json[] = [root]
  while (stack.length && n < cap) {
    const v = stack.pop() as Json
    n += typeof v === 'string' ? 1 + (v.length >> 3) : 1
    // Children beyond what is left of `cap` are not pushed: each pushed one counts at least one.
    const room = cap - n - stack.length
    if (Array.isArray(v)) for (let i = 0; i < v.length && i < room; i++) stack.push(v[i])
    else if (v !== null && typeof v === 'object') {
      const values = Object.values(v)
      for (let i = 0; i < values.length && i < room; i++) stack.push(values[i])
    }
  }
  return Math.max(1, n + stack.length)
}

/** Applies one operation: the node the walk reaches is changed as `action` says. */
export function applyJsonOp(root: Json, op: JsonOp): Json {
  const path = walkPath(root, op.walk)
  const pick = op.pick
  const action = op.action % 14
  switch (action) {
    case 0: // an edge number
      return updateAt(root, path, () => EDGE_NUMBERS[pick % EDGE_NUMBERS.length])
    case 1: // an edge or hostile string
      return updateAt(root, path, () => op.str)
    case 2: // a random small value
      return updateAt(root, path, () => op.value)
    case 3: // gone
      return path.length ? updateAt(root, path, () => DELETE) : root
    case 4: // null, true, {}, []
      return updateAt(root, path, () => [null, true, false, {}, []][pick % 5] as Json)
    case 5: {
      // another node of the same document (type confusion between valid structures)
      const donor = getAt(root, walkPath(root, op.donor))
      return updateAt(root, path, () => donor)
    }
    case 6: // nested deeply
      return updateAt(root, path, (v) => nest(v, DEPTHS[pick % DEPTHS.length], (pick >>> 3) % 2 === 0))
    case 7: // the number nudged, or the type changed
      return updateAt(root, path, (v) => {
        if (typeof v === 'number') return [v + 1, v - 1, -v, v * 2 ** 20, v + 0.5, String(v)][pick % 6]
        if (typeof v === 'string') return [v.length, Number(v), [v], `${v}${v}`][pick % 4] as Json
        if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]))
        if (v && typeof v === 'object') return Object.values(v)
        return v === null ? 0 : String(v)
      })
    case 8: // the string edited: a hostile piece inserted
      return updateAt(root, path, (v) => {
        if (typeof v !== 'string') return op.str
        const at = pick % (v.length + 1)
        return v.slice(0, at) + op.str + v.slice(at)
      })
    case 9: {
      // a key renamed (the walk's last step)
      if (path.length === 0) return root
      const parentPath = path.slice(0, -1)
      const key = path[path.length - 1]
      return updateAt(root, parentPath, (parent) => {
        if (Array.isArray(parent) || parent === null || typeof parent !== 'object') return parent
        return Object.fromEntries(Object.entries(parent).map(([k, v]) => [k === key ? op.str : k, v]))
      })
    }
    case 10: // an array's items repeated, or emptied, or reversed
      return updateAt(root, path, (v) => {
        if (!Array.isArray(v)) return v
        const r = pick % 4
        if (r === 0) return []
        if (r === 1) return v.slice().reverse()
        if (v.length === 0) return [op.value]
        // Repeats share their items: bound the document as JSON text would spell it out (a DAG of
        // repeats of repeats would otherwise stand for billions of nodes).
        const n = REPEATS[(pick >>> 2) % REPEATS.length]
        const size = treeSize(v, 200_000)
        return Array.from(
          { length: Math.max(1, Math.min(n, Math.floor(200_000 / size))) },
          (_, i) => v[i % v.length],
        )
      })
    case 11: // a key added
      return updateAt(root, path, (v) => {
        if (Array.isArray(v)) return [...v, op.value]
        if (v === null || typeof v !== 'object') return v
        return Object.fromEntries([...Object.entries(v), [op.str, op.value]])
      })
    case 12: {
      // a long string (at most a million UTF-16 units)
      const n = Math.min(REPEATS[pick % REPEATS.length], Math.floor(1_000_000 / Math.max(1, op.str.length)))
      return updateAt(root, path, () => (op.str || 'a').repeat(Math.max(1, n)))
    }
    default: // an integer edge value (sizes, ids, offsets)
      return updateAt(root, path, () => EDGE_INTS[pick % EDGE_INTS.length])
  }
}

/** Mutated copies of one of `seeds`: 1 to `max` operations. */
export function mutatedJson(seeds: readonly Json[], max = 4): fc.Arbitrary<Json> {
  return fc
    .record({ seed: fc.nat(seeds.length - 1), ops: fc.array(jsonOp, { minLength: 1, maxLength: max }) })
    .map(({ seed, ops }) => {
      // Operations compose (a repeat of a repeat): a document that would spell out to more than a
      // million nodes keeps its first operation only.
      const doc = ops.reduce<Json>((d, op) => applyJsonOp(d, op), seeds[seed])
      return treeSize(doc, 1_000_000) < 1_000_000 ? doc : applyJsonOp(seeds[seed], ops[0])
    })
}

/**
 * JSON text of any depth (JSON.stringify recurses and overflows the stack near 5,000 levels, which
 * JSON.parse reads without trouble): an explicit stack of pieces instead of recursion.
 */
export function stringifyDeep(root: Json, maxPieces = Number.POSITIVE_INFINITY): string {
  type Piece = { text: string } | { value: Json }
  const out: string[] = []
  const stack: Piece[] = [{ value: root }]
  // Every piece on the stack prints at least one: past maxPieces, children are left off (a document
  // whose repeats share items may stand for far more nodes than it holds).
  const room = () => maxPieces - out.length - stack.length
  while (stack.length && out.length < maxPieces) {
    const piece = stack.pop() as Piece
    if ('text' in piece) {
      out.push(piece.text)
      continue
    }
    const v = piece.value
    if (Array.isArray(v)) {
      out.push('[')
      stack.push({ text: ']' })
      for (let i = Math.min(v.length, Math.max(0, room())) - 1; i >= 0; i--) {
        stack.push({ value: v[i] })
        if (i > 0) stack.push({ text: ',' })
      }
    } else if (v !== null && typeof v === 'object') {
      out.push('{')
      stack.push({ text: '}' })
      const keys = Object.keys(v)
      for (let i = Math.min(keys.length, Math.max(0, room())) - 1; i >= 0; i--) {
        stack.push({ value: v[keys[i]] })
        stack.push({ text: `${JSON.stringify(keys[i])}:` })
        if (i > 0) stack.push({ text: ',' })
      }
    } else out.push(JSON.stringify(v) ?? 'null')
  }
  return out.join('')
}

/**
 * Text mutated from one of `seeds` by 1 to `maxEdits` edits: a span of up to `span` characters
 * deleted or doubled, or one of `pieces` inserted, each at a random place.
 */
export function mutatedText(
  seeds: readonly string[],
  pieces: fc.Arbitrary<string>,
  { span, maxEdits }: { span: number; maxEdits: number },
): fc.Arbitrary<string> {
  return fc
    .record({
      seed: fc.nat(seeds.length - 1),
      edits: fc.array(fc.record({ at: fc.nat(), len: fc.nat(span), kind: fc.nat(3), piece: pieces }), {
        minLength: 1,
        maxLength: maxEdits,
      }),
    })
    .map(({ seed, edits }) =>
      edits.reduce((src, { at, len, kind, piece }) => {
        const i = at % (src.length + 1)
        if (kind === 0) return src.slice(0, i) + src.slice(i + len) // delete
        if (kind === 1) return src.slice(0, i) + src.slice(i, i + len).repeat(2) + src.slice(i + len) // duplicate
        return src.slice(0, i) + piece + src.slice(i) // insert
      }, seeds[seed]),
    )
}
