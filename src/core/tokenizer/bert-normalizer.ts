// BertNormalizer: clean_text (drop controls, map whitespace to ' '), handle_chinese_chars (pad CJK
// ideographs with spaces), strip_accents (NFD, then drop nonspacing marks) and lowercase, with the
// Rust crate's character classes (unicode_categories' older Unicode data, not JavaScript's).

import { isChineseChar, isWhitespaceCode } from './chars.js'
import type { Change, NormalizedString } from './normalized-string.js'
import { isBertRemoved, isNonspacingMark } from './unicode.js'
import { normalizeAligned, normalizeUnicode } from './unicode-normalize.js'

export interface BertOptions {
  cleanText: boolean
  chinese: boolean
  stripAccents: boolean
  lowercase: boolean
}

export function bertOptions(cfg: Record<string, unknown>): BertOptions {
  const lowercase = cfg.lowercase !== false
  return {
    cleanText: cfg.clean_text !== false,
    chinese: cfg.handle_chinese_chars !== false,
    lowercase,
    // strip_accents: null means "follow lowercase", as in the original BERT.
    stripAccents:
      cfg.strip_accents === null || cfg.strip_accents === undefined ? lowercase : !!cfg.strip_accents,
  }
}

/** Per-character lowercasing, as Rust's `char::to_lowercase` (no final-sigma context rule). */
export function lowercase(s: string): string {
  if (!s.includes('\u03a3')) return s.toLowerCase()
  let out = ''
  for (const ch of s) out += ch.toLowerCase()
  return out
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false
  return true
}

function cleanAndPad(s: string, o: BertOptions): string {
  let out = ''
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (o.cleanText) {
      if (isBertRemoved(c)) continue
      if (isWhitespaceCode(c)) {
        out += ' '
        continue
      }
    }
    out += o.chinese && isChineseChar(c) ? ` ${ch} ` : ch
  }
  return out
}

function stripMarks(s: string): string {
  let out = ''
  for (const ch of normalizeUnicode(s, 'NFD')) if (!isNonspacingMark(ch.codePointAt(0)!)) out += ch
  return out
}

export function bertNormalize(s: string, o: BertOptions): string {
  if (o.cleanText || o.chinese) s = cleanAndPad(s, o)
  // ASCII has no accents, controls aside (removed above when clean_text is on).
  if (o.stripAccents && !isAscii(s)) s = stripMarks(s)
  if (o.lowercase) s = lowercase(s)
  return s
}

export function bertNormalizeAligned(n: NormalizedString, o: BertOptions): void {
  if (o.cleanText) {
    n.filter((c) => !isBertRemoved(c))
    n.mapChars((ch) => (isWhitespaceCode(ch.codePointAt(0)!) ? ' ' : ch))
  }
  if (o.chinese && [...n.normalized].some((ch) => isChineseChar(ch.codePointAt(0)!))) {
    const dest: Change[] = []
    for (const char of n.normalized) {
      if (isChineseChar(char.codePointAt(0)!)) {
        dest.push({ char: ' ', change: 0 }, { char, change: 1 }, { char: ' ', change: 1 })
      } else {
        dest.push({ char, change: 0 })
      }
    }
    n.transform(dest, 0)
  }
  if (o.stripAccents) {
    normalizeAligned(n, 'NFD')
    n.filter((c) => !isNonspacingMark(c))
  }
  if (o.lowercase && lowercase(n.normalized) !== n.normalized) n.mapChars((ch) => ch.toLowerCase())
}
