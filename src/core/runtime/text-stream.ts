// Generated ids → text to show, as it becomes safe: whole UTF-8 characters only (StreamDecoder),
// and nothing that could be the start of a stop string until the next tokens rule it out.
import { StreamDecoder, type Tokenizer } from '../tokenizer/index.js'

export class TextStream {
  private readonly decoder: StreamDecoder
  private readonly holdBack: number
  /** Everything decoded so far (cut before a stop string once one is seen). */
  text = ''
  private emitted = 0
  stopped = false

  constructor(
    tok: Tokenizer,
    private readonly stops: string[],
  ) {
    this.decoder = new StreamDecoder(tok, { skipSpecialTokens: true })
    this.holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0)
  }

  /** Adds a token; returns the text now safe to show. Sets `stopped` when a stop string appears. */
  push(id: number): string {
    this.text += this.decoder.push(id)
    const at = firstStop(this.text, this.stops, Math.max(0, this.emitted - this.holdBack))
    if (at >= 0) {
      this.text = this.text.slice(0, at)
      this.stopped = true
      return this.take(this.text.length)
    }
    let safe = Math.max(this.emitted, this.text.length - this.holdBack)
    // Holding back must not split a surrogate pair (an emoji): each half would print as U+FFFD.
    const high = this.text.charCodeAt(safe - 1)
    if (safe > this.emitted && safe < this.text.length && high >= 0xd800 && high <= 0xdbff) safe--
    return this.take(safe)
  }

  /** The generation ended without a stop string: everything left, including held-back text. */
  end(): string {
    if (!this.stopped) this.text += this.decoder.flush()
    return this.take(this.text.length)
  }

  private take(upTo: number): string {
    const out = this.text.slice(this.emitted, upTo)
    this.emitted = upTo
    return out
  }
}

/** Index of the earliest stop string in text at or after `from`, or -1. */
export function firstStop(text: string, stops: string[], from = 0): number {
  let cut = -1
  for (const st of stops) {
    const at = text.indexOf(st, from)
    if (at >= 0 && (cut < 0 || at < cut)) cut = at
  }
  return cut
}
