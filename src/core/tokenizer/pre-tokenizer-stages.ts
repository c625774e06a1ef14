// tokenizer.json's pre_tokenizer section read into a flat list of stages, shared by the plain
// (pre-tokenizers.ts) and offset-keeping (pre-tokenizers-aligned.ts) runners so that both cut
// at the same places. Each splitting stage is "spans + behavior", as the Rust crate's
// NormalizedString::split(pattern, behavior).

import { shown } from '../util/shown.js'
import { isBertPunctuation, isNumeric, isWhitespace, isWhitespaceCode } from './chars.js'
import { TokenizerError, unsupported } from './errors.js'
import { charField, isObject, type Json, listField, StageCount, stringField } from './fields.js'
import { parsePattern } from './normalizers.js'
import { compileOnigurumaPattern } from './regex.js'
import { charSpans, parseBehavior, regexSpans, type SplitBehavior } from './split.js'
import { isRegexWord } from './unicode.js'

export interface SplitStage {
  kind: 'split'
  /** Flat [start, end, isMatch] triples covering the piece. */
  spans: (s: string) => number[]
  behavior: SplitBehavior
  /** Set for regex patterns, so that the plain runner can take its Isolated shortcut. */
  regex?: RegExp
  invert: boolean
}

/** ByteLevel's first half: optional prefix space, optional GPT-2 regex split (Isolated). */
export interface ByteLevelSplit {
  kind: 'byte-level-split'
  addPrefixSpace: boolean
  regex?: RegExp
}

export interface MetaspaceStage {
  kind: 'metaspace'
  replacement: string
  scheme: 'always' | 'first' | 'never'
  split: boolean
}

export type Stage =
  | SplitStage
  | ByteLevelSplit
  | MetaspaceStage
  | { kind: 'bert' }
  /** ByteLevel's second half: each UTF-8 byte becomes a printable character. */
  | { kind: 'byte-level-map' }

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

/**
 * The Whitespace pre-tokenizer's `\w+|[^\w\s]+` (regex crate), inverted: runs of word characters
 * and runs of other non-space characters are kept (isMatch 0), the whitespace between removed.
 */
export function whitespaceSpans(s: string): number[] {
  const spans: number[] = []
  let runStart = 0
  let runClass = -1 // 0 word, 1 other, 2 space
  let i = 0
  const close = (end: number) => {
    if (runClass >= 0 && end > runStart) spans.push(runStart, end, runClass === 2 ? 1 : 0)
  }
  while (i < s.length) {
    const c = s.codePointAt(i)!
    const cls = isRegexWord(c) ? 0 : isWhitespaceCode(c) ? 2 : 1
    if (cls !== runClass) {
      close(i)
      runStart = i
      runClass = cls
    }
    i += c > 0xffff ? 2 : 1
  }
  close(s.length)
  return spans
}

function charSplit(pred: (ch: string) => boolean, behavior: SplitBehavior): SplitStage {
  return { kind: 'split', spans: (s) => charSpans(s, pred), behavior, invert: false }
}

function metaspace(c: Json): MetaspaceStage {
  // Older files have add_prefix_space; newer ones prepend_scheme ("always" | "first" | "never").
  const scheme =
    c.prepend_scheme === 'first' || c.prepend_scheme === 'never' || c.prepend_scheme === 'always'
      ? c.prepend_scheme
      : c.add_prefix_space === false
        ? 'never'
        : 'always'
  return {
    kind: 'metaspace',
    replacement: charField(c.replacement, 'Metaspace pre-tokenizer "replacement"', '\u2581'),
    scheme,
    split: c.split !== false,
  }
}

function stage(cfg: unknown, count: StageCount): Stage[] {
  if (cfg === null || cfg === undefined) return []
  if (!isObject(cfg))
    throw new TokenizerError(`tokenizer.json: a pre-tokenizer must be an object, got ${shown(cfg)}`)
  count.add()
  const c = cfg
  switch (c.type) {
    case 'Sequence':
      return listField(c.pretokenizers, 'pre_tokenizer Sequence "pretokenizers"').flatMap((item) =>
        stage(item, count),
      )
    case 'ByteLevel':
      return [
        {
          kind: 'byte-level-split',
          addPrefixSpace: c.add_prefix_space === true,
          regex: c.use_regex !== false ? compileOnigurumaPattern(GPT2_PATTERN) : undefined,
        },
        { kind: 'byte-level-map' },
      ]
    case 'Split': {
      const re = parsePattern(c.pattern, 'Split pre-tokenizer')
      const invert = c.invert === true
      return [
        {
          kind: 'split',
          spans: (s) => regexSpans(s, re, invert),
          behavior: parseBehavior(c.behavior),
          regex: re,
          invert,
        },
      ]
    }
    case 'Metaspace':
      return [metaspace(c)]
    case 'BertPreTokenizer':
      return [{ kind: 'bert' }]
    case 'Whitespace':
      return [{ kind: 'split', spans: whitespaceSpans, behavior: 'Removed', invert: true }]
    case 'WhitespaceSplit':
      return [charSplit(isWhitespace, 'Removed')]
    case 'Punctuation':
      return [charSplit(isBertPunctuation, c.behavior === undefined ? 'Isolated' : parseBehavior(c.behavior))]
    case 'Digits':
      return [charSplit(isNumeric, c.individual_digits === true ? 'Isolated' : 'Contiguous')]
    case 'CharDelimiterSplit': {
      const delimiter = stringField(c.delimiter, 'CharDelimiterSplit pre-tokenizer "delimiter"', '')
      return [charSplit((ch) => ch === delimiter, 'Removed')]
    }
    default:
      return unsupported('pre-tokenizer', c.type, SUPPORTED)
  }
}

/** tokenizer.json's `pre_tokenizer` section as a flat list of stages (null: none). */
export function parseStages(cfg: unknown): Stage[] {
  return stage(cfg, new StageCount('pre-tokenizer'))
}
