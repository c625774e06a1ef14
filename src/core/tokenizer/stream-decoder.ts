// Incremental detokenization for printing tokens as they are generated. Decoding one token at a
// time is wrong (byte-level tokens split UTF-8 characters; SentencePiece strips a leading space
// from the first token), so we decode a small window of recent ids and emit the text that
// window adds, holding back while it ends in U+FFFD (an incomplete UTF-8 sequence).

import type { DecodeOptions, Tokenizer } from './tokenizer.js'

/** A UTF-8 character spans at most 4 tokens; past this we accept a trailing U+FFFD as real. */
const MAX_PENDING = 8

export class StreamDecoder {
  private readonly ids: number[] = []
  /** Start of the decode window: tokens before it are never decoded again. */
  private prefixOffset = 0
  /** End of the text already emitted, in tokens. */
  private readOffset = 0

  constructor(
    private readonly tok: Tokenizer,
    private readonly opts?: DecodeOptions,
  ) {}

  /** Adds one generated id; returns the newly completed text (possibly ''). */
  push(id: number): string {
    this.ids.push(id)
    return this.emit(false)
  }

  /** Returns whatever is still held back (e.g. a genuinely invalid byte sequence). */
  flush(): string {
    return this.emit(true)
  }

  private emit(force: boolean): string {
    if (this.readOffset >= this.ids.length) return ''
    const prefix = this.tok.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.opts)
    const full = this.tok.decode(this.ids.slice(this.prefixOffset), this.opts)
    const pending = this.ids.length - this.readOffset
    if (!force && pending < MAX_PENDING && (full.length <= prefix.length || full.endsWith('\ufffd')))
      return ''
    // The window's text normally extends the prefix's. It does not when the new ids change how
    // earlier ones decode (ByteFallback turns a whole invalid byte run into U+FFFDs); printed
    // text cannot be taken back, so the new ids are then decoded on their own.
    const text = full.startsWith(prefix)
      ? full.slice(prefix.length)
      : this.tok.decode(this.ids.slice(this.readOffset), this.opts)
    this.prefixOffset = this.readOffset
    this.readOffset = this.ids.length
    return text
  }
}
