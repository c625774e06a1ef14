// Pre-tokenizers from tokenizer.json: cut normalized text into pieces that the model encodes
// independently (and caches). The config is read once into stages (pre-tokenizer-stages.ts);
// this file runs them over plain strings, the encode() hot path. pre-tokenizers-aligned.ts runs
// the same stages over NormalizedStrings to keep offsets.

import { toByteLevel } from './byte-level.js'
import { isBertPunctuation, isWhitespace } from './chars.js'
import { checkGrowth, growthLimit, MAX_GROWTH, totalLength } from './fields.js'
import { type ByteLevelSplit, type MetaspaceStage, parseStages, type Stage } from './pre-tokenizer-stages.js'
import { charSpans, splitSpans } from './split.js'
import { asOnigSees } from './unicode.js'

export interface PreTokenized {
  pieces: string[]
  /** Whether pieces[0] begins at offset 0 of the original input (Metaspace "first" needs it). */
  atStart: boolean
}

export type PreTokenizer = (pieces: string[], atStart: boolean) => PreTokenized

/**
 * A pre-tokenizer split in two: `split` cuts the text, `map` (ByteLevel's byte → character
 * mapping, when it comes last) transforms each piece. Keeping `map` separate lets the tokenizer
 * look pieces up in its cache before paying for the mapping. `stages` is the parsed config.
 */
export interface PreTokenizerPlan {
  split?: PreTokenizer
  map?: (piece: string) => string
  stages: Stage[]
}

/** Lifts a per-piece splitter (returning whether its first output starts at 0) to a stage. */
function perPiece(split: (s: string, atStart: boolean, out: string[]) => boolean): PreTokenizer {
  return (pieces, atStart) => {
    const out: string[] = []
    let outAtStart = false
    for (let k = 0; k < pieces.length; k++) {
      const before = out.length
      const first = split(pieces[k], k === 0 && atStart, out)
      if (k === 0 && atStart && out.length > before) outAtStart = first
    }
    return { pieces: out, atStart: outAtStart }
  }
}

/** Appends the pieces of an Isolated split (every span kept) of `text` on `re` to `out`. */
function splitIsolated(text: string, re: RegExp, out: string[]): void {
  const s = asOnigSees(text)
  re.lastIndex = 0
  let prev = 0
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const start = m.index
    const end = start + m[0].length
    if (start === end) {
      re.lastIndex = end + (s.charCodeAt(end) >= 0xd800 && s.charCodeAt(end) <= 0xdbff ? 2 : 1)
      if (end >= s.length) break
      continue
    }
    if (start !== prev) out.push(text.slice(prev, start))
    // The match itself is the piece unless Oniguruma's view replaced characters.
    out.push(s === text ? m[0] : text.slice(start, end))
    prev = end
  }
  if (prev < text.length) out.push(prev === 0 ? text : text.slice(prev))
}

function byteLevelSplit(stage: ByteLevelSplit): PreTokenizer {
  return perPiece((s, _atStart, out) => {
    if (stage.addPrefixSpace && !s.startsWith(' ')) s = ` ${s}`
    if (stage.regex) splitIsolated(s, stage.regex, out)
    else out.push(s)
    return true
  })
}

function metaspace(stage: MetaspaceStage): PreTokenizer {
  const { replacement, scheme } = stage
  return perPiece((s, atStart, out) => {
    s = s.replaceAll(' ', replacement)
    if (!s.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && atStart)))
      s = replacement + s
    if (!stage.split) {
      if (s.length > 0) out.push(s)
      return true
    }
    // MergedWithNext on the replacement: a piece starts at each replacement character.
    if (replacement.length !== 1) {
      return splitSpans(
        s,
        charSpans(s, (ch) => ch === replacement),
        'MergedWithNext',
        out,
      )
    }
    let start = 0
    for (let at = s.indexOf(replacement, 1); at > 0; at = s.indexOf(replacement, at + 1)) {
      out.push(s.slice(start, at))
      start = at
    }
    if (start < s.length) out.push(start === 0 ? s : s.slice(start))
    return true
  })
}

/** BERT: split on whitespace (dropped), then isolate each punctuation character, in one pass. */
const bert: PreTokenizer = perPiece((s, _atStart, out) => {
  let word = ''
  for (const ch of s) {
    if (isWhitespace(ch)) {
      if (word) out.push(word)
      word = ''
    } else if (isBertPunctuation(ch)) {
      if (word) out.push(word)
      out.push(ch)
      word = ''
    } else {
      word += ch
    }
  }
  if (word) out.push(word)
  return true
})

function splitter(stage: Stage): PreTokenizer {
  switch (stage.kind) {
    case 'byte-level-split':
      return byteLevelSplit(stage)
    case 'metaspace':
      return metaspace(stage)
    case 'bert':
      return bert
    case 'split':
      if (stage.regex && stage.behavior === 'Isolated' && !stage.invert) {
        const re = stage.regex
        return perPiece((s, _atStart, out) => {
          splitIsolated(s, re, out)
          return true
        })
      }
      return perPiece((s, _atStart, out) => splitSpans(s, stage.spans(s), stage.behavior, out))
    case 'byte-level-map':
      return perPiece((s, _atStart, out) => {
        out.push(toByteLevel(s))
        return true
      })
  }
}

export function createPreTokenizer(cfg: unknown): PreTokenizerPlan | undefined {
  const stages = parseStages(cfg)
  if (stages.length === 0) return undefined
  // A ByteLevel that neither adds a prefix space nor splits (after a Split, as in Llama 3) only maps bytes.
  const list = stages.filter((s) => s.kind !== 'byte-level-split' || s.addPrefixSpace || s.regex)
  // Peel the trailing byte mappings off; one in the middle becomes an ordinary per-piece stage.
  let maps = 0
  while (list.length > 0 && list[list.length - 1].kind === 'byte-level-map') {
    list.pop()
    maps++
  }
  const splits = list.map(splitter)
  const plan: PreTokenizerPlan = { stages }
  if (splits.length === 1) plan.split = splits[0]
  else if (splits.length > 1) {
    // Each stage grows the text by a small factor at most (a prefix space, a replacement
    // character, ByteLevel's bytes): the growth is checked after each.
    plan.split = (pieces, atStart) => {
      const limit = growthLimit(totalLength(pieces), 'pre-tokenizer')
      let cur: PreTokenized = { pieces, atStart }
      for (const stage of splits) {
        cur = stage(cur.pieces, cur.atStart)
        checkGrowth(totalLength(cur.pieces), limit, 'pre-tokenizer')
      }
      return cur
    }
  }
  if (maps === 1) plan.map = toByteLevel
  else if (maps > 1) {
    // Each ByteLevel mapping makes every character two or three: only a few may follow each other.
    plan.map = (piece) => {
      const limit = piece.length * MAX_GROWTH['pre-tokenizer']
      for (let k = 0; k < maps; k++) {
        piece = toByteLevel(piece)
        checkGrowth(piece.length, limit, 'pre-tokenizer')
      }
      return piece
    }
  }
  return plan
}
