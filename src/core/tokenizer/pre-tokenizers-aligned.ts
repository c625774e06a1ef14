// The pre-tokenizer stages run over NormalizedStrings, as the Rust crate's PreTokenizedString
// does: every piece remembers which part of the input it came from.

import { byteLevelChanges } from './byte-level.js'
import { isBertPunctuation, isWhitespace } from './chars.js'
import type { NormalizedString } from './normalized-string.js'
import type { Stage } from './pre-tokenizer-stages.js'
import { charSpans, regexSpans } from './split.js'

function runStage(stage: Stage, n: NormalizedString, out: NormalizedString[]): void {
  switch (stage.kind) {
    case 'split':
      n.split(stage.spans(n.normalized), stage.behavior, out)
      return
    case 'bert': {
      const words: NormalizedString[] = []
      n.split(charSpans(n.normalized, isWhitespace), 'Removed', words)
      for (const w of words) w.split(charSpans(w.normalized, isBertPunctuation), 'Isolated', out)
      return
    }
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
  let cur = pieces
  for (const stage of stages) {
    const next: NormalizedString[] = []
    for (const n of cur) runStage(stage, n, next)
    cur = next
  }
  return cur
}
