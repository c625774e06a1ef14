// Mutations of the Hub stand-in's answers for the hub-api fuzz target: which answer (route and its
// n-th request in the case), and what becomes of it: the status, headers set to hostile values
// (etags, commits, linked sizes, redirects, ranges, lengths, pagination links, error codes), the
// JSON body mutated (random edits, or targeted ones on tree entries and the revision's commit), the
// body replaced, and how it is delivered (late, cut short, dripped, stalled, chunked, over-long).
// Values that must name a live URL are templates ({hub}, {cdn}, {self}, {first}, {dead}, {token}),
// filled in when the answer is sent, so a corpus file replays against any port. The hostile values
// themselves are in hub-vocabulary.ts.
import fc from 'fast-check'
import type { HookedAnswer, HookedRequest } from '../core/hub/hub-server.mjs'
import {
  BODIES,
  HEADER_NAMES,
  HEADER_VALUES,
  HOSTILE_OIDS,
  HOSTILE_PATHS,
  SHA1_A,
  SHA256_A,
  SIZES,
  STATUSES,
} from './hub-vocabulary.js'
import {
  applyJsonOp,
  hostileString,
  type Json,
  type JsonOp,
  jsonOp,
  stringifyDeep,
  treeSize,
} from './mutate.js'

export {
  BODIES,
  HEADER_NAMES,
  HEADER_VALUES,
  HOSTILE_OIDS,
  HOSTILE_PATHS,
  STATUSES,
  TOKEN,
} from './hub-vocabulary.js'

export type Route = 'revision' | 'tree' | 'resolve' | 'blob'

/** A targeted edit of a tree page's entry (or of the revision answer, for `sha` and `siblings`). */
export interface EntryEdit {
  /** Index into the page (modulo its length); -1 appends a copy of entry 0 first. */
  index: number
  field: 'path' | 'size' | 'oid' | 'type' | 'lfs' | 'lfs.oid' | 'lfs.size' | 'sha' | 'siblings'
  value: Json
}

export interface Delivery {
  delayMs?: number
  truncateAt?: number
  extra?: string
  chunked?: boolean
  chunkSize?: number
  dripMs?: number
  dripBytes?: number
  stall?: boolean
}

export interface Mutation {
  route: Route
  /** The n-th answer of the route in this case (0 = the first), or -1 for every one. */
  nth: number
  status?: number
  /** Header name → value (a template), or null to remove it. */
  headers?: [string, string | null][]
  json?: JsonOp[]
  entries?: EntryEdit[]
  /** The body replaced by this text (a template). */
  body?: string
  delivery?: Delivery
}

export interface Case {
  /** Which of the stand-in's repos (FUZZ_REPOS). */
  repo: number
  /** Download into a --local-dir instead of the cache. */
  localDir?: boolean
  /** Send a token (it must never show in an error message). */
  token?: boolean
  mutations: Mutation[]
}

const entryEdit: fc.Arbitrary<EntryEdit> = fc.oneof(
  fc.record({
    index: fc.integer({ min: -1, max: 6 }),
    field: fc.constant('path' as const),
    value: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...HOSTILE_PATHS) }, hostileString),
  }),
  fc.record({
    index: fc.integer({ min: -1, max: 6 }),
    field: fc.constantFrom('size' as const, 'lfs.size' as const),
    value: fc.constantFrom(...SIZES),
  }),
  fc.record({
    index: fc.integer({ min: -1, max: 6 }),
    field: fc.constantFrom('oid' as const, 'lfs.oid' as const),
    value: fc.constantFrom(...HOSTILE_OIDS),
  }),
  fc.record({
    index: fc.integer({ min: -1, max: 6 }),
    field: fc.constantFrom('type' as const, 'lfs' as const),
    value: fc.constantFrom<Json>('file', 'directory', 'FILE', null, 1, {}, [], 'link', { oid: SHA256_A }),
  }),
  fc.record({
    index: fc.constant(0),
    field: fc.constant('sha' as const),
    value: fc.constantFrom<Json>(SHA1_A, 'A'.repeat(40), 'main', '../..', 'a'.repeat(64), '', null, 1, [
      SHA1_A,
    ]),
  }),
  fc.record({
    index: fc.constant(0),
    field: fc.constant('siblings' as const),
    value: fc.constantFrom<Json>(null, 1, 'x', [{ rfilename: '../x' }], [{ rfilename: null }], [[[[]]]]),
  }),
)

const delivery: fc.Arbitrary<Delivery> = fc.record(
  {
    delayMs: fc.constantFrom(0, 20, 150, 800),
    truncateAt: fc.constantFrom(0, 1, 10, 100, 4096, 70_000),
    extra: fc.constantFrom('x', 'HTTP/1.1 200 OK\r\n\r\n', 'a'.repeat(10_000)),
    chunked: fc.boolean(),
    chunkSize: fc.constantFrom(0, 1, 10, 2 ** 31, 2 ** 53),
    dripMs: fc.constantFrom(1, 10, 60),
    dripBytes: fc.constantFrom(1, 100, 10_000),
    // Rare: each costs the client's stall timeout (or its API timeout) per attempt.
    stall: fc.constantFrom(false, false, false, true),
  },
  { requiredKeys: [] },
)

export const mutation: fc.Arbitrary<Mutation> = fc.record(
  {
    route: fc.constantFrom<Route>('revision', 'tree', 'resolve', 'blob'),
    nth: fc.integer({ min: -1, max: 3 }),
    status: fc.constantFrom(...STATUSES),
    headers: fc.array(
      fc.tuple(
        fc.constantFrom(...HEADER_NAMES),
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...HEADER_VALUES) },
          { weight: 1, arbitrary: fc.constant(null) },
          { weight: 1, arbitrary: hostileString },
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    json: fc.array(jsonOp, { minLength: 1, maxLength: 2 }),
    entries: fc.array(entryEdit, { minLength: 1, maxLength: 3 }),
    body: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...BODIES) }, hostileString),
    delivery,
  },
  { requiredKeys: ['route', 'nth'] },
)

export const caseArbitrary: fc.Arbitrary<Case> = fc.record(
  {
    repo: fc.nat(2),
    localDir: fc.boolean(),
    token: fc.boolean(),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: ['repo', 'mutations'] },
)

// --- applying a case to the stand-in's answers --------------------------------------------------

export interface Templates {
  dead: string
  token: string
}

function fill(text: string, r: HookedRequest, t: Templates): string {
  const self = `${r.server === 'hub' ? r.hub : r.cdn}${r.path}${r.query}`
  const first = `${r.hub}${r.path}${r.query.replace(/&?cursor=\d+/, '')}`
  const sha = /\/blobs\/([0-9a-f]{64})/.exec(r.path)?.[1] ?? SHA256_A
  return text
    .replaceAll('{self-path}', r.path.slice(1))
    .replaceAll('{self}', self)
    .replaceAll('{first}', first)
    .replaceAll('{hub}', r.hub)
    .replaceAll('{cdn}', r.cdn)
    .replaceAll('{dead}', t.dead)
    .replaceAll('{token}', t.token)
    .replaceAll('{sha1}', SHA1_A)
    .replaceAll('{sha}', sha)
}

function setField(entry: Json, field: EntryEdit['field'], value: Json): Json {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return entry
  const copy: Record<string, Json> = { ...entry }
  if (field === 'lfs.oid' || field === 'lfs.size') {
    const lfs = copy.lfs
    const inner = lfs && typeof lfs === 'object' && !Array.isArray(lfs) ? { ...lfs } : {}
    inner[field.slice(4)] = value
    copy.lfs = inner
  } else copy[field] = value
  return copy
}

function applyEntries(doc: Json, edits: EntryEdit[]): Json {
  let out = doc
  for (const e of edits) {
    if (e.field === 'sha' || e.field === 'siblings') {
      if (out && typeof out === 'object' && !Array.isArray(out)) out = { ...out, [e.field]: e.value }
      continue
    }
    if (!Array.isArray(out) || out.length === 0) continue
    let list = out
    let i = e.index
    if (i < 0) {
      list = [...list, list[0]]
      i = list.length - 1
    } else i %= list.length
    list = list.slice()
    list[i] = setField(list[i], e.field, e.value)
    out = list
  }
  return out
}

/**
 * The most writes a dripped answer takes: at the slowest drip (60 ms) 1.8 s, past the fuzz's API
 * timeout (an API answer that drips must be cut off at it) while a file's body, which has no such
 * timeout, still arrives whole without holding its batch for long.
 */
const DRIP_WRITES = 30

/**
 * The answer the stand-in sends for request `r` under `mutation` (the mutations of a case that
 * target this answer, applied in order).
 */
export function mutateAnswer(r: HookedRequest, mutations: Mutation[], t: Templates): HookedAnswer {
  let status = r.status
  let headers: Record<string, string | string[]> = { ...r.headers }
  let body = r.body
  let bodyChanged = false
  const d: Delivery = {}
  for (const m of mutations) {
    if (m.status !== undefined) status = m.status
    if (m.json?.length || m.entries?.length) {
      let doc: Json | undefined
      try {
        doc = JSON.parse(body.toString('utf8')) as Json
      } catch {}
      if (doc !== undefined) {
        const start = doc
        for (const op of m.json ?? []) {
          const next = applyJsonOp(doc, op)
          // Repeats of repeats: a document past a million nodes keeps the operations before.
          if (treeSize(next, 1_000_000) < 1_000_000) doc = next
        }
        doc = applyEntries(doc, m.entries ?? [])
        if (doc !== start) {
          body = Buffer.from(stringifyDeep(doc, 4_000_000))
          bodyChanged = true
        }
      }
    }
    if (m.body !== undefined) {
      body = Buffer.from(fill(m.body, r, t))
      bodyChanged = true
    }
    for (const [name, value] of m.headers ?? []) {
      const lower = name.toLowerCase()
      headers = Object.fromEntries(Object.entries(headers).filter(([n]) => n.toLowerCase() !== lower))
      if (value !== null) headers[name] = fill(value, r, t)
    }
    Object.assign(d, m.delivery)
  }
  // A body the mutation changed gets an honest length (unless a header mutation set one).
  if (bodyChanged && !mutations.some((m) => m.headers?.some(([n]) => n.toLowerCase() === 'content-length')))
    headers = Object.fromEntries(
      Object.entries(headers).filter(([n]) => n.toLowerCase() !== 'content-length'),
    )
  // A drip is at most DRIP_WRITES writes, so a case stays short whatever the body's size.
  const dripBytes = d.dripMs ? Math.max(d.dripBytes ?? 1, Math.ceil(body.length / DRIP_WRITES)) : undefined
  return {
    status,
    headers,
    body,
    delayMs: d.delayMs,
    truncateAt: d.truncateAt,
    extra: d.extra !== undefined ? Buffer.from(d.extra) : undefined,
    chunked: d.chunked,
    chunkSize: d.chunkSize,
    dripMs: d.dripMs,
    dripBytes,
    stall: d.stall,
  }
}
