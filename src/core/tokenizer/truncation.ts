// Truncating a sequence or a pair to a token budget, as the Rust crate's truncate_encodings
// (right side, no stride): longest_first shares the budget between the two sequences, only_first
// and only_second cut one of them and fail when it is too short to absorb the whole excess.

import { type RawEncoding, type TruncationStrategy, truncateEncoding } from './encoding.js'
import { TokenizerError } from './errors.js'

export function truncatePair(
  first: RawEncoding,
  second: RawEncoding | undefined,
  maxLength: number,
  strategy: TruncationStrategy,
): void {
  if (maxLength === 0) {
    truncateEncoding(first, 0)
    if (second) truncateEncoding(second, 0)
    return
  }
  const total = first.ids.length + (second?.ids.length ?? 0)
  if (total <= maxLength) return
  const excess = total - maxLength
  if (strategy === 'longest_first') {
    if (!second) {
      truncateEncoding(first, maxLength)
      return
    }
    let n1 = first.ids.length
    let n2 = second.ids.length
    const swap = n1 > n2
    if (swap) [n1, n2] = [n2, n1]
    // n1 is now the shorter: it keeps everything if the longer can absorb the excess alone.
    n2 = n1 > maxLength ? n1 : Math.max(n1, maxLength - n1)
    if (n1 + n2 > maxLength) {
      n1 = Math.floor(maxLength / 2)
      n2 = n1 + (maxLength % 2)
    }
    if (swap) [n1, n2] = [n2, n1]
    truncateEncoding(first, n1)
    truncateEncoding(second, n2)
    return
  }
  const target = strategy === 'only_first' ? first : second
  const which = strategy === 'only_first' ? 'first' : 'second'
  if (!target) {
    throw new TokenizerError(
      `truncation 'only_second' needs a pair: the text alone is ${excess} tokens over maxLength`,
    )
  }
  if (target.ids.length <= excess) {
    throw new TokenizerError(
      `truncation '${strategy}' cannot meet maxLength: the ${which} sequence has ${target.ids.length} tokens and ${excess} must go`,
    )
  }
  truncateEncoding(target, target.ids.length - excess)
}
