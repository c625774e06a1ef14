// Limits on rendering a chat template. A template is a small program from a stranger's repo, and
// @huggingface/jinja runs it without bounds: a loop over range(10**9) or a string doubled in a
// loop takes the process down (V8 dies out of memory; no exception to catch). Its interpreter
// evaluates every node through Interpreter.prototype.evaluate, so that is where kiln counts: steps,
// nesting, the size of every value produced and the text produced in all. The counters are live
// only inside guardedRender (rendering is synchronous, so one render at a time holds them).
//
// A size checked after a value exists is checked too late when one operation makes a value far
// bigger than its operands ('x\nx' | indent(500000000), a list joined with a long separator, a
// list of lists printed as JSON, a long string split into a million pieces): so every operation
// that can grow is checked BEFORE it runs, from the sizes of its operands, and refused when what
// it would make passes the limits. Those are: the filters (applyFilter: indent, join, tojson,
// string, and the walk of long lists by sort and the like), the binary operators that build or
// convert (~, +, ==, !=; `in` walks its list), range(), raise_exception() and strftime_now() (their
// arguments become a string), string methods (split, replace), slices, loops (one scope per item)
// and the printing of a list or a mapping (its toString, JSON). Work proportional to a list's length,
// a string's words or matches, or a macro's body is charged to the step budget, so a loop over a
// cheap operation on a long list stops too; a clock stops a render that a busy machine slows past
// TEMPLATE_LIMITS.ms all the same.
import { Environment, Interpreter } from '@huggingface/jinja'

export const TEMPLATE_LIMITS = {
  /** Nodes evaluated: a chat costs tens per message; 500k is a couple of seconds at most. */
  steps: 500_000,
  /** Nested evaluations (macros calling themselves). */
  depth: 400,
  /** Characters in any one string. */
  valueSize: 16 * 1024 * 1024,
  /** Items in any one list (each item is an object of tens of bytes: range(16M) holds a gigabyte). */
  listItems: 1024 * 1024,
  /** Characters of all the strings produced, together. */
  totalChars: 256 * 1024 * 1024,
  /**
   * Milliseconds of rendering: a backstop to the step budget (which stops any template in a
   * couple of seconds on an idle machine) for a machine busy with other work.
   */
  ms: 3_000,
}

/** Thrown inside the interpreter; the template's caller turns it into its own error. */
export class TemplateLimitError extends Error {}

interface Budget {
  steps: number
  depth: number
  chars: number
  /** performance.now() past which the render is stopped. */
  deadline: number
}

let budget: Budget | undefined

/** A value of @huggingface/jinja's runtime (StringValue, ArrayValue, ObjectValue...). */
interface Value {
  type: string
  value: unknown
}
type Env = Environment
type Node = {
  type?: string
  value?: unknown
  operator?: { value?: string }
  left?: Node
  right?: Node
  callee?: Node
  args?: Node[]
  iterable?: Node
  lhs?: Node
  start?: Node
  stop?: Node
  step?: Node
}
type Args = [Value[], Map<string, Value>]
type Evaluate = (this: Interpreter, node: unknown, env: Env) => Value

const proto = Interpreter.prototype as unknown as {
  evaluate: Evaluate
  evaluateBlock: (this: Interpreter, body: unknown, env: Env) => Value
  evaluateArguments: (this: Interpreter, args: unknown[], env: Env) => Args
  evaluateBinaryExpression: (this: Interpreter, node: Node, env: Env) => Value
  evaluateFor: (this: Interpreter, node: Node, env: Env) => Value
  evaluateSliceExpression: (this: Interpreter, object: Value, expr: Node, env: Env) => Value
  applyFilter: (this: Interpreter, operand: Value, filter: Node, env: Env) => Value
}
const evaluate = proto.evaluate
const evaluateBlock = proto.evaluateBlock
const evaluateArguments = proto.evaluateArguments
const evaluateSliceExpression = proto.evaluateSliceExpression
const applyFilter = proto.applyFilter

// The runtime's classes are not exported: the original evaluate makes one of each kind needed.
const probeEnv = new Environment()
const probe = new Interpreter(probeEnv)
const make = (node: object) => evaluate.call(probe, node, probeEnv)
const StringValue = make({ type: 'StringLiteral', value: '' }).constructor as new (v: string) => Value
const arrayProto = Object.getPrototypeOf(make({ type: 'ArrayLiteral', value: [] }))
const objectProto = Object.getPrototypeOf(make({ type: 'ObjectLiteral', value: new Map() }))
const namespaceFn = probeEnv.variables.get('namespace') as unknown as { value: (a: unknown[]) => Value }
const namespaceProto = Object.getPrototypeOf(namespaceFn.value([]))
const stringProto = StringValue.prototype

// --- the budget -------------------------------------------------------------------------------

function limitError(what: string): TemplateLimitError {
  return new TemplateLimitError(what)
}

/** Counts `n` steps of work (a list walked, items made) against the step budget. */
function charge(n: number): void {
  const b = budget
  if (!b || !(n > 0)) return
  b.steps += Math.ceil(n)
  if (b.steps > TEMPLATE_LIMITS.steps) throw limitError(`runs more than ${TEMPLATE_LIMITS.steps} steps`)
  checkClock(b)
}

function checkClock(b: Budget): void {
  if (performance.now() > b.deadline) throw limitError(`runs longer than ${TEMPLATE_LIMITS.ms} ms`)
}

function checkChars(n: number, what: string): void {
  if (n > TEMPLATE_LIMITS.valueSize)
    throw limitError(`${what} of more than ${TEMPLATE_LIMITS.valueSize} characters`)
}

function checkItems(n: number, what: string): void {
  if (n > TEMPLATE_LIMITS.listItems)
    throw limitError(`${what} of more than ${TEMPLATE_LIMITS.listItems} items`)
}

// Relative costs, in steps (a step is a node evaluated, a few microseconds).
/** A runtime value made (range(), split()): an object each. */
const MADE = 1 / 2
/** A list item copied or compared (slice, concat, reverse, `in`). */
const COPIED = 1 / 64
/** A list item visited through a callback (sort's comparisons, map, selectattr). */
const VISITED = 1 / 16
/** A loop's item: a scope made for it before the loop starts, and its `loop` object of nine values. */
const LOOPED = 2
/** Characters lowercased in a step (sort compares strings lowercased: 16M take tens of milliseconds). */
const LOWERCASED = 1024
/** strftime_now() makes two Intl.DateTimeFormat each call (a millisecond on a busy machine). */
const DATE_FORMATTERS = 500

// --- sizes, computed before the value is made -------------------------------------------------

const isList = (v: Value | undefined) => v?.type === 'ArrayValue' || v?.type === 'TupleValue'
const isMapping = (v: Value | undefined) =>
  v?.type === 'ObjectValue' || v?.type === 'KeywordArgumentsValue' || v?.type === 'NamespaceValue'
const listOf = (v: Value) => v.value as Value[]
const mapOf = (v: Value) => v.value as Map<string, Value>

/** The characters of `s` that JSON escapes (up to 6 characters each; with ensure_ascii every
 * character past ASCII too, each through a call of the library's replacer). */
function jsonEscapes(s: string, ensureAscii: boolean): number {
  // Control characters, quotes, backslashes and surrogates (lone ones are escaped).
  const escaped = ensureAscii ? /[\u0000-\u001f"\\\u007f-\uffff]/g : /[\u0000-\u001f"\\\ud800-\udfff]/g
  if (!escaped.test(s)) return 0
  escaped.lastIndex = 0
  return s.length - s.replace(escaped, '').length
}

interface JsonOptions {
  indent: number
  itemSep: number
  keySep: number
  ensureAscii: boolean
}
const DEFAULT_JSON: JsonOptions = { indent: 0, itemSep: 2, keySep: 2, ensureAscii: false }

/**
 * Characters toJSON (tojson, |string, a list or mapping printed) makes of `value`, or more than
 * `limit` when it is bigger: a walk without recursion that stops at the limit (a list holding the
 * same list twice, 40 levels deep, is 2^40 items spelled out). The nodes walked are charged.
 */
function jsonSize(value: Value, opts: JsonOptions, limit = TEMPLATE_LIMITS.valueSize): number {
  let size = 0
  let nodes = 0
  let replaced = 0
  // Lists and mappings still to walk, each with the next of its items (a list of a million items
  // is not copied onto the stack: the walk may stop at its first).
  const stack: { items: Value[]; next: number; depth: number }[] = [{ items: [value], next: 0, depth: 0 }]
  while (stack.length > 0 && size <= limit) {
    const top = stack[stack.length - 1]
    if (top.next >= top.items.length) {
      stack.pop()
      continue
    }
    const v = top.items[top.next++]
    const depth = top.depth
    nodes++
    if (v?.type === 'StringValue') {
      const escapes = jsonEscapes(v.value as string, opts.ensureAscii)
      size += (v.value as string).length + 2 + 5 * escapes
      if (opts.ensureAscii) replaced += escapes
    } else if (isList(v) || isMapping(v)) {
      const n = isList(v) ? listOf(v).length : mapOf(v).size
      size += 2
      if (n === 0) continue
      // Each item: its separator, and with an indent a line break and the padding of its depth
      // (and the closing bracket's line).
      const pad = opts.indent > 0 ? 1 + opts.indent * (depth + 1) : 0
      size += n * (opts.itemSep + pad) + (opts.indent > 0 ? 1 + opts.indent * depth : 0)
      if (size > limit) break
      if (isList(v)) stack.push({ items: listOf(v), next: 0, depth: depth + 1 })
      else {
        for (const k of mapOf(v).keys()) {
          const escapes = jsonEscapes(k, opts.ensureAscii)
          size += k.length + 2 + 5 * escapes + opts.keySep
          if (opts.ensureAscii) replaced += escapes
          if (size > limit) break
        }
        stack.push({ items: [...mapOf(v).values()], next: 0, depth: depth + 1 })
      }
    } else if (v?.type === 'IntegerValue' || v?.type === 'FloatValue' || v?.type === 'BooleanValue')
      size += String(v.value).length + 2
    else size += 9 // null, undefined (or a value toJSON refuses)
  }
  charge(nodes * VISITED + replaced * MADE)
  return size
}

/** Characters `v.value.toString()` makes (the `~` and `+` operators, join, a JavaScript join). */
function textSize(v: Value): number {
  if (v?.type === 'StringValue') return (v.value as string).length
  // A list converts as a JavaScript array: its items' toString (a list's JSON) joined by commas.
  if (isList(v)) return jsonSize(v, DEFAULT_JSON)
  if (isMapping(v)) return 15 // "[object Map]"
  if (v?.value === null || v?.value === undefined) return 0
  if (typeof v.value === 'function') return 1000 // its source text (a closure of the library's)
  return String(v.value).length
}

function textSizeOfAll(values: Value[]): number {
  let size = values.length
  for (const v of values) {
    size += textSize(v)
    if (size > TEMPLATE_LIMITS.valueSize) break
  }
  return size
}

/** Occurrences of `needle` in `s`, counting no further than `max`. */
function occurrences(s: string, needle: string, max: number): number {
  let n = 0
  for (let i = s.indexOf(needle); i !== -1 && n <= max; i = s.indexOf(needle, i + needle.length)) n++
  return n
}

/** A sort of these items: each comparison lowercases both strings (a copy each), so long strings
 * are charged by their length. */
function chargeSort(items: Iterable<Value | string>): void {
  let n = 0
  let chars = 0
  for (const item of items) {
    n++
    if (typeof item === 'string') chars += item.length
    else if (item?.type === 'StringValue') chars += (item.value as string).length
  }
  charge(Math.log2(n + 1) * (n * VISITED + (2 * chars) / LOWERCASED))
}

/** title() calls the library's replacer for every word: the words are counted and charged. */
function chargeWordStarts(s: string): void {
  const starts = /\b\w/g
  let n = 0
  const cap = TEMPLATE_LIMITS.steps / MADE
  while (n <= cap && starts.exec(s)) n++
  charge(n * MADE)
}

// --- filters ----------------------------------------------------------------------------------

/** Filters whose arguments decide the size of what they make: evaluated once, here, for the check. */
const SIZED_FILTERS = new Set(['indent', 'join', 'tojson'])

/** Arguments evaluated ahead for a check, handed to the interpreter's next evaluateArguments of the same nodes. */
let pending: { args: unknown[]; result: Args } | undefined

proto.evaluateArguments = function cached(this: Interpreter, args: unknown[], env: Env) {
  const p = pending
  if (p && p.args === args) {
    pending = undefined
    return p.result
  }
  return evaluateArguments.call(this, args, env)
}

function intArg(v: Value | undefined, fallback: number): number {
  return v?.type === 'IntegerValue' ? (v.value as number) : fallback
}

function checkFilter(operand: Value, name: string, args: Args | undefined): void {
  const [positional, kwargs] = args ?? [[], new Map<string, Value>()]
  const arg = (i: number, key: string) => positional[i] ?? kwargs.get(key)
  if (name === 'tojson') {
    const seps = kwargs.get('separators')
    const [itemSep, keySep] = isList(seps) ? listOf(seps as Value).map(textSize) : []
    const indent = intArg(kwargs.get('indent'), 0)
    checkChars(
      jsonSize(operand, {
        indent: Math.max(0, indent),
        itemSep: itemSep ?? (indent ? 1 : 2),
        keySep: keySep ?? 2,
        ensureAscii: kwargs.get('ensure_ascii')?.value === true,
      }),
      'makes JSON',
    )
    return
  }
  if (name === 'string' && (isList(operand) || isMapping(operand))) {
    checkChars(jsonSize(operand, DEFAULT_JSON), 'makes a string')
    return
  }
  if (name === 'join') {
    const separator = arg(0, 'separator')
    const sep = separator?.type === 'StringValue' ? (separator.value as string).length : 0
    if (operand?.type === 'StringValue' && args) {
      // join(…) spreads the string into an array of its characters first (a bare `join` returns it).
      const s = operand.value as string
      checkItems(s.length, 'spreads a string into a list')
      charge(s.length * COPIED)
      checkChars(s.length + Math.max(0, s.length - 1) * sep, 'joins a string')
    } else if (isList(operand)) {
      const items = listOf(operand)
      charge(items.length * COPIED)
      checkChars(textSizeOfAll(items) + Math.max(0, items.length - 1) * sep, 'joins a string')
    }
    return
  }
  if (name === 'title' && operand?.type === 'StringValue') {
    chargeWordStarts(operand.value as string)
    return
  }
  if (name === 'indent' && operand?.type === 'StringValue') {
    const s = operand.value as string
    // The string is split into its lines (a string each), indented and joined.
    const lineCount = occurrences(s, '\n', TEMPLATE_LIMITS.listItems) + 1
    checkItems(lineCount, 'splits a string into lines')
    charge(lineCount * MADE)
    const width = Math.max(0, intArg(arg(0, 'width'), 4))
    const first = arg(1, 'first')?.value === true
    const blank = arg(2, 'blank')?.value === true
    // The lines indented, counted no further than the limit needs.
    let lines = 0
    const most = width === 0 ? 0 : Math.floor((TEMPLATE_LIMITS.valueSize - s.length) / width) + 1
    if (width > 0 && s.length + width * (s.length + 1) > TEMPLATE_LIMITS.valueSize)
      for (let i = 0, start = 0; lines < most; i++) {
        const end = s.indexOf('\n', start)
        const line = (end === -1 ? s.length : end) - start
        if ((first || i > 0) && (blank || line > 0)) lines++
        if (end === -1) break
        start = end + 1
      }
    checkChars(s.length + width * lines, 'indents a string into a value')
    return
  }
  if (isList(operand)) {
    const n = listOf(operand).length
    if (name === 'sort') chargeSort(listOf(operand))
    else if (name === 'map' || name === 'selectattr' || name === 'rejectattr' || name === 'unique')
      charge(n * VISITED)
    else if (name !== 'length' && name !== 'first' && name !== 'last') charge(n * COPIED)
  }
}

proto.applyFilter = function checkedFilter(this: Interpreter, operand: Value, filter: Node, env: Env) {
  if (!budget) return applyFilter.call(this, operand, filter, env)
  const call = filter?.type === 'CallExpression'
  const name = String((call ? filter.callee?.value : filter?.value) ?? '')
  let args: Args | undefined
  if (call && SIZED_FILTERS.has(name) && Array.isArray(filter.args)) {
    args = proto.evaluateArguments.call(this, filter.args, env)
    pending = { args: filter.args, result: args }
  }
  try {
    checkFilter(operand, name, args)
    return applyFilter.call(this, operand, filter, env)
  } finally {
    pending = undefined
  }
}

// --- string methods (split, replace: also the replace filter) ---------------------------------

type FunctionValue = Value & { value: (args: Value[], env: Env) => Value }
const checkedBuiltins = new WeakSet<Map<string, Value>>()
const builtinsGetter = Object.getOwnPropertyDescriptor(stringProto, 'builtins')?.get

if (builtinsGetter)
  Object.defineProperty(stringProto, 'builtins', {
    configurable: true,
    get(this: Value) {
      const map = builtinsGetter.call(this) as Map<string, Value>
      if (checkedBuiltins.has(map)) return map
      checkedBuiltins.add(map)
      const s = this.value as string
      const wrap = (name: string, check: (args: Value[]) => void) => {
        const fn = map.get(name) as FunctionValue | undefined
        if (!fn) return
        const Fn = fn.constructor as new (f: FunctionValue['value']) => Value
        map.set(
          name,
          new Fn((args, env) => {
            if (budget) check(args)
            return fn.value(args, env)
          }),
        )
      }
      wrap('split', (args) => {
        const sep = args[0]
        const maxsplit = intArg(args[1], -1)
        let parts: number
        if (sep?.type === 'StringValue' && (sep.value as string) !== '') {
          parts = occurrences(s, sep.value as string, TEMPLATE_LIMITS.listItems) + 1
        } else if (sep === undefined || sep.type === 'NullValue') {
          // At most one word in two characters; counted when that bound is not small.
          parts = Math.ceil(s.length / 2)
          if (parts > 1000) {
            parts = 0
            const words = /\S+/g
            while (words.exec(s) && parts <= TEMPLATE_LIMITS.listItems) parts++
          }
        } else return // the method reports a bad separator
        if (maxsplit >= 0) parts = Math.min(parts, maxsplit + 1)
        checkItems(parts, 'splits a string into a list')
        charge(parts * MADE)
      })
      wrap('title', () => chargeWordStarts(s))
      wrap('replace', (args) => {
        const [from, to, countArg] = args
        if (from?.type !== 'StringValue' || to?.type !== 'StringValue') return
        const count = countArg?.type === 'KeywordArgumentsValue' ? mapOf(countArg).get('count') : countArg
        const max = intArg(count, -1) < 0 ? Number.POSITIVE_INFINITY : intArg(count, -1)
        const a = (from.value as string).length
        const grow = (to.value as string).length - a
        // Every match costs a call of the library's replacer (a microsecond or so, and memory for
        // the pieces), a count or not (past the count, it gives the match back): the matches are
        // counted, no further than the step budget allows, and charged. An empty pattern matches
        // between every two characters.
        const most = a === 0 ? s.length + 1 : Math.floor(s.length / a)
        const found =
          a === 0 ? most : occurrences(s, from.value as string, Math.min(most, TEMPLATE_LIMITS.steps / MADE))
        if (grow > 0) checkChars(s.length + Math.min(max, found) * grow, 'replaces into a string')
        charge(found * MADE)
      })
      return map
    },
  })

// --- mapping methods (dictsort: also the filter) ------------------------------------------------

const objectBuiltins = Object.getOwnPropertyDescriptor(objectProto, 'builtins')?.get
const checkedObjectBuiltins = new WeakSet<Map<string, Value>>()

if (objectBuiltins)
  Object.defineProperty(objectProto, 'builtins', {
    configurable: true,
    get(this: Value) {
      const map = objectBuiltins.call(this) as Map<string, Value>
      if (checkedObjectBuiltins.has(map)) return map
      checkedObjectBuiltins.add(map)
      const fn = map.get('dictsort') as FunctionValue | undefined
      if (fn) {
        const Fn = fn.constructor as new (f: FunctionValue['value']) => Value
        const entries = mapOf(this)
        map.set(
          'dictsort',
          new Fn((args, env) => {
            if (budget) chargeSort([...entries.keys(), ...entries.values()])
            return fn.value(args, env)
          }),
        )
      }
      return map
    },
  })

// --- a list or mapping printed ({{ x }}, ~, a JavaScript join of a list of lists) -------------

for (const p of [arrayProto, objectProto, namespaceProto]) {
  if (!Object.hasOwn(p, 'toString')) continue
  const printed = p.toString as (this: Value) => string
  p.toString = function checkedToString(this: Value) {
    if (budget) checkChars(jsonSize(this, DEFAULT_JSON), 'prints a value')
    return printed.call(this)
  }
}

// --- nodes --------------------------------------------------------------------------------------

/** A node standing for a value already evaluated (for a check), so the interpreter does not evaluate it twice. */
const EVALUATED = 'KilnEvaluated'
const evaluated = (value: Value): Node => ({ type: EVALUATED, value })

// A loop runs its body through evaluateBlock once per item: an empty body evaluates no node, so
// the iterations are counted here too.
proto.evaluateBlock = function counted(this: Interpreter, body: unknown, env: Env) {
  if (budget && ++budget.steps > TEMPLATE_LIMITS.steps)
    throw limitError(`runs more than ${TEMPLATE_LIMITS.steps} steps`)
  return evaluateBlock.call(this, body, env)
}

proto.evaluateSliceExpression = function checkedSlice(
  this: Interpreter,
  object: Value,
  expr: Node,
  env: Env,
) {
  if (!budget) return evaluateSliceExpression.call(this, object, expr, env)
  if (isList(object)) charge(listOf(object).length * COPIED)
  if (object?.type !== 'StringValue' || (object.value as string).length <= TEMPLATE_LIMITS.listItems) {
    if (object?.type === 'StringValue') charge((object.value as string).length * COPIED)
    return evaluateSliceExpression.call(this, object, expr, env)
  }
  // The interpreter spreads a string into an array of its characters (tens of bytes each) to
  // slice it: a long string is sliced here instead when that is the same (a step of 1, no
  // characters outside the BMP), else refused.
  const s = object.value as string
  const bounds = [expr.start, expr.stop, expr.step].map((n) => this.evaluate(n, env))
  if (!bounds.every((b) => b.type === 'IntegerValue' || b.type === 'UndefinedValue'))
    return evaluateSliceExpression.call(
      this,
      object,
      { ...expr, start: evaluated(bounds[0]), stop: evaluated(bounds[1]), step: evaluated(bounds[2]) },
      env,
    )
  const [start, stop, step] = bounds.map((b) => b.value as number | undefined)
  if ((step !== undefined && step !== 1) || /[\ud800-\udfff]/.test(s))
    throw limitError(`slices a string of more than ${TEMPLATE_LIMITS.listItems} characters`)
  const at = (i: number | undefined, dflt: number) =>
    i === undefined ? dflt : i < 0 ? Math.max(s.length + i, 0) : Math.min(i, s.length)
  const a = at(start, 0)
  const b = at(stop, s.length)
  return new StringValue(b > a ? s.slice(a, b) : '')
}

const treeSizes = new WeakMap<object, number>()

/** The objects of a node's syntax tree (counted once per node). */
function treeSize(node: object): number {
  let n = treeSizes.get(node)
  if (n !== undefined) return n
  n = 0
  const stack: unknown[] = [node]
  while (stack.length > 0) {
    const x = stack.pop()
    if (x === null || typeof x !== 'object') continue
    n++
    if (x instanceof Map) for (const [k, v] of x) stack.push(k, v)
    else for (const v of Object.values(x)) stack.push(v)
  }
  treeSizes.set(node, n)
  return n
}

/** The special nodes: checked before the interpreter runs them. */
function evaluateChecked(this: Interpreter, node: Node, env: Env): Value {
  switch (node?.type) {
    case 'Macro':
    case 'CallStatement':
      // Defining a macro (or a call block) walks its whole body for the names it uses: a macro
      // defined in a loop walks it every time.
      charge(treeSize(node) * VISITED)
      return evaluate.call(this, node, env)
    case 'CallExpression':
      return evaluateCall.call(this, node, env)
    case 'BinaryExpression':
      return evaluateBinary.call(this, node, env)
    case 'For':
      return evaluateLoop.call(this, node, env)
  }
  return evaluate.call(this, node, env)
}

/** Globals whose arguments decide the size of what they make. */
function evaluateCall(this: Interpreter, node: Node, env: Env): Value {
  const name = node.callee?.type === 'Identifier' ? node.callee.value : undefined
  if (
    (name !== 'range' && name !== 'raise_exception' && name !== 'strftime_now') ||
    !Array.isArray(node.args)
  )
    return evaluate.call(this, node, env)
  const args = proto.evaluateArguments.call(this, node.args, env)
  const values = [...args[0]]
  if (name === 'range') checkRange(values.map((a) => a.value))
  else if (name === 'raise_exception') checkChars(textSizeOfAll(values), 'raises an error message')
  else charge(DATE_FORMATTERS)
  if (name === 'strftime_now' && values[0]?.type === 'StringValue') {
    // A format directive of 2 characters becomes at most 9 (%B: September), through a call of the
    // library's replacer each.
    const format = values[0].value as string
    checkChars(format.length * 5, 'formats a date into a string')
    charge(occurrences(format, '%', TEMPLATE_LIMITS.steps / MADE) * MADE)
  }
  pending = { args: node.args, result: args }
  try {
    return evaluate.call(this, node, env)
  } finally {
    pending = undefined
  }
}

/** range(stop) / range(start, stop[, step]) of more than listItems numbers is refused before it is built. */
function checkRange(args: unknown[]): void {
  const nums = args.filter((a): a is number => typeof a === 'number')
  if (nums.length !== args.length || nums.length === 0) return // the interpreter reports what is wrong
  const [start, stop, step] = nums.length === 1 ? [0, nums[0], 1] : [nums[0], nums[1], nums[2] ?? 1]
  if (step === 0) return
  const count = Math.ceil((stop - start) / step)
  if (count > TEMPLATE_LIMITS.listItems)
    throw limitError(`asks for a range of ${count} numbers (at most ${TEMPLATE_LIMITS.listItems})`)
  charge(count * MADE)
}

const BUILDING_OPERATORS = new Set(['~', '+', '*', '==', '!=', 'in', 'not in'])

/** The operators that build a value from their operands, or convert a list to a string. */
function evaluateBinary(this: Interpreter, node: Node, env: Env): Value {
  const op = node.operator?.value
  if (!op || !BUILDING_OPERATORS.has(op)) return evaluate.call(this, node, env)
  const left = this.evaluate(node.left, env)
  const right = this.evaluate(node.right, env)
  const lists = isList(left) && isList(right)
  if (op === '*') {
    // Repetition ('ab' * 3, [1] * 3): this version of the library refuses it, a later one may not.
    const [seq, times] = left?.type === 'IntegerValue' ? [right, left] : [left, right]
    const n = times?.type === 'IntegerValue' ? Math.max(0, times.value as number) : 0
    if (seq?.type === 'StringValue') checkChars((seq.value as string).length * n, 'repeats a string')
    else if (isList(seq)) checkItems(listOf(seq).length * n, 'repeats a list')
  } else if (op === '+' && lists) {
    const n = listOf(left).length + listOf(right).length
    checkItems(n, 'concatenates a list')
    charge(n * COPIED)
  } else if (op === '~' || op === '+') {
    if (op === '~' || left?.type === 'StringValue' || right?.type === 'StringValue')
      checkChars(textSize(left) + textSize(right), 'concatenates a string')
  } else if (op === '==' || op === '!=') {
    // A list compared with a string or a number is converted to a string first.
    if (!lists && (isList(left) || isList(right)))
      checkChars(textSize(isList(left) ? left : right), 'compares a list as a string')
  } else if (isList(right)) charge(listOf(right).length * COPIED)
  return proto.evaluateBinaryExpression.call(
    this,
    { ...node, left: evaluated(left), right: evaluated(right) },
    env,
  )
}

/** A loop makes a scope for every item before it runs the body: the items are charged first. */
function evaluateLoop(this: Interpreter, node: Node, env: Env): Value {
  const select = node.iterable?.type === 'SelectExpression' ? node.iterable : undefined
  const items = this.evaluate(select ? select.lhs : node.iterable, env)
  const n = isList(items) ? listOf(items).length : isMapping(items) ? mapOf(items).size : 0
  charge(n * LOOPED)
  const iterable = select ? { ...select, lhs: evaluated(items) } : evaluated(items)
  return proto.evaluateFor.call(this, { ...node, iterable }, env)
}

proto.evaluate = function guarded(this: Interpreter, node: unknown, env: Env) {
  const b = budget
  if (!b) return evaluate.call(this, node, env)
  const n = node as Node
  if (n?.type === EVALUATED) return n.value as Value
  const limits = TEMPLATE_LIMITS
  if (++b.steps > limits.steps) throw limitError(`runs more than ${limits.steps} steps`)
  if ((b.steps & 255) === 0) checkClock(b)
  if (b.depth >= limits.depth) throw limitError(`nests deeper than ${limits.depth} levels`)
  b.depth++
  let result: Value
  try {
    result = evaluateChecked.call(this, n, env)
  } finally {
    b.depth--
  }
  const v = result?.value
  if (Array.isArray(v)) checkItems(v.length, 'makes a list')
  if (typeof v === 'string') {
    checkChars(v.length, 'makes a string')
    b.chars += v.length
    if (b.chars > limits.totalChars) throw limitError(`produces more than ${limits.totalChars} characters`)
  }
  return result
}

/** Runs `render` with the limits on (nested calls share the outer budget). */
export function guardedRender<T>(render: () => T): T {
  if (budget) return render()
  budget = { steps: 0, depth: 0, chars: 0, deadline: performance.now() + TEMPLATE_LIMITS.ms }
  pending = undefined
  try {
    return render()
  } finally {
    budget = undefined
    pending = undefined
  }
}
