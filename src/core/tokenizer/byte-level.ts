// GPT-2's byte-to-unicode alphabet: every byte maps to a printable character so that byte-level
// BPE vocabularies can be stored as JSON strings (space → "Ġ", newline → "Ċ").

const BYTE_TO_CHAR: string[] = []
const CHAR_TO_BYTE = new Map<string, number>()

{
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  let next = 256
  for (let b = 0; b < 256; b++) {
    const ch = String.fromCharCode(printable(b) ? b : next++)
    BYTE_TO_CHAR[b] = ch
    CHAR_TO_BYTE.set(ch, b)
  }
}

/** The byte a character of the byte-level alphabet stands for (undefined: not in the alphabet). */
export function byteOfByteLevelChar(ch: string): number | undefined {
  return CHAR_TO_BYTE.get(ch)
}

/** Maps the UTF-8 bytes of `s` to the byte-level alphabet (no allocation beyond the result). */
export function toByteLevel(s: string): string {
  let out = ''
  const n = s.length
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      out += BYTE_TO_CHAR[c]
    } else if (c < 0x800) {
      out += BYTE_TO_CHAR[0xc0 | (c >> 6)] + BYTE_TO_CHAR[0x80 | (c & 0x3f)]
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const lo = s.charCodeAt(i + 1)
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00)
          i++
          out +=
            BYTE_TO_CHAR[0xf0 | (c >> 18)] +
            BYTE_TO_CHAR[0x80 | ((c >> 12) & 0x3f)] +
            BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)] +
            BYTE_TO_CHAR[0x80 | (c & 0x3f)]
          continue
        }
      }
      // A lone surrogate encodes as U+FFFD, as Rust strings cannot hold one.
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
      out +=
        BYTE_TO_CHAR[0xe0 | (c >> 12)] +
        BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)] +
        BYTE_TO_CHAR[0x80 | (c & 0x3f)]
    }
  }
  return out
}

/** The ByteLevel pre-tokenizer's transform: each UTF-8 byte of a character becomes a character (the first replaces it, the rest are inserted). */
export function byteLevelChanges(s: string): { char: string; change: number }[] {
  const out: { char: string; change: number }[] = []
  for (const ch of s) {
    const mapped = toByteLevel(ch)
    for (let k = 0; k < mapped.length; k++) out.push({ char: mapped[k], change: k === 0 ? 0 : 1 })
  }
  return out
}

const encoder = new TextEncoder()
const lossy = new TextDecoder('utf-8')

/**
 * Joins byte-level tokens back into text. A token holding a character outside the alphabet (an
 * added token such as "<|im_start|>" is usually inside it, but not always) contributes its own
 * UTF-8 bytes, and invalid sequences become U+FFFD, as in the Rust decoder.
 */
export function fromByteLevel(tokens: readonly string[]): string {
  const bytes: number[] = []
  for (const token of tokens) {
    const start = bytes.length
    let ok = true
    for (const ch of token) {
      const b = CHAR_TO_BYTE.get(ch)
      if (b === undefined) {
        ok = false
        break
      }
      bytes.push(b)
    }
    if (!ok) {
      bytes.length = start
      for (const b of encoder.encode(token)) bytes.push(b)
    }
  }
  return lossy.decode(Uint8Array.from(bytes))
}
