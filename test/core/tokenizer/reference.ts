// The Rust `tokenizers` package (a devDependency) as the oracle for the differential tests:
// its encodings with offsets converted from code points to UTF-16 units, in kiln's Encoding shape.

import { type TruncationStrategy as RustStrategy, Tokenizer as RustTokenizer } from 'tokenizers'
import type { Encoding, EncodingOptions } from '../../../src/core/tokenizer/index.js'

export { RustTokenizer }

const STRATEGY: Record<string, RustStrategy> = {
  longest_first: 'LongestFirst' as RustStrategy,
  only_first: 'OnlyFirst' as RustStrategy,
  only_second: 'OnlySecond' as RustStrategy,
}

/** UTF-16 index of each code point index of `s` (one more entry for the end). */
function codePointToUnit(s: string): number[] {
  const out: number[] = []
  let i = 0
  for (const ch of s) {
    out.push(i)
    i += ch.length
  }
  out.push(i)
  return out
}

/** The Rust encoding of `text` (and `opts.pair`), in kiln's Encoding shape. */
export async function rustEncode(
  rust: RustTokenizer,
  text: string,
  opts: EncodingOptions = {},
): Promise<Encoding> {
  if (opts.maxLength !== undefined) {
    rust.setTruncation(opts.maxLength, { strategy: STRATEGY[opts.truncation ?? 'longest_first'] })
  } else {
    rust.disableTruncation()
  }
  const e = await rust.encode(text, opts.pair ?? null, { addSpecialTokens: opts.addSpecialTokens !== false })
  const first = codePointToUnit(text)
  const second = opts.pair === undefined ? first : codePointToUnit(opts.pair)
  const seq = e.getSequenceIds().map((x) => (x === undefined ? null : x))
  return {
    ids: e.getIds(),
    tokens: e.getTokens(),
    typeIds: e.getTypeIds(),
    attentionMask: e.getAttentionMask(),
    specialTokensMask: e.getSpecialTokensMask(),
    offsets: e.getOffsets().map(([s, end], i) => {
      const map = seq[i] === 1 ? second : first
      return [map[s] ?? s, map[end] ?? end]
    }),
    sequenceIds: seq,
    wordIds: e.getWordIds().map((x) => (x === undefined ? null : x)),
  }
}
