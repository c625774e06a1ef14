// The bytes each token adds to the text, for every token of a vocabulary, sorted so that tokens
// sharing a prefix sit together: walking them in order with the longest common prefix of
// neighbours is walking the vocabulary's trie without building it (token-mask.ts).
import { byteOfByteLevelChar, toByteLevel } from '../tokenizer/byte-level.js'
import type { Tokenizer } from '../tokenizer/index.js'

export interface TokenTable {
  /** Ids in byte order; special tokens and tokens that add no bytes are left out. */
  ids: Int32Array
  /** bytes[i]: what ids[i] adds to the text. */
  bytes: Uint8Array[]
  /** lcp[i]: bytes shared with bytes[i - 1] (0 for the first). */
  lcp: Uint16Array
  /** The bytes of an id (undefined: special, or adds nothing). */
  byId: (Uint8Array | undefined)[]
  /** Words of a bitset over the ids: ceil(vocabSize / 32). */
  words: number
}

const tables = new WeakMap<Tokenizer, TokenTable>()
const readers = new WeakMap<Tokenizer, (id: number) => Uint8Array | undefined>()
const utf8 = new TextEncoder()
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/

/** The table of a tokenizer, built on first use (a second or so for a 150k vocabulary). */
export function tokenTable(tok: Tokenizer): TokenTable {
  let t = tables.get(tok)
  if (!t) {
    t = buildTable(tok)
    tables.set(tok, t)
  }
  return t
}

/** The bytes one token adds to the text mid-sequence (undefined for an id the vocabulary lacks). */
export function tokenBytes(tok: Tokenizer, id: number): Uint8Array | undefined {
  let read = readers.get(tok)
  if (!read) {
    read = bytesReader(tok)
    readers.set(tok, read)
  }
  return read(id)
}

function buildTable(tok: Tokenizer): TokenTable {
  const entries: { id: number; bytes: Uint8Array }[] = []
  const bytesOf = (id: number) => tokenBytes(tok, id)
  for (let id = 0; id < tok.vocabSize; id++) {
    if (tok.specialIds.has(id)) continue
    const bytes = bytesOf(id)
    if (bytes?.length) entries.push({ id, bytes })
  }
  entries.sort((a, b) => compareBytes(a.bytes, b.bytes) || a.id - b.id)
  const lcp = new Uint16Array(entries.length)
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1].bytes
    const b = entries[i].bytes
    let k = 0
    while (k < a.length && k < b.length && a[k] === b[k] && k < 0xffff) k++
    lcp[i] = k
  }
  const byId = new Array<Uint8Array | undefined>(tok.vocabSize)
  for (const e of entries) byId[e.id] = e.bytes
  return {
    byId,
    ids: Int32Array.from(entries, (e) => e.id),
    bytes: entries.map((e) => e.bytes),
    lcp,
    words: Math.ceil(tok.vocabSize / 32),
  }
}

/**
 * A token's bytes as it adds them mid-text. Decoding it after an anchor token keeps what decoders do
 * to a first token (SentencePiece's stripped leading space) out of it; a token that is part of a
 * UTF-8 character (byte-level BPE, `<0xNN>` byte fallback) decodes to U+FFFD, so its bytes come
 * from the byte alphabet or the byte token instead.
 */
function bytesReader(tok: Tokenizer): (id: number) => Uint8Array | undefined {
  const anchor = findAnchor(tok)
  const prefix = anchor === undefined ? '' : tok.decode([anchor])
  return (id) => {
    const token = tok.idToToken(id)
    if (token === undefined) return undefined
    const text = anchor === undefined ? tok.decode([id]) : tok.decode([anchor, id]).slice(prefix.length)
    if (!text.includes('\ufffd')) return utf8.encode(text)
    const byte = BYTE_TOKEN.exec(token)
    if (byte) return Uint8Array.of(Number.parseInt(byte[1], 16))
    const raw: number[] = []
    for (const ch of token) {
      const b = byteOfByteLevelChar(ch)
      if (b === undefined) return utf8.encode(text) // a token that really is U+FFFD
      raw.push(b)
    }
    return Uint8Array.from(raw)
  }
}

/** A token that decodes to one ASCII letter, alone and twice in a row (no space, no stripping). */
function findAnchor(tok: Tokenizer): number | undefined {
  for (const letter of 'aeoxAEOX') {
    for (const piece of [letter, toByteLevel(letter)]) {
      const id = tok.tokenToId(piece)
      if (id === undefined || tok.specialIds.has(id)) continue
      if (tok.decode([id]) === letter && tok.decode([id, id]) === letter + letter) return id
    }
  }
  return undefined
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}
