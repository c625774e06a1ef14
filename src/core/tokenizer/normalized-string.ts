// A normalized string that remembers where each of its characters came from, as the Rust crate's
// NormalizedString does, so that tokens can report offsets into the caller's text. Positions are
// UTF-16 code units (JavaScript string indices) where Rust counts UTF-8 bytes; every unit of a
// character carries the same alignment, so the two agree once converted to characters.

import { keptSpans, type SplitBehavior } from './split.js'

/** A character of a transform's output and how it relates to the string it replaces. */
export interface Change {
  /** One code point. */
  char: string
  /** 0: replaces the next character; 1: inserted; -n: replaces the next character and removes n more. */
  change: number
}

function codePoints(s: string): string[] {
  const out: string[] = []
  for (const ch of s) out.push(ch)
  return out
}

/** A lone surrogate (with the u flag, a pair is one code point and does not match). */
const LONE_SURROGATE = /[\ud800-\udfff]/u

export class NormalizedString {
  private constructor(
    /** The part of the caller's text this string covers. */
    readonly original: string,
    public normalized: string,
    /**
     * For each unit of `normalized`: [start, end) of its source in `original`. Undefined while
     * `normalized` is `original` itself, well formed (each unit aligned with its own character): a
     * long text costs no array per unit until a transform changes it, and slicing it costs nothing.
     */
    private starts: number[] | undefined,
    private ends: number[] | undefined,
    /** Where `original` starts in the caller's text. */
    readonly shift: number,
  ) {}

  static from(text: string, shift = 0): NormalizedString {
    if (!LONE_SURROGATE.test(text)) return new NormalizedString(text, text, undefined, undefined, shift)
    const starts: number[] = new Array(text.length)
    const ends: number[] = new Array(text.length)
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i)
      const width = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1
      for (let k = 0; k < width; k++) {
        starts[i + k] = i
        ends[i + k] = i + width
      }
      i += width
    }
    return new NormalizedString(text, text, starts, ends, shift)
  }

  /** Start of unit i's source (identity alignment: a pair's low unit starts with its high one). */
  private startOf(i: number): number {
    if (this.starts) return this.starts[i]
    const c = this.normalized.charCodeAt(i)
    return c >= 0xdc00 && c <= 0xdfff ? i - 1 : i
  }

  private endOf(i: number): number {
    if (this.ends) return this.ends[i]
    const c = this.normalized.charCodeAt(i)
    return c >= 0xd800 && c <= 0xdbff ? i + 2 : i + 1
  }

  /** The per-unit arrays, built when a transform needs them. */
  private materialize(): { starts: number[]; ends: number[] } {
    if (this.starts && this.ends) return { starts: this.starts, ends: this.ends }
    const n = this.normalized.length
    const starts: number[] = new Array(n)
    const ends: number[] = new Array(n)
    for (let i = 0; i < n; i++) {
      starts[i] = this.startOf(i)
      ends[i] = this.endOf(i)
    }
    this.starts = starts
    this.ends = ends
    return { starts, ends }
  }

  get length(): number {
    return this.normalized.length
  }

  /** Offset of the first original unit in the caller's text (Rust's offsets_original().0). */
  get originalStart(): number {
    return this.shift
  }

  /**
   * A [start, end) range of `normalized` as a range of the caller's text, as
   * NormalizedString::convert_offsets + original_shift (an empty range passes through unchanged).
   */
  toOriginal(start: number, end: number): [number, number] {
    if (start === end) return [this.shift + start, this.shift + end]
    if (start > end || end > this.normalized.length) return [start, end]
    return [this.shift + this.startOf(start), this.shift + this.endOf(end - 1)]
  }

  /** A [start, end) range of `normalized` as a range of `original` (undefined when out of range). */
  private originalRange(start: number, end: number): [number, number] | undefined {
    if (start === end) return [start, end]
    if (start > end || end > this.normalized.length) return undefined
    return [this.startOf(start), this.endOf(end - 1)]
  }

  /** The part of this string at normalized [start, end), as NormalizedString::slice. */
  slice(start: number, end: number): NormalizedString {
    const range = this.originalRange(start, end) ?? [0, 0]
    const nShift = range[0]
    // An identity-aligned string cut between characters stays one: its part of `original` is its text.
    if (!this.starts && range[0] === start && range[1] === end) {
      const text = this.normalized.slice(start, end)
      return new NormalizedString(text, text, undefined, undefined, this.shift + start)
    }
    const all = this.materialize()
    const starts = all.starts.slice(start, end)
    const ends = all.ends.slice(start, end)
    for (let k = 0; k < starts.length; k++) {
      starts[k] -= nShift
      ends[k] -= nShift
    }
    return new NormalizedString(
      this.original.slice(range[0], range[1]),
      this.normalized.slice(start, end),
      starts,
      ends,
      this.shift + range[0],
    )
  }

  /**
   * Replaces normalized [start, end) with `dest`, as NormalizedString::transform_range:
   * `initialOffset` characters at the start of the range are removed first.
   */
  transformRange(start: number, end: number, dest: readonly Change[], initialOffset: number): void {
    const all = this.materialize()
    const replaced = codePoints(this.normalized.slice(start, end))
    let next = 0
    let offset = start
    for (; next < initialOffset && next < replaced.length; next++) offset += replaced[next].length
    const newStarts: number[] = []
    const newEnds: number[] = []
    let text = ''
    for (const { char, change } of dest) {
      let from: number
      if (change > 0) from = offset < 1 ? -1 : offset - 1
      else from = offset
      const s = from < 0 ? 0 : all.starts[from]
      const e = from < 0 ? 0 : all.ends[from]
      if (change <= 0 && next < replaced.length) offset += replaced[next++].length
      for (let r = 0; change < 0 && r < -change && next < replaced.length; r++)
        offset += replaced[next++].length
      for (let k = 0; k < char.length; k++) {
        newStarts.push(s)
        newEnds.push(e)
      }
      text += char
    }
    // Not splice(…, ...items): spreading a long text's alignments would overflow the stack.
    if (start === 0 && end === all.starts.length) {
      this.starts = newStarts
      this.ends = newEnds
    } else {
      this.starts = all.starts.slice(0, start).concat(newStarts, all.starts.slice(end))
      this.ends = all.ends.slice(0, start).concat(newEnds, all.ends.slice(end))
    }
    this.normalized = this.normalized.slice(0, start) + text + this.normalized.slice(end)
  }

  transform(dest: readonly Change[], initialOffset: number): void {
    this.transformRange(0, this.normalized.length, dest, initialOffset)
  }

  /** Prepends `s` (all of it aligned with the first character), unless this string is empty. */
  prepend(s: string): void {
    if (this.normalized.length === 0) return
    const first = codePoints(this.normalized.slice(0, 2))[0]
    const dest: Change[] = codePoints(s).map((char, i) => ({ char, change: i === 0 ? 0 : 1 }))
    dest.push({ char: first, change: 1 })
    this.transformRange(0, first.length, dest, 0)
  }

  /** Keeps the characters (code points) `keep` accepts, as NormalizedString::filter. */
  filter(keep: (c: number) => boolean): void {
    let all = true
    for (const ch of this.normalized) {
      if (!keep(ch.codePointAt(0)!)) {
        all = false
        break
      }
    }
    if (all) return
    const dest: Change[] = []
    let removed = 0
    let removedStart = 0
    let last: string | undefined
    for (const ch of this.normalized) {
      if (keep(ch.codePointAt(0)!)) {
        if (last !== undefined) dest.push({ char: last, change: -removed })
        else removedStart = removed
        last = ch
        removed = 0
      } else {
        removed++
      }
    }
    if (last !== undefined) dest.push({ char: last, change: -removed })
    this.transform(dest, removedStart)
  }

  /** Maps each character to one or more characters (the first replaces it, the rest are inserted). */
  mapChars(map: (ch: string) => string): void {
    let same = true
    for (const ch of this.normalized) {
      if (map(ch) !== ch) {
        same = false
        break
      }
    }
    if (same) return
    const dest: Change[] = []
    for (const ch of this.normalized) {
      let i = 0
      for (const out of map(ch)) dest.push({ char: out, change: i++ === 0 ? 0 : 1 })
    }
    this.transform(dest, 0)
  }

  /**
   * Replaces each [start, end) of `matches` (sorted, disjoint) with `content`, as
   * NormalizedString::replace: every inserted character takes the alignment of the match's last unit.
   */
  replaceSpans(matches: readonly number[], content: string): void {
    const all = this.materialize()
    let text = ''
    const starts: number[] = []
    const ends: number[] = []
    let last = 0
    for (let k = 0; k < matches.length; k += 2) {
      const start = matches[k]
      const end = matches[k + 1]
      text += this.normalized.slice(last, start)
      for (let u = last; u < start; u++) {
        starts.push(all.starts[u])
        ends.push(all.ends[u])
      }
      const s = end < 1 ? 0 : all.starts[end - 1]
      const e = end < 1 ? 0 : all.ends[end - 1]
      for (let u = 0; u < content.length; u++) {
        starts.push(s)
        ends.push(e)
      }
      text += content
      last = end
    }
    text += this.normalized.slice(last)
    for (let u = last; u < this.normalized.length; u++) {
      starts.push(all.starts[u])
      ends.push(all.ends[u])
    }
    this.normalized = text
    this.starts = starts
    this.ends = ends
  }

  /** Strips leading and/or trailing characters `isSpace` accepts, as NormalizedString::lrstrip. */
  strip(left: boolean, right: boolean, isSpace: (c: number) => boolean): void {
    const chars = codePoints(this.normalized)
    let a = 0
    let b = chars.length
    if (left) while (a < b && isSpace(chars[a].codePointAt(0)!)) a++
    if (right) while (b > a && isSpace(chars[b - 1].codePointAt(0)!)) b--
    if (a === 0 && b === chars.length) return
    const dest: Change[] = []
    for (let i = a; i < b; i++) dest.push({ char: chars[i], change: 0 })
    this.transform(dest, a)
  }

  /** Cuts this string at `spans` (flat [start, end, isMatch] triples) with `behavior`; empty pieces are dropped. */
  split(spans: number[], behavior: SplitBehavior, out: NormalizedString[]): void {
    const kept = keptSpans(spans, behavior)
    for (let k = 0; k < kept.length; k += 2) {
      if (kept[k + 1] > kept[k]) out.push(this.slice(kept[k], kept[k + 1]))
    }
  }
}
