// The Precompiled normalizer: SentencePiece's `precompiled_charsmap` (XLM-RoBERTa, ALBERT, T5 …).
// The blob is a little-endian u32 trie size, a Darts-clone double-array trie over UTF-8 keys,
// then NUL-terminated replacement strings the trie's values point into. As in the Rust crate
// (spm_precompiled), each grapheme shorter than 6 bytes is looked up whole first, else each of its
// characters; a lookup takes the *shortest* key that is a prefix of the chunk, so the rest of a
// matched grapheme is dropped (SentencePiece's quirk, kept for the same results).

import { TokenizerError } from './errors.js'
import { checkGrowth } from './fields.js'
import { forEachGrapheme, stretchEnd } from './graphemes.js'
import type { Change, NormalizedString } from './normalized-string.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })
const CACHE_LIMIT = 50_000

export class PrecompiledCharsmap {
  /** Replacement per ASCII character (null: unchanged); most text never leaves this table. */
  private readonly ascii: (string | null)[] = []
  private readonly cache = new Map<string, string | null>()
  private readonly replacements = new Map<number, string>()

  private constructor(
    private readonly units: Uint32Array,
    private readonly normalized: Uint8Array,
  ) {
    for (let c = 0; c < 0x80; c++) this.ascii.push(this.lookup(String.fromCharCode(c)))
  }

  /** Parses tokenizer.json's base64 `precompiled_charsmap` (the Rust crate rejects an empty one too). */
  static fromBase64(b64: unknown): PrecompiledCharsmap {
    if (typeof b64 !== 'string')
      throw new TokenizerError('tokenizer.json: Precompiled normalizer has no precompiled_charsmap')
    const blob = Buffer.from(b64, 'base64')
    if (blob.length < 4)
      throw new TokenizerError('tokenizer.json: Precompiled precompiled_charsmap is empty or truncated')
    const trieSize = blob.readUInt32LE(0)
    if (trieSize % 4 !== 0 || trieSize === 0 || 4 + trieSize > blob.length) {
      throw new TokenizerError(
        `tokenizer.json: Precompiled precompiled_charsmap has a bad trie size ${trieSize}`,
      )
    }
    const units = new Uint32Array(trieSize / 4)
    for (let k = 0; k < units.length; k++) units[k] = blob.readUInt32LE(4 + 4 * k)
    return new PrecompiledCharsmap(units, new Uint8Array(blob.subarray(4 + trieSize)))
  }

  /** The replacement for the shortest trie key that prefixes `chunk`'s UTF-8, or null. */
  lookup(chunk: string): string | null {
    const units = this.units
    let pos = offset(units[0])
    const bytes = Buffer.from(chunk, 'utf8')
    for (let k = 0; k < bytes.length; k++) {
      const c = bytes[k]
      if (c === 0) break
      pos ^= c
      const unit = units[pos]
      if (unit === undefined || (unit & 0x800000ff) >>> 0 !== c) return null
      pos ^= offset(unit)
      if ((unit >>> 8) & 1) return this.replacement(units[pos] & 0x7fffffff)
    }
    return null
  }

  private replacement(index: number): string {
    let s = this.replacements.get(index)
    if (s === undefined) {
      let end = index
      while (end < this.normalized.length && this.normalized[end] !== 0) end++
      try {
        s = utf8.decode(this.normalized.subarray(index, end))
      } catch {
        throw new TokenizerError('tokenizer.json: Precompiled precompiled_charsmap has invalid UTF-8')
      }
      this.replacements.set(index, s)
    }
    return s
  }

  private cached(chunk: string): string | null {
    if (chunk.length === 1 && chunk.charCodeAt(0) < 0x80) return this.ascii[chunk.charCodeAt(0)]
    let r = this.cache.get(chunk)
    if (r === undefined) {
      r = this.lookup(chunk)
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
      this.cache.set(chunk, r)
    }
    return r
  }

  /** Calls `visit` with each chunk of `s` that is replaced or kept whole, as Precompiled::normalize_string. */
  private walk(s: string, visit: (chunk: string, replacement: string | null) => void): void {
    forEachGrapheme(s, (start, end) => {
      const grapheme = s.slice(start, end)
      if (utf8Length(grapheme) < 6) {
        const r = this.cached(grapheme)
        if (r !== null) {
          visit(grapheme, r)
          return
        }
      }
      if (end - start === 1 || (end - start === 2 && grapheme.codePointAt(0)! > 0xffff)) {
        visit(grapheme, null)
        return
      }
      for (const ch of grapheme) visit(ch, this.cached(ch))
    })
  }

  /** `s` normalized; throws when the result would pass `limit` characters (fields.ts growthLimit). */
  normalize(s: string, limit = Number.POSITIVE_INFINITY): string {
    // ASCII characters followed by ASCII are graphemes of their own: straight through the table.
    const ascii = this.ascii
    const n = s.length
    let out = ''
    let last = 0
    for (let i = 0; i < n; ) {
      const c = s.charCodeAt(i)
      if (c < 0x80 && c !== 0x0d && (i + 1 >= n || s.charCodeAt(i + 1) < 0x80)) {
        const r = ascii[c]
        if (r !== null) {
          out += s.slice(last, i) + r
          last = i + 1
          checkGrowth(out.length, limit, 'normalizer')
        }
        i++
        continue
      }
      const end = stretchEnd(s, i)
      const stretch = s.slice(i, end)
      const normalized = this.normalizeStretch(stretch, limit)
      if (normalized !== stretch) {
        out += s.slice(last, i) + normalized
        last = end
        checkGrowth(out.length, limit, 'normalizer')
      }
      i = end
    }
    return last === 0 ? s : out + s.slice(last)
  }

  private normalizeStretch(s: string, limit: number): string {
    let out = ''
    let changed = false
    this.walk(s, (chunk, r) => {
      if (r === null) out += chunk
      else {
        out += r
        changed = true
        checkGrowth(out.length, limit, 'normalizer')
      }
    })
    return changed ? out : s
  }

  /** The Rust crate's transformations: a replacement's characters are 0s, extra ones 1s, fewer ones fold into the last change. */
  normalizeAligned(n: NormalizedString, limit = Number.POSITIVE_INFINITY): void {
    const dest: Change[] = []
    let changed = false
    this.walk(n.normalized, (chunk, r) => {
      if (r === null) {
        for (const char of chunk) dest.push({ char, change: 0 })
        return
      }
      changed = true
      const oldCount = [...chunk].length
      const chars = [...r]
      for (const char of chars) dest.push({ char, change: 0 })
      checkGrowth(dest.length, limit, 'normalizer')
      const diff = chars.length - oldCount
      if (diff > 0) for (let k = dest.length - diff; k < dest.length; k++) dest[k].change = 1
      else if (diff < 0 && dest.length > 0) dest[dest.length - 1].change += diff
    })
    if (changed) n.transform(dest, 0)
  }
}

/** Darts-clone's unit offset. */
function offset(unit: number): number {
  return ((unit >>> 10) << ((unit & (1 << 9)) >>> 6)) >>> 0
}

function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else n += 3
  }
  return n
}
