// Which tokens may come next in a matcher state: the vocabulary walked in byte order, each token's
// bytes fed to the matcher from where it parts from the previous token, a dead prefix skipping
// every token that shares it. Masks are cached by state (a grammar revisits few states: inside a
// string, after a comma, …), per grammar and vocabulary.
import { advance, type MatchState, stateKey } from './json-matcher.js'
import type { TokenTable } from './token-table.js'

/** Cached masks per grammar, at most this many bytes of them (then the cache starts again). */
const CACHE_BYTES = 32 * 1024 * 1024

export class MaskCache {
  private readonly masks = new Map<string, Uint32Array>()
  private bytes = 0

  constructor(readonly table: TokenTable) {}

  /** A bitset over token ids (bit i of word i >> 5): the tokens whose bytes the state accepts. */
  allowed(state: MatchState): Uint32Array {
    const key = stateKey(state)
    let mask = this.masks.get(key)
    if (!mask) {
      mask = walk(this.table, state)
      if (this.bytes + mask.byteLength > CACHE_BYTES) {
        this.masks.clear()
        this.bytes = 0
      }
      this.masks.set(key, mask)
      this.bytes += mask.byteLength
    }
    return mask
  }
}

function walk(table: TokenTable, start: MatchState): Uint32Array {
  const mask = new Uint32Array(table.words)
  const { ids, bytes, lcp } = table
  // Transitions seen in this walk, by state object: inside a string most bytes lead back to the
  // same state, so most of the vocabulary costs a lookup per byte.
  const seen = new Map<MatchState, MatchState[]>()
  const advanceCached = (s: MatchState, b: number): MatchState => {
    let row = seen.get(s)
    if (!row) {
      row = new Array<MatchState>(256)
      seen.set(s, row)
    }
    let next = row[b]
    if (!next) {
      next = advance(s, b)
      row[b] = next
    }
    return next
  }
  // states[d]: the state after the first d bytes of the current token.
  const states: MatchState[] = [start]
  let dead = Number.POSITIVE_INFINITY // tokens sharing this many leading bytes with the last one are rejected
  for (let i = 0; i < ids.length; i++) {
    const shared = lcp[i]
    if (shared >= dead) continue
    dead = Number.POSITIVE_INFINITY
    const b = bytes[i]
    let d = shared
    for (; d < b.length; d++) {
      const next = advanceCached(states[d], b[d])
      if (next.length === 0) break
      states[d + 1] = next
    }
    if (d === b.length) mask[ids[i] >> 5] |= 1 << (ids[i] & 31)
    else dead = d + 1
  }
  return mask
}

/** The state after a token's bytes (empty when the token cannot come next). */
export function advanceBytes(state: MatchState, bytes: Uint8Array): MatchState {
  let s = state
  for (let k = 0; k < bytes.length && s.length; k++) s = advance(s, bytes[k])
  return s
}
