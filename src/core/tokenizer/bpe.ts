// Byte-pair encoding as the Rust `tokenizers` crate does it: split a piece into characters
// (or <0xNN> byte tokens / [UNK]), then repeatedly apply the lowest-ranked merge, leftmost first.
// The tokenizer caches results per piece (most words repeat, which is what makes English fast).

import { quote, shown } from '../util/shown.js'
import { bytesToUnits } from './byte-offsets.js'
import { TokenizerError } from './errors.js'
import { MAX_AFFIX, stringField } from './fields.js'
import type { ModelToken, TokenizerModel } from './model.js'
import { readVocab } from './vocab.js'

/** Pair keys are `left * PAIR_BASE + right`; ids stay far below 2^21 in every Hub vocab. */
const PAIR_BASE = 2 ** 21
/** Heap keys are `rank * POS_BASE + position`, which orders by rank, then leftmost. */
const POS_BASE = 2 ** 32
/** Words up to this many symbols use the quadratic scan, which beats a heap on short input. */
const SCAN_LIMIT = 48
/** Entries in the cache of metaspace chunks (see chunkOnMetaspace). */
const CHUNK_CACHE_LIMIT = 100_000
/** Longest chunk the cache keeps, in UTF-16 units. */
const CHUNK_CACHE_CHARS = 256

const utf8 = new TextEncoder()
const METASPACE = '\u2581'

export class BpeModel implements TokenizerModel {
  readonly maxId: number
  private readonly chunkCache = new Map<string, number[]>()
  /** pair key → merge rank */
  private readonly ranks = new Map<number, number>()
  /** merge rank → id of the merged token */
  private readonly mergedId: Int32Array
  /** byte → id of its `<0xNN>` token, or -1 */
  private readonly byteIds = new Int32Array(256).fill(-1)
  /**
   * SentencePiece-style files (Llama 2) have no pre-tokenizer, so the whole text is one piece.
   * When no token has "▁" after another character, no merge can cross the start of a "▁" run,
   * so encoding the stretches between those points separately (and cached) gives the same ids.
   */
  private readonly chunkOnMetaspace: boolean
  private readonly prefixBytes: number
  private readonly suffixBytes: number

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly byId: string[],
    maxId: number,
    merges: readonly (readonly [string, string])[],
    private readonly unkToken: string | undefined,
    private readonly prefix: string | undefined,
    private readonly suffix: string | undefined,
    private readonly fuseUnk: boolean,
    private readonly byteFallback: boolean,
    private readonly ignoreMerges: boolean,
  ) {
    this.maxId = maxId
    this.prefixBytes = prefix === undefined ? 0 : utf8.encode(prefix).length
    this.suffixBytes = suffix === undefined ? 0 : utf8.encode(suffix).length
    this.mergedId = new Int32Array(merges.length)
    const prefixLen = prefix?.length ?? 0
    merges.forEach(([a, b], rank) => {
      const left = vocab.get(a)
      const right = vocab.get(b)
      const merged = a + b.slice(prefixLen)
      const id = vocab.get(merged)
      if (left === undefined || right === undefined || id === undefined) {
        const missing = left === undefined ? a : right === undefined ? b : merged
        throw new TokenizerError(
          `tokenizer.json: merge ${quote(`${a} ${b}`)} uses ${quote(missing)}, which is not in the vocab`,
        )
      }
      // A repeated pair keeps its last rank, as the Rust HashMap does.
      this.ranks.set(left * PAIR_BASE + right, rank)
      this.mergedId[rank] = id
    })
    this.chunkOnMetaspace =
      vocab.has(METASPACE) &&
      prefix === undefined &&
      suffix === undefined &&
      !ignoreMerges &&
      !byId.some((t) => t !== undefined && /[^\u2581]\u2581/u.test(t))
    if (byteFallback) {
      for (let b = 0; b < 256; b++) {
        const id = vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
        if (id !== undefined) this.byteIds[b] = id
      }
    }
  }

  static fromJSON(m: Record<string, unknown>): BpeModel {
    const { map, byId, maxId } = readVocab(m.vocab, 'BPE')
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
    return new BpeModel(
      map,
      byId,
      maxId,
      parseMerges(m.merges),
      str(m.unk_token),
      // Added to every character's lookup (and with byte_fallback, its bytes become ids): held to
      // a few characters (fields.ts MAX_AFFIX).
      optional(m.continuing_subword_prefix, 'BPE "continuing_subword_prefix"'),
      optional(m.end_of_word_suffix, 'BPE "end_of_word_suffix"'),
      m.fuse_unk === true,
      m.byte_fallback === true,
      m.ignore_merges === true,
    )
  }

  get unkId(): number | undefined {
    return this.unkToken === undefined ? undefined : this.vocab.get(this.unkToken)
  }

  get continuingSubwordPrefix(): string | undefined {
    return this.prefix
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.byId[id]
  }

  tokenize(piece: string, out: number[]): void {
    if (this.chunkOnMetaspace && piece.length > 1) {
      let start = 0
      let at = piece.indexOf(METASPACE, 1)
      while (at > 0) {
        if (piece.charCodeAt(at - 1) !== 0x2581) {
          this.chunk(piece.slice(start, at), out)
          start = at
        }
        at = piece.indexOf(METASPACE, at + 1)
      }
      this.chunk(start === 0 ? piece : piece.slice(start), out)
      return
    }
    const ids = this.encodeWord(piece)
    for (let k = 0; k < ids.length; k++) out.push(ids[k])
  }

  private chunk(chunk: string, out: number[]): void {
    // A long chunk is not worth keeping: it seldom comes again, and a text without a space (one
    // chunk of megabytes) would stay in memory with its ids.
    if (chunk.length > CHUNK_CACHE_CHARS) {
      const ids = this.encodeWord(chunk)
      for (let k = 0; k < ids.length; k++) out.push(ids[k])
      return
    }
    let ids = this.chunkCache.get(chunk)
    if (ids === undefined) {
      ids = Array.from(this.encodeWord(chunk))
      if (this.chunkCache.size >= CHUNK_CACHE_LIMIT) this.chunkCache.clear()
      this.chunkCache.set(chunk, ids)
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k])
  }

  private encodeWord(word: string): ArrayLike<number> {
    if (this.ignoreMerges) {
      const id = this.vocab.get(word)
      if (id !== undefined) return [id]
    }
    const { syms } = this.initialSymbols(word, false)
    if (syms.length < 2) return syms
    return syms.length <= SCAN_LIMIT ? this.mergeByScan(Array.from(syms)) : this.mergeByHeap(syms).syms
  }

  /**
   * One symbol per character, mirroring BPE::merge_word (unk fusing, byte fallback). With
   * `withLens`, also each symbol's length in UTF-8 bytes (the Rust crate's offsets are built from
   * these). Typed arrays: a word can be a whole text (a SentencePiece pipeline has no
   * pre-tokenizer), megabytes of symbols.
   */
  private initialSymbols(word: string, withLens: boolean): Symbols {
    // At most one symbol per UTF-8 byte of a character's lookup: 3 per UTF-16 unit (a surrogate
    // pair is 4 bytes in 2), plus the prefix's and the suffix's bytes under byte fallback.
    const cap = word.length * (3 + this.prefixBytes) + this.suffixBytes
    const syms = new Int32Array(cap)
    const lens = withLens ? new Int32Array(cap) : undefined
    let count = 0
    const push = (id: number, len: number) => {
      syms[count] = id
      if (lens) lens[count] = len
      count++
    }
    let unk = -1 // pending [UNK] id, emitted before the next known symbol
    let unkLen = 0
    const n = word.length
    for (let i = 0; i < n; ) {
      const c = word.charCodeAt(i)
      const width = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1
      let s = width === 1 ? word[i] : word.slice(i, i + 2)
      const byteLen = width === 2 ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3
      if (i > 0 && this.prefix !== undefined) s = this.prefix + s
      i += width
      if (i >= n && this.suffix !== undefined) s += this.suffix
      const id = this.vocab.get(s)
      if (id !== undefined) {
        if (unk >= 0) {
          push(unk, unkLen)
          unk = -1
        }
        push(id, byteLen)
        continue
      }
      if (this.byteFallback) {
        const bytes = utf8.encode(s)
        let ok = true
        for (const b of bytes) if (this.byteIds[b] < 0) ok = false
        if (ok) {
          // Like the Rust crate, a pending [UNK] is not flushed here; it lands after these bytes.
          for (const b of bytes) push(this.byteIds[b], 1)
          continue
        }
      }
      if (this.unkToken !== undefined) {
        const unkId = this.vocab.get(this.unkToken)
        if (unkId === undefined) {
          throw new TokenizerError(
            `tokenizer.json: BPE unk_token ${quote(this.unkToken)} is not in the vocab`,
          )
        }
        if (unk >= 0 && this.fuseUnk) {
          unkLen += byteLen
          continue
        }
        if (unk >= 0) push(unk, unkLen)
        unk = unkId
        unkLen = byteLen
      }
      // Without an unk token an unknown character is dropped, as in the Rust crate.
    }
    if (unk >= 0) push(unk, unkLen)
    return { syms: syms.subarray(0, count), lens: lens?.subarray(0, count) }
  }

  tokenizeWithOffsets(piece: string, out: ModelToken[]): void {
    const tokens: ModelToken[] = []
    if (this.chunkOnMetaspace && piece.length > 1) {
      let start = 0
      let bytes = 0
      let at = piece.indexOf(METASPACE, 1)
      while (at > 0) {
        if (piece.charCodeAt(at - 1) !== 0x2581) {
          const chunk = piece.slice(start, at)
          this.wordTokens(chunk, bytes, tokens)
          bytes += utf8.encode(chunk).length
          start = at
        }
        at = piece.indexOf(METASPACE, at + 1)
      }
      this.wordTokens(piece.slice(start), bytes, tokens)
    } else {
      this.wordTokens(piece, 0, tokens)
    }
    bytesToUnits(piece, tokens)
    for (const t of tokens) out.push(t)
  }

  /** The tokens of one word with byte offsets from `base`, as BPE::tokenize (merges by the heap). */
  private wordTokens(word: string, base: number, out: ModelToken[]): void {
    if (word.length === 0) return
    if (this.ignoreMerges) {
      const id = this.vocab.get(word)
      if (id !== undefined) {
        out.push({ id, value: word, start: base, end: base + utf8.encode(word).length })
        return
      }
    }
    const initial = this.initialSymbols(word, true)
    const merged = initial.syms.length < 2 ? initial : this.mergeByHeap(initial.syms, initial.lens)
    const lens = merged.lens as Int32Array
    let at = base
    for (let k = 0; k < merged.syms.length; k++) {
      const id = merged.syms[k]
      out.push({ id, value: this.byId[id], start: at, end: at + lens[k] })
      at += lens[k]
    }
  }

  /** Short words: keep each adjacent pair's rank in an array and rescan for the minimum. */
  private mergeByScan(syms: number[]): number[] {
    const ranks = this.ranks
    const pairRank: number[] = []
    let n = syms.length
    for (let k = 0; k < n - 1; k++) pairRank.push(ranks.get(syms[k] * PAIR_BASE + syms[k + 1]) ?? -1)
    while (n > 1) {
      let best = -1
      let bestRank = Number.POSITIVE_INFINITY
      for (let k = 0; k < n - 1; k++) {
        const r = pairRank[k]
        if (r >= 0 && r < bestRank) {
          bestRank = r
          best = k
        }
      }
      if (best < 0) break
      syms[best] = this.mergedId[bestRank]
      syms.splice(best + 1, 1)
      pairRank.splice(best, 1)
      n--
      if (best > 0) pairRank[best - 1] = ranks.get(syms[best - 1] * PAIR_BASE + syms[best]) ?? -1
      if (best < n - 1) pairRank[best] = ranks.get(syms[best] * PAIR_BASE + syms[best + 1]) ?? -1
    }
    return syms
  }

  /**
   * Long words: the Rust algorithm, a min-heap of (rank, position) over a linked list, merged in
   * place in `syms` (and `lens`); returns the symbols left, in order.
   */
  private mergeByHeap(syms: Int32Array, lens?: Int32Array): Symbols {
    const n = syms.length
    const ranks = this.ranks
    // next[k]: the symbol after k (-1 at the end), and -2 once k was merged into the one before.
    const prev = new Int32Array(n)
    const next = new Int32Array(n)
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1
      next[k] = k + 1 < n ? k + 1 : -1
    }
    const heap = new MinHeap(n)
    for (let k = 0; k < n - 1; k++) {
      const r = ranks.get(syms[k] * PAIR_BASE + syms[k + 1])
      if (r !== undefined) heap.push(r * POS_BASE + k)
    }
    let left = n
    while (heap.size > 0) {
      const key = heap.pop()
      const rank = Math.floor(key / POS_BASE)
      const pos = key - rank * POS_BASE
      const right = next[pos]
      if (right < 0) continue // merged away, or the last symbol
      // Skip entries made stale by an earlier merge of either symbol.
      if (ranks.get(syms[pos] * PAIR_BASE + syms[right]) !== rank) continue
      syms[pos] = this.mergedId[rank]
      if (lens !== undefined) lens[pos] += lens[right]
      const after = next[right]
      next[right] = -2
      next[pos] = after
      left--
      if (after >= 0) prev[after] = pos
      const before = prev[pos]
      if (before >= 0) {
        const r = ranks.get(syms[before] * PAIR_BASE + syms[pos])
        if (r !== undefined) heap.push(r * POS_BASE + before)
      }
      if (after >= 0) {
        const r = ranks.get(syms[pos] * PAIR_BASE + syms[after])
        if (r !== undefined) heap.push(r * POS_BASE + pos)
      }
    }
    // Compacted in place: the k-th symbol left is never before position k.
    let w = 0
    for (let k = 0; k >= 0; k = next[k]) {
      syms[w] = syms[k]
      if (lens !== undefined) lens[w] = lens[k]
      w++
    }
    return { syms: syms.subarray(0, left), lens: lens?.subarray(0, left) }
  }
}

/** A word's symbols (token ids), with their lengths in UTF-8 bytes where offsets are wanted. */
interface Symbols {
  syms: Int32Array
  lens?: Int32Array
}

function optional(value: unknown, where: string): string | undefined {
  return value === undefined || value === null ? undefined : stringField(value, where, '', MAX_AFFIX)
}

/** Merges come as `"a b"` strings (tokenizers < 0.20) or `["a", "b"]` pairs. */
export function parseMerges(merges: unknown): [string, string][] {
  if (merges === undefined || merges === null) return []
  if (!Array.isArray(merges)) throw new TokenizerError('tokenizer.json: BPE merges must be an array')
  return merges.map((m, i): [string, string] => {
    if (typeof m === 'string') {
      const space = m.indexOf(' ', 1)
      if (space > 0) return [m.slice(0, space), m.slice(space + 1)]
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      return [m[0], m[1]]
    }
    throw new TokenizerError(`tokenizer.json: BPE merge #${i} is malformed: ${shown(m)}`)
  })
}

/** A binary min-heap of numbers (below 2^53), in a Float64Array that doubles when full. */
class MinHeap {
  private items: Float64Array
  private count = 0

  constructor(capacity: number) {
    this.items = new Float64Array(Math.max(16, capacity))
  }

  get size(): number {
    return this.count
  }

  push(v: number): void {
    if (this.count === this.items.length) {
      const grown = new Float64Array(this.items.length * 2)
      grown.set(this.items)
      this.items = grown
    }
    const a = this.items
    let i = this.count++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (a[parent] <= v) break
      a[i] = a[parent]
      i = parent
    }
    a[i] = v
  }

  pop(): number {
    const a = this.items
    const top = a[0]
    const n = --this.count
    const last = a[n]
    if (n > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && a[r] < a[l] ? r : l
        if (a[c] >= last) break
        a[i] = a[c]
        i = c
      }
      a[i] = last
    }
    return top
  }
}
