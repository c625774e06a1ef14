// Character classes with the exact definitions the Rust `tokenizers` crate uses, so that
// normalizers and pre-tokenizers split where the reference does.

import { isBertPunctuation as isBertPunctuationCode } from './unicode.js'

/** Rust `char::is_whitespace` (Unicode White_Space). JS `\s` differs on U+0085 and U+FEFF. */
export const WHITESPACE_CLASS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'

const NUMERIC_RE = /\p{N}/u

/** Rust `char::is_whitespace` on a code point. */
export function isWhitespaceCode(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d)
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  )
}

export function isWhitespace(ch: string): boolean {
  return isWhitespaceCode(ch.codePointAt(0)!)
}

/** ASCII punctuation (which includes symbols like `$+<=>^|~`) or unicode_categories' P*. */
export function isBertPunctuation(ch: string): boolean {
  return isBertPunctuationCode(ch.codePointAt(0)!)
}

/** Rust `char::is_numeric` (categories Nd, Nl, No). */
export function isNumeric(ch: string): boolean {
  return NUMERIC_RE.test(ch)
}

/** The CJK ideograph blocks BERT pads with spaces (not kana or hangul). */
export function isChineseChar(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b920 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  )
}
