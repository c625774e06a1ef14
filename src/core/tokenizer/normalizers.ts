// Normalizers from tokenizer.json: string → string transforms applied before pre-tokenization.
// We do not track offsets, so each is a plain function over the whole string.

import { isChineseChar, isControl, isWhitespace } from './chars.js'
import { TokenizerError, unsupported } from './errors.js'
import { compileOnigurumaPattern, literalPattern } from './regex.js'

export type Normalizer = (s: string) => string

const SUPPORTED = [
  'Sequence',
  'Prepend',
  'Replace',
  'Lowercase',
  'Strip',
  'StripAccents',
  'NFC',
  'NFD',
  'NFKC',
  'NFKD',
  'BertNormalizer',
]

type Json = Record<string, unknown>

/** A tokenizer.json `{String: "..."} | {Regex: "..."}` pattern as a global RegExp. */
export function parsePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as Json | undefined
  if (p && typeof p.String === 'string') return literalPattern(p.String)
  if (p && typeof p.Regex === 'string') return compileOnigurumaPattern(p.Regex)
  throw new TokenizerError(`tokenizer.json: ${where} has an invalid pattern ${JSON.stringify(pattern)}`)
}

/** Per-character lowercasing, as Rust's `char::to_lowercase` (no final-sigma context rule). */
function lowercase(s: string): string {
  if (!s.includes('\u03a3')) return s.toLowerCase()
  let out = ''
  for (const ch of s) out += ch.toLowerCase()
  return out
}

const MARK_RE = /\p{M}/gu
const NONSPACING_MARK_RE = /\p{Mn}/gu

function bertNormalizer(cfg: Json): Normalizer {
  const cleanText = cfg.clean_text !== false
  const chinese = cfg.handle_chinese_chars !== false
  const lower = cfg.lowercase !== false
  // strip_accents: null means "follow lowercase", as in the original BERT.
  const stripAccents =
    cfg.strip_accents === null || cfg.strip_accents === undefined ? lower : !!cfg.strip_accents
  return (s) => {
    if (cleanText || chinese) {
      let out = ''
      for (const ch of s) {
        if (cleanText) {
          const c = ch.codePointAt(0)!
          if (c === 0 || c === 0xfffd || isControl(ch)) continue
          if (isWhitespace(ch)) {
            out += ' '
            continue
          }
        }
        out += chinese && isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch
      }
      s = out
    }
    if (stripAccents) s = s.normalize('NFD').replace(NONSPACING_MARK_RE, '')
    if (lower) s = lowercase(s)
    return s
  }
}

function stripWhitespace(s: string, left: boolean, right: boolean): string {
  const chars = [...s]
  let a = 0
  let b = chars.length
  if (left) while (a < b && isWhitespace(chars[a])) a++
  if (right) while (b > a && isWhitespace(chars[b - 1])) b--
  return a === 0 && b === chars.length ? s : chars.slice(a, b).join('')
}

export function createNormalizer(cfg: unknown): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined
  const c = cfg as Json
  switch (c.type) {
    case 'Sequence': {
      const steps = ((c.normalizers as unknown[]) ?? []).map(createNormalizer).filter((n) => n !== undefined)
      return (s) => {
        for (const step of steps) s = step(s)
        return s
      }
    }
    case 'Prepend': {
      const prepend = String(c.prepend ?? '')
      return (s) => (s.length > 0 ? prepend + s : s)
    }
    case 'Replace': {
      const re = parsePattern(c.pattern, 'Replace normalizer')
      const content = String(c.content ?? '')
      // A function replacer keeps `$` in the content literal.
      return (s) => s.replace(re, () => content)
    }
    case 'Lowercase':
      return lowercase
    case 'Strip': {
      const left = c.strip_left !== false
      const right = c.strip_right !== false
      return (s) => stripWhitespace(s, left, right)
    }
    case 'StripAccents':
      return (s) => s.replace(MARK_RE, '')
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = c.type
      return (s) => s.normalize(form)
    }
    case 'BertNormalizer':
      return bertNormalizer(c)
    default:
      return unsupported('normalizer', c.type, SUPPORTED)
  }
}
