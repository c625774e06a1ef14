// The addon-api fuzz target's cases as JSON (so a case is a corpus file and crosses to the child
// process): a case is a list of calls, each naming an addon entry point and describing its
// arguments; the values JSON cannot spell (undefined, NaN, BigInt, typed arrays short, detached,
// shared or at an odd offset, functions, symbols, objects whose getters throw, a graph made by an
// earlier call of the case) are objects with a `$` tag, made real by decodeValue in the child.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Json } from './mutate.js'

/** A value an argument may take: JSON, or a tagged description decodeValue makes real. */
export type ValueDesc = Json

export interface AddonCall {
  /** An addon export (mapFile, Graph, sampleToken, …) or a Graph method (run, runAsync, dispose, info). */
  fn: string
  args?: ValueDesc[]
  /** For a Graph method: the index of a graph an earlier call of the case made (else a foreign `this`). */
  graph?: number
  /** `this` of the call (a foreign object for a Graph method, or anything for a function). */
  self?: ValueDesc
  /** Graph called without `new`. */
  plain?: boolean
  /** runAsync: not awaited before the next call (dispose while it runs); awaited at the end of the case. */
  detach?: boolean
  /** runAsync: its output array (argument 9) detached right after the call, while the step runs. */
  detachOut?: boolean
}

export interface CallOutcome {
  ok?: boolean
  threw?: string
  message?: string
  /** The child itself failed (a bug of the fuzz target, not of the addon). */
  harness?: boolean
}

export const GRAPH_METHODS = ['run', 'runAsync', 'dispose', 'info']

export const TYPED = {
  i8: Int8Array,
  u8: Uint8Array,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  f32: Float32Array,
  f64: Float64Array,
  i64: BigInt64Array,
} as const
export type TypedName = keyof typeof TYPED

interface Ctx {
  graphs: unknown[]
  scratch: string
}

/** Most elements a described array may have (the absurd sizes go into declared numbers, not buffers). */
const MAX_ELEMS = 1 << 20

function typedArray(d: { [k: string]: Json }): ArrayBufferView {
  const Ctor = TYPED[(d.type as TypedName) ?? 'u8'] ?? Uint8Array
  const n = Math.min(Math.max(0, Math.floor(Number(d.n) || 0)), MAX_ELEMS)
  const offset = Math.min(Math.max(0, Math.floor(Number(d.offset) || 0)), 64)
  const size = Ctor.BYTES_PER_ELEMENT
  const bytes = offset + n * size
  const buffer = (d.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as ArrayBuffer
  const fill = Array.isArray(d.fill) ? d.fill : []
  let view: ArrayBufferView
  if (d.view === 'dv') view = new DataView(buffer, offset, n * size)
  else if (offset % size !== 0) {
    // A typed array cannot start at a misaligned offset: a byte view there stands for it.
    view = new Uint8Array(buffer, offset, n * size)
  } else {
    const ta = new Ctor(buffer, offset, n)
    if (fill.length)
      for (let i = 0; i < n; i++) {
        const v = fill[i % fill.length]
        if (ta instanceof BigInt64Array) ta[i] = BigInt(Math.trunc(Number(v) || 0))
        else (ta as Float64Array)[i] = v === 'NaN' ? Number.NaN : Number(v)
      }
    view = ta
  }
  // Detached: the buffer moved away (structuredClone with transfer); the view then has no bytes.
  if (d.detached && !d.shared) structuredClone(buffer, { transfer: [buffer] })
  return view
}

function throwingObject(): object {
  return new Proxy(
    {},
    {
      get(_t, key) {
        throw new Error(`getter of ${String(key)} throws`)
      },
      has() {
        throw new Error('has throws')
      },
    },
  )
}

function pathOf(kind: string, ctx: Ctx): string {
  mkdirSync(ctx.scratch, { recursive: true })
  const p = path.join(ctx.scratch, kind)
  if (kind === 'file') writeFileSync(p, 'kiln')
  if (kind === 'empty') writeFileSync(p, '')
  if (kind === 'dir') mkdirSync(p, { recursive: true })
  // A FIFO no one writes to: opening it for reading waits for a writer unless opened non-blocking.
  if (kind === 'fifo' && !existsSync(p)) spawnSync('mkfifo', [p])
  return p
}

/** The real value a description stands for. */
export function decodeValue(v: ValueDesc, ctx: Ctx): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map((x) => decodeValue(x, ctx))
  const tag = v.$
  if (tag === undefined) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = decodeValue(x, ctx)
    return out
  }
  switch (tag) {
    case 'undefined':
      return undefined
    case 'num':
      return Number(v.v) // 'NaN', 'Infinity', '-Infinity'
    case 'negzero':
      return -0
    case 'bigint':
      return BigInt(String(v.v))
    case 'ta':
      return typedArray(v)
    case 'ab': {
      const n = Math.min(Math.max(0, Number(v.n) || 0), MAX_ELEMS)
      const b = new ArrayBuffer(n)
      if (v.detached) structuredClone(b, { transfer: [b] })
      return b
    }
    case 'sparse': {
      // An array that says it has this many elements (holes read as undefined).
      const a: unknown[] = []
      a.length = Math.min(Math.max(0, Number(v.n) || 0), 2 ** 32 - 1)
      return a
    }
    case 'fn':
      return () => 1
    case 'sym':
      return Symbol('kiln')
    case 'throwing':
      return throwingObject()
    case 'object':
      return {}
    case 'graph':
      return ctx.graphs[Number(v.v)] ?? {}
    case 'path':
      return pathOf(String(v.v), ctx)
    default:
      return v
  }
}
