// Normalizers from tokenizer.json: string → string transforms applied before pre-tokenization.
// Each comes twice: a plain function over the string (the encode() hot path) and `aligned`, the
// same transform on a NormalizedString that keeps offsets (encodeWithOffsets). Both must produce
// the same text; the differential tests hold them to the Rust crate.

import { shown } from '../util/shown.js'
import { bertNormalize, bertNormalizeAligned, bertOptions, lowercase } from './bert-normalizer.js'
import { isWhitespaceCode } from './chars.js'
import { TokenizerError, unsupported } from './errors.js'
import {
  checkGrowth,
  growthLimit,
  isObject,
  type Json,
  listField,
  StageCount,
  stringField,
} from './fields.js'
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

/**
 * One stage, given the most characters its output may have (the whole normalizer may grow its
 * input only so far: fields.ts MAX_GROWTH). Stages that insert strings check it as they go; the
 * others grow text by a small fixed factor, and a Sequence checks after each of them.
 */
interface Stage {
  (s: string, limit: number): string
  aligned(n: NormalizedString, limit: number): void
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

/** A tokenizer.json `{String: "..."} | {Regex: "..."}` pattern as a global RegExp. */
export function parsePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as Json | undefined
  if (p && typeof p.String === 'string') return literalPattern(p.String)
  if (p && typeof p.Regex === 'string') return compileOnigurumaPattern(p.Regex)
  throw new TokenizerError(`tokenizer.json: ${where} has an invalid pattern ${shown(pattern)}`)
}

function stage(
  fast: (s: string, limit: number) => string,
  aligned: (n: NormalizedString, limit: number) => void,
): Stage {
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

function replace(c: Json): Stage {
  const re = parsePattern(c.pattern, 'Replace normalizer')
  const content = stringField(c.content, 'Replace normalizer "content"', '')
  return stage(
    (s, limit) => {
      // The text grows by each match's difference in length: counted as it goes, so that a Replace
      // that would pass the limit stops before building the text.
      let length = s.length
      // A function replacer keeps `$` in the content literal.
      return s.replace(re, (m: string) => {
        length += content.length - m.length
        checkGrowth(length, limit, 'normalizer')
        return content
      })
    },
    (n, limit) => {
      const spans = regexSpans(n.normalized, re)
      const matches: number[] = []
      let length = n.length
      for (let k = 0; k < spans.length; k += 3)
        if (spans[k + 2]) {
          matches.push(spans[k], spans[k + 1])
          length += content.length - (spans[k + 1] - spans[k])
        }
      checkGrowth(length, limit, 'normalizer')
      if (matches.length > 0) n.replaceSpans(matches, content)
    },
  )
}

function sequence(c: Json, count: StageCount): Stage {
  const steps: Stage[] = []
  for (const item of listField(c.normalizers, 'normalizer Sequence "normalizers"')) {
    const step = build(item, count)
    if (step) steps.push(step)
  }
  return stage(
    (s, limit) => {
      for (const step of steps) {
        s = step(s, limit)
        checkGrowth(s.length, limit, 'normalizer')
      }
      return s
    },
    (n, limit) => {
      for (const step of steps) {
        step.aligned(n, limit)
        checkGrowth(n.length, limit, 'normalizer')
      }
    },
  )
}

/** tokenizer.json's `normalizer` section (null: none). */
export function createNormalizer(cfg: unknown): Normalizer | undefined {
  const root = build(cfg, new StageCount('normalizer'))
  if (!root) return undefined
  return Object.assign((s: string) => root(s, growthLimit(s.length, 'normalizer')), {
    aligned: (n: NormalizedString) => root.aligned(n, growthLimit(n.length, 'normalizer')),
  })
}

function build(cfg: unknown, count: StageCount): Stage | undefined {
  if (cfg === null || cfg === undefined) return undefined
  if (!isObject(cfg))
    throw new TokenizerError(`tokenizer.json: a normalizer must be an object, got ${shown(cfg)}`)
  count.add()
  const c = cfg
  switch (c.type) {
    case 'Sequence':
      return sequence(c, count)
    case 'Prepend': {
      const prepend = stringField(c.prepend, 'Prepend normalizer "prepend"', '')
      return stage(
        (s, limit) => {
          if (s.length === 0) return s
          checkGrowth(s.length + prepend.length, limit, 'normalizer')
          return prepend + s
        },
        (n, limit) => {
          checkGrowth(n.length + prepend.length, limit, 'normalizer')
          n.prepend(prepend)
        },
      )
    }
    case 'Replace':
      return replace(c)
    case 'Lowercase':
      return stage(lowercase, (n) => {
        if (lowercase(n.normalized) !== n.normalized) n.mapChars((ch) => ch.toLowerCase())
      })
    case 'Strip': {
      const left = c.strip_left !== false
      const right = c.strip_right !== false
      return stage(
        (s) => stripWhitespace(s, left, right),
        (n) => n.strip(left, right, isWhitespaceCode),
      )
    }
    case 'StripAccents':
      return stage(withoutCombiningMarks, (n) => n.filter((cp) => !isCombiningMark(cp)))
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = c.type as NormalizationForm
      return stage(
        (s, limit) => normalizeUnicode(s, form, limit),
        (n, limit) => normalizeAligned(n, form, limit),
      )
    }
    case 'BertNormalizer': {
      const o = bertOptions(c)
      return stage(
        (s) => bertNormalize(s, o),
        (n) => bertNormalizeAligned(n, o),
      )
    }
    case 'Precompiled': {
      const charsmap = PrecompiledCharsmap.fromBase64(c.precompiled_charsmap)
      return stage(
        (s, limit) => charsmap.normalize(s, limit),
        (n, limit) => charsmap.normalizeAligned(n, limit),
      )
    }
    default:
      return unsupported('normalizer', c.type, SUPPORTED)
  }
}
