// Pre-tokenizers from tokenizer.json: cut normalized text into pieces that the model encodes
// independently (and caches). Each stage maps a list of pieces to a finer list.

import { toByteLevel } from './byte-level.js'
import { isBertPunctuation, isNumeric, isWhitespace, WHITESPACE_CLASS } from './chars.js'
import { unsupported } from './errors.js'
import { parsePattern } from './normalizers.js'
import { compileOnigurumaPattern } from './regex.js'
import { charSpans, parseBehavior, regexSpans, type SplitBehavior, splitSpans } from './split.js'

export interface PreTokenized {
  pieces: string[]
  /** Whether pieces[0] begins at offset 0 of the original input (Metaspace "first" needs it). */
  atStart: boolean
}

export type PreTokenizer = (pieces: string[], atStart: boolean) => PreTokenized

/**
 * A pre-tokenizer split in two: `split` cuts the text, `map` (ByteLevel's byte → character
 * mapping, when it comes last) transforms each piece. Keeping `map` separate lets the tokenizer
 * look pieces up in its cache before paying for the mapping.
 */
export interface PreTokenizerPlan {
  split?: PreTokenizer
  map?: (piece: string) => string
}

type Stage = { split: PreTokenizer } | { map: (piece: string) => string }

type Json = Record<string, unknown>

const SUPPORTED = [
  'Sequence',
  'ByteLevel',
  'Split',
  'Metaspace',
  'BertPreTokenizer',
  'Whitespace',
  'WhitespaceSplit',
  'Punctuation',
  'Digits',
  'CharDelimiterSplit',
]

/** GPT-2's split pattern, used by the ByteLevel pre-tokenizer when `use_regex` is set. */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/** Lifts a per-piece splitter (returning whether its first output starts at 0) to a stage. */
function perPiece(split: (s: string, atStart: boolean, out: string[]) => boolean): PreTokenizer {
  return (pieces, atStart) => {
    const out: string[] = []
    let outAtStart = false
    for (let k = 0; k < pieces.length; k++) {
      const before = out.length
      const first = split(pieces[k], k === 0 && atStart, out)
      if (k === 0 && atStart && out.length > before) outAtStart = first
    }
    return { pieces: out, atStart: outAtStart }
  }
}

/** Appends the pieces of an Isolated split (every span kept) of `s` on `re` to `out`. */
function splitIsolated(s: string, re: RegExp, out: string[]): void {
  re.lastIndex = 0
  let prev = 0
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const start = m.index
    const end = start + m[0].length
    if (start === end) {
      re.lastIndex = end + (s.charCodeAt(end) >= 0xd800 && s.charCodeAt(end) <= 0xdbff ? 2 : 1)
      if (end >= s.length) break
      continue
    }
    if (start !== prev) out.push(s.slice(prev, start))
    out.push(m[0])
    prev = end
  }
  if (prev < s.length) out.push(prev === 0 ? s : s.slice(prev))
}

/** ByteLevel = optional prefix space, optional GPT-2 regex split, then the byte mapping. */
function byteLevel(c: Json): Stage[] {
  const stages: Stage[] = []
  if (c.add_prefix_space === true) {
    stages.push({
      split: perPiece((s, _atStart, out) => {
        out.push(s.startsWith(' ') ? s : ` ${s}`)
        return true
      }),
    })
  }
  if (c.use_regex !== false) {
    const re = compileOnigurumaPattern(GPT2_PATTERN)
    stages.push({
      split: perPiece((s, _atStart, out) => {
        splitIsolated(s, re, out)
        return true
      }),
    })
  }
  stages.push({ map: toByteLevel })
  return stages
}

function split(c: Json): PreTokenizer {
  const re = parsePattern(c.pattern, 'Split pre-tokenizer')
  const behavior = parseBehavior(c.behavior)
  const invert = c.invert === true
  if (behavior === 'Isolated' && !invert) {
    return perPiece((s, _atStart, out) => {
      splitIsolated(s, re, out)
      return true
    })
  }
  return perPiece((s, _atStart, out) => splitSpans(s, regexSpans(s, re, invert), behavior, out))
}

function metaspace(c: Json): PreTokenizer {
  const replacement = String(c.replacement ?? '\u2581')
  // Older files have add_prefix_space; newer ones prepend_scheme ("always" | "first" | "never").
  const scheme =
    typeof c.prepend_scheme === 'string'
      ? c.prepend_scheme
      : c.add_prefix_space === false
        ? 'never'
        : 'always'
  const doSplit = c.split !== false
  return perPiece((s, atStart, out) => {
    s = s.replaceAll(' ', replacement)
    if (!s.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && atStart)))
      s = replacement + s
    if (!doSplit) {
      if (s.length > 0) out.push(s)
      return true
    }
    return splitSpans(
      s,
      charSpans(s, (ch) => ch === replacement),
      'MergedWithNext',
      out,
    )
  })
}

/** BERT: split on whitespace (dropped), then isolate each punctuation character. */
const bert: PreTokenizer = perPiece((s, _atStart, out) => {
  let word = ''
  for (const ch of s) {
    if (isWhitespace(ch)) {
      if (word) out.push(word)
      word = ''
    } else if (isBertPunctuation(ch)) {
      if (word) out.push(word)
      out.push(ch)
      word = ''
    } else {
      word += ch
    }
  }
  if (word) out.push(word)
  return true
})

// Rust regex crate classes: \w is Alphabetic, M, Nd, Pc, Join_Control; \s is White_Space.
const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}'
const WHITESPACE_WORDS = new RegExp(`[${WORD}]+|[^${WORD}${WHITESPACE_CLASS}]+`, 'gu')

const whitespace: PreTokenizer = perPiece((s, _atStart, out) => {
  WHITESPACE_WORDS.lastIndex = 0
  let firstAtZero = false
  for (let m = WHITESPACE_WORDS.exec(s); m !== null; m = WHITESPACE_WORDS.exec(s)) {
    if (m.index === 0) firstAtZero = true
    out.push(m[0])
  }
  return firstAtZero
})

const whitespaceSplit: PreTokenizer = perPiece((s, _atStart, out) =>
  splitSpans(s, charSpans(s, isWhitespace), 'Removed', out),
)

function stages(cfg: unknown): Stage[] {
  if (cfg === null || cfg === undefined) return []
  const c = cfg as Json
  if (c.type === 'Sequence') return ((c.pretokenizers as unknown[]) ?? []).flatMap(stages)
  if (c.type === 'ByteLevel') return byteLevel(c)
  return [{ split: splitter(c) }]
}

export function createPreTokenizer(cfg: unknown): PreTokenizerPlan | undefined {
  const list = stages(cfg)
  if (list.length === 0) return undefined
  // Peel the trailing maps off; a map in the middle becomes an ordinary per-piece stage.
  const maps: ((piece: string) => string)[] = []
  while (list.length > 0 && 'map' in list[list.length - 1])
    maps.unshift((list.pop() as { map: (p: string) => string }).map)
  const splits = list.map((stage) => {
    if ('split' in stage) return stage.split
    const map = stage.map
    return perPiece((s, _atStart, out) => {
      out.push(map(s))
      return true
    })
  })
  const plan: PreTokenizerPlan = {}
  if (splits.length === 1) plan.split = splits[0]
  else if (splits.length > 1) {
    plan.split = (pieces, atStart) => {
      let cur: PreTokenized = { pieces, atStart }
      for (const stage of splits) cur = stage(cur.pieces, cur.atStart)
      return cur
    }
  }
  if (maps.length === 1) plan.map = maps[0]
  else if (maps.length > 1) {
    plan.map = (piece) => {
      for (const map of maps) piece = map(piece)
      return piece
    }
  }
  return plan
}

function splitter(c: Json): PreTokenizer {
  switch (c.type) {
    case 'Split':
      return split(c)
    case 'Metaspace':
      return metaspace(c)
    case 'BertPreTokenizer':
      return bert
    case 'Whitespace':
      return whitespace
    case 'WhitespaceSplit':
      return whitespaceSplit
    case 'Punctuation': {
      const behavior: SplitBehavior = c.behavior === undefined ? 'Isolated' : parseBehavior(c.behavior)
      return perPiece((s, _atStart, out) => splitSpans(s, charSpans(s, isBertPunctuation), behavior, out))
    }
    case 'Digits': {
      const behavior: SplitBehavior = c.individual_digits === true ? 'Isolated' : 'Contiguous'
      return perPiece((s, _atStart, out) => splitSpans(s, charSpans(s, isNumeric), behavior, out))
    }
    case 'CharDelimiterSplit': {
      const delimiter = String(c.delimiter)
      return perPiece((s, _atStart, out) =>
        splitSpans(
          s,
          charSpans(s, (ch) => ch === delimiter),
          'Removed',
          out,
        ),
      )
    }
    default:
      return unsupported('pre-tokenizer', c.type, SUPPORTED)
  }
}
