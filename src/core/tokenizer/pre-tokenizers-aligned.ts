// The pre-tokenizer stages run over NormalizedStrings, as the Rust crate's PreTokenizedString
// does: every piece remembers which part of the input it came from.

import { byteLevelChanges } from './byte-level.js'
import { isBertPunctuation, isWhitespace } from './chars.js'
import { checkGrowth, growthLimit } from './fields.js'
import type { NormalizedString } from './normalized-string.js'
import type { Stage } from './pre-tokenizer-stages.js'
import { charSpans, keptSpans } from './split.js'
import { asOnigSees } from './unicode.js'

/**
 * BERT's two splits (on whitespace, removed; then each punctuation character isolated) as one:
 * the same pieces, without a NormalizedString for each word in between.
 */
function bertSpans(s: string): number[] {
  const spans: number[] = []
  let i = 0
  let word = -1 // start of the word being read
  for (const ch of s) {
    const space = isWhitespace(ch)
    if (space || isBertPunctuation(ch)) {
      if (word >= 0) spans.push(word, i, 0)
      word = -1
      spans.push(i, i + ch.length, space ? 1 : 0)
    } else if (word < 0) word = i
    i += ch.length
  }
  if (word >= 0) spans.push(word, i, 0)
  return spans
}

/** The pieces of `n` at flat [start, end) pairs, cut one at a time as they are wanted (empty ones dropped). */
function* slices(n: NormalizedString, pairs: number[]): Generator<NormalizedString> {
  for (let k = 0; k < pairs.length; k += 2) if (pairs[k + 1] > pairs[k]) yield n.slice(pairs[k], pairs[k + 1])
}

/**
 * The pieces of an Isolated split of `n` on `re` (every match and every stretch between), found one
 * at a time as regexSpans finds them: a long text never has an array of all its spans.
 */
function* isolatedSlices(n: NormalizedString, re: RegExp): Generator<NormalizedString> {
  const text = n.normalized
  if (text.length === 0) return
  // Classes must see code points as Oniguruma's older Unicode data does.
  const s = asOnigSees(text)
  let prev = 0
  let from = 0
  for (;;) {
    // The expression is shared: its position is this walk's own, set before each search.
    re.lastIndex = from
    const m = re.exec(s)
    if (m === null) break
    const start = m.index
    const end = start + m[0].length
    from = end
    if (end === start) {
      // Advance past an empty match by a whole code point, like Oniguruma's find_iter.
      const c = s.charCodeAt(end)
      from = end + (c >= 0xd800 && c <= 0xdbff ? 2 : 1)
      if (end >= s.length) break
      continue
    }
    if (prev !== start) yield n.slice(prev, start)
    yield n.slice(start, end)
    prev = end
  }
  if (prev !== s.length) yield n.slice(prev, s.length)
}

/**
 * One stage over one piece. A stage that cuts (a long text into words) yields the words one at a
 * time: only their spans, a few numbers each, exist for all of them at once.
 */
function runStage(stage: Stage, n: NormalizedString): Iterable<NormalizedString> {
  switch (stage.kind) {
    case 'split':
      if (stage.regex && stage.behavior === 'Isolated' && !stage.invert) return isolatedSlices(n, stage.regex)
      return slices(n, keptSpans(stage.spans(n.normalized), stage.behavior))
    case 'bert':
      return slices(n, keptSpans(bertSpans(n.normalized), 'Removed'))
    case 'byte-level-split':
      if (stage.addPrefixSpace && !n.normalized.startsWith(' ')) n.prepend(' ')
      if (stage.regex) return isolatedSlices(n, stage.regex)
      return n.length > 0 ? [n] : []
    case 'byte-level-map':
      n.transform(byteLevelChanges(n.normalized), 0)
      return n.length > 0 ? [n] : []
    case 'metaspace': {
      const { replacement, scheme } = stage
      const spaces: number[] = []
      for (let i = n.normalized.indexOf(' '); i >= 0; i = n.normalized.indexOf(' ', i + 1))
        spaces.push(i, i + 1)
      if (spaces.length > 0) n.replaceSpans(spaces, replacement)
      if (
        !n.normalized.startsWith(replacement) &&
        (scheme === 'always' || (scheme === 'first' && n.originalStart === 0))
      )
        n.prepend(replacement)
      if (!stage.split) return n.length > 0 ? [n] : []
      return slices(
        n,
        keptSpans(
          charSpans(n.normalized, (ch) => ch === replacement),
          'MergedWithNext',
        ),
      )
    }
  }
}

/**
 * Splits a piece by every stage in turn (pieces an added token produced are not passed in),
 * depth first: each word is finished by the last stage and handed on before the next is cut, so
 * a long text never holds a NormalizedString (with its alignments) for all of its words, and a
 * caller that stops early (a token limit) skips the rest of the work.
 */
export function* preTokenizeAligned(
  stages: readonly Stage[],
  piece: NormalizedString,
): Generator<NormalizedString> {
  // The same bound on growth as the plain runner's (pre-tokenizers.ts), on each stage's running total.
  const limit = growthLimit(piece.length, 'pre-tokenizer')
  const totals = new Array<number>(stages.length).fill(0)
  function* from(level: number, n: NormalizedString): Generator<NormalizedString> {
    if (level === stages.length) {
      yield n
      return
    }
    for (const out of runStage(stages[level], n)) {
      totals[level] += out.length
      checkGrowth(totals[level], limit, 'pre-tokenizer')
      yield* from(level + 1, out)
    }
  }
  yield* from(0, piece)
}
