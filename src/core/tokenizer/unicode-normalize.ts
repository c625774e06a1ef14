// NFD / NFKD / NFC / NFKC as the Rust crate computes them (unicode-normalization-alignments):
// per-character decompositions, canonical reordering and recomposition, with the older Unicode
// data it pins (decompositions and combining classes it lacks are left alone), and the
// (char, change) stream its NormalizedString::transform consumes to keep offsets.

import { checkGrowth } from './fields.js'
import type { Change } from './normalized-string.js'
import { combiningClass, lacksDecomposition } from './unicode.js'

export type NormalizationForm = 'NFD' | 'NFKD' | 'NFC' | 'NFKC'

const decompositions = { canonical: new Map<number, string[]>(), compat: new Map<number, string[]>() }
const compositions = new Map<string, string | null>()
const CACHE_LIMIT = 50_000

/** The full decomposition of one code point (JavaScript's, unless the Rust tables lack it). */
function decompose(ch: string, compat: boolean): string[] {
  const c = ch.codePointAt(0)!
  // Nothing below U+00A0 decomposes, even in compatibility forms.
  if (c < 0xa0) return [ch]
  const cache = compat ? decompositions.compat : decompositions.canonical
  let d = cache.get(c)
  if (d === undefined) {
    const n = ch.normalize(compat ? 'NFKD' : 'NFD')
    d = n === ch || lacksDecomposition(c, compat) ? [ch] : [...n]
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(c, d)
  }
  return d
}

/** The primary composite of a starter and the next character, if the Rust tables have it. */
function compose(a: string, b: string): string | undefined {
  // Every second half of a composition (a mark, a jamo, a vowel sign) is at U+0300 or above.
  if (b.charCodeAt(0) < 0x300) return undefined
  const key = a + b
  let r = compositions.get(key)
  if (r === undefined) {
    const n = key.normalize('NFC')
    const cp = n.codePointAt(0)!
    r = n.length === (cp > 0xffff ? 2 : 1) && !lacksDecomposition(cp, false) ? n : null
    if (compositions.size >= CACHE_LIMIT) compositions.clear()
    compositions.set(key, r)
  }
  return r ?? undefined
}

/** Decomposed characters in canonical order, with their changes (0 for a character's first part). */
function decomposeAll(s: string, compat: boolean, limit: number): Change[] {
  const out: Change[] = []
  let pending = 0 // start of the run (a starter and the marks after it) that may still be reordered
  const sortPending = () => {
    if (out.length - pending < 2) return
    const run = out.slice(pending)
    // Array.prototype.sort is stable, like the crate's sort_by_key; a starter (class 0) stays first.
    run.sort((x, y) => combiningClass(x.char.codePointAt(0)!) - combiningClass(y.char.codePointAt(0)!))
    for (let k = 0; k < run.length; k++) out[pending + k] = run[k]
  }
  for (const ch of s) {
    const parts = decompose(ch, compat)
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k]
      if (combiningClass(part.codePointAt(0)!) === 0) {
        sortPending()
        pending = out.length
      }
      out.push({ char: part, change: k === 0 ? 0 : 1 })
    }
    // Decomposition grows a text up to 18-fold: checked as it goes, before the objects pile up.
    checkGrowth(out.length, limit, 'normalizer')
  }
  sortPending()
  return out
}

/** The crate's Recompositions iterator over decomposed characters. */
function recompose(input: Change[]): Change[] {
  const out: Change[] = []
  let composee: Change | undefined
  let lastClass = -1 // -1: none
  let buffer: Change[] = []
  for (const item of input) {
    const cls = combiningClass(item.char.codePointAt(0)!)
    if (composee === undefined) {
      if (cls !== 0) {
        out.push(item)
        continue
      }
      composee = item
      continue
    }
    if (lastClass === -1) {
      const r = compose(composee.char, item.char)
      if (r !== undefined) {
        composee = { char: r, change: composee.change + item.change - 1 }
        continue
      }
      if (cls === 0) {
        out.push(composee)
        composee = item
        continue
      }
      buffer.push(item)
      lastClass = cls
      continue
    }
    if (lastClass >= cls) {
      // Blocked from the composee.
      if (cls === 0) {
        out.push(composee)
        for (const b of buffer) out.push(b)
        buffer = []
        composee = item
        lastClass = -1
        continue
      }
      buffer.push(item)
      lastClass = cls
      continue
    }
    const r = compose(composee.char, item.char)
    if (r !== undefined) {
      composee = { char: r, change: composee.change + item.change - 1 }
      continue
    }
    buffer.push(item)
    lastClass = cls
  }
  if (composee !== undefined) out.push(composee)
  // One by one: a run of marks may be longer than a call's arguments can be.
  for (const b of buffer) out.push(b)
  return out
}

/** Whether `s` is certainly unchanged by `form` (JavaScript's data covers the Rust tables' data). */
function isStable(s: string, form: NormalizationForm): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0xa0) return s.normalize(form) === s
  return true
}

/** The (char, change) stream of `form` over `s`, for NormalizedString.transform. */
export function normalizeChanges(
  s: string,
  form: NormalizationForm,
  limit = Number.POSITIVE_INFINITY,
): Change[] {
  const compat = form === 'NFKD' || form === 'NFKC'
  const decomposed = decomposeAll(s, compat, limit)
  return form === 'NFD' || form === 'NFKD' ? decomposed : recompose(decomposed)
}

/** `form` applied to `s` as the Rust crate does. */
export function normalizeUnicode(
  s: string,
  form: NormalizationForm,
  limit = Number.POSITIVE_INFINITY,
): string {
  if (isStable(s, form)) return s
  let out = ''
  for (const c of normalizeChanges(s, form, limit)) out += c.char
  return out
}

/** Applies `form` to a NormalizedString, keeping alignments. */
export function normalizeAligned(
  n: { normalized: string; transform(d: Change[], i: number): void },
  form: NormalizationForm,
  limit = Number.POSITIVE_INFINITY,
): void {
  if (isStable(n.normalized, form)) return
  n.transform(normalizeChanges(n.normalized, form, limit), 0)
}
