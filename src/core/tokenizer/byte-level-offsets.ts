// ByteLevel's (and RobertaProcessing's) trim_offsets: a token's offsets leave out the spaces it
// starts or ends with ("Ġ" is a byte-level space), except the prefix space the pre-tokenizer
// added to the first word, as process_offsets in the Rust crate. The crate moves offsets by
// characters (code points), so the arithmetic is done in code points of the input.

import { isWhitespaceCode } from './chars.js'
import type { RawEncoding } from './encoding.js'

const SPACE = 0x120 // "Ġ"

const isSpace = (c: number) => c === SPACE || isWhitespaceCode(c)

/** UTF-16 ↔ code point positions of `s` (identity when it has no surrogate pairs). */
function positions(s: string | undefined): { toCp: (u: number) => number; toUnit: (c: number) => number } {
  if (s === undefined || !/[\ud800-\udfff]/.test(s)) return { toCp: (u) => u, toUnit: (c) => c }
  const units: number[] = []
  const cps: number[] = new Array(s.length + 1)
  let i = 0
  for (const ch of s) {
    cps[i] = units.length
    if (ch.length === 2) cps[i + 1] = units.length + 1
    units.push(i)
    i += ch.length
  }
  cps[i] = units.length
  units.push(i)
  return { toCp: (u) => cps[u] ?? u, toUnit: (c) => units[c] ?? c }
}

export function trimOffsets(e: RawEncoding, addPrefixSpace: boolean): void {
  let pos: ReturnType<typeof positions> | undefined
  e.tokens.forEach((token, i) => {
    const chars = [...token].map((ch) => ch.codePointAt(0)!)
    let leading = 0
    while (leading < chars.length && isSpace(chars[leading])) leading++
    let trailing = 0
    while (trailing < chars.length && isSpace(chars[chars.length - 1 - trailing])) trailing++
    if (leading === 0 && trailing === 0) return
    pos ??= positions(e.source)
    let start = pos.toCp(e.offsets[i][0])
    let end = pos.toCp(e.offsets[i][1])
    if (leading > 0) {
      const isFirst = i === 0 || start === 0
      if (isFirst && addPrefixSpace && leading === 1) leading = 0
      start = Math.min(start + leading, end)
    }
    if (trailing > 0 && end >= trailing) end = Math.max(end - trailing, start)
    e.offsets[i] = [pos.toUnit(start), pos.toUnit(end)]
  })
}
