// Long texts tokenized a part at a time: the first n tokens of a record (prompt, completion) from a
// prefix of it, and a whole text (windowed into examples) in bounded chunks, so that a 10 MB record
// costs memory for its ids and one chunk, not for every piece and alignment of the whole text.
//
// A text is cut only before a space that follows a non-whitespace character: every pre-tokenizer
// of the Hub's families starts a word there (GPT-2/Llama 3/Qwen regexes, Metaspace, BERT), and a
// SentencePiece BPE without one (Llama 2) merges no token across the start of a "▁" run. Each cut
// is also checked where it is made: the text just before it, tokenized with what follows, must give
// the same first tokens (an added token holding a space, or a vocabulary that merges across "▁",
// fail that check), and a failed check falls back to tokenizing the text whole.

import type { Tokenizer } from '../../tokenizer/index.js'

/** Characters of a chunk of a long text (its ids are the only thing kept of it). */
export const CHUNK_CHARS = 1 << 16

const WHITESPACE = /\s/

/**
 * Whether `at` is a cut: a space, after a character that is neither whitespace nor "▁" (which
 * SentencePiece pipelines read as a space: a run of them is one stretch to BPE).
 */
function isCut(text: string, at: number): boolean {
  if (at <= 0 || at >= text.length || text.charCodeAt(at) !== 0x20) return false
  const before = text.charCodeAt(at - 1)
  return before !== 0x2581 && !WHITESPACE.test(text[at - 1])
}

/** The last cut in (lo, at], or -1. */
function cutAtOrBefore(text: string, at: number, lo: number): number {
  for (let i = Math.min(at, text.length - 1); i > lo; i--) if (isCut(text, i)) return i
  return -1
}

/** The first cut in [at, text.length), or -1. */
function cutAtOrAfter(text: string, at: number): number {
  for (let i = Math.max(at, 1); i < text.length; i++) if (isCut(text, i)) return i
  return -1
}

function startsWith(ids: readonly number[], head: readonly number[], n = head.length): boolean {
  if (ids.length < n || head.length < n) return false
  for (let i = 0; i < n; i++) if (ids[i] !== head[i]) return false
  return true
}

/** Cuts tried for one chunk before it is tokenized whole. */
const MAX_TRIES = 8
/** Characters around a cut that the check at the cut tokenizes. */
const CHECK_CHARS = 256

/**
 * Whether the cut at `at` holds: the text from the cut before it (after `lo`), tokenized up to the
 * cut and up to the next cut, gives the same tokens before the cut.
 */
function holds(tokenizer: Tokenizer, text: string, at: number, lo: number): boolean {
  const a = Math.max(cutAtOrBefore(text, at - 1, Math.max(lo, at - CHECK_CHARS)), lo)
  let b = cutAtOrAfter(text, at + 1)
  if (b < 0 || b > at + CHECK_CHARS) b = Math.min(text.length, at + CHECK_CHARS)
  // Not between the two halves of a surrogate pair.
  if (b < text.length && (text.charCodeAt(b) & 0xfc00) === 0xdc00) b++
  const head = tokenizer.encode(text.slice(a, at), { addSpecialTokens: false })
  return startsWith(tokenizer.encode(text.slice(a, b), { addSpecialTokens: false }), head)
}

/** The special tokens encode puts before and after a text's own tokens (the post-processor's). */
export interface Specials {
  before: number[]
  after: number[]
}

const specialsCache = new WeakMap<Tokenizer, Specials | null>()

/**
 * What the post-processor adds around a text (BOS; [CLS] … [SEP]), found by encoding a short probe
 * with and without special tokens; undefined when they cannot be told apart from its tokens.
 */
export function specialsOf(tokenizer: Tokenizer): Specials | undefined {
  const cached = specialsCache.get(tokenizer)
  if (cached !== undefined) return cached ?? undefined
  let found: Specials | null = null
  for (const probe of ['a', 'the', 'x', '0']) {
    const raw = tokenizer.encode(probe, { addSpecialTokens: false })
    if (raw.length === 0) continue
    const full = tokenizer.encode(probe)
    for (let k = 0; k + raw.length <= full.length; k++) {
      if (raw.every((id, i) => full[k + i] === id)) {
        found = { before: full.slice(0, k), after: full.slice(k + raw.length) }
        break
      }
    }
    break
  }
  specialsCache.set(tokenizer, found)
  return found ?? undefined
}

/** The first tokens of a text, and whether they are all of its tokens. */
export interface Prefix {
  ids: number[]
  complete: boolean
}

/**
 * The first `n` ids of `tokenizer.encode(text, { addSpecialTokens })` (all of them when there are
 * fewer), tokenizing a prefix of the text grown geometrically (from `firstChars`, by default about
 * four characters a token): a prefix ending at a cut is accepted once it gives n tokens and the
 * next, twice as long, starts with the same n.
 */
export function encodePrefix(
  tokenizer: Tokenizer,
  text: string,
  n: number,
  addSpecialTokens = true,
  firstChars?: number,
): Prefix {
  const whole = (): Prefix => {
    const ids = tokenizer.encode(text, { addSpecialTokens })
    return { ids: ids.length > n ? ids.slice(0, n) : ids, complete: ids.length <= n }
  }
  const sp: Specials | undefined = addSpecialTokens ? specialsOf(tokenizer) : { before: [], after: [] }
  if (sp === undefined) return whole()
  // One raw token more than fits tells a text that fills n exactly from a longer one.
  const m = Math.max(0, n - sp.before.length) + 1
  const raw = stablePrefix(
    text,
    m,
    firstChars ?? 4 * m + 64,
    (s) => tokenizer.encode(s, { addSpecialTokens: false }),
    (a, b) => startsWith(a, b, m),
  )
  return raw === undefined
    ? whole()
    : { ids: [...sp.before, ...raw.slice(0, m)].slice(0, n), complete: false }
}

/**
 * The encoding of a prefix of `text` ending at a cut that holds at least m tokens, once the next
 * prefix (twice as long) agrees with it on the first m (`same`); undefined when the prefix would
 * be the whole text.
 */
function stablePrefix<E extends { length: number }>(
  text: string,
  m: number,
  firstChars: number,
  encode: (prefix: string) => E,
  same: (longer: E, shorter: E) => boolean,
): E | undefined {
  let previous: E | undefined
  for (let length = firstChars; ; length *= 2) {
    if (length >= text.length) return undefined
    const cut = cutAtOrBefore(text, length, length >> 1)
    if (cut < 0) continue
    const enc = encode(text.slice(0, cut))
    if (previous !== undefined && same(enc, previous)) return previous
    previous = enc.length >= m ? enc : undefined
  }
}

/**
 * The first `n` tokens of `tokenizer.encodeWithOffsets(text, { addSpecialTokens: false })` with
 * their offsets (all of them when there are fewer), from a prefix grown as encodePrefix grows it:
 * a tokenizer without a pre-tokenizer (Llama 2's) takes a whole text as one word, which the
 * encoder's maxLength cannot stop early.
 */
export function encodeWithOffsetsPrefix(
  tokenizer: Tokenizer,
  text: string,
  n: number,
  firstChars = 4 * n + 64,
): { ids: number[]; offsets: [number, number][] } {
  const encode = (s: string) => {
    const e = tokenizer.encodeWithOffsets(s, { addSpecialTokens: false, maxLength: n + 1 })
    return { ids: e.ids, offsets: e.offsets, length: e.ids.length }
  }
  const sameOffset = (a: [number, number], b: [number, number]) => a[0] === b[0] && a[1] === b[1]
  const prefix = stablePrefix(text, n + 1, firstChars, encode, (a, b) => {
    for (let i = 0; i <= n; i++)
      if (a.ids[i] !== b.ids[i] || !sameOffset(a.offsets[i], b.offsets[i])) return false
    return true
  })
  const e = prefix ?? encode(text)
  return { ids: e.ids.slice(0, n), offsets: e.offsets.slice(0, n) }
}

/**
 * All the ids of `tokenizer.encode(text, { addSpecialTokens })`, tokenized in chunks of about
 * CHUNK_CHARS: each chunk after the first is tokenized with the word before it (so that what a
 * pipeline does only at the start of its input, a prefix space or "▁", is not done again), and
 * that word's own tokens, checked to come first, are dropped.
 */
export function encodeChunked(
  tokenizer: Tokenizer,
  text: string,
  addSpecialTokens = true,
  chunkChars = CHUNK_CHARS,
): number[] {
  const sp: Specials | undefined = addSpecialTokens ? specialsOf(tokenizer) : { before: [], after: [] }
  if (text.length <= chunkChars || sp === undefined) return tokenizer.encode(text, { addSpecialTokens })
  const ids = [...sp.before]
  const push = (list: readonly number[], from: number): void => {
    for (let i = from; i < list.length; i++) ids.push(list[i])
  }
  let start = 0
  // Where the context of the next chunk starts: the cut before `start` (the previous word).
  let context = 0
  while (start < text.length) {
    let end = text.length
    if (start + chunkChars < text.length) {
      end = cutAtOrBefore(text, start + chunkChars, start + (chunkChars >> 1))
      if (end < 0) end = cutAtOrAfter(text, start + chunkChars)
      // A cut this vocabulary merges across (",▁" in a small SentencePiece one): an earlier one.
      for (let tries = 0; end > 0 && !holds(tokenizer, text, end, start); tries++)
        end = tries < MAX_TRIES ? cutAtOrBefore(text, end - 1, start) : -1
      if (end < 0) end = text.length
    }
    if (start === 0) push(tokenizer.encode(text.slice(0, end), { addSpecialTokens: false }), 0)
    else {
      const head = tokenizer.encode(text.slice(context, start), { addSpecialTokens: false })
      const all = tokenizer.encode(text.slice(context, end), { addSpecialTokens: false })
      // The cut at `start` did not hold for this tokenizer: the text whole, as encode gives it.
      if (!startsWith(all, head)) return tokenizer.encode(text, { addSpecialTokens })
      push(all, head.length)
    }
    const before = cutAtOrBefore(text, end - 1, start)
    context = before > 0 ? before : start
    start = end
  }
  push(sp.after, 0)
  return ids
}
