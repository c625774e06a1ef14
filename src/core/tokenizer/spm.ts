// SentencePiece-style BPE by token score, as llama.cpp's SPM tokenizer runs a GGUF `llama` vocabulary:
// split a piece into characters, then repeatedly merge the adjacent pair whose concatenation is a
// token with the highest score (leftmost on ties); characters no token covers become <0xNN> bytes.
// GGUF files carry scores, not merge ranks, so tokenizer.json's BPE model cannot express this.

import type { ModelToken, TokenizerModel } from './model.js'

const METASPACE = '\u2581'
const utf8 = new TextEncoder()
/** Entries in the cache of metaspace chunks (see chunkOnMetaspace). */
const CHUNK_CACHE_LIMIT = 100_000

export interface SpmOptions {
  /** Emitted for a byte that has no `<0xNN>` token; without one such a byte is dropped. */
  unkId?: number
}

export class SpmModel implements TokenizerModel {
  readonly maxId: number
  /** token → id; a repeated token maps to its last id, as llama.cpp's token_to_id. */
  private readonly vocab = new Map<string, number>()
  /** byte → id of its `<0xNN>` token, or of the one-byte token itself, or -1 */
  private readonly byteIds = new Int32Array(256).fill(-1)
  private readonly chunkCache = new Map<string, number[]>()
  /**
   * When no token has "▁" after another character, no merge can cross the start of a "▁" run, so
   * the stretches between those points are merged separately (and cached) with the same result.
   */
  private readonly chunkOnMetaspace: boolean

  constructor(
    private readonly tokens: readonly string[],
    private readonly scores: ArrayLike<number>,
    private readonly options: SpmOptions = {},
  ) {
    this.maxId = tokens.length - 1
    for (let id = 0; id < tokens.length; id++) this.vocab.set(tokens[id], id)
    for (let b = 0; b < 256; b++) {
      const id =
        this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ??
        (b < 0x80 ? this.vocab.get(String.fromCharCode(b)) : undefined)
      if (id !== undefined) this.byteIds[b] = id
    }
    this.chunkOnMetaspace = !tokens.some((t) => /[^\u2581]\u2581/u.test(t))
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id]
  }

  tokenize(piece: string, out: number[]): void {
    if (!this.chunkOnMetaspace || piece.length < 2) {
      this.encode(piece, out)
      return
    }
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
  }

  /** The same ids with offsets: each merged symbol covers its characters; a byte token its whole character. */
  tokenizeWithOffsets(piece: string, out: ModelToken[]): void {
    const ids: number[] = []
    const spans: number[] = []
    this.encode(piece, ids, spans)
    for (let k = 0; k < ids.length; k++) {
      out.push({ id: ids[k], value: this.tokens[ids[k]], start: spans[2 * k], end: spans[2 * k + 1] })
    }
  }

  private chunk(chunk: string, out: number[]): void {
    let ids = this.chunkCache.get(chunk)
    if (ids === undefined) {
      ids = []
      this.encode(chunk, ids)
      if (this.chunkCache.size >= CHUNK_CACHE_LIMIT) this.chunkCache.clear()
      this.chunkCache.set(chunk, ids)
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k])
  }

  /** llm_tokenizer_spm_session::tokenize over one piece; with `spans`, each id's [start, end). */
  private encode(text: string, out: number[], spans?: number[]): void {
    const syms: string[] = []
    for (const ch of text) syms.push(ch)
    const n = syms.length
    if (n === 0) return
    const prev = new Int32Array(n)
    const next = new Int32Array(n)
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1
      next[k] = k + 1 < n ? k + 1 : -1
    }
    const queue = new BigramQueue()
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return
      const merged = syms[left] + syms[right]
      const id = this.vocab.get(merged)
      if (id !== undefined) queue.push(this.scores[id], left, right, merged.length)
    }
    for (let k = 1; k < n; k++) tryAdd(k - 1, k)
    while (queue.size > 0) {
      const { left, right, size } = queue.pop()
      const a = syms[left]
      const b = syms[right]
      // An entry made stale by an earlier merge of either symbol.
      if (a.length === 0 || b.length === 0 || a.length + b.length !== size) continue
      syms[left] = a + b
      syms[right] = ''
      const after = next[right]
      next[left] = after
      if (after >= 0) prev[after] = left
      tryAdd(prev[left], left)
      tryAdd(left, after)
    }
    const starts: number[] = []
    if (spans)
      for (let k = 0, at = 0; k < n; k++) {
        starts.push(at)
        at += syms[k].length
      }
    for (let k = 0; k >= 0; k = next[k]) {
      const id = this.vocab.get(syms[k])
      const start = spans ? starts[k] : 0
      if (id !== undefined) {
        out.push(id)
        spans?.push(start, start + syms[k].length)
        continue
      }
      // Only a single character that no token covers gets here: it is spelled as bytes.
      for (const byte of utf8.encode(syms[k])) {
        const b = this.byteIds[byte]
        const id = b >= 0 ? b : this.options.unkId
        if (id === undefined) continue
        out.push(id)
        spans?.push(start, start + syms[k].length)
      }
    }
  }
}

interface Bigram {
  score: number
  left: number
  right: number
  /** Length of the merged text, to notice entries made stale by other merges. */
  size: number
}

/** Whether bigram a comes out before b: highest score first, then the leftmost (llm_bigram_spm). */
function before(a: Bigram, b: Bigram): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left)
}

/** A binary heap of bigrams in `before` order. */
class BigramQueue {
  private readonly items: Bigram[] = []

  get size(): number {
    return this.items.length
  }

  push(score: number, left: number, right: number, size: number): void {
    const a = this.items
    const v: Bigram = { score, left, right, size }
    let i = a.length
    a.push(v)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(v, a[parent])) break
      a[i] = a[parent]
      i = parent
    }
    a[i] = v
  }

  pop(): Bigram {
    const a = this.items
    const top = a[0]
    const last = a.pop()!
    const n = a.length
    if (n > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(a[r], a[l]) ? r : l
        if (!before(a[c], last)) break
        a[i] = a[c]
        i = c
      }
      a[i] = last
    }
    return top
  }
}
