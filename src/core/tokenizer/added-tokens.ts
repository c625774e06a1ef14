// Added tokens (special or not) are matched in the text before the model sees it, as the Rust
// AddedVocabulary does: tokens with `normalized: false` against the raw text, the others
// against each normalized remainder, leftmost-longest, honouring single_word/lstrip/rstrip.

import { quote, shown } from '../util/shown.js'
import { WHITESPACE_CLASS } from './chars.js'
import { TokenizerError } from './errors.js'
import { isObject, listField } from './fields.js'
import { NormalizedString } from './normalized-string.js'
import type { Normalizer } from './normalizers.js'
import { literalPattern } from './regex.js'
import { isRegexWord } from './unicode.js'

export interface AddedToken {
  id: number
  content: string
  special: boolean
  singleWord: boolean
  lstrip: boolean
  rstrip: boolean
  normalized: boolean
}

/**
 * Longest added token (in UTF-16 units, after normalization too): the tokens are matched by one
 * regular expression, and V8 refuses a literal of some 20,000 characters in it ("Regular expression
 * too large"). Real added tokens are a few dozen characters at most (runs of spaces or tabs in code
 * models, <|reserved_special_token_250|>).
 */
export const MAX_ADDED_TOKEN_LENGTH = 4096

/** tokenizer.json's `added_tokens` (absent or null: none); empty contents are dropped, as they never match. */
export function parseAddedTokens(list: unknown): AddedToken[] {
  const out: AddedToken[] = []
  listField(list, '"added_tokens"').forEach((t, k) => {
    if (!isObject(t) || typeof t.content !== 'string')
      throw new TokenizerError(
        `tokenizer.json: added_tokens #${k} must be an object with a string "content", got ${shown(t)}`,
      )
    if (t.content.length === 0) return
    checkTokenLength(t.content, `added_tokens #${k}`)
    out.push({
      // Checked with the vocabulary's size in mind (Tokenizer, vocab.ts checkTokenId).
      id: t.id as number,
      content: t.content,
      special: t.special === true,
      singleWord: t.single_word === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      // The Rust default is `normalized: !special`.
      normalized: typeof t.normalized === 'boolean' ? t.normalized : t.special !== true,
    })
  })
  return out
}

function checkTokenLength(pattern: string, where: string): void {
  if (pattern.length > MAX_ADDED_TOKEN_LENGTH)
    throw new TokenizerError(
      `tokenizer.json: ${where} ${quote(pattern, 40)} is ${pattern.length} characters long; kiln matches added tokens of at most ${MAX_ADDED_TOKEN_LENGTH}`,
    )
}

/** Whether `s` ends with a regex-crate `\w` character (its Unicode data, not JavaScript's). */
function endsWithWord(s: string): boolean {
  if (s.length === 0) return false
  const lo = s.charCodeAt(s.length - 1)
  const at = lo >= 0xdc00 && lo <= 0xdfff && s.length > 1 ? s.length - 2 : s.length - 1
  return isRegexWord(s.codePointAt(at)!)
}

function startsWithWord(s: string): boolean {
  return s.length > 0 && isRegexWord(s.codePointAt(0)!)
}
const TRAILING_SPACE = new RegExp(`[${WHITESPACE_CLASS}]*$`, 'u')
const LEADING_SPACE = new RegExp(`^[${WHITESPACE_CLASS}]*`, 'u')

/** One literal-alternation matcher; longest patterns first gives leftmost-longest matching. */
class Matcher {
  private readonly re: RegExp
  private readonly byPattern = new Map<string, AddedToken>()

  constructor(entries: [pattern: string, token: AddedToken][]) {
    for (const [pattern, token] of entries) {
      // A normalizer may have grown the content past what the expression can hold.
      checkTokenLength(pattern, `added token ${quote(token.content, 40)} normalized`)
      if (pattern.length > 0 && !this.byPattern.has(pattern)) this.byPattern.set(pattern, token)
    }
    const patterns = [...this.byPattern.keys()].sort((a, b) => b.length - a.length)
    // `(?!)` never matches: every pattern may have normalized to nothing.
    this.re = new RegExp(patterns.map((p) => literalPattern(p).source).join('|') || '(?!)', 'gu')
  }

  /**
   * Splits `s` into flat [start, end, tokenId] triples (tokenId -1 for plain text), like
   * AddedVocabulary::find_matches.
   */
  find(s: string): number[] {
    const spans: number[] = []
    const re = this.re
    let startOffset = 0
    re.lastIndex = 0
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const token = this.byPattern.get(m[0])!
      let start = m.index
      let stop = start + m[0].length
      if (token.singleWord) {
        const startSpace = start === 0 || !endsWithWord(s.slice(0, start))
        const stopSpace = stop === s.length || !startsWithWord(s.slice(stop))
        if (!startSpace || !stopSpace) continue
      }
      if (token.lstrip) {
        const newStart = TRAILING_SPACE.exec(s.slice(0, start))!.index
        start = Math.max(newStart, startOffset)
      }
      if (token.rstrip) {
        stop += LEADING_SPACE.exec(s.slice(stop))![0].length
        re.lastIndex = stop
      }
      if (startOffset < start) spans.push(startOffset, start, -1)
      spans.push(start, stop, token.id)
      startOffset = stop
    }
    if (startOffset !== s.length) spans.push(startOffset, s.length, -1)
    return spans
  }
}

export class AddedVocabulary {
  readonly tokens: readonly AddedToken[]
  readonly byContent = new Map<string, AddedToken>()
  readonly byId = new Map<number, AddedToken>()
  private readonly raw?: Matcher
  private readonly normalizedMatcher?: Matcher

  constructor(
    tokens: AddedToken[],
    private readonly normalizer: Normalizer | undefined,
  ) {
    // Special tokens are registered first, as in the Rust crate (it decides ties between equal patterns).
    this.tokens = [...tokens.filter((t) => t.special), ...tokens.filter((t) => !t.special)]
    for (const t of this.tokens) {
      if (!this.byContent.has(t.content)) this.byContent.set(t.content, t)
      this.byId.set(t.id, t)
    }
    const raw = this.tokens.filter((t) => !t.normalized)
    const normalized = this.tokens.filter((t) => t.normalized)
    if (raw.length > 0) this.raw = new Matcher(raw.map((t) => [t.content, t]))
    if (normalized.length > 0) {
      this.normalizedMatcher = new Matcher(
        normalized.map((t) => [normalizer ? normalizer(t.content) : t.content, t]),
      )
    }
  }

  /**
   * Walks `text` in order: `onToken` for each added token found, `onText` for each normalized
   * stretch between them (non-empty), with whether it starts at the beginning of the input.
   */
  split(
    text: string,
    onText: (normalized: string, atStart: boolean) => void,
    onToken: (id: number) => void,
  ): void {
    if (!this.raw) {
      this.splitNormalized(text, true, onText, onToken)
      return
    }
    const spans = this.raw.find(text)
    for (let k = 0; k < spans.length; k += 3) {
      const start = spans[k]
      const end = spans[k + 1]
      const id = spans[k + 2]
      if (id >= 0) onToken(id)
      else this.splitNormalized(text.slice(start, end), start === 0, onText, onToken)
    }
  }

  private splitNormalized(
    s: string,
    atStart: boolean,
    onText: (normalized: string, atStart: boolean) => void,
    onToken: (id: number) => void,
  ): void {
    if (s.length === 0) return
    const normalized = this.normalizer ? this.normalizer(s) : s
    if (normalized.length === 0) return
    if (!this.normalizedMatcher) {
      onText(normalized, atStart)
      return
    }
    const spans = this.normalizedMatcher.find(normalized)
    for (let k = 0; k < spans.length; k += 3) {
      const start = spans[k]
      const end = spans[k + 1]
      const id = spans[k + 2]
      if (id >= 0) onToken(id)
      else if (end > start) onText(normalized.slice(start, end), atStart && start === 0)
    }
  }

  /**
   * The same walk as `split`, keeping offsets: the input cut into added tokens and normalized
   * stretches, as AddedVocabulary::extract_and_normalize (empty stretches are dropped).
   */
  splitAligned(text: string): AlignedSplit[] {
    const out: AlignedSplit[] = []
    const root = NormalizedString.from(text)
    const spans = this.raw ? this.raw.find(text) : text.length > 0 ? [0, text.length, -1] : []
    for (let k = 0; k < spans.length; k += 3) {
      const [start, end, id] = [spans[k], spans[k + 1], spans[k + 2]]
      if (end <= start) continue
      const piece = root.slice(start, end)
      if (id >= 0) out.push({ n: piece, token: { id, value: piece.normalized } })
      else this.splitNormalizedAligned(piece, out)
    }
    return out
  }

  private splitNormalizedAligned(piece: NormalizedString, out: AlignedSplit[]): void {
    this.normalizer?.aligned(piece)
    if (piece.length === 0) return
    if (!this.normalizedMatcher) {
      out.push({ n: piece })
      return
    }
    const spans = this.normalizedMatcher.find(piece.normalized)
    for (let k = 0; k < spans.length; k += 3) {
      const [start, end, id] = [spans[k], spans[k + 1], spans[k + 2]]
      if (end <= start) continue
      const sub = piece.slice(start, end)
      out.push(id >= 0 ? { n: sub, token: { id, value: sub.normalized } } : { n: sub })
    }
  }
}

/** A stretch of the input: an added token (`token`) or normalized text for the pre-tokenizer. */
export interface AlignedSplit {
  n: NormalizedString
  token?: { id: number; value: string }
}
