// Normalizers from tokenizer.json: string → string transforms applied before pre-tokenization.
// Each comes twice: a plain function over the string (the encode() hot path) and `aligned`, the
// same transform on a NormalizedString that keeps offsets (encodeWithOffsets). Both must produce
// the same text; the differential tests hold them to the Rust crate.

import { bertNormalize, bertNormalizeAligned, bertOptions, lowercase } from './bert-normalizer.js'
import { isWhitespaceCode } from './chars.js'
import { TokenizerError, unsupported } from './errors.js'
import type { NormalizedString } from './normalized-string.js'
import { PrecompiledCharsmap } from './precompiled.js'
import { compileOnigurumaPattern, literalPattern } from './regex.js'
import { regexSpans } from './split.js'
import { isCombiningMark } from './unicode.js'
import { type NormalizationForm, normalizeAligned, normalizeUnicode } from './unicode-normalize.js'

export interface Normalizer {
  (s: string): string
  /** The same transform, in place on a string that tracks offsets. */
  aligned(n: NormalizedString): void
}

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
  'Precompiled',
]

type Json = Record<string, unknown>

/** A tokenizer.json `{String: "..."} | {Regex: "..."}` pattern as a global RegExp. */
export function parsePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as Json | undefined
  if (p && typeof p.String === 'string') return literalPattern(p.String)
  if (p && typeof p.Regex === 'string') return compileOnigurumaPattern(p.Regex)
  throw new TokenizerError(`tokenizer.json: ${where} has an invalid pattern ${JSON.stringify(pattern)}`)
}

function normalizer(fast: (s: string) => string, aligned: (n: NormalizedString) => void): Normalizer {
  return Object.assign(fast, { aligned })
}

function stripWhitespace(s: string, left: boolean, right: boolean): string {
  // Every whitespace character is in the BMP, so code units will do.
  let a = 0
  let b = s.length
  if (left) while (a < b && isWhitespaceCode(s.charCodeAt(a))) a++
  if (right) while (b > a && isWhitespaceCode(s.charCodeAt(b - 1))) b--
  return a === 0 && b === s.length ? s : s.slice(a, b)
}

function withoutCombiningMarks(s: string): string {
  let out = ''
  for (const ch of s) if (!isCombiningMark(ch.codePointAt(0)!)) out += ch
  return out
}

function replace(c: Json): Normalizer {
  const re = parsePattern(c.pattern, 'Replace normalizer')
  const content = String(c.content ?? '')
  return normalizer(
    // A function replacer keeps `$` in the content literal.
    (s) => s.replace(re, () => content),
    (n) => {
      const spans = regexSpans(n.normalized, re)
      const matches: number[] = []
      for (let k = 0; k < spans.length; k += 3) if (spans[k + 2]) matches.push(spans[k], spans[k + 1])
      if (matches.length > 0) n.replaceSpans(matches, content)
    },
  )
}

function sequence(c: Json): Normalizer {
  const steps = ((c.normalizers as unknown[]) ?? []).map(createNormalizer).filter((n) => n !== undefined)
  return normalizer(
    (s) => {
      for (const step of steps) s = step(s)
      return s
    },
    (n) => {
      for (const step of steps) step.aligned(n)
    },
  )
}

export function createNormalizer(cfg: unknown): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined
  const c = cfg as Json
  switch (c.type) {
    case 'Sequence':
      return sequence(c)
    case 'Prepend': {
      const prepend = String(c.prepend ?? '')
      return normalizer(
        (s) => (s.length > 0 ? prepend + s : s),
        (n) => n.prepend(prepend),
      )
    }
    case 'Replace':
      return replace(c)
    case 'Lowercase':
      return normalizer(lowercase, (n) => {
        if (lowercase(n.normalized) !== n.normalized) n.mapChars((ch) => ch.toLowerCase())
      })
    case 'Strip': {
      const left = c.strip_left !== false
      const right = c.strip_right !== false
      return normalizer(
        (s) => stripWhitespace(s, left, right),
        (n) => n.strip(left, right, isWhitespaceCode),
      )
    }
    case 'StripAccents':
      return normalizer(withoutCombiningMarks, (n) => n.filter((cp) => !isCombiningMark(cp)))
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = c.type as NormalizationForm
      return normalizer(
        (s) => normalizeUnicode(s, form),
        (n) => normalizeAligned(n, form),
      )
    }
    case 'BertNormalizer': {
      const o = bertOptions(c)
      return normalizer(
        (s) => bertNormalize(s, o),
        (n) => bertNormalizeAligned(n, o),
      )
    }
    case 'Precompiled': {
      const charsmap = PrecompiledCharsmap.fromBase64(c.precompiled_charsmap)
      return normalizer(
        (s) => charsmap.normalize(s),
        (n) => charsmap.normalizeAligned(n),
      )
    }
    default:
      return unsupported('normalizer', c.type, SUPPORTED)
  }
}
