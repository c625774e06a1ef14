// Splitting a string on pattern matches with the five delimiter behaviors of the Rust crate
// (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous). Empty pieces are dropped,
// as PreTokenizedString::split does.

import { shown } from '../util/shown.js'
import { TokenizerError } from './errors.js'
import { asOnigSees } from './unicode.js'

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous'

const BEHAVIORS = new Set<string>([
  'Removed',
  'Isolated',
  'MergedWithPrevious',
  'MergedWithNext',
  'Contiguous',
])

export function parseBehavior(value: unknown): SplitBehavior {
  if (typeof value === 'string' && BEHAVIORS.has(value)) return value as SplitBehavior
  throw new TokenizerError(
    `tokenizer.json: unsupported split behavior ${shown(value)} (supported: ${[...BEHAVIORS].join(', ')})`,
  )
}

/**
 * Spans covering all of `s`, as flat triples [start, end, isMatch]. `re` must be global (an
 * Oniguruma pattern translated by regex.ts). Mirrors Pattern::find_matches, including an empty
 * match being a (zero-width) span.
 */
export function regexSpans(text: string, re: RegExp, invert = false): number[] {
  const spans: number[] = []
  if (text.length === 0) return spans
  // Classes must see code points as Oniguruma's older Unicode data does.
  const s = asOnigSees(text)
  const hit = invert ? 0 : 1
  const miss = invert ? 1 : 0
  let prev = 0
  re.lastIndex = 0
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const start = m.index
    const end = start + m[0].length
    if (end === start) {
      // Advance past an empty match by a whole code point, like Oniguruma's find_iter.
      const c = s.charCodeAt(end)
      re.lastIndex = end + (c >= 0xd800 && c <= 0xdbff ? 2 : 1)
      if (end >= s.length) break
    }
    if (prev !== start) spans.push(prev, start, miss)
    spans.push(start, end, hit)
    prev = end
  }
  if (prev !== s.length) spans.push(prev, s.length, miss)
  return spans
}

/** Spans where each code point satisfying `pred` is its own match. */
export function charSpans(s: string, pred: (ch: string) => boolean): number[] {
  const spans: number[] = []
  let prev = 0
  let i = 0
  for (const ch of s) {
    if (pred(ch)) {
      if (prev !== i) spans.push(prev, i, 0)
      spans.push(i, i + ch.length, 1)
      prev = i + ch.length
    }
    i += ch.length
  }
  if (prev !== s.length) spans.push(prev, s.length, 0)
  return spans
}

/**
 * Applies `behavior` to match spans: flat [start, end] pairs of the pieces to keep, in order
 * (empty ones included; callers drop them, as PreTokenizedString::split does).
 */
export function keptSpans(spans: number[], behavior: SplitBehavior): number[] {
  const n = spans.length
  // The common behaviors straight to pairs (a long text has hundreds of thousands of spans).
  if (behavior === 'Isolated' || behavior === 'Removed') {
    const pairs: number[] = []
    for (let k = 0; k < n; k += 3)
      if (behavior === 'Isolated' || !spans[k + 2]) pairs.push(spans[k], spans[k + 1])
    return pairs
  }
  // [start, end, remove] triples after applying the behavior.
  const kept: number[] = []
  switch (behavior) {
    case 'Contiguous': {
      let previous = 0
      for (let k = 0; k < n; k += 3) {
        const isMatch = spans[k + 2]
        if (isMatch === previous && kept.length > 0) kept[kept.length - 2] = spans[k + 1]
        else kept.push(spans[k], spans[k + 1], 0)
        previous = isMatch
      }
      break
    }
    case 'MergedWithPrevious': {
      let previous = 0
      for (let k = 0; k < n; k += 3) {
        const isMatch = spans[k + 2]
        if (isMatch && !previous && kept.length > 0) kept[kept.length - 2] = spans[k + 1]
        else kept.push(spans[k], spans[k + 1], 0)
        previous = isMatch
      }
      break
    }
    case 'MergedWithNext': {
      // Walk backwards so that a delimiter glues onto the piece after it.
      const rev: number[] = []
      let previous = 0
      for (let k = n - 3; k >= 0; k -= 3) {
        const isMatch = spans[k + 2]
        if (isMatch && !previous && rev.length > 0) rev[rev.length - 3] = spans[k]
        else rev.push(spans[k], spans[k + 1], 0)
        previous = isMatch
      }
      for (let k = rev.length - 3; k >= 0; k -= 3) kept.push(rev[k], rev[k + 1], 0)
      break
    }
  }
  const out: number[] = []
  for (let k = 0; k < kept.length; k += 3) if (!kept[k + 2]) out.push(kept[k], kept[k + 1])
  return out
}

/**
 * Cuts `s` at `spans` according to `behavior`, appending non-empty pieces to `out`.
 * Returns whether the first appended piece starts at offset 0 of `s` (Metaspace needs it).
 */
export function splitSpans(s: string, spans: number[], behavior: SplitBehavior, out: string[]): boolean {
  const kept = keptSpans(spans, behavior)
  let firstAtZero = false
  let first = true
  for (let k = 0; k < kept.length; k += 2) {
    const start = kept[k]
    const end = kept[k + 1]
    if (end <= start) continue
    if (first) {
      firstAtZero = start === 0
      first = false
    }
    out.push(start === 0 && end === s.length ? s : s.slice(start, end))
  }
  return firstAtZero
}
