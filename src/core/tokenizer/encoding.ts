// The Encoding encodeWithOffsets returns (what the Rust crate's Encoding holds), and the
// building blocks the post-processors and truncation share: an encoding under construction
// keeps, like the crate's, the token range each input sequence covers.

export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second'

export interface EncodingOptions {
  /** Add the post-processor's special tokens ([CLS] … [SEP], <s> … </s>). Default true. */
  addSpecialTokens?: boolean
  /** The second sequence of a sentence pair. */
  pair?: string
  /** Truncate so the result, special tokens included, has at most this many tokens. */
  maxLength?: number
  /** Which sequence loses tokens; default 'longest_first' (used only with maxLength). */
  truncation?: TruncationStrategy
}

export interface Encoding {
  ids: number[]
  tokens: string[]
  /** token_type_ids as the post-processor assigns them. */
  typeIds: number[]
  /** 1 for real tokens, 0 for padding. */
  attentionMask: number[]
  /** 1 for tokens the post-processor added (and padding). */
  specialTokensMask: number[]
  /** [start, end) into the sequence's own input string, in UTF-16 code units; [0, 0] for added special tokens. */
  offsets: [number, number][]
  /** 0 or 1 (which input of the pair), null for special tokens and padding. */
  sequenceIds: (number | null)[]
  /** The pre-tokenizer word each token came from (the Rust crate's word_ids), null for specials. */
  wordIds: (number | null)[]
}

export interface PadOptions {
  /** Pad to this many tokens; default the longest encoding. Longer encodings are left as they are. */
  length?: number
  side?: 'right' | 'left'
}

/** An encoding being built: the token range of each input sequence (Rust's sequence_ranges). */
export interface RawEncoding {
  ids: number[]
  tokens: string[]
  typeIds: number[]
  specialTokensMask: number[]
  offsets: [number, number][]
  wordIds: (number | null)[]
  ranges: Map<number, [number, number]>
  /** The input the offsets point into (trim_offsets counts characters, not UTF-16 units). */
  source?: string
}

export function emptyEncoding(source?: string): RawEncoding {
  return {
    ids: [],
    tokens: [],
    typeIds: [],
    specialTokensMask: [],
    offsets: [],
    wordIds: [],
    ranges: new Map(),
    source,
  }
}

/** Special tokens as an encoding of their own (no sequence range), as TemplateProcessing makes them. */
export function specialEncoding(
  ids: readonly number[],
  tokens: readonly string[],
  typeId: number,
): RawEncoding {
  return {
    ids: [...ids],
    tokens: [...tokens],
    typeIds: ids.map(() => typeId),
    specialTokensMask: ids.map(() => 1),
    offsets: ids.map((): [number, number] => [0, 0]),
    wordIds: ids.map(() => null),
    ranges: new Map(),
  }
}

export function setTypeIds(e: RawEncoding, typeId: number): void {
  e.typeIds = e.ids.map(() => typeId)
}

export function setSequenceId(e: RawEncoding, sequenceId: number): void {
  e.ranges.set(sequenceId, [0, e.ids.length])
}

/** Appends `b` to `a` (Encoding::merge_with without growing offsets). */
export function appendEncoding(a: RawEncoding, b: RawEncoding): void {
  const base = a.ids.length
  for (const [id, [s, e]] of b.ranges) a.ranges.set(id, [base + s, base + e])
  // concat, not push(...list): that passes each item as an argument, and a long text's hundreds
  // of thousands of tokens overflow the stack.
  a.ids = a.ids.concat(b.ids)
  a.tokens = a.tokens.concat(b.tokens)
  a.typeIds = a.typeIds.concat(b.typeIds)
  a.specialTokensMask = a.specialTokensMask.concat(b.specialTokensMask)
  a.offsets = a.offsets.concat(b.offsets)
  a.wordIds = a.wordIds.concat(b.wordIds)
}

export function mergeEncodings(list: readonly RawEncoding[]): RawEncoding {
  // One encoding is already merged (post-processors hand out encodings of their own).
  if (list.length === 1) return list[0]
  const out = emptyEncoding()
  for (const e of list) appendEncoding(out, e)
  return out
}

/** Keeps the first `length` tokens (Encoding::truncate to the right, no stride); ranges are lost, as in Rust. */
export function truncateEncoding(e: RawEncoding, length: number): void {
  if (length >= e.ids.length) return
  e.ids.length = length
  e.tokens.length = length
  e.typeIds.length = length
  e.specialTokensMask.length = length
  e.offsets.length = length
  e.wordIds.length = length
  e.ranges.clear()
}

/** The public Encoding, with sequence ids from the ranges as Encoding::get_sequence_ids. */
export function finishEncoding(e: RawEncoding): Encoding {
  const sequenceIds: (number | null)[] = new Array(e.ids.length).fill(null)
  // Sequences 0 … n−1 (one when no range is recorded); a missing range covers everything.
  const n = Math.max(1, e.ranges.size)
  for (let id = 0; id < n; id++) {
    const [s, end] = e.ranges.get(id) ?? [0, e.ids.length]
    for (let k = s; k < end; k++) sequenceIds[k] = id
  }
  return {
    ids: e.ids,
    tokens: e.tokens,
    typeIds: e.typeIds,
    attentionMask: e.ids.map(() => 1),
    specialTokensMask: e.specialTokensMask,
    offsets: e.offsets,
    sequenceIds,
    wordIds: e.wordIds,
  }
}

/** Pads each encoding to `length` (or the longest) with `padId`, as Encoding::pad. */
export function padEncodings(
  list: readonly Encoding[],
  padId: number,
  padToken: string,
  opts?: PadOptions,
): Encoding[] {
  const length = opts?.length ?? list.reduce((n, e) => Math.max(n, e.ids.length), 0)
  const left = opts?.side === 'left'
  return list.map((e) => {
    const n = length - e.ids.length
    if (n <= 0) return e
    const pad = <T>(values: T[], v: T): T[] => {
      const fill = new Array<T>(n).fill(v)
      return left ? [...fill, ...values] : [...values, ...fill]
    }
    return {
      ids: pad(e.ids, padId),
      tokens: pad(e.tokens, padToken),
      typeIds: pad(e.typeIds, 0),
      attentionMask: pad(e.attentionMask, 0),
      specialTokensMask: pad(e.specialTokensMask, 1),
      offsets: left
        ? [...Array.from({ length: n }, (): [number, number] => [0, 0]), ...e.offsets]
        : [...e.offsets, ...Array.from({ length: n }, (): [number, number] => [0, 0])],
      sequenceIds: pad(e.sequenceIds, null),
      wordIds: pad(e.wordIds, null),
    }
  })
}
