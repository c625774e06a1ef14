// Character classes with the exact definitions the Rust `tokenizers` crate uses, so that
// normalizers and pre-tokenizers split where the reference does.

/** Rust `char::is_whitespace` (Unicode White_Space). JS `\s` differs on U+0085 and U+FEFF. */
export const WHITESPACE_CLASS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'

const WS_RE = new RegExp(`[${WHITESPACE_CLASS}]`, 'u')
const PUNCT_RE = /\p{P}/u
const OTHER_RE = /\p{C}/u
const NUMERIC_RE = /\p{N}/u

export function isWhitespace(ch: string): boolean {
  return WS_RE.test(ch)
}

/** BERT's notion of control: category C (Cc, Cf, Cs, Co, Cn) except tab, newline, return. */
export function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false
  return OTHER_RE.test(ch)
}

/** ASCII punctuation (which includes symbols like `$+<=>^|~`) or any Unicode P* category. */
export function isBertPunctuation(ch: string): boolean {
  const c = ch.codePointAt(0)!
  if (
    (c >= 0x21 && c <= 0x2f) ||
    (c >= 0x3a && c <= 0x40) ||
    (c >= 0x5b && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e)
  )
    return true
  return PUNCT_RE.test(ch)
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
