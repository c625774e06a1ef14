// Translates the Oniguruma patterns found in tokenizer.json (the Rust crate compiles them with
// Oniguruma) into equivalent JavaScript `u`-mode regular expressions. Node 20 has no inline
// modifiers `(?i:...)`, no possessive quantifiers or atomic groups, and JS `\s`, `\w`, `\d`, `.`,
// `^`, `$` mean something narrower than Oniguruma's Unicode versions, so each is rewritten.

import { quote } from '../util/shown.js'
import { WHITESPACE_CLASS } from './chars.js'
import { TokenizerError } from './errors.js'

const WORD_CLASS = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}'
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/')
/** Control-character escapes, as the character they stand for. */
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  f: '\f',
  v: '\v',
  '0': '\0',
  a: '\x07',
  e: '\x1b',
}
const GENERAL_CATEGORIES = new Set(
  (
    'L Lu Ll Lt Lm Lo LC M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn ' +
    'Letter Mark Number Punctuation Symbol Separator Other Cased_Letter Uppercase_Letter Lowercase_Letter ' +
    'Decimal_Number Alphabetic White_Space Any Assigned ASCII'
  ).split(' '),
)

function fail(src: string, why: string): never {
  throw new TokenizerError(`tokenizer.json: cannot translate regex ${quote(src)}: ${why}`)
}

/** Maps an Oniguruma property name to a JS `\p{...}` body. */
function property(name: string, src: string): string {
  if (GENERAL_CATEGORIES.has(name)) return name
  for (const candidate of [
    name,
    `Script=${name}`,
    `Script=${name[0].toUpperCase()}${name.slice(1).toLowerCase()}`,
  ]) {
    try {
      new RegExp(`\\p{${candidate}}`, 'u')
      return candidate
    } catch {
      // try the next spelling
    }
  }
  return fail(src, `unknown property \\p{${name}}`)
}

/** Other-case variant of a single code point, when it has exactly one. */
function otherCase(ch: string): string | undefined {
  const lo = ch.toLowerCase()
  const up = ch.toUpperCase()
  const other = ch === lo ? up : lo
  if (other === ch || [...other].length !== 1) return undefined
  return other
}

function escapeClassChar(ch: string): string {
  if (ch === '\\' || ch === ']' || ch === '[' || ch === '^' || ch === '-') return `\\${ch}`
  // Control characters are written as \xNN so the generated source stays readable.
  const c = ch.charCodeAt(0)
  return c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch
}

interface Escape {
  /** text outside a class */
  text: string
  /** text inside a class, or undefined when it cannot appear there */
  inClass?: string
  /** a single literal character (subject to case folding and usable as a range end) */
  literal?: string
  length: number
}

/** Parses the escape starting at `src[i] === '\\'`. */
function parseEscape(src: string, i: number): Escape {
  const c = src[i + 1]
  if (c === undefined) fail(src, 'trailing backslash')
  switch (c) {
    case 'd':
      return { text: '\\p{Nd}', inClass: '\\p{Nd}', length: 2 }
    case 'D':
      return { text: '\\P{Nd}', inClass: '\\P{Nd}', length: 2 }
    case 'w':
      return { text: `[${WORD_CLASS}]`, inClass: WORD_CLASS, length: 2 }
    case 'W':
      return { text: `[^${WORD_CLASS}]`, length: 2 }
    case 's':
      return { text: `[${WHITESPACE_CLASS}]`, inClass: WHITESPACE_CLASS, length: 2 }
    case 'S':
      return { text: `[^${WHITESPACE_CLASS}]`, inClass: '\\P{White_Space}', length: 2 }
    case 'h':
      return { text: '[0-9a-fA-F]', inClass: '0-9a-fA-F', length: 2 }
    case 'H':
      return { text: '[^0-9a-fA-F]', length: 2 }
    case 'A':
      return { text: '^', length: 2 }
    case 'z':
      return { text: '$', length: 2 }
    case 'Z':
      return { text: '(?=\\n?$)', length: 2 }
    case 'b':
      return {
        text: `(?:(?<=[${WORD_CLASS}])(?![${WORD_CLASS}])|(?<![${WORD_CLASS}])(?=[${WORD_CLASS}]))`,
        length: 2,
      }
    case 'B':
      return {
        text: `(?:(?<=[${WORD_CLASS}])(?=[${WORD_CLASS}])|(?<![${WORD_CLASS}])(?![${WORD_CLASS}]))`,
        length: 2,
      }
    case 'p':
    case 'P': {
      let negate = c === 'P'
      let name: string
      let length: number
      if (src[i + 2] === '{') {
        const close = src.indexOf('}', i + 3)
        if (close < 0) fail(src, 'unterminated \\p{')
        name = src.slice(i + 3, close)
        length = close + 1 - i
      } else {
        name = src[i + 2] ?? ''
        length = 3
      }
      if (name.startsWith('^')) {
        negate = !negate
        name = name.slice(1)
      }
      const body = `\\${negate ? 'P' : 'p'}{${property(name, src)}}`
      return { text: body, inClass: body, length }
    }
    case 'x': {
      if (src[i + 2] === '{') {
        const close = src.indexOf('}', i + 3)
        if (close < 0) fail(src, 'unterminated \\x{')
        const ch = String.fromCodePoint(Number.parseInt(src.slice(i + 3, close), 16))
        return { text: `\\u{${src.slice(i + 3, close)}}`, literal: ch, length: close + 1 - i }
      }
      const hex = src.slice(i + 2, i + 4)
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(src, 'bad \\x escape')
      return { text: `\\x${hex}`, literal: String.fromCharCode(Number.parseInt(hex, 16)), length: 4 }
    }
    case 'u': {
      const hex = src.slice(i + 2, i + 6)
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(src, 'bad \\u escape')
      return { text: `\\u${hex}`, literal: String.fromCharCode(Number.parseInt(hex, 16)), length: 6 }
    }
  }
  if (c in SIMPLE_ESCAPES) {
    const ch = SIMPLE_ESCAPES[c]
    return { text: `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`, literal: ch, length: 2 }
  }
  if (/[0-9]/.test(c) || c === 'k' || c === 'g') fail(src, 'backreferences and subroutines are not supported')
  if (/[A-Za-z]/.test(c)) fail(src, `unsupported escape \\${c}`)
  // Identity escape of punctuation: JS `u` mode only accepts escaping syntax characters.
  const ch = String.fromCodePoint(src.codePointAt(i + 1)!)
  return { text: SYNTAX_CHARS.has(ch) ? `\\${ch}` : ch, literal: ch, length: 1 + ch.length }
}

const POSIX: Record<string, string> = {
  alpha: '\\p{Alphabetic}',
  alnum: '\\p{Alphabetic}\\p{Nd}',
  digit: '\\p{Nd}',
  lower: '\\p{Lowercase}',
  upper: '\\p{Uppercase}',
  space: WHITESPACE_CLASS,
  blank: '\\p{Zs}\\t',
  punct: '\\p{P}',
  cntrl: '\\p{Cc}',
  word: WORD_CLASS,
  xdigit: '0-9a-fA-F',
}

/** Parses a bracket class starting at `src[i] === '['`; returns the JS text and length. */
function parseClass(src: string, start: number, ci: boolean): { text: string; length: number } {
  let i = start + 1
  let out = '['
  if (src[i] === '^') {
    out += '^'
    i++
  }
  let first = true
  while (true) {
    if (i >= src.length) fail(src, 'unterminated character class')
    const c = src[i]
    if (c === ']' && !first) break
    first = false
    if (c === '[') {
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(src.slice(i))
      if (!posix || !(posix[2] in POSIX) || posix[1]) fail(src, 'nested character classes are not supported')
      out += POSIX[posix[2]]
      i += posix[0].length
      continue
    }
    if (c === '&' && src[i + 1] === '&') fail(src, 'class intersection (&&) is not supported')
    let literal: string | undefined
    let text: string
    let length: number
    if (c === '\\') {
      const esc = parseEscape(src, i)
      length = esc.length
      if (esc.literal !== undefined) {
        literal = esc.literal
        text = escapeClassChar(literal)
      } else if (esc.inClass !== undefined) {
        text = esc.inClass
      } else {
        fail(src, `escape \\${src[i + 1]} inside a class is not supported`)
      }
    } else {
      literal = String.fromCodePoint(src.codePointAt(i)!)
      length = literal.length
      text = escapeClassChar(literal)
    }
    // A range `a-z`: the `-` is literal when it ends the class or follows a non-literal.
    if (
      literal !== undefined &&
      src[i + length] === '-' &&
      src[i + length + 1] !== ']' &&
      i + length + 1 < src.length
    ) {
      let j = i + length + 1
      let hi: string
      let hiText: string
      if (src[j] === '\\') {
        const esc = parseEscape(src, j)
        if (esc.literal === undefined) fail(src, 'range ends in a class escape')
        hi = esc.literal
        hiText = escapeClassChar(hi)
        j += esc.length
      } else {
        hi = String.fromCodePoint(src.codePointAt(j)!)
        hiText = escapeClassChar(hi)
        j += hi.length
      }
      out += `${text}-${hiText}`
      if (ci) out += caseRange(literal, hi)
      i = j
      continue
    }
    out += text
    if (ci && literal !== undefined) {
      const other = otherCase(literal)
      if (other) out += escapeClassChar(other)
    }
    i += length
  }
  return { text: `${out}]`, length: i + 1 - start }
}

/** The swapped-case counterpart of an ASCII letter range, for `(?i:[a-f])`. */
function caseRange(lo: string, hi: string): string {
  const isLower = (s: string) => s >= 'a' && s <= 'z'
  const isUpper = (s: string) => s >= 'A' && s <= 'Z'
  if (isLower(lo) && isLower(hi)) return `${lo.toUpperCase()}-${hi.toUpperCase()}`
  if (isUpper(lo) && isUpper(hi)) return `${lo.toLowerCase()}-${hi.toLowerCase()}`
  return ''
}

interface Frame {
  start: number
  prevCi: boolean
  atomic: boolean
}

/** Compiles an Oniguruma pattern (as written in tokenizer.json) to a global Unicode JS RegExp. */
export function compileOnigurumaPattern(src: string): RegExp {
  const parts: string[] = []
  const stack: Frame[] = []
  let ci = false
  let flags = 'gu'
  let lastAtom = -1
  let atomicCount = 0
  let i = 0

  const atomic = (inner: string): string => {
    const name = `__atomic${atomicCount++}`
    return `(?=(?<${name}>${inner}))\\k<${name}>`
  }

  while (i < src.length) {
    const c = src[i]
    if (c === '\\') {
      const esc = parseEscape(src, i)
      lastAtom = parts.length
      const other = ci && esc.literal !== undefined ? otherCase(esc.literal) : undefined
      parts.push(other ? `[${escapeClassChar(esc.literal!)}${escapeClassChar(other)}]` : esc.text)
      i += esc.length
    } else if (c === '[') {
      const cls = parseClass(src, i, ci)
      lastAtom = parts.length
      parts.push(cls.text)
      i += cls.length
    } else if (c === '(') {
      const rest = src.slice(i, i + 6)
      let open = '('
      let len = 1
      let newCi: boolean = ci
      let isAtomic = false
      if (rest.startsWith('(?i)')) {
        if (i !== 0) fail(src, 'inline (?i) is only supported at the start')
        flags += 'i'
        i += 4
        continue
      } else if (rest.startsWith('(?#')) {
        const close = src.indexOf(')', i)
        i = close < 0 ? src.length : close + 1
        continue
      } else if (rest.startsWith('(?i:')) {
        open = '(?:'
        len = 4
        newCi = true
      } else if (rest.startsWith('(?-i:')) {
        open = '(?:'
        len = 5
        newCi = false
      } else if (rest.startsWith('(?>')) {
        open = '(?:'
        len = 3
        isAtomic = true
      } else if (/^\(\?(?::|=|!|<=|<!)/.test(rest)) {
        open = /^\(\?(?::|=|!|<=|<!)/.exec(rest)![0]
        len = open.length
      } else if (/^\(\?P?<[A-Za-z_]/.test(rest)) {
        // Named group; Oniguruma also accepts Python's (?P<name>...).
        const m = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(src.slice(i))
        if (!m) fail(src, 'bad group name')
        open = `(?<${m[1]}>`
        len = m[0].length
      } else if (rest.startsWith('(?')) {
        fail(src, `unsupported group ${rest}`)
      }
      stack.push({ start: parts.length, prevCi: ci, atomic: isAtomic })
      ci = newCi
      parts.push(open)
      lastAtom = -1
      i += len
    } else if (c === ')') {
      const frame = stack.pop()
      if (!frame) fail(src, 'unbalanced )')
      parts.push(')')
      ci = frame.prevCi
      if (frame.atomic) {
        const inner = parts.splice(frame.start).join('')
        parts.push(atomic(inner))
      }
      lastAtom = frame.start
      i++
    } else if (c === '|') {
      parts.push('|')
      lastAtom = -1
      i++
    } else if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d*(?:,\d*)?\}/.test(src.slice(i)))) {
      let q: string
      if (c === '{') {
        const m = /^\{(\d*)(?:(,)(\d*))?\}/.exec(src.slice(i))!
        if (m[1] === '' && m[2] === undefined) fail(src, 'empty interval {}')
        q = `{${m[1] || '0'}${m[2] ?? ''}${m[3] ?? ''}}`
        i += m[0].length
      } else {
        q = c
        i++
      }
      if (lastAtom < 0) fail(src, `quantifier ${q} without an atom`)
      const atom = parts.splice(lastAtom).join('')
      if (src[i] === '?') {
        parts.push(`${atom}${q}?`)
        i++
      } else if (src[i] === '+' && c !== '{') {
        // Possessive `X*+`: emulate an atomic group with a lookahead capture and a backreference.
        parts.push(atomic(`${atom}${q}`))
        i++
      } else if (c === '{' && (src[i] === '+' || src[i] === '*' || src[i] === '{')) {
        // Oniguruma (Ruby syntax) stacks a quantifier after an interval: `X{3}+` is `(?:X{3})+`.
        parts.push(`(?:${atom}${q})`)
      } else {
        parts.push(`${atom}${q}`)
      }
      lastAtom = parts.length - 1
    } else if (c === '.') {
      lastAtom = parts.length
      parts.push('[^\\n]')
      i++
    } else if (c === '^') {
      // Oniguruma's ^ and $ are always line anchors, and only \n ends a line.
      parts.push('(?<![^\\n])')
      lastAtom = -1
      i++
    } else if (c === '$') {
      parts.push('(?![^\\n])')
      lastAtom = -1
      i++
    } else {
      const ch = String.fromCodePoint(src.codePointAt(i)!)
      lastAtom = parts.length
      const other = ci ? otherCase(ch) : undefined
      if (other) parts.push(`[${escapeClassChar(ch)}${escapeClassChar(other)}]`)
      else parts.push(ch === '{' || ch === '}' || ch === ']' || ch === '/' ? `\\${ch}` : ch)
      i += ch.length
    }
  }
  if (stack.length > 0) fail(src, 'unbalanced (')
  try {
    return new RegExp(parts.join(''), flags)
  } catch (e) {
    return fail(src, (e as Error).message)
  }
}

/** A global RegExp matching `s` literally. */
export function literalPattern(s: string): RegExp {
  // `-` is not escaped: JS `u` mode rejects `\-` outside a class.
  return new RegExp(s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu')
}
