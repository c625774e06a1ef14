// Extended grapheme clusters (the Precompiled normalizer looks whole graphemes up first).
// Intl.Segmenter is slow per call, so ASCII text is cut here: between two ASCII characters there
// is always a boundary except inside "\r\n", and no ASCII character can join a cluster except as
// its first character or right after a Prepend character. Only the stretches around non-ASCII
// characters go to the segmenter.

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** Calls `visit(start, end)` for each grapheme of `s`, in order. */
export function forEachGrapheme(s: string, visit: (start: number, end: number) => void): void {
  const n = s.length
  let i = 0
  while (i < n) {
    const c = s.charCodeAt(i)
    const next = i + 1 < n ? s.charCodeAt(i + 1) : 0
    if (c < 0x80 && next < 0x80) {
      const end = c === 0x0d && next === 0x0a ? i + 2 : i + 1
      visit(i, end)
      i = end
      continue
    }
    const end = complexEnd(s, i)
    const base = i
    for (const seg of segmenter.segment(s.slice(i, end)))
      visit(base + seg.index, base + seg.index + seg.segment.length)
    i = end
  }
}

/**
 * The end of the stretch starting at `i` that forEachGrapheme would visit as a unit: one ASCII
 * character (or "\r\n") when the next is ASCII too, else the stretch the segmenter must see.
 */
export function stretchEnd(s: string, i: number): number {
  const c = s.charCodeAt(i)
  const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
  if (c < 0x80 && next < 0x80) return c === 0x0d && next === 0x0a ? i + 2 : i + 1
  return complexEnd(s, i)
}

/**
 * The end of the stretch starting at `i` that the segmenter must see: the non-ASCII run, one more
 * character (which a Prepend character may hold on to, with its "\n" after a "\r"), and so on
 * while another non-ASCII run follows.
 */
function complexEnd(s: string, i: number): number {
  const n = s.length
  let j = s.charCodeAt(i) < 0x80 ? i + 1 : i
  while (true) {
    while (j < n && s.charCodeAt(j) >= 0x80) j++
    if (j >= n) return n
    j++
    if (s.charCodeAt(j - 1) === 0x0d && j < n && s.charCodeAt(j) === 0x0a) j++
    if (j >= n || s.charCodeAt(j) < 0x80) return j
  }
}
