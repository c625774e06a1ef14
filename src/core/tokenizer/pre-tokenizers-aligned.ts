// The pre-tokenizer stages run over NormalizedStrings, as the Rust crate's PreTokenizedString
// does: every piece remembers which part of the input it came from.

import { byteLevelChanges } from './byte-level.js'
import { isBertPunctuation, isWhitespace } from './chars.js'
import { checkGrowth, growthLimit, totalLength } from './fields.js'
import type { NormalizedString } from './normalized-string.js'
import type { Stage } from './pre-tokenizer-stages.js'
import { charSpans, regexSpans } from './split.js'

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

function runStage(stage: Stage, n: NormalizedString, out: NormalizedString[]): void {
  switch (stage.kind) {
    case 'split':
      n.split(stage.spans(n.normalized), stage.behavior, out)
      return
    case 'bert':
      n.split(bertSpans(n.normalized), 'Removed', out)
      return
    case 'byte-level-split':
      if (stage.addPrefixSpace && !n.normalized.startsWith(' ')) n.prepend(' ')
      if (stage.regex) n.split(regexSpans(n.normalized, stage.regex), 'Isolated', out)
      else if (n.length > 0) out.push(n)
      return
    case 'byte-level-map':
      n.transform(byteLevelChanges(n.normalized), 0)
      if (n.length > 0) out.push(n)
      return
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
      if (!stage.split) {
        if (n.length > 0) out.push(n)
        return
      }
      n.split(
        charSpans(n.normalized, (ch) => ch === replacement),
        'MergedWithNext',
        out,
      )
      return
    }
  }
}

/** Splits each piece by every stage in turn (pieces an added token produced are not passed in). */
export function preTokenizeAligned(stages: readonly Stage[], pieces: NormalizedString[]): NormalizedString[] {
  // The same bound on growth as the plain runner's (pre-tokenizers.ts).
  const limit = growthLimit(totalLength(pieces), 'pre-tokenizer')
  let cur = pieces
  for (const stage of stages) {
    const next: NormalizedString[] = []
    for (const n of cur) runStage(stage, n, next)
    checkGrowth(totalLength(next), limit, 'pre-tokenizer')
    cur = next
  }
  return cur
}
