// Character classes as the Rust `tokenizers` crate sees them. It pins older Unicode data than
// JavaScript's (BERT's control/punctuation/accent classes, NFD/NFC, Oniguruma, the regex crate),
// so these read the generated tables in unicode-tables.ts instead of `\p{...}`.

import * as tables from './unicode-tables.js'

const BMP = 0x10000

/** A set of code points: a byte per BMP code point, sorted [start, end) runs beyond. */
class CodePointTable {
  private bmp?: Uint8Array
  private astral: number[] = []

  constructor(private readonly encoded: string) {}

  /** The value at `c` (0 when absent). */
  get(c: number): number {
    if (this.bmp === undefined) this.decode()
    if (c < BMP) return this.bmp![c]
    const a = this.astral
    let lo = 0
    let hi = a.length / 3
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (a[mid * 3 + 1] <= c) lo = mid + 1
      else hi = mid
    }
    return lo < a.length / 3 && a[lo * 3] <= c ? a[lo * 3 + 2] : 0
  }

  has(c: number): boolean {
    return this.get(c) !== 0
  }

  /** Decoded on first use: most tokenizers need one or two of these tables, if any. */
  private decode(): void {
    const bmp = new Uint8Array(BMP)
    let at = 0
    for (const run of this.encoded.split(';')) {
      if (run === '') continue
      const [delta, length, value] = run.split(',').map((x) => Number.parseInt(x, 36))
      const start = at + delta
      const end = start + length
      const v = value ?? 1
      if (start < BMP) bmp.fill(v, start, Math.min(end, BMP))
      if (end > BMP) this.astral.push(Math.max(start, BMP), end, v)
      at = end
    }
    this.bmp = bmp
  }
}

const bertOther = new CodePointTable(tables.BERT_OTHER)
const nonspacingMark = new CodePointTable(tables.NONSPACING_MARK)
const combiningMark = new CodePointTable(tables.COMBINING_MARK)
const bertPunctuation = new CodePointTable(tables.BERT_PUNCTUATION)
const onigUnassigned = new CodePointTable(tables.ONIG_UNASSIGNED)
const regexWord = new CodePointTable(tables.REGEX_WORD)
const noCanonical = new CodePointTable(tables.NO_CANONICAL_DECOMPOSITION)
const noCompat = new CodePointTable(tables.NO_COMPAT_DECOMPOSITION)
const cccRank = new CodePointTable(tables.CCC_RANK)

/** Removed by BertNormalizer's clean_text: NUL, U+FFFD and unicode_categories' "other" (not tab/LF/CR). */
export function isBertRemoved(c: number): boolean {
  return bertOther.has(c)
}

/** unicode_categories' nonspacing mark (Mn), which BertNormalizer's strip_accents drops after NFD. */
export function isNonspacingMark(c: number): boolean {
  return nonspacingMark.has(c)
}

/** unicode-normalization's combining mark, which the StripAccents normalizer drops. */
export function isCombiningMark(c: number): boolean {
  return combiningMark.has(c)
}

/** ASCII punctuation or unicode_categories' punctuation (BertPreTokenizer, Punctuation). */
export function isBertPunctuation(c: number): boolean {
  return bertPunctuation.has(c)
}

/** The regex crate's `\w` (the Whitespace pre-tokenizer, single_word added tokens). */
export function isRegexWord(c: number): boolean {
  return regexWord.has(c)
}

/** Assigned in JavaScript's Unicode data but not in Oniguruma's, which calls it Cn. */
export function isOnigUnassigned(c: number): boolean {
  return onigUnassigned.has(c)
}

/** Whether the Rust tables lack the decomposition JavaScript's normalize() would apply. */
export function lacksDecomposition(c: number, compat: boolean): boolean {
  return (compat ? noCompat : noCanonical).has(c)
}

/** Canonical combining class as a rank (0 for starters): only comparisons are meaningful. */
export function combiningClass(c: number): number {
  return c < 0x300 ? 0 : cccRank.get(c)
}

/**
 * `s` with each code point Oniguruma does not know replaced by one it does not know either and
 * JavaScript agrees about (same length), so that a JavaScript regex matches where Oniguruma would.
 */
export function asOnigSees(s: string): string {
  // A regex scan is much faster than a loop in JavaScript, and most text is ASCII.
  if (!NON_ASCII.test(s)) return s
  const n = s.length
  let i = 0
  for (; i < n; i++) {
    if (s.charCodeAt(i) < 0x80) continue
    const cp = s.codePointAt(i)!
    if (onigUnassigned.has(cp)) break
    if (cp > 0xffff) i++
  }
  if (i >= n) return s
  let out = s.slice(0, i)
  while (i < n) {
    const cp = s.codePointAt(i)!
    const width = cp > 0xffff ? 2 : 1
    if (cp >= 0x80 && onigUnassigned.has(cp)) out += width === 2 ? '\u{e0000}' : '\u0378'
    else out += s.slice(i, i + width)
    i += width
  }
  return out
}

const NON_ASCII = /[^\0-\x7f]/
