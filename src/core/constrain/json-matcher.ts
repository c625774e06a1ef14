// A byte-at-a-time JSON recogniser over a grammar: the state is a set of alternative stacks of
// immutable frames, so that the token walk (token-mask.ts) can branch at every byte of the
// vocabulary trie without copying. Unions (anyOf, "any JSON") are the alternatives; a frame that
// may end without a byte of its own (a number, an enum value that prefixes another) passes the
// byte on to the frame below it.
import type { ArrayNode, Grammar, GrammarNode, LiteralNode, ObjectNode } from './grammar.js'

/**
 * Whitespace between tokens, as llama.cpp's JSON grammar allows it: none, one space, or a newline
 * and up to 20 spaces or tabs of indentation. Enough for pretty-printed JSON; a small model left
 * free to emit any run of whitespace tends to emit nothing else.
 */
const MAX_INDENT = 20
/** Digits of an integer part or a fraction, and of an exponent. */
const MAX_DIGITS = 16
const MAX_EXP_DIGITS = 3
/** Frames on a stack: about half as many levels of nesting. */
const MAX_FRAMES = 128
/** Alternatives kept in one state (unions of unions could otherwise multiply them). */
const MAX_ALTERNATIVES = 32

type Frame =
  | { t: 'V'; node: GrammarNode; ws: number } // a value of node, after ws whitespace bytes
  | { t: 'S'; min: number; max: number; n: number; esc: number; cont: number } // in a string
  | { t: 'N'; integer: boolean; st: Num; digits: number } // in a number
  | { t: 'L'; node: LiteralNode; opts: number[]; pos: number } // in one of some exact texts
  | { t: 'OB' | 'OA' | 'OK'; node: ObjectNode; next: number; ws: number } // after {, a member, a comma
  | { t: 'K'; node: ObjectNode; cands: number[]; pos: number } // in a declared key
  | { t: 'C'; value: GrammarNode; ws: number } // before a member's colon
  | { t: 'AB' | 'AA'; node: ArrayNode; count: number; ws: number } // after [, after an item

/** An immutable stack; `up` is the frame the top returns to. */
export interface Stack {
  readonly f: Frame
  readonly up: Stack | null
  readonly depth: number
  key?: string
}

/** null: the root value is complete and nothing may follow. */
export type Alternative = Stack | null
export type MatchState = readonly Alternative[]

enum Num {
  Sign,
  Zero,
  Int,
  Frac0,
  Frac,
  Exp0,
  ExpSign,
  Exp,
}

const ACCEPTING = new Set([Num.Zero, Num.Int, Num.Frac, Num.Exp])
const QUOTE = 0x22
const BACKSLASH = 0x5c

const push = (up: Stack | null, f: Frame): Stack | undefined => {
  const depth = (up?.depth ?? 0) + 1
  return depth > MAX_FRAMES ? undefined : { f, up, depth }
}
const add = (out: Alternative[], s: Stack | undefined) => {
  if (s) out.push(s)
}
const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09
const isDigit = (b: number) => b >= 0x30 && b <= 0x39
const isHex = (b: number) => isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)

export function initialState(g: Grammar): MatchState {
  return [push(null, { t: 'V', node: g.root, ws: 0 }) as Stack]
}

/** The state after one more byte; empty when the byte cannot come next. */
export function advance(state: MatchState, b: number): MatchState {
  const out: Alternative[] = []
  for (const s of state) {
    step(s, b, out)
    if (out.length > MAX_ALTERNATIVES) out.length = MAX_ALTERNATIVES
  }
  // A byte that leaves the state as it was (plain text in a string) gives back the same object, so
  // that callers caching transitions by state see one state, not one per byte.
  if (out.length === 1 && state.length === 1 && out[0] === state[0]) return state
  return out
}

/** True when some byte can begin a value of the grammar (false: a $ref cycle that reaches no value). */
export function canStart(g: Grammar): boolean {
  for (let b = 0; b < 256; b++) if (!isWs(b) && advance(initialState(g), b).length) return true
  return false
}

/** True when the output may end here (the root value is complete, or a number could stop). */
export function canEnd(state: MatchState): boolean {
  return state.some(endsHere)
}

/** True when nothing more may follow: every alternative has completed the root value. */
export function isComplete(state: MatchState): boolean {
  return state.length > 0 && state.every((s) => s === null)
}

/** A text that is equal for states that accept the same continuations (for caching masks). */
export function stateKey(state: MatchState): string {
  let k = ''
  for (const s of state) k += `${s ? stackKey(s) : '$'};`
  return k
}

/** The state without alternatives whose stacks are equal (unions that met again). */
export function dedupe(state: MatchState): MatchState {
  const seen = new Set<string>()
  return state.filter((s) => {
    const k = s ? stackKey(s) : '$'
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

function endsHere(s: Alternative): boolean {
  if (s === null) return true
  const f = s.f
  const lazy =
    (f.t === 'N' && ACCEPTING.has(f.st)) ||
    (f.t === 'L' && f.opts.some((o) => f.node.options[o].length === f.pos))
  return lazy && endsHere(s.up)
}

function stackKey(s: Stack): string {
  if (s.key === undefined) s.key = `${frameKey(s.f)}|${s.up ? stackKey(s.up) : ''}`
  return s.key
}

function frameKey(f: Frame): string {
  switch (f.t) {
    case 'V':
      return `V${f.node.id}.${f.ws}`
    case 'S':
      return `S${f.min}.${f.max}.${f.n}.${f.esc}.${f.cont}`
    case 'N':
      return `N${f.integer ? 1 : 0}.${f.st}.${f.digits}`
    case 'L':
      return `L${f.node.id}.${f.pos}.${f.opts.join(',')}`
    case 'K':
      return `K${f.node.id}.${f.pos}.${f.cands.join(',')}`
    case 'C':
      return `C${f.value.id}.${f.ws}`
    case 'AB':
    case 'AA':
      return `${f.t}${f.node.id}.${f.count}.${f.ws}`
    default:
      return `${f.t}${f.node.id}.${f.next}.${f.ws}`
  }
}

/** A whitespace byte before a frame's next token. ws: 0 none yet, 1 one space, 2 + n a newline and n more. */
function whitespace(s: Stack, f: Extract<Frame, { ws: number }>, b: number, out: Alternative[]): void {
  let ws = -1
  if (f.ws === 0) ws = b === 0x20 ? 1 : b === 0x0a ? 2 : -1
  else if (f.ws >= 2 && f.ws < 2 + MAX_INDENT && (b === 0x20 || b === 0x09)) ws = f.ws + 1
  if (ws >= 0) out.push({ f: { ...f, ws } as Frame, up: s.up, depth: s.depth })
}

function step(s: Alternative, b: number, out: Alternative[]): void {
  if (s === null) return
  const f = s.f
  switch (f.t) {
    case 'V':
      if (isWs(b)) whitespace(s, f, b, out)
      else start(f.node, b, s.up, out)
      return
    case 'S':
      stringByte(s, f, b, out)
      return
    case 'N':
      numberByte(s, f, b, out)
      return
    case 'L': {
      const pos = f.pos
      if (f.opts.some((o) => f.node.options[o].length === pos)) step(s.up, b, out)
      literal(f.node, f.opts, pos, b, s.up, out)
      return
    }
    case 'OB':
    case 'OA':
    case 'OK': {
      const { node, next } = f
      if (isWs(b)) {
        whitespace(s, f, b, out)
        return
      }
      const noneRequired = node.firstRequired[next] === node.props.length
      if (b === 0x7d /* } */ && f.t !== 'OK' && noneRequired) out.push(s.up)
      else if (b === QUOTE && f.t !== 'OA') key(node, next, s.up, out)
      else if (b === 0x2c /* , */ && f.t === 'OA') {
        const more = node.props.length ? next < node.props.length : node.extra !== null
        if (more) out.push({ f: { t: 'OK', node, next, ws: 0 }, up: s.up, depth: s.depth })
      }
      return
    }
    case 'K': {
      const longer: number[] = []
      for (const j of f.cands) {
        const k = f.node.props[j].key
        if (k[f.pos] !== b) continue
        if (k.length === f.pos + 1) {
          const after = push(s.up, { t: 'OA', node: f.node, next: j + 1, ws: 0 })
          if (after) add(out, push(after, { t: 'C', value: f.node.props[j].value, ws: 0 }))
        } else longer.push(j)
      }
      if (longer.length) out.push({ f: { ...f, cands: longer, pos: f.pos + 1 }, up: s.up, depth: s.depth })
      return
    }
    case 'C':
      if (isWs(b)) whitespace(s, f, b, out)
      else if (b === 0x3a /* : */) out.push({ f: { t: 'V', node: f.value, ws: 0 }, up: s.up, depth: s.depth })
      return
    case 'AB':
    case 'AA': {
      const { node, count } = f
      if (isWs(b)) {
        whitespace(s, f, b, out)
        return
      }
      if (b === 0x5d /* ] */) {
        if (count >= node.min) out.push(s.up)
      } else if (f.t === 'AA') {
        if (b === 0x2c /* , */ && count < node.max) {
          const after = push(s.up, { t: 'AA', node, count: itemCount(node, count + 1), ws: 0 })
          if (after) add(out, push(after, { t: 'V', node: node.items, ws: 0 }))
        }
      } else if (node.max > 0) {
        start(node.items, b, push(s.up, { t: 'AA', node, count: itemCount(node, 1), ws: 0 }) ?? null, out)
      }
      return
    }
  }
}

/** Without an upper bound, counts past the lower one behave alike: keep them equal (one cache key). */
function itemCount(node: ArrayNode, count: number): number {
  return node.max === Number.POSITIVE_INFINITY ? Math.min(count, node.min) : count
}

/**
 * The first byte of a value of `node`, returning to `up` when the value ends. `unions` holds the
 * unions already entered for this byte: a $ref cycle that reaches no value ({"$ref": "#"}) would
 * otherwise recurse for ever.
 */
function start(
  node: GrammarNode,
  b: number,
  up: Stack | null,
  out: Alternative[],
  unions?: Set<GrammarNode>,
): void {
  switch (node.kind) {
    case 'union': {
      const seen = unions ?? new Set<GrammarNode>()
      if (seen.has(node)) return
      seen.add(node)
      for (const o of node.options) start(o, b, up, out, seen)
      return
    }
    case 'object':
      if (b === 0x7b /* { */) add(out, push(up, { t: 'OB', node, next: 0, ws: 0 }))
      return
    case 'array':
      if (b === 0x5b /* [ */) add(out, push(up, { t: 'AB', node, count: 0, ws: 0 }))
      return
    case 'string':
      if (b === QUOTE) add(out, push(up, { t: 'S', min: node.min, max: node.max, n: 0, esc: 0, cont: 0 }))
      return
    case 'number':
      if (b === 0x2d /* - */) add(out, push(up, { t: 'N', integer: node.integer, st: Num.Sign, digits: 0 }))
      else if (b === 0x30) add(out, push(up, { t: 'N', integer: node.integer, st: Num.Zero, digits: 1 }))
      else if (isDigit(b)) add(out, push(up, { t: 'N', integer: node.integer, st: Num.Int, digits: 1 }))
      return
    case 'literal': {
      const all = node.options.map((_, i) => i)
      literal(node, all, 0, b, up, out)
    }
  }
}

/** Byte `pos` of one of the options: the options it continues, complete at once when all end there. */
function literal(
  node: LiteralNode,
  opts: number[],
  pos: number,
  b: number,
  up: Stack | null,
  out: Alternative[],
) {
  const kept = opts.filter((o) => node.options[o].length > pos && node.options[o][pos] === b)
  if (kept.length === 0) return
  if (kept.every((o) => node.options[o].length === pos + 1)) out.push(up)
  else add(out, push(up, { t: 'L', node, opts: kept, pos: pos + 1 }))
}

/** The opening quote of a key: one of the declared keys that may come next, or any string. */
function key(node: ObjectNode, next: number, up: Stack | null, out: Alternative[]): void {
  if (node.props.length) {
    const last = Math.min(node.firstRequired[next], node.props.length - 1)
    const cands: number[] = []
    for (let j = next; j <= last; j++) cands.push(j)
    if (cands.length) add(out, push(up, { t: 'K', node, cands, pos: 0 }))
    return
  }
  if (node.extra === null) return
  const after = push(up, { t: 'OA', node, next: 0, ws: 0 })
  const colon = after && push(after, { t: 'C', value: node.extra, ws: 0 })
  if (colon) add(out, push(colon, { t: 'S', min: 0, max: Number.POSITIVE_INFINITY, n: 0, esc: 0, cont: 0 }))
}

type StringFrame = Extract<Frame, { t: 'S' }>

function stringByte(s: Stack, f: StringFrame, b: number, out: Alternative[]): void {
  const next = (g: StringFrame) => out.push({ f: g, up: s.up, depth: s.depth })
  // Without an upper bound, lengths past the lower one behave alike: keep them equal (one cache key).
  const counted = (n: number) => (f.max === Number.POSITIVE_INFINITY ? Math.min(n, f.min) : n)
  if (f.cont > 0) {
    if (b >= 0x80 && b <= 0xbf) next({ ...f, cont: f.cont - 1 })
    return
  }
  if (f.esc === 1) {
    if (b === 0x75 /* u */) next({ ...f, esc: 2 })
    else if ('"\\/bfnrt'.includes(String.fromCharCode(b))) next({ ...f, esc: 0, n: counted(f.n + 1) })
    return
  }
  if (f.esc >= 2) {
    if (isHex(b)) next(f.esc === 5 ? { ...f, esc: 0, n: counted(f.n + 1) } : { ...f, esc: f.esc + 1 })
    return
  }
  if (b === QUOTE) {
    if (f.n >= f.min) out.push(s.up)
    return
  }
  if (b < 0x20 || f.n >= f.max) return
  if (b === BACKSLASH) {
    next({ ...f, esc: 1 })
    return
  }
  // One code point per lead byte; continuation bytes must follow it.
  let cont = -1
  if (b < 0x80) cont = 0
  else if (b >= 0xc2 && b <= 0xdf) cont = 1
  else if (b >= 0xe0 && b <= 0xef) cont = 2
  else if (b >= 0xf0 && b <= 0xf4) cont = 3
  if (cont < 0) return
  const n = counted(f.n + 1)
  if (cont === 0 && n === f.n)
    out.push(s) // unbounded plain text: the very same state
  else next({ ...f, n, cont })
}

type NumberFrame = Extract<Frame, { t: 'N' }>

function numberByte(s: Stack, f: NumberFrame, b: number, out: Alternative[]): void {
  const to = (st: Num, digits: number) => out.push({ f: { ...f, st, digits }, up: s.up, depth: s.depth })
  const digit = isDigit(b)
  const exp = (b === 0x65 || b === 0x45) && !f.integer
  switch (f.st) {
    case Num.Sign:
      if (b === 0x30) to(Num.Zero, 1)
      else if (digit) to(Num.Int, 1)
      break
    case Num.Zero:
    case Num.Int:
      if (digit && f.st === Num.Int && f.digits < MAX_DIGITS) to(Num.Int, f.digits + 1)
      else if (b === 0x2e /* . */ && !f.integer) to(Num.Frac0, 0)
      else if (exp) to(Num.Exp0, 0)
      break
    case Num.Frac0:
    case Num.Frac:
      if (digit && f.digits < MAX_DIGITS) to(Num.Frac, f.digits + 1)
      else if (exp && f.st === Num.Frac) to(Num.Exp0, 0)
      break
    case Num.Exp0:
      if (b === 0x2b || b === 0x2d) to(Num.ExpSign, 0)
      else if (digit) to(Num.Exp, 1)
      break
    case Num.ExpSign:
    case Num.Exp:
      if (digit && f.digits < MAX_EXP_DIGITS) to(Num.Exp, f.digits + 1)
      break
  }
  // A number ends at the first byte that cannot continue it; that byte belongs to what follows.
  if (ACCEPTING.has(f.st) && !digit) step(s.up, b, out)
}
