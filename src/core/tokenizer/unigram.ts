// Unigram (SentencePiece's other model: XLM-RoBERTa, ALBERT, T5 …): the segmentation with the
// highest total log-probability, found by Viterbi over every vocab piece that starts at each
// character, as the Rust crate's Unigram::encode_optimized. A character no piece covers gets an
// [UNK] node scored min_score − 10; neighbouring [UNK]s are fused, and a fused piece missing from
// the vocab becomes <0xNN> byte tokens (byte_fallback) or unk_id.

import { shown } from '../util/shown.js'
import { TokenizerError } from './errors.js'
import type { ModelToken, TokenizerModel } from './model.js'

/** Pieces starting at a character: as in the Rust crate, an unknown character costs this much more than the rarest piece. */
const UNK_PENALTY = 10

const utf8 = new TextEncoder()

/** A trie over UTF-16 code units; a transition is `node * 0x10000 + unit` → child. */
class Trie {
  private readonly next = new Map<number, number>()
  /** Piece id ending at each node, or -1. */
  private ids: number[] = [-1]

  insert(piece: string, id: number): void {
    let node = 0
    for (let i = 0; i < piece.length; i++) {
      const key = node * 0x10000 + piece.charCodeAt(i)
      let child = this.next.get(key)
      if (child === undefined) {
        child = this.ids.length
        this.ids.push(-1)
        this.next.set(key, child)
      }
      node = child
    }
    this.ids[node] = id
  }

  /** Calls `hit(end, id)` for each piece that starts at `start` of `s`, shortest first. */
  prefixes(s: string, start: number, hit: (end: number, id: number) => void): void {
    let node = 0
    for (let i = start; i < s.length; i++) {
      const child = this.next.get(node * 0x10000 + s.charCodeAt(i))
      if (child === undefined) return
      node = child
      const id = this.ids[node]
      if (id >= 0) hit(i + 1, id)
    }
  }
}

export class UnigramModel implements TokenizerModel {
  readonly maxId: number
  private readonly vocab = new Map<string, number>()
  private readonly trie = new Trie()
  private readonly unkScore: number
  /** byte → id of its `<0xNN>` token, or -1 */
  private readonly byteIds = new Int32Array(256).fill(-1)

  private constructor(
    private readonly pieces: string[],
    private readonly scores: Float64Array,
    readonly unkId: number | undefined,
    private readonly byteFallback: boolean,
  ) {
    this.maxId = pieces.length - 1
    let minScore = Number.POSITIVE_INFINITY
    pieces.forEach((piece, id) => {
      this.vocab.set(piece, id)
      if (scores[id] < minScore) minScore = scores[id]
    })
    // A repeated piece resolves to its last id, as the Rust HashMap does.
    for (const [piece, id] of this.vocab) if (piece.length > 0) this.trie.insert(piece, id)
    this.unkScore = minScore - UNK_PENALTY
    for (let b = 0; b < 256; b++) {
      const id = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
      if (id !== undefined) this.byteIds[b] = id
    }
  }

  static fromJSON(m: Record<string, unknown>): UnigramModel {
    if (!Array.isArray(m.vocab))
      throw new TokenizerError('tokenizer.json: Unigram vocab must be an array of [piece, score]')
    const pieces: string[] = []
    const scores = new Float64Array(m.vocab.length)
    m.vocab.forEach((entry, i) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw new TokenizerError(
          `tokenizer.json: Unigram vocab entry #${i} is not [piece, score]: ${shown(entry)}`,
        )
      }
      pieces.push(entry[0])
      scores[i] = entry[1]
    })
    const unkId = typeof m.unk_id === 'number' ? m.unk_id : undefined
    if (unkId !== undefined && !(Number.isInteger(unkId) && unkId >= 0 && unkId < pieces.length)) {
      throw new TokenizerError(
        `tokenizer.json: Unigram unk_id ${unkId} is outside the vocab (${pieces.length} pieces)`,
      )
    }
    return new UnigramModel(pieces, scores, unkId, m.byte_fallback === true)
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id]
  }

  tokenize(piece: string, out: number[]): void {
    for (const s of this.segment(piece)) {
      const id = this.vocab.get(s)
      if (id !== undefined) out.push(id)
      else {
        const bytes = this.fallbackBytes(s)
        if (bytes) for (const b of bytes) out.push(this.byteIds[b])
        else out.push(this.requireUnk())
      }
    }
  }

  tokenizeWithOffsets(piece: string, out: ModelToken[]): void {
    let at = 0
    for (const s of this.segment(piece)) {
      const start = at
      at += s.length
      const id = this.vocab.get(s)
      if (id !== undefined) {
        out.push({ id, value: s, start, end: at })
        continue
      }
      const bytes = this.fallbackBytes(s)
      if (bytes) {
        for (const b of bytes)
          out.push({ id: this.byteIds[b], value: this.pieces[this.byteIds[b]], start, end: at })
      } else {
        out.push({ id: this.requireUnk(), value: s, start, end: at })
      }
    }
  }

  /** The UTF-8 bytes of an unknown piece when every one has a `<0xNN>` token (byte_fallback). */
  private fallbackBytes(s: string): Uint8Array | undefined {
    if (!this.byteFallback) return undefined
    const bytes = utf8.encode(s)
    for (const b of bytes) if (this.byteIds[b] < 0) return undefined
    return bytes
  }

  private requireUnk(): number {
    if (this.unkId === undefined)
      throw new TokenizerError(
        'Unigram: the text has a character no piece covers and the model has no unk_id',
      )
    return this.unkId
  }

  /** The best segmentation of `s` into pieces (fused unknown stretches as one string). */
  private segment(s: string): string[] {
    const n = s.length
    if (n === 0) return []
    const best = new Float64Array(n + 1)
    const from = new Int32Array(n + 1).fill(-1)
    const ids = new Int32Array(n + 1)
    const scores = this.scores
    for (let start = 0; start < n; ) {
      const c = s.charCodeAt(start)
      const width = c >= 0xd800 && c <= 0xdbff && start + 1 < n ? 2 : 1
      const base = best[start]
      let single = false
      this.trie.prefixes(s, start, (end, id) => {
        const score = scores[id] + base
        if (from[end] < 0 || score > best[end]) {
          best[end] = score
          from[end] = start
          ids[end] = id
        }
        if (end - start === width) single = true
      })
      if (!single) {
        const end = start + width
        const score = this.unkScore + base
        if (from[end] < 0 || score > best[end]) {
          best[end] = score
          from[end] = start
          ids[end] = this.requireUnk()
        }
      }
      start += width
    }
    const out: string[] = []
    let unkEnd = -1 // end of the pending run of [UNK] nodes
    for (let end = n; end > 0; ) {
      const start = from[end]
      if (ids[end] === this.unkId) {
        if (unkEnd < 0) unkEnd = end
      } else {
        if (unkEnd >= 0) out.push(s.slice(end, unkEnd))
        unkEnd = -1
        out.push(s.slice(start, end))
      }
      end = start
    }
    if (unkEnd >= 0) out.push(s.slice(0, unkEnd))
    return out.reverse()
  }
}
