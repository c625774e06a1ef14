// Token offsets that a model counts in UTF-8 bytes (as the Rust crate does) turned into UTF-16
// offsets of the piece. A byte inside a character stands for the whole character, which is what
// the crate's alignments make of it.

/** Converts [start, end) byte ranges of `piece` into UTF-16 ranges, in place. */
export function bytesToUnits(piece: string, ranges: { start: number; end: number }[]): void {
  let ascii = true
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) >= 0x80) {
      ascii = false
      break
    }
  }
  if (ascii) return
  // For each byte: the UTF-16 start and end of the character holding it.
  const charStart: number[] = []
  const charEnd: number[] = []
  for (let i = 0; i < piece.length; ) {
    const cp = piece.codePointAt(i)!
    const units = cp > 0xffff ? 2 : 1
    const bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
    for (let k = 0; k < bytes; k++) {
      charStart.push(i)
      charEnd.push(i + units)
    }
    i += units
  }
  const n = charStart.length
  for (const r of ranges) {
    if (r.start === r.end) {
      const at = r.start < n ? charStart[r.start] : piece.length
      r.start = at
      r.end = at
      continue
    }
    r.start = r.start < n ? charStart[r.start] : piece.length
    r.end = r.end - 1 < n ? charEnd[r.end - 1] : piece.length
  }
}
